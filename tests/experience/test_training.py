"""Training-set export: SFT conversations and DPO pairs, valid against their schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from records import record  # tests/experience is on the path
from typer.testing import CliRunner

from lamas.cli.main import app
from lamas.errors import InputError
from lamas.experience.store import ExperienceStore
from lamas.experience.training import dpo_pairs, export, sft_examples
from lamas.protocol.experience import DPO_SCHEMA, SFT_SCHEMA
from lamas.store import create_engine

CLAUSE = "book me a train from Paris to Lyon"
RECORDS = [
    record(
        task="t1", agent="swiftrail", ok=False, error="unavailable", inputs={"offer_id": "sw-1"}
    ),
    record(task="t2", agent="railgo", ok=True, inputs={"offer_id": "rg-7"}, at=2),
    record(task="t3", agent="railgo", ok=True, inputs={"offer_id": "rg-7"}, at=3),
    record(
        task="t4",
        capability="hotel.search",
        clause="a hotel in Lyon",
        inputs={"city": "Lyon"},
        at=4,
    ),
]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_keeps_each_successful_lesson_once() -> None:
    examples = list(sft_examples(RECORDS))
    assert len(examples) == 2  # the failure is left out, the repeat kept once
    first = examples[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[1]["content"] == CLAUSE
    assert json.loads(first[2]["content"]) == {"offer_id": "rg-7"}


def test_dpo_prefers_what_succeeded_on_the_same_step() -> None:
    [pair] = dpo_pairs(RECORDS)
    assert pair["prompt"][1]["content"] == CLAUSE
    assert json.loads(pair["chosen"][0]["content"]) == {"offer_id": "rg-7"}
    assert json.loads(pair["rejected"][0]["content"]) == {"offer_id": "sw-1"}


@pytest.mark.parametrize(("fmt", "schema"), [("sft", SFT_SCHEMA), ("dpo", DPO_SCHEMA)])
def test_exported_files_validate_against_their_schema(
    fmt: str, schema: dict[str, object], tmp_path: Path
) -> None:
    path = tmp_path / f"{fmt}.jsonl"
    count = export(RECORDS, path, format=fmt)  # type: ignore[arg-type]
    rows = lines(path)
    assert count == len(rows) > 0
    validator = Draft202012Validator(schema)
    Draft202012Validator.check_schema(schema)
    for row in rows:
        assert list(validator.iter_errors(row)) == []
    # The schema is not vacuous: a line missing its answer fails it.
    broken = dict(rows[0])
    broken.pop("messages" if fmt == "sft" else "chosen")
    assert list(validator.iter_errors(broken))


def test_export_refuses_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown export format"):
        export(RECORDS, tmp_path / "x", format="csv")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_the_cli_shows_stats_exports_and_takes_feedback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    ExperienceStore(create_engine(url)).add_many(RECORDS)
    runner = CliRunner()

    shown = runner.invoke(app, ["experience", "show", "--db", url, "--failed"])
    assert shown.exit_code == 0, shown.output
    assert "swiftrail" in shown.output
    assert "railgo" not in shown.output

    stats = runner.invoke(app, ["experience", "stats", "--db", url, "--by", "agent"])
    assert stats.exit_code == 0, stats.output
    assert "swiftrail" in stats.output
    assert "0%" in stats.output

    out = tmp_path / "dpo.jsonl"
    done = runner.invoke(
        app, ["experience", "export", "--db", url, "--format", "dpo", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert len(lines(out)) == 1

    bad = runner.invoke(app, ["experience", "feedback", "t9", "1", "--db", url])
    assert bad.exit_code == 2
    assert "no task 't9'" in bad.output  # ids by prefix: none starts with it
    good = runner.invoke(app, ["experience", "feedback", "t2", "0.5", "--db", url])
    assert good.exit_code == 0
    schema = runner.invoke(app, ["experience", "schema", "dpo"])
    assert json.loads(schema.output)["required"] == ["prompt", "chosen", "rejected"]


def test_sft_for_slot_filling_teaches_what_came_from_the_users_words() -> None:
    """A centralized orchestrator adds profile fields to the inputs: not a slot answer."""
    base = record(clause="play some jazz", capability="song.search", agent="songs")
    with_profile = base.model_copy(
        update={
            "inputs": {"genre": "jazz", "favourite_genres": ["soul"]},
            "filled": {"genre": "jazz"},
        }
    )
    [example] = sft_examples([with_profile])
    assert json.loads(example["messages"][2]["content"]) == {"genre": "jazz"}
    [reply] = sft_examples([with_profile], target="output")
    assert json.loads(reply["messages"][2]["content"]) == {"status": "confirmed"}
