"""The specialized agents of the music case study (paper §4.1, a centralized star).

In this architecture the music app's orchestrator handles the user's data
itself: it reads the listening history from the personal agent and passes what
the song agent needs along with each request.

- `personal` (the user): `data/profile.json` (name, favourite genres, listening
  history, preferences); hands out only the fields asked for.
- `songs` (a catalogue company): `data/songs.csv`; searches and plays songs.

How `song.search` ranks (match quality): an `artist` given is a filter (a
whole-word part of the artist's name, accents and case ignored), so is
`max_duration_s`, and songs listed in `exclude` (ids or titles) are skipped.
Each remaining song scores 3 for its genre, 3 for its mood (1 for a near mood:
sad/melancholic, energetic/angry), 2 for a year in the
era (1 for a year within ten years of it), plus 1 if its genre is one of
`favourite_genres`. When a genre, mood or era is asked for, songs that match
none of them are left out. Ties go to the tempo closest to the mood's typical
tempo (energetic 180, happy 115, romantic 80, calm 70, sad 65 bpm), then to the
newer song, then to the catalogue order. Moods and genres accept common
synonyms ("chill" is calm, "rap" is hip-hop); unknown ones are an error that
lists the known ones.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from lamas.agent import skill_router
from lamas.errors import ConfigError, InputError, UnknownTerm
from lamas.protocol import AgentCard, Context, Envelope, Handler
from lamas.protocol.vocabulary import Vocabulary, fold

DATA = Path(__file__).resolve().parent / "data"

JSON = dict[str, Any]


class UnknownName(InputError):
    """A song, artist, genre, mood or profile field the agent does not know."""


# --- data -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Song:
    song_id: str
    title: str
    artist: str
    genre: str
    mood: str
    tempo_bpm: int
    year: int
    duration_s: int


@cache
def catalogue() -> tuple[Song, ...]:
    path = DATA / "songs.csv"
    try:
        with path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise ConfigError(f"cannot read data file {path}: {error.strerror}") from None
    return tuple(
        Song(
            r["song_id"],
            r["title"],
            r["artist"],
            r["genre"],
            r["mood"],
            int(r["tempo_bpm"]),
            int(r["year"]),
            int(r["duration_s"]),
        )
        for r in rows
    )


def load_profile() -> JSON:
    profile: JSON = json.loads((DATA / "profile.json").read_text(encoding="utf-8"))
    return profile


# --- matching ---------------------------------------------------------------

MOOD_TEMPO = {
    "energetic": 180,
    "angry": 160,
    "happy": 115,
    "romantic": 80,
    "calm": 70,
    "melancholic": 70,
    "sad": 65,
}
NEAR_MOODS = {
    "sad": "melancholic",
    "melancholic": "sad",
    "energetic": "angry",
    "angry": "energetic",
}
"""A mood a song may have that half-fits the one asked for (scores 1 instead of 3)."""
SORTS = ("relevance", "newest", "oldest")


class UnknownMusicName(UnknownName, UnknownTerm):
    """A genre, mood or artist the catalogue's vocabulary does not know, with suggestions."""


@cache
def vocabulary(name: str) -> Vocabulary:
    """One of the vocabularies the song agent publishes in its card (data/vocabulary/)."""
    return Vocabulary.from_file(DATA / "vocabulary" / f"{name}.json")


def canonical(value: str, known: Iterable[str], vocabulary_name: str, slot: str) -> str:
    """The catalogue's word for a genre or mood ("chill" is calm, "rap" is hip-hop), or an
    `UnknownMusicName` with the closest ones; `known` narrows to what the pool has."""
    words = vocabulary(vocabulary_name).restricted(known)
    return words.resolve(value, slot=slot, error=UnknownMusicName)


def parse_era(text: str) -> tuple[int, int]:
    """The years (first, last) an era names: 1980s, 80s, '80s, 1995, 1990-1999, 19th century."""
    key = fold(text)
    if m := re.fullmatch(r"(\d{4})s", key):
        start = int(m.group(1)) // 10 * 10
        return start, start + 9
    if m := re.fullmatch(r"(\d0)s", key):
        decade = int(m.group(1))
        start = (1900 if decade >= 30 else 2000) + decade
        return start, start + 9
    if m := re.fullmatch(r"(\d{4})", key):
        return int(m.group(1)), int(m.group(1))
    if m := re.fullmatch(r"(\d{4}) (?:to )?(\d{4})", key):
        first, last = sorted((int(m.group(1)), int(m.group(2))))
        return first, last
    if m := re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th) century", key):
        start = (int(m.group(1)) - 1) * 100
        return start, start + 99
    raise InputError(
        f"era {text!r} is not understood; write a decade (1980s, 80s), a year (1995), "
        "a range (1990-1999) or a century (19th century)"
    )


def match_artist(artist: str, songs: Iterable[Song]) -> set[str]:
    """The catalogue artists an `artist` query names (a whole-word part of the name, so
    "Bob Marley" is "Bob Marley & The Wailers"), or an error with the closest artists."""
    key = fold(artist)
    names = {s.artist for s in songs}
    found = {n for n in names if key and f" {key} " in f" {fold(n)} "}
    if not found:  # an alias ("Beatles"), else an error with the closest artists
        known = vocabulary("artists").restricted(names)
        found = {known.resolve(artist, slot="artist", error=UnknownMusicName)}
    return found


