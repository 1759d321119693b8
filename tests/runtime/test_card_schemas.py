"""Every schema in every card of every example network is a JSON Schema a strict client
accepts; a broken one is a load error naming the file, the agent and the skill."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lamas.errors import ConfigError
from lamas.interop.cards import card_to_json, to_a2a_card
from lamas.protocol.schema_lint import schema_problems
from lamas.runtime.netfile import load_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/network.yaml"))
SENTENCE = re.compile(r"[\s,.()]")  # no property name or keyword is written like prose


def names(schema: Any) -> list[str]:
    """Every mapping key anywhere in `schema` (keywords and property names alike)."""
    if isinstance(schema, dict):
        return [k for k, v in schema.items() for k in (k, *names(v))]
    if isinstance(schema, list):
        return [k for v in schema for k in names(v)]
    return []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_card_schema_validates(path: Path) -> None:
    spec = load_spec(path)
    skills = [(a.card, s) for a in spec.agents for s in a.card.skills]
    assert skills, path  # every example network has skills to check
    for card, skill in skills:
        for schema in (skill.input_schema, skill.output_schema):
            assert schema_problems(schema) == [], (card.id, skill.name)
            prose = [n for n in names(schema) if SENTENCE.search(n)]
            assert prose == [], (card.id, skill.name, prose)
        # ...and the A2A card made from it serialises (what `lamas serve` publishes)
        published = card_to_json(to_a2a_card(card.model_copy(update={"url": "http://x/"})))
        assert published["skills"]


def test_a_comma_split_description_is_a_load_error_naming_agent_and_skill(
    tmp_path: Path,
) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: broken
            agents:
              - card:
                  id: railway
                  name: Railway
                  entity: rail
                  skills:
                    - name: ticket.search
                      description: find tickets
                      input_schema:
                        type: object
                        properties:
                          origin: {type: string, description: the city, e.g. Paris}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_spec(path)
    text = str(raised.value)
    for needed in (str(path), "'railway'", "'ticket.search'", "input_schema", "'e.g. Paris'"):
        assert needed in text


def test_a_schema_the_meta_schema_rejects_is_named_by_its_path() -> None:
    problems = schema_problems({"type": "object", "properties": {"n": {"type": "integr"}}})
    assert problems
    assert problems[0].startswith("properties.n.type:")
    assert schema_problems({"type": "object", "x-lamas-note": "ours"}) == []
    assert schema_problems("object") == ["a schema must be a mapping, not str"]
