"""The music case study's specialized agents (examples/music), over their own datasets."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lamas.errors import AccessDenied, InputError, SchemaViolation
from lamas.protocol import Envelope, Message
from lamas.runtime import Network
from lamas.runtime.netfile import build, load_module_file, load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "music"
DATA = EXAMPLE / "data"


music = load_module_file(EXAMPLE / "agents.py")
PROFILE = json.loads((DATA / "profile.json").read_text(encoding="utf-8"))
with (DATA / "songs.csv").open(encoding="utf-8", newline="") as _file:
    SONGS = list(csv.DictReader(_file))


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    """Every agent of the music network that has a handler, under the file's access rules."""
    # The file's own build (access rules and topology), without signatures: these tests
    # send as agents of the network without holding their keys.
    net = build(
        load_spec(EXAMPLE / "network.yaml"),
        base_dir=EXAMPLE,
        external=["music-orchestrator"],
        defended=False,
    )
    yield net
    await net.transport.close()


async def ask(
    net: Network, recipient: str, skill: str, sender: str = "music-orchestrator", **data: Any
) -> dict[str, Any]:
    envelope = Envelope(
        sender=sender, recipient=recipient, skill=skill, message=Message.of_data(data)
    )
    return (await net.transport.request(envelope)).data


async def search(net: Network, **data: Any) -> list[dict[str, Any]]:
    songs: list[dict[str, Any]] = (await ask(net, "songs", "song.search", **data))["songs"]
    return songs


# --- the network file and the data ------------------------------------------


def test_network_file_describes_the_centralized_star() -> None:
    spec = load_spec(EXAMPLE / "network.yaml")
    assert spec.name == "music"
    assert str(spec.topology) == "star"
    assert [a.card.id for a in spec.agents] == ["music-orchestrator", "personal", "songs"]
    assert [a.handler for a in spec.agents] == [None, "agents:personal", "agents:songs"]
    cards = {a.card.id: a.card for a in spec.agents}
    assert {"listening_history", "favourite_genres"} <= set(
        cards["music-orchestrator"].vault_fields
    )
    assert cards["songs"].skill("song.play").requires == ("song.search",)  # type: ignore[union-attr]
    for card in cards.values():
        for skill in card.skills:
            assert len(skill.description) > 40
            for name, prop in skill.input_schema.get("properties", {}).items():
                assert "description" in prop, (card.id, skill.name, name)
    assert cards["songs"].price("song.search") is not None
    assert cards["songs"].price("song.play") is not None


def test_the_catalogue_is_a_real_dataset() -> None:
    assert len(SONGS) >= 60
    assert set(SONGS[0]) == {
        "song_id",
        "title",
        "artist",
        "genre",
        "mood",
        "tempo_bpm",
        "year",
        "duration_s",
    }
    assert len({s["song_id"] for s in SONGS}) == len(SONGS)
    assert len({s["genre"] for s in SONGS}) >= 8
    assert {s["mood"] for s in SONGS} == {
        "happy", "calm", "sad", "romantic", "energetic", "melancholic", "angry"
    }
    assert len(music.catalogue()) == len(SONGS)


async def test_the_star_keeps_the_song_agent_away_from_the_user(network: Network) -> None:
    with pytest.raises(AccessDenied):
        await ask(network, "personal", "profile.get", sender="songs", fields=["name"])


# --- personal ---------------------------------------------------------------


async def test_profile_get_returns_the_fields_asked_for(network: Network) -> None:
    reply = await ask(network, "personal", "profile.get", fields=["listening_history"])
    assert list(reply) == ["listening_history"]
    assert reply["listening_history"] == PROFILE["listening_history"]
    ids = {s["song_id"]: s["title"] for s in SONGS}
    for played in reply["listening_history"]:
        assert ids[played["song_id"]] == played["title"]  # the history is of catalogue songs
    with pytest.raises(InputError, match="'age'"):
        await ask(network, "personal", "profile.get", fields=["favourite_genres", "age"])


# --- song.search ------------------------------------------------------------


async def test_search_by_genre_and_mood_ranks_full_matches_first(network: Network) -> None:
    found = await search(network, genre="Jazz", mood="calm", count=10)
    full = [s for s in SONGS if s["genre"] == "jazz" and s["mood"] == "calm"]
    assert len(full) >= 4
    top = found[: len(full)]
    assert {s["song_id"] for s in top} == {s["song_id"] for s in full}
    assert all(s["matched"] == ["genre", "mood"] and s["score"] == 6 for s in top)
    scores = [s["score"] for s in found]
    assert scores == sorted(scores, reverse=True)
    # the rest match one of the two, never none
    assert all(set(s["matched"]) & {"genre", "mood"} for s in found)
    # ties go to the tempo closest to a calm one (70 bpm)
    tempos = [abs(s["tempo_bpm"] - 70) for s in top]
    assert tempos == sorted(tempos)


