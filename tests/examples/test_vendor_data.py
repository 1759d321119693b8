"""The example vendors' data (scripts/gen_vendor_data.py) and their published vocabularies:
the agreed coverage, determinism, and how users' spellings map onto the vendors' names."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import itertools
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lamas.errors import InputError, UnknownTerm
from lamas.interop.cards import from_a2a_card, to_a2a_card
from lamas.protocol import AgentCard, Envelope, Message
from lamas.protocol.vocabulary import Vocabulary, fold, suggestions_of
from lamas.runtime.netfile import build, load_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TRAVEL, MUSIC = EXAMPLES / "travel" / "data", EXAMPLES / "music" / "data"
AGREED = [
    "Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Montpellier", "Strasbourg",
    "Bordeaux", "Lille", "Rennes", "Toulon", "Reims", "Saint-Étienne", "Le Havre", "Dijon",
    "Grenoble", "Angers", "Nîmes", "Aix-en-Provence", "Clermont-Ferrand", "Le Mans", "Brest",
    "Tours", "Amiens", "Limoges", "Annecy", "Perpignan", "Metz", "Besançon", "Orléans", "Rouen",
    "Mulhouse", "Caen", "Nancy", "Avignon",
]  # fmt: skip
"""The cities both rail vendors, the hotels and the maps cover (the brief's coverage)."""


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_vendor_data", ROOT / "scripts/gen_vendor_data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cards() -> dict[str, AgentCard]:
    found = {}
    for name in ("travel", "music"):
        for agent in load_spec(EXAMPLES / name / "network.yaml").agents:
            found[f"{name}:{agent.card.id}"] = agent.card
    return found


# --- the generator ------------------------------------------------------------------------


def test_the_generator_is_deterministic_and_the_committed_files_are_its_output(
    tmp_path: Path,
) -> None:
    written = generator().generate(tmp_path)
    assert len(written) >= 13
    for path in written:
        relative = path.relative_to(tmp_path)
        committed = EXAMPLES / relative
        assert committed.read_bytes() == path.read_bytes(), f"{relative} differs: re-run the script"
    again = tmp_path / "again"
    for path in generator().generate(again):
        assert path.read_bytes() == (tmp_path / path.relative_to(again)).read_bytes()


def test_the_generator_folds_names_as_the_vocabulary_does() -> None:
    for text in ("Saint-Étienne", "Sacré-Cœur", "R&B", "L'Été indien", "  Gare  du NORD "):
        assert generator().fold(text) == fold(text)


# --- travel coverage ---------------------------------------------------------------------


def test_the_agreed_36_cities_each_with_stations_landmarks_and_hotels_inside_it() -> None:
    cities = {r["city"]: r for r in rows(TRAVEL / "cities.csv")}
    assert sorted(cities) == sorted(AGREED)
    assert len(cities) == 36
    places = rows(TRAVEL / "places.csv")
    hotels = rows(TRAVEL / "hotels.csv")
    for name, city in cities.items():
        box = [float(city[k]) for k in ("south", "west", "north", "east")]

        def inside(r: dict[str, str], box: list[float] = box) -> bool:
            lat, lon = float(r["lat"]), float(r["lon"])
            return box[0] <= lat <= box[2] and box[1] <= lon <= box[3]

        here = [p for p in places if p["city"] == name]
        stations = [p for p in here if p["kind"] == "station"]
        landmarks = [p for p in here if p["kind"] == "landmark"]
        staying = [h for h in hotels if h["city"] == name]
        assert len(stations) >= 1, name
        assert city["main_station"] in {s["name"] for s in stations}
        assert len(landmarks) >= 3, name
        assert len(staying) >= 2, name
        for row in landmarks + staying:
            assert inside(row), (name, row["name"])
        # coordinates are to ~3 decimals and in France
        assert all(41 < float(r["lat"]) < 51.5 and -5 < float(r["lon"]) < 8.5 for r in here)
    big = {c: sum(p["kind"] == "station" for p in places if p["city"] == c) for c in cities}
    assert big["Paris"] == 7
    assert big["Lyon"] >= 3


def test_every_pair_of_cities_has_trains_of_both_vendors_every_day_of_a_year() -> None:
    cities = [r["city"] for r in rows(TRAVEL / "cities.csv")]
    start = dt.date(2027, 1, 4)
    days = [start + dt.timedelta(days=d) for d in range(0, 365, 23)]  # every weekday, all seasons
    assert {d.isoweekday() for d in days} == set(range(1, 8))
    for vendor in ("railgo", "swiftrail"):
        running: dict[tuple[str, str], set[str]] = {}
        for r in rows(TRAVEL / f"timetable_{vendor}.csv"):
            running.setdefault((r["origin"], r["destination"]), set()).update(r["days"])
            assert "05:45" <= r["depart"] <= "21:15"
        for a, b in itertools.permutations(cities, 2):
            for day in days:
                assert str(day.isoweekday()) in running[a, b], (vendor, a, b, day)
    # several a day from early morning to late evening
    paris_lyon = [
        r
        for r in rows(TRAVEL / "timetable_railgo.csv")
        if (r["origin"], r["destination"]) == ("Paris", "Lyon")
    ]
    assert len(paris_lyon) >= 10
    assert min(r["depart"] for r in paris_lyon) <= "06:15"
    assert max(r["depart"] for r in paris_lyon) >= "20:30"


def test_durations_follow_distance_and_line_speed() -> None:
    by_pair = {
        (r["origin"], r["destination"]): r
        for r in rows(TRAVEL / "timetable_railgo.csv")
        if r["days"] == "1234567"
    }

    def minutes(a: str, b: str) -> int:
        r = by_pair[a, b]
        depart, arrive = (dt.datetime.strptime(r[k], "%H:%M") for k in ("depart", "arrive"))
        return int((arrive - depart).total_seconds() // 60) % (24 * 60)

    # real high-speed times: Paris-Lyon ~2h, Paris-Marseille ~3h20, Paris-Lille ~1h
    assert 100 <= minutes("Paris", "Lyon") <= 150
    assert 180 <= minutes("Paris", "Marseille") <= 230
    assert 50 <= minutes("Paris", "Lille") <= 80
    assert minutes("Paris", "Nice") > minutes("Paris", "Marseille")  # the slow coast line
    assert minutes("Brest", "Nice") > 8 * 60
    assert by_pair["Brest", "Nice"]["changes"] == "1"
    assert by_pair["Paris", "Lyon"]["changes"] == "0"


# --- music coverage ------------------------------------------------------------------------


def test_the_catalogue_has_hundreds_of_real_songs_across_genres_moods_and_decades() -> None:
    songs = rows(MUSIC / "songs.csv")
    assert len(songs) >= 400
    genres = Counter(s["genre"] for s in songs)
    assert len(genres) >= 12
    assert all(count >= 10 for count in genres.values()), genres
    moods = Counter(s["mood"] for s in songs)
    assert {"happy", "calm", "sad", "romantic", "energetic", "melancholic", "angry"} <= set(moods)
    decades = Counter(int(s["year"]) // 10 * 10 for s in songs if int(s["year"]) >= 1950)
    assert all(decades[d] >= 10 for d in range(1950, 2030, 10) if d != 2020)
    assert len({(fold(s["title"]), fold(s["artist"])) for s in songs}) == len(songs)
    assert [s["song_id"] for s in songs[:3]] == ["s001", "s002", "s003"]
    # the personal profile's history still names catalogue songs
    by_id = {s["song_id"]: s for s in songs}
    assert by_id["s027"]["title"] == "So What"


# --- aliases -------------------------------------------------------------------------------

SPELLINGS = [
    # (agent, skill, slot, what a user writes, the vendor's name)
    ("railgo", "ticket.search", "origin", "Part-Dieu", "Lyon Part-Dieu"),
    ("railgo", "ticket.search", "origin", "part dieu", "Lyon Part-Dieu"),
    ("railgo", "ticket.search", "origin", "Gare de Lyon", "Paris Gare de Lyon"),
    ("railgo", "ticket.search", "origin", "Montparnasse", "Paris Montparnasse"),
    (
        "railgo",
        "ticket.search",
        "origin",
        "the main station in Marseille",
        "Marseille Saint-Charles",
    ),
    ("railgo", "ticket.search", "origin", "Marseille main station", "Marseille Saint-Charles"),
    ("railgo", "ticket.search", "destination", "Saint Charles", "Marseille Saint-Charles"),
    ("railgo", "ticket.search", "destination", "st etienne", "Saint-Étienne"),
    ("railgo", "ticket.search", "destination", "NIMES", "Nîmes"),
    ("railgo", "ticket.search", "destination", "Aix", "Aix-en-Provence"),
    ("railgo", "ticket.search", "destination", "Marseilles", "Marseille"),
    ("railgo", "ticket.search", "destination", "Aix TGV", "Aix-en-Provence TGV"),
    ("railgo", "ticket.search", "destination", "Strasbourg Gare Centrale", "Gare de Strasbourg"),
    ("swiftrail", "ticket.search", "destination", "Lille-Europe", "Lille Europe"),
    ("staywell", "hotel.search", "near", "Tour Eiffel", "Eiffel Tower"),
    ("staywell", "hotel.search", "near", "the Eiffel tower", "Eiffel Tower"),
    ("staywell", "hotel.search", "near", "Sacre Coeur", "Sacré-Cœur"),
    ("staywell", "hotel.search", "near", "Old Port", "Vieux-Port"),
    ("staywell", "hotel.search", "near", "La Bonne Mère", "Notre-Dame de la Garde"),
    ("staywell", "hotel.search", "near", "Place du Capitole", "Capitole de Toulouse"),
    ("staywell", "hotel.search", "near", "Palace of the Popes", "Palais des Papes"),
    ("staywell", "hotel.search", "city", "clermont", "Clermont-Ferrand"),
    ("navigator", "route.plan", "origin", "Gare du Nord", "Paris Gare du Nord"),
    ("songs", "song.search", "mood", "chill", "calm"),
    ("songs", "song.search", "mood", "relaxing", "calm"),
    ("songs", "song.search", "mood", "melancholy", "melancholic"),
    ("songs", "song.search", "genre", "hip hop", "hip-hop"),
    ("songs", "song.search", "genre", "Rap", "hip-hop"),
    ("songs", "song.search", "genre", "R&B", "r&b"),
    ("songs", "song.search", "genre", "rnb", "r&b"),
    ("songs", "song.search", "genre", "French chanson", "chanson"),
    ("songs", "song.search", "genre", "heavy metal", "metal"),
    ("songs", "song.search", "artist", "beatles", "The Beatles"),
    ("songs", "song.search", "artist", "edith piaf", "Édith Piaf"),
]


@pytest.mark.parametrize(("agent", "skill", "slot", "written", "name"), SPELLINGS)
def test_user_spellings_map_onto_the_vendors_names(
    cards: dict[str, AgentCard], agent: str, skill: str, slot: str, written: str, name: str
) -> None:
    network = "music" if agent == "songs" else "travel"
    vocabulary = Vocabulary.from_card(cards[f"{network}:{agent}"], skill, slot)
    assert vocabulary is not None
    assert vocabulary.resolve(written) == name


def test_a_place_alias_shared_by_two_cities_is_ambiguous_until_narrowed(
    cards: dict[str, AgentCard],
) -> None:
    places = Vocabulary.from_card(cards["travel:staywell"], "hotel.search", "near")
    assert places is not None
    with pytest.raises(UnknownTerm) as raised:
        places.resolve("Bastille", slot="near")
    assert raised.value.ambiguous
    assert {"Place de la Bastille", "Bastille de Grenoble"} <= set(raised.value.suggestions)
    assert places.in_place("Grenoble").resolve("Bastille") == "Bastille de Grenoble"
    assert places.in_place("Paris").resolve("the station") == "Paris Gare de Lyon"
    assert places.in_place("Marseille").resolve("main station") == "Marseille Saint-Charles"


@pytest.mark.parametrize(
    ("agent", "skill", "slot", "written", "first"),
    [
        ("railgo", "ticket.search", "destination", "Marseile", "Marseille"),
        ("railgo", "ticket.search", "origin", "Lion", "Lyon"),
        ("railgo", "ticket.search", "origin", "Bordeau", "Bordeaux"),
        ("staywell", "hotel.search", "near", "Eifel Tower", "Eiffel Tower"),
        ("songs", "song.search", "genre", "k-pop", "pop"),
        ("songs", "song.search", "mood", "relaxd", "calm"),
    ],
)
def test_unknown_names_come_with_suggestions(
    cards: dict[str, AgentCard], agent: str, skill: str, slot: str, written: str, first: str
) -> None:
    network = "music" if agent == "songs" else "travel"
    vocabulary = Vocabulary.from_card(cards[f"{network}:{agent}"], skill, slot)
    assert vocabulary is not None
    with pytest.raises(UnknownTerm) as raised:
        vocabulary.resolve(written, slot=slot)
    error = raised.value
    assert error.details["slot"] == slot
    assert error.suggestions[0] == first
    assert f'did you mean "{first}"' in str(error)
    assert suggestions_of(str(error)) == error.suggestions  # the text carries them too


def test_unrelated_names_get_no_suggestion(cards: dict[str, AgentCard]) -> None:
    cities = Vocabulary.from_card(cards["travel:railgo"], "ticket.search", "destination")
    assert cities is not None
    for foreign in ("London", "Berlin", "Big Ben", "New York"):
        assert cities.suggest(foreign) == (), foreign


def test_vocabularies_travel_in_the_card_across_a2a(cards: dict[str, AgentCard]) -> None:
    card = cards["travel:staywell"].model_copy(update={"url": "http://127.0.0.1:1/"})
    back = from_a2a_card(to_a2a_card(card))
    assert back.vocabularies == card.vocabularies
    near = Vocabulary.from_card(back, "hotel.search", "near")
    assert near is not None
    assert near.resolve("Tour Eiffel") == "Eiffel Tower"
    size = len(card.model_dump_json())
    assert size < 120_000  # names and aliases, not the data behind them


def test_a_card_cannot_name_a_vocabulary_it_does_not_publish() -> None:
    from lamas.errors import MalformedMessage

    with pytest.raises(MalformedMessage, match="does not publish: towns"):
        AgentCard.parse(
            {
                "id": "x",
                "name": "X",
                "entity": "x",
                "skills": [
                    {
                        "name": "a.b",
                        "description": "d",
                        "input_schema": {
                            "type": "object",
                            "properties": {"city": {"type": "string", "x-vocabulary": "towns"}},
                        },
                    }
                ],
            }
        )


# --- the vendors, through their handlers ---------------------------------------------------


@pytest.fixture
async def travel() -> Any:
    net = build(
        load_spec(EXAMPLES / "travel" / "network.yaml"),
        base_dir=EXAMPLES / "travel",
        external=["orchestrator"],
        defended=False,
    )
    yield net
    await net.transport.close()


async def ask(net: Any, recipient: str, skill: str, today: str = "2027-03-01", **data: Any) -> Any:
    reply = await net.transport.request(
        Envelope(
            sender="music-orchestrator" if recipient == "songs" else "orchestrator",
            recipient=recipient,
            skill=skill,
            message=Message.of_data(data).model_copy(update={"metadata": {"today": today}}),
        )
    )
    return reply.data


async def test_vendors_say_which_input_was_unknown_and_suggest(travel: Any) -> None:
    with pytest.raises(UnknownTerm) as raised:
        await ask(
            travel,
            "railgo",
            "ticket.search",
            origin="Paris",
            destination="Marseile",
            date="2027-03-02",
        )
    assert raised.value.details["slot"] == "destination"
    assert raised.value.suggestions[0] == "Marseille"
    with pytest.raises(UnknownTerm) as raised:
        await ask(
            travel, "staywell", "hotel.search", city="Lyon", check_in="2027-03-02", near="Big Ben"
        )
    assert raised.value.details["slot"] == "near"


async def test_hotels_near_any_place_with_stars_and_a_budget(travel: Any) -> None:
    reply = await ask(
        travel,
        "staywell",
        "hotel.search",
        city="Paris",
        check_in="2027-03-02",
        near="Tour Eiffel",
        min_stars=3,
        max_price=200,
    )
    assert reply["near"] == "Eiffel Tower"
    assert reply["offers"]
    assert all(o["stars"] >= 3 and o["price_per_night"] <= 200 for o in reply["offers"])
    distances = [o["distance_km"] for o in reply["offers"]]
    assert distances == sorted(distances)
    for city in ("Toulouse", "Annecy", "Brest"):
        found = await ask(travel, "staywell", "hotel.search", city=city, check_in="2027-03-02")
        assert len(found["offers"]) >= 2, city
    none = await ask(
        travel, "staywell", "hotel.search", city="Paris", check_in="2027-03-02", max_price=10
    )
    assert none["offers"] == []
    assert "at most 10" in none["note"]


async def test_a_past_date_is_refused_against_the_real_date_when_none_is_stamped(
    travel: Any,
) -> None:
    unstamped = Envelope(
        sender="orchestrator",
        recipient="railgo",
        skill="ticket.search",
        message=Message.of_data({"origin": "Paris", "destination": "Lyon", "date": "2026-11-01"}),
    )
    with pytest.raises(InputError, match=r"date 2026-11-01 is in the past \(today is "):
        await travel.transport.request(unstamped)


@pytest.fixture
async def music() -> Any:
    net = build(
        load_spec(EXAMPLES / "music" / "network.yaml"),
        base_dir=EXAMPLES / "music",
        external=["music-orchestrator"],
        defended=False,
    )
    yield net
    await net.transport.close()


async def test_songs_by_tempo_and_newest_first(music: Any) -> None:
    newest = (await ask(music, "songs", "song.search", artist="Daft Punk", sort="newest", count=3))[
        "songs"
    ]
    years = [s["year"] for s in newest]
    assert years == sorted(years, reverse=True)
    assert newest[0]["year"] >= 2013  # Get Lucky, Instant Crush (2013), Starboy (2016)
    oldest = (await ask(music, "songs", "song.search", genre="jazz", sort="oldest", count=3))[
        "songs"
    ]
    assert oldest[0]["year"] == min(s["year"] for s in oldest)
    quiet = (await ask(music, "songs", "song.search", mood="chill", max_tempo_bpm=90, count=10))[
        "songs"
    ]
    assert all(s["mood"] == "calm" for s in quiet)
    assert all(s["tempo_bpm"] <= 90 for s in quiet[:5])
    assert all("tempo" in s["matched"] for s in quiet[:5])
    eighties = (await ask(music, "songs", "song.search", genre="metal", era="1980s", count=5))[
        "songs"
    ]
    assert all(1980 <= s["year"] <= 1989 for s in eighties)