def rank_songs(
    songs: Iterable[Song], request: Mapping[str, Any]
) -> list[tuple[int, list[str], Song]]:
    """Score and order songs for a search request (see the module docstring)."""
    pool = list(songs)
    genre = request.get("genre")
    mood = request.get("mood")
    if genre:
        genre = canonical(genre, {s.genre for s in pool}, "genres", "genre")
    if mood:
        mood = canonical(mood, {s.mood for s in pool}, "moods", "mood")
    era = parse_era(request["era"]) if request.get("era") else None
    favourites: set[str] = set()
    for name in request.get("favourite_genres", ()):
        try:
            favourites.add(canonical(name, {s.genre for s in pool}, "genres", "genre"))
        except UnknownName:
            continue  # a taste the catalogue cannot serve is no error
    if request.get("artist"):
        artists = match_artist(request["artist"], pool)
        pool = [s for s in pool if s.artist in artists]
    if request.get("title"):
        title = vocabulary("titles").restricted({s.title for s in pool}).resolve(
            request["title"], slot="title", error=UnknownMusicName
        )
        pool = [s for s in pool if s.title == title]
    if "max_duration_s" in request:
        pool = [s for s in pool if s.duration_s <= request["max_duration_s"]]
    slowest, fastest = request.get("min_tempo_bpm"), request.get("max_tempo_bpm")
    if slowest is not None and fastest is not None and slowest > fastest:
        raise InputError(f"min_tempo_bpm {slowest} is above max_tempo_bpm {fastest}")
    tempo = (slowest or 0, fastest or 1000) if (slowest or fastest) else None
    skipped = {fold(str(x)) for x in request.get("exclude", ())}
    pool = [s for s in pool if fold(s.song_id) not in skipped and fold(s.title) not in skipped]

    ranked = []
    for song in pool:
        points = {
            "genre": 3 if genre and song.genre == genre else 0,
            "mood": 3 if mood and song.mood == mood else 0,
            "near mood": 1 if mood and NEAR_MOODS.get(mood) == song.mood else 0,
            "era": 0,
            "near era": 0,
        }
        if tempo is not None and tempo[0] <= song.tempo_bpm <= tempo[1]:
            points["tempo"] = 2
        if era is not None and era[0] <= song.year <= era[1]:
            points["era"] = 2
        elif era is not None and era[0] - 10 <= song.year <= era[1] + 10:
            points["near era"] = 1
        if (genre or mood or era) and not any(v for k, v in points.items() if k != "tempo"):
            continue
        points["favourite genre"] = 1 if song.genre in favourites else 0
        matched = [name for name, value in points.items() if value]
        ranked.append((sum(points.values()), matched, song))
    target = MOOD_TEMPO.get(mood or "")
    ranked.sort(
        key=lambda item: (
            -item[0],
            abs(item[2].tempo_bpm - target) if target is not None else 0,
            -item[2].year,
            item[2].song_id,
        )
    )
    order = request.get("sort", "relevance")
    if order not in SORTS:
        raise InputError(f"sort must be one of {', '.join(SORTS)}, got {order!r}")
    if order != "relevance":
        # Newest/oldest first among the songs that match at all; relevance breaks ties.
        sign = -1 if order == "newest" else 1
        ranked.sort(key=lambda item: sign * item[2].year)
    return ranked


# --- agents -----------------------------------------------------------------


def personal(card: AgentCard) -> Handler:
    """The user's own agent: hands out the profile fields asked for, and nothing else."""
    profile = load_profile()
    released = [f for f in card.vault_fields if f in profile]

    async def get(data: JSON, envelope: Envelope, context: Context) -> JSON:
        unknown = [f for f in data["fields"] if f not in released]
        if unknown:
            raise UnknownName(
                f"unknown profile field(s) {', '.join(map(repr, unknown))}; "
                f"the profile has: {', '.join(released)}"
            )
        return {f: copy.deepcopy(profile[f]) for f in data["fields"]}

    return skill_router(card, {"profile.get": get})


def songs(card: AgentCard) -> Handler:
    """The catalogue company's agent: search songs by mood, genre, artist and era; play one."""
    library = catalogue()
    by_id = {s.song_id: s for s in library}
    plays: Counter[str] = Counter()

    async def search(data: JSON, envelope: Envelope, context: Context) -> JSON:
        ranked = rank_songs(library, data)[: int(data.get("count", 5))]
        return {
            "songs": [asdict(song) | {"score": score, "matched": m} for score, m, song in ranked]
        }

    async def play(data: JSON, envelope: Envelope, context: Context) -> JSON:
        song = by_id.get(data["song_id"])
        if song is None:
            raise UnknownName(
                f"no song {data['song_id']!r} in the catalogue; song ids look like "
                f"{library[0].song_id}..{library[-1].song_id}, as returned by song.search"
            )
        plays[song.song_id] += 1
        return {
            "now_playing": asdict(song)
            | {
                "started_at": datetime.now().isoformat(timespec="seconds"),
                "stream_url": f"soundvault://tracks/{song.song_id}",
                "play_count": plays[song.song_id],
            }
        }

    return skill_router(card, {"song.search": search, "song.play": play})
