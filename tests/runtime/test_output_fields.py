"""Step outputs as the CLI and task summaries show them: nested objects shown, never a field
cut in two, readable at 80 columns (issue 19)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lamas.runtime.session import SUMMARY_CHARS, output_fields, within

MUSIC = {
    "status": "playing",
    "now_playing": {"title": "Blue in Green", "artist": "Miles Davis", "album": {"year": 1959}},
    "queue": ["a", "b", "c"],
    "volume": None,
}


def test_nested_objects_are_shown_by_dotted_key_and_lists_by_length() -> None:
    assert output_fields(MUSIC) == [
        "status=playing",
        "now_playing.title=Blue in Green",
        "now_playing.artist=Miles Davis",
        "now_playing.album.year=1959",
        "queue=3 items",
    ]
    assert output_fields({"extra": {}}) == ["extra=(empty)"]


def test_a_summary_keeps_whole_fields_and_says_how_many_more() -> None:
    items = [f"field{i}={'x' * 50}" for i in range(10)]
    line = within(items)
    assert len(line) <= SUMMARY_CHARS + len(" (+10 more)")
    shown = line.split(" (+")[0].split(", ")
    assert all(item in items for item in shown)  # each one whole
    assert line.endswith(f"(+{10 - len(shown)} more)")
    assert within(["a" * 500]) == "a" * 500  # one field always shows, whole


def test_the_result_table_at_80_columns_holds_every_field_whole() -> None:
    console = Console(width=80, record=True, color_system=None)
    table = Table(title="result")
    for column in ("step", "agent", "output"):
        table.add_column(column)
    table.add_row("song.play", "player", "\n".join(output_fields(MUSIC)))
    console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for field in output_fields(MUSIC):
        assert field in text
