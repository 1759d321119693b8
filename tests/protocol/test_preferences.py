"""Preferences extracted once, passed to searches and used to choose among offers."""

from __future__ import annotations

from lamas.protocol.preferences import extract

OFFERS = [
    {"offer_id": "a", "depart": "2026-12-10T09:15", "price": 40, "stars": 3, "year": 1990},
    {"offer_id": "b", "depart": "2026-12-10T06:42", "price": 55, "stars": 4, "year": 2015},
    {"offer_id": "c", "depart": "2026-12-10T20:05", "price": 25, "stars": 2, "year": 2001},
]


def test_picks_rank_offers_by_the_users_word() -> None:
    assert extract("the first train of the morning").best(OFFERS)["offer_id"] == "b"  # type: ignore[index]
    assert extract("the last train to Lyon").best(OFFERS)["offer_id"] == "c"  # type: ignore[index]
    assert extract("the cheapest ticket").best(OFFERS)["offer_id"] == "c"  # type: ignore[index]
    newest = extract("their latest song", music=True)
    assert newest.pick == "newest"
    assert newest.best(OFFERS)["offer_id"] == "b"
    assert extract("a train to Lyon").best(OFFERS) is None  # no pick: the vote decides


def test_hard_constraints_filter_and_go_to_the_search() -> None:
    prefs = extract("a 4-star hotel under 120 euros")
    assert (prefs.min_stars, prefs.max_price) == (4, 120.0)
    assert [o["offer_id"] for o in prefs.rank(OFFERS)] == ["b"]
    schema = {"properties": {"min_stars": {}, "city": {}}}
    assert prefs.search_inputs(schema) == {"min_stars": 4}


def test_moods_and_tempo_for_music() -> None:
    calm = extract("something relaxing to read to", music=True)
    assert calm.mood == "calm"
    assert calm.max_tempo_bpm == 100
    assert extract("upbeat songs, fast", music=True).min_tempo_bpm == 120
    assert not extract("something relaxing")  # travel: no mood


def test_decades_and_tempo_bounds_reach_a_music_search() -> None:
    prefs = extract("play some 80s rock, nothing too fast - under 100 bpm", music=True)
    assert (prefs.era, prefs.max_tempo_bpm, prefs.max_price) == ("1980s", 100, None)
    assert extract("an oldie from the fifties", music=True).era == "1950s"
    assert extract("chanson française des années 60", music=True).era == "1960s"
    assert extract("some rnb from the 2000s", music=True).era == "2000s"
    assert extract("hits from the '70s", music=True).era == "1970s"
    assert extract("faster than 120 bpm", music=True).min_tempo_bpm == 120
    schema = {"properties": {"era": {}, "max_tempo_bpm": {}}}
    assert extract("90s pop under 110 bpm", music=True).search_inputs(schema) == {
        "era": "1990s",
        "max_tempo_bpm": 110,
    }
