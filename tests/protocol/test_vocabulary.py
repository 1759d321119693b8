"""lamas.protocol.vocabulary: how a word maps onto a published vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamas.errors import ConfigError, UnknownTerm
from lamas.protocol.cards import PublishedVocabulary
from lamas.protocol.vocabulary import MAX_NAME, Vocabulary, quoted, suggestions_of

CITIES = Vocabulary(
    "city",
    ("Paris", "Lyon", "Saint-Étienne", "Aix-en-Provence"),
    {"Aix-en-Provence": ("Aix",), "Saint-Étienne": ("St Etienne",)},
)
STATIONS = Vocabulary(
    "station",
    ("Paris Gare de Lyon", "Lyon Part-Dieu", "Lyon Perrache"),
    {"Paris Gare de Lyon": ("Gare de Lyon",), "Lyon Part-Dieu": ("main station",)},
    {"Paris Gare de Lyon": "Paris", "Lyon Part-Dieu": "Lyon", "Lyon Perrache": "Lyon"},
)


def test_names_aliases_parts_and_held_names_resolve_in_that_order() -> None:
    both = Vocabulary.merged([CITIES, STATIONS])
    assert both.kind == "city|station"
    assert both.resolve("SAINT ETIENNE") == "Saint-Étienne"  # folded
    assert both.resolve("aix") == "Aix-en-Provence"  # alias
    assert both.resolve("Gare de Lyon") == "Paris Gare de Lyon"  # an alias beats the city in it
    assert both.resolve("part dieu") == "Lyon Part-Dieu"  # a whole-word part of one name
    assert both.resolve("the main station in Lyon") == "Lyon Part-Dieu"  # held, with its city
    assert both.lookup("Lyon") == "Lyon"
    assert both.lookup("Lyo") is None  # no part of a word


def test_ambiguous_and_unknown_are_errors_with_suggestions_never_guesses() -> None:
    with pytest.raises(UnknownTerm) as raised:
        STATIONS.resolve("Lyon", slot="origin")
    assert raised.value.ambiguous
    assert raised.value.suggestions == ("Lyon Part-Dieu", "Lyon Perrache", "Paris Gare de Lyon")
    assert raised.value.details["slot"] == "origin"
    with pytest.raises(UnknownTerm, match=r"unknown destination 'Pari'.*did you mean \"Paris\"\?"):
        CITIES.resolve("Pari", slot="destination")
    with pytest.raises(UnknownTerm, match="the known city names are: Paris, Lyon") as raised:
        CITIES.resolve("Berlin")
    assert raised.value.suggestions == ()


def test_a_vocabulary_narrows_to_a_place_and_round_trips_through_the_card_form() -> None:
    assert STATIONS.in_place("Lyon").names == ("Lyon Part-Dieu", "Lyon Perrache")
    assert STATIONS.in_place("Lyon").resolve("main station") == "Lyon Part-Dieu"
    block = STATIONS.to_published()
    assert Vocabulary.from_published(PublishedVocabulary.model_validate(block.model_dump())) == (
        STATIONS
    )
    assert hash(STATIONS) == hash(Vocabulary.from_published(block))
    with pytest.raises(ValueError, match="unknown names"):
        PublishedVocabulary(kind="x", names=("a",), aliases={"b": ("c",)})


def test_an_overlong_name_is_refused_before_any_fuzzy_matching() -> None:
    with pytest.raises(UnknownTerm, match=f"no city name is longer than {MAX_NAME}"):
        CITIES.resolve("Paris" * 10_000, slot="city")


def test_suggestions_read_back_from_an_error_or_its_text() -> None:
    assert quoted(["A"]) == '"A"'
    assert quoted(["A", "B", "C"]) == '"A", "B" or "C"'
    text = 'unknown origin \'x\'; did you mean "Lyon Part-Dieu" or "Lyon Perrache"?'
    assert suggestions_of(text) == ("Lyon Part-Dieu", "Lyon Perrache")
    assert suggestions_of(RuntimeError("no hint here")) == ()


def test_a_vocabulary_file_loads_and_a_bad_one_names_itself(tmp_path: Path) -> None:
    good = tmp_path / "cities.json"
    good.write_text('{"kind": "city", "names": ["Lyon"], "aliases": {"Lyon": ["Lugdunum"]}}')
    assert Vocabulary.from_file(good).resolve("lugdunum") == "Lyon"
    with pytest.raises(ConfigError, match=r"cannot read vocabulary .*missing\.json"):
        Vocabulary.from_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"kind": "city"}')
    with pytest.raises(ConfigError, match=r"bad\.json is not a published vocabulary"):
        Vocabulary.from_file(tmp_path / "bad.json")