async def test_synonyms_and_the_default_count(network: Network) -> None:
    chill = await search(network, mood="chill")
    assert len(chill) == 5
    assert {s["mood"] for s in chill} == {"calm"}
    rap = await search(network, genre="rap", count=50)
    assert {s["genre"] for s in rap} == {"hip-hop"}
    assert len(rap) == sum(s["genre"] == "hip-hop" for s in SONGS)


async def test_artist_is_a_filter(network: Network) -> None:
    marley = await search(network, artist="bob marley", count=50)
    assert len(marley) == sum("Bob Marley" in s["artist"] for s in SONGS) >= 3
    assert {s["artist"] for s in marley} == {"Bob Marley & The Wailers"}
    piaf = await search(network, artist="edith piaf", count=50)  # accents and case ignored
    assert "La Vie en rose" in [s["title"] for s in piaf]
    assert {s["artist"] for s in piaf} == {"Édith Piaf"}
    sad_adele = await search(network, artist="Adele", mood="sad")
    assert [s["title"] for s in sad_adele] == ["Someone Like You", "Hello"]


async def test_era_filters_by_decade(network: Network) -> None:
    eighties = await search(network, era="80s", mood="energetic", count=50)
    exact = [s for s in SONGS if s["mood"] == "energetic" and s["year"].startswith("198")]
    assert 3 <= len(exact) < 50
    top = eighties[: len(exact)]
    assert {s["song_id"] for s in top} == {s["song_id"] for s in exact}
    assert all(1980 <= s["year"] <= 1989 for s in top)
    assert all(s["score"] == 5 for s in top)
    assert all(s["score"] < 5 for s in eighties[len(exact) :])
    assert music.parse_era("1980s") == (1980, 1989)
    assert music.parse_era("'90s") == (1990, 1999)
    assert music.parse_era("20s") == (2020, 2029)
    assert music.parse_era("1995") == (1995, 1995)
    assert music.parse_era("2010-1999") == (1999, 2010)
    assert music.parse_era("19th century") == (1800, 1899)


async def test_favourites_raise_and_exclusions_remove(network: Network) -> None:
    plain = await search(network, mood="happy", count=3)
    assert "favourite genre" not in {m for s in plain for m in s["matched"]}
    liked = await search(
        network, mood="happy", favourite_genres=PROFILE["favourite_genres"], count=3
    )
    assert all(s["genre"] in PROFILE["favourite_genres"] for s in liked)
    assert all("favourite genre" in s["matched"] for s in liked)
    recent = [p["song_id"] for p in PROFILE["listening_history"]]
    fresh = await search(network, mood="happy", favourite_genres=["soul"], exclude=recent, count=50)
    assert not {s["song_id"] for s in fresh} & set(recent)
    short = await search(network, genre="jazz", max_duration_s=200, count=50)
    assert short
    assert all(s["duration_s"] <= 200 for s in short)


async def test_search_errors_list_what_is_known(network: Network) -> None:
    with pytest.raises(InputError, match=r"unknown genre 'k-pop'.*\"pop\".*jazz") as raised:
        await search(network, genre="k-pop")
    assert raised.value.details == {  # type: ignore[attr-defined]
        "slot": "genre",
        "value": "k-pop",
        "kind": "genre",
        "suggestions": ["pop"],
        "ambiguous": False,
    }
    with pytest.raises(InputError, match=r"unknown mood 'grumpy'.*calm"):
        await search(network, mood="grumpy")
    with pytest.raises(InputError, match="unknown artist 'Nobody At All'"):
        await search(network, artist="Nobody At All")
    with pytest.raises(InputError, match="era 'the old days' is not understood"):
        await search(network, era="the old days")
    with pytest.raises(SchemaViolation):
        await search(network, mood="calm", count=0)


# --- song.play --------------------------------------------------------------


async def test_play_a_found_song(network: Network) -> None:
    first = (await search(network, genre="electronic", mood="happy"))[0]
    played = await ask(network, "songs", "song.play", song_id=first["song_id"])
    now = played["now_playing"]
    assert (now["song_id"], now["title"], now["artist"]) == (
        first["song_id"],
        first["title"],
        first["artist"],
    )
    assert now["stream_url"].endswith(first["song_id"])
    assert now["play_count"] == 1
    again = await ask(network, "songs", "song.play", song_id=first["song_id"])
    assert again["now_playing"]["play_count"] == 2
    with pytest.raises(InputError, match="no song 's999'"):
        await ask(network, "songs", "song.play", song_id="s999")
