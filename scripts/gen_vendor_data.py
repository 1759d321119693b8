"""Write the data files of the travel and music example networks from curated real facts.

    python scripts/gen_vendor_data.py            # rewrite examples/*/data in place
    python scripts/gen_vendor_data.py --out DIR  # write DIR/travel/... and DIR/music/...

The facts live in small curated tables beside the data (`examples/travel/data/src/*.csv`:
cities with their centre and served radius, real main-line stations, real landmarks,
neighbourhoods with the StayWell hotel named after each; `examples/music/data/src/
catalogue.csv`: real songs with their release year). Everything else is derived here,
deterministically (no clock, no randomness: variation comes from a SHA-256 of the names),
so running it twice gives byte-identical files and a test can check the committed ones:

- timetables of both rail vendors between every pair of cities, one row per service with
  the days of the week it runs (not 365 copies): durations from the great-circle distance,
  a detour factor and the line speed (high-speed where both ends are on a LGV), one change
  at a hub where a pair has no direct service; RailGo runs more and dearer trains than
  SwiftRail, which prefers the cities' low-cost stations;
- one road graph for all cities: every place (station, landmark, neighbourhood, hotel)
  joined to its nearest neighbours by straight lines times a detour factor, connected;
- the vocabularies the vendors publish in their cards (names + aliases, docs/vocabulary.md).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TRAVEL_SRC = EXAMPLES / "travel" / "data" / "src"
MUSIC_SRC = EXAMPLES / "music" / "data" / "src"

# --- shared ------------------------------------------------------------------------------


def fold(text: str) -> str:
    """The lookup key lamas.protocol.vocabulary uses (kept in step: the test checks it)."""
    plain = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z&]+", " ", plain.casefold()).split())


def unit(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`: variation without randomness."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def aliases_of(cell: str) -> list[str]:
    return [a.strip() for a in cell.split("|") if a.strip()]


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def json_text(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


class Names:
    """A vocabulary being built: canonical names, aliases, and where each name lies.
    A curated alias that collides with another name of the same city is an error (the
    table must be fixed); a generated one that collides is simply not added."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: list[str] = []
        self.aliases: dict[str, list[str]] = {}
        self.within: dict[str, str] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (scope, folded) -> name

    def taken(self, text: str, scope: str) -> str | None:
        return self._keys.get((scope, fold(text)))

    def taken_anywhere(self, text: str) -> bool:
        return any(key == fold(text) for _, key in self._keys)

    def add(self, name: str, scope: str = "", *, within: str | None = None) -> None:
        if name in self.names:
            raise ValueError(f"{self.kind} {name!r} is listed twice")
        other = self.taken(name, scope)
        if other is not None:
            raise ValueError(f"{self.kind} {name!r} collides with {other!r} in {scope or '-'}")
        self.names.append(name)
        self._keys[(scope, fold(name))] = name
        if within is not None:
            self.within[name] = within

    def alias(self, alias: str, name: str, scope: str = "", *, curated: bool = True) -> None:
        other = self.taken(alias, scope)
        if other == name or fold(alias) == "":
            return
        if other is not None:
            if curated:
                raise ValueError(f"alias {alias!r} of {name!r} is already {other!r} ({scope})")
            return
        self._keys[(scope, fold(alias))] = name
        self.aliases.setdefault(name, []).append(alias)

    def published(self) -> dict[str, object]:
        block: dict[str, object] = {"kind": self.kind, "names": self.names}
        if self.aliases:
            block["aliases"] = self.aliases
        if self.within:
            block["within"] = self.within
        return block


# --- travel ------------------------------------------------------------------------------

CURRENCY = "EUR"
HS_KMH, MIXED_KMH, CLASSIC_KMH = 235.0, 150.0, 105.0
"""Average line speeds: both ends on a high-speed line, one of them, neither."""
RAIL_DETOUR = 1.2
"""Track length over great-circle distance (rail lines bend around terrain)."""
PLATFORM_MIN = 10
CHANGE_MIN = 35
HUBS = ("Paris", "Lyon", "Bordeaux", "Marseille", "Nantes", "Lille", "Strasbourg", "Toulouse")
BIG = {
    "Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Montpellier", "Strasbourg",
    "Bordeaux", "Lille", "Rennes",
}
DIRECT_KM = 320
"""Pairs closer than this run direct; farther ones direct only on a main axis."""
ROAD_DETOUR, ROAD_CONES = 1.3, 6
"""Street length over straight-line distance, and in how many directions (60-degree
cones) each place is joined to its nearest neighbour."""
STAR_FACTOR = {2: 0.7, 3: 1.0, 4: 1.5, 5: 2.6}
PEAK = ((7, 9, 1.25), (17, 19, 1.2))


@dataclass(frozen=True)
class City:
    name: str
    aliases: list[str]
    lat: float
    lon: float
    radius_km: float
    high_speed: bool
    paris_station: str

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(south, west, north, east): the served area, a square around the centre."""
        dlat = self.radius_km / 111.2
        dlon = self.radius_km / (111.2 * math.cos(math.radians(self.lat)))
        return (
            round(self.lat - dlat, 4),
            round(self.lon - dlon, 4),
            round(self.lat + dlat, 4),
            round(self.lon + dlon, 4),
        )

    def holds(self, lat: float, lon: float) -> bool:
        south, west, north, east = self.bbox
        return south <= lat <= north and west <= lon <= east


@dataclass(frozen=True)
class Point:
    name: str
    city: str
    kind: str  # station | landmark | neighbourhood | hotel
    lat: float
    lon: float


def load_cities() -> dict[str, City]:
    return {
        r["city"]: City(
            r["city"],
            aliases_of(r["aliases"]),
            float(r["lat"]),
            float(r["lon"]),
            float(r["radius_km"]),
            r["line"] == "hs",
            r["paris_station"],
        )
        for r in read(TRAVEL_SRC / "cities.csv")
    }


def trip_minutes(a: City, b: City) -> int:
    km = haversine_km(a.lat, a.lon, b.lat, b.lon) * RAIL_DETOUR
    speed = (
        HS_KMH
        if a.high_speed and b.high_speed
        else MIXED_KMH
        if a.high_speed or b.high_speed
        else CLASSIC_KMH
    )
    return PLATFORM_MIN + round(km / speed * 60)


def routing(cities: dict[str, City]) -> dict[tuple[str, str], tuple[int, str]]:
    """(minutes, via) per ordered pair: direct ("" via) or through the best hub."""
    table: dict[tuple[str, str], tuple[int, str]] = {}
    for a, b in ((x, y) for x in cities for y in cities if x != y):
        ca, cb = cities[a], cities[b]
        direct = trip_minutes(ca, cb)
        axis = "Paris" in (a, b) or (a in BIG and b in BIG)
        if haversine_km(ca.lat, ca.lon, cb.lat, cb.lon) <= DIRECT_KM or axis:
            table[a, b] = (direct, "")
            continue
        options = [
            (trip_minutes(ca, cities[h]) + CHANGE_MIN + trip_minutes(cities[h], cb), h)
            for h in HUBS
            if h not in (a, b)
        ]
        via_minutes, hub = min(options)
        table[a, b] = (via_minutes, hub) if via_minutes < direct * 1.25 else (direct, "")
    return table


def clock(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def fare(km: float, depart_min: int, *parts: object) -> float:
    hour = depart_min // 60
    factor = 0.8 if hour < 7 else 0.85 if hour >= 20 else 1.0
    for start, end, peak in PEAK:
        if start <= hour < end:
            factor = peak
    base = 12 + km * 0.105
    value = base * factor * (0.9 + 0.2 * unit("fare", *parts))
    return math.floor(value) + 0.9


def station_for(city: City, other: City, vendor: str, stations: dict[str, list[Point]],
                lowcost: dict[str, str], main: dict[str, str]) -> str:
    if city.name == "Paris":
        return other.paris_station
    if vendor == "swiftrail" and city.name in lowcost:
        return lowcost[city.name]
    return main[city.name]


def timetable(
    vendor: str,
    cities: dict[str, City],
    route: dict[tuple[str, str], tuple[int, str]],
    stations: dict[str, list[Point]],
    lowcost: dict[str, str],
    main: dict[str, str],
) -> list[list[object]]:
    """Every service of one vendor: several a day on every ordered pair, 06:00-21:00.

    RailGo: 12 a day between Paris and a big city, 8 between two other big cities, 6 when
    one end is big, 4 otherwise; (with more
    than 4) its second train runs on weekdays only and an extra one mid-morning at
    weekends. SwiftRail: 4 or 3 a day (cheaper, slower by 8%), plus an early-evening one
    from Friday to Sunday. Every day of the week keeps at least three trains per pair.
    """
    rows: list[list[object]] = []
    prefix, number = ("RG", 1000) if vendor == "railgo" else ("SR", 5000)
    for a, b in ((x, y) for x in cities for y in cities if x != y):
        ca, cb = cities[a], cities[b]
        minutes, via = route[a, b]
        bigness = (a in BIG) + (b in BIG) + ("Paris" in (a, b))
        if vendor == "railgo":
            count = 12 if bigness == 3 else 8 if bigness == 2 else 6 if bigness == 1 else 4
        else:
            count = 4 if bigness >= 2 else 3
            minutes = round(minutes * 1.08)
        first, last = 6 * 60, 21 * 60
        step = (last - first) / (count - 1)
        km = haversine_km(ca.lat, ca.lon, cb.lat, cb.lon)
        for i in range(count):
            jitter = round((unit("dep", vendor, a, b, i) - 0.5) * min(step, 60) * 0.5)
            depart = max(first - 10, min(last + 10, round(first + i * step) + jitter))
            days = "12345" if vendor == "railgo" and i == 1 and count > 4 else "1234567"
            price = fare(km, depart, vendor, a, b, i)
            if vendor == "swiftrail":
                price = max(9.9, math.floor(price * 0.62) + 0.9)
            number += 1
            rows.append(
                [
                    f"{prefix}{number}",
                    a,
                    b,
                    station_for(ca, cb, vendor, stations, lowcost, main),
                    station_for(cb, ca, vendor, stations, lowcost, main),
                    clock(depart),
                    clock(depart + minutes),
                    days,
                    1 if via else 0,
                    via,
                    f"{price:.2f}",
                    CURRENCY,
                ]
            )
        if vendor == "railgo" and count > 4:
            extra, days, fare_key = 10 * 60 + 15 + round(unit("extra", a, b) * 30), "67", "extra"
        elif vendor == "swiftrail":
            extra, days, fare_key = 18 * 60 + 20 + round(unit("extra", a, b) * 30), "567", "extra"
        else:
            continue
        number += 1
        price = fare(km, extra, vendor, a, b, fare_key)
        if vendor == "swiftrail":
            price = max(9.9, math.floor(price * 0.62) + 0.9)
        rows.append(
            [
                f"{prefix}{number}",
                a,
                b,
                station_for(ca, cb, vendor, stations, lowcost, main),
                station_for(cb, ca, vendor, stations, lowcost, main),
                clock(extra),
                clock(extra + minutes),
                days,
                1 if via else 0,
                via,
                f"{price:.2f}",
                CURRENCY,
            ]
        )
    return rows


def _root(parent: dict[str, str], name: str) -> str:
    while parent[name] != name:
        name = parent[name]
    return name


def road_edges(points: list[Point]) -> list[tuple[str, str, float, int]]:
    """Each place joined to its nearest place in every direction, then any components
    joined by their closest pair, so every place reaches every other place of its city."""
    edges: dict[tuple[str, str], float] = {}

    def join(p: Point, q: Point) -> None:
        key = (p.name, q.name) if p.name < q.name else (q.name, p.name)
        edges[key] = haversine_km(p.lat, p.lon, q.lat, q.lon) * ROAD_DETOUR

    for p in points:
        # A theta graph: the nearest place in each of ROAD_CONES directions, so that a
        # cluster of places is never joined to the rest only by a long way round.
        nearest: dict[int, tuple[float, str, Point]] = {}
        for q in points:
            if q is p:
                continue
            dx = (q.lon - p.lon) * math.cos(math.radians(p.lat))
            angle = math.atan2(q.lat - p.lat, dx) % (2 * math.pi)
            cone = int(angle / (2 * math.pi / ROAD_CONES)) % ROAD_CONES
            candidate = (haversine_km(p.lat, p.lon, q.lat, q.lon), q.name, q)
            if cone not in nearest or candidate[:2] < nearest[cone][:2]:
                nearest[cone] = candidate
        for _, _, q in nearest.values():
            join(p, q)
    by_name = {p.name: p for p in points}
    while True:
        parent = {p.name: p.name for p in points}
        for a, b in edges:
            parent[_root(parent, a)] = _root(parent, b)
        groups: dict[str, list[Point]] = {}
        for p in points:
            groups.setdefault(_root(parent, p.name), []).append(p)
        if len(groups) <= 1:
            break
        first, *rest = sorted(groups.values(), key=lambda g: g[0].name)
        others = [q for g in rest for q in g]
        p, q = min(
            ((p, q) for p in first for q in others),
            key=lambda pq: haversine_km(pq[0].lat, pq[0].lon, pq[1].lat, pq[1].lon),
        )
        join(by_name[p.name], by_name[q.name])
    return [(a, b, round(km, 2), 50 if km > 5 else 30) for (a, b), km in sorted(edges.items())]


def travel(out: Path) -> dict[str, str]:
    """The travel network's data files, as {relative path: text}."""
    cities = load_cities()
    city_names = Names("city")
    for city in cities.values():
        city_names.add(city.name)
        for alias in city.aliases:
            city_names.alias(alias, city.name)

    station_names, place_names = Names("station"), Names("place")
    points: dict[str, list[Point]] = {c: [] for c in cities}
    stations: dict[str, list[Point]] = {c: [] for c in cities}
    main: dict[str, str] = {}
    lowcost: dict[str, str] = {}
    for r in read(TRAVEL_SRC / "stations.csv"):
        city = r["city"]
        point = Point(r["name"], city, "station", float(r["lat"]), float(r["lon"]))
        stations[city].append(point)
        points[city].append(point)
        for names in (station_names, place_names):
            names.add(point.name, city, within=city)
            for alias in aliases_of(r["aliases"]):
                names.alias(alias, point.name, city)
        if r["role"] == "main":
            main[city] = point.name
        elif r["role"] == "lowcost":
            lowcost[city] = point.name
    for city in cities:
        if city not in main:
            raise ValueError(f"{city} has no main station")
        for names in (station_names, place_names):
            for alias in (f"{city} station", f"{city} main station", f"gare de {city}"):
                if not names.taken_anywhere(alias):  # "gare de Lyon" is in Paris
                    names.alias(alias, main[city], city, curated=False)
            for phrase in ("main station", "the station", "train station", "central station"):
                names.alias(phrase, main[city], city, curated=False)

    for r in read(TRAVEL_SRC / "landmarks.csv"):
        city = r["city"]
        point = Point(r["name"], city, "landmark", float(r["lat"]), float(r["lon"]))
        points[city].append(point)
        place_names.add(point.name, city, within=city)
        for alias in aliases_of(r["aliases"]):
            place_names.alias(alias, point.name, city)

    hotel_rows: list[list[object]] = []
    base_price = {c: 130 if c == "Paris" else 92 if c in BIG else 74 for c in cities}
    hotel_names: set[str] = set()
    for r in read(TRAVEL_SRC / "hotels.csv"):
        city, hood = r["city"], r["neighbourhood"]
        lat, lon = float(r["lat"]), float(r["lon"])
        # The neighbourhood is a place unless a station or landmark already goes by it.
        if place_names.taken(hood, city) is None:
            place_names.add(hood, city, within=city)
            points[city].append(Point(hood, city, "neighbourhood", lat, lon))
            for alias in aliases_of(r["aliases"]):
                place_names.alias(alias, hood, city, curated=False)
        stars = int(r["stars"])
        name = r["hotel"] or "StayWell " + hood.removesuffix(" district")
        if r["hotel"]:
            hotel_lat, hotel_lon = lat, lon  # curated: the hotel's own coordinates
        else:
            hotel_lat = round(lat + (unit("lat", name) - 0.5) * 0.0016, 4)
            hotel_lon = round(lon + (unit("lon", name) - 0.5) * 0.0022, 4)
        price = (
            float(r["price_per_night"])
            if r["price_per_night"]
            else round(base_price[city] * STAR_FACTOR[stars] * (0.9 + 0.2 * unit("p", name)))
        )
        if name in hotel_names:
            raise ValueError(f"hotel {name!r} is listed twice")
        hotel_names.add(name)
        points[city].append(Point(name, city, "hotel", hotel_lat, hotel_lon))
        place_names.add(name, city, within=city)
        hotel_rows.append(
            [r["hotel_id"], name, city, hood, hotel_lat, hotel_lon, stars, f"{price:g}", CURRENCY]
        )

    check_coverage(cities, points)
    route = routing(cities)
    files: dict[str, str] = {}
    files["cities.csv"] = csv_text(
        ["city", "main_station", "lat", "lon", "south", "west", "north", "east"],
        [[c.name, main[c.name], c.lat, c.lon, *c.bbox] for c in cities.values()],
    )
    files["places.csv"] = csv_text(
        ["name", "city", "kind", "lat", "lon"],
        [
            [p.name, p.city, p.kind, p.lat, p.lon]
            for c in cities
            for p in points[c]
            if p.kind != "hotel"
        ],
    )
    files["hotels.csv"] = csv_text(
        [
            "hotel_id",
            "name",
            "city",
            "neighbourhood",
            "lat",
            "lon",
            "stars",
            "price_per_night",
            "currency",
        ],
        hotel_rows,
    )
    header = [
        "service", "origin", "destination", "station_from", "station_to", "depart", "arrive",
        "days", "changes", "via", "price", "currency",
    ]
    for vendor in ("railgo", "swiftrail"):
        files[f"timetable_{vendor}.csv"] = csv_text(
            header, timetable(vendor, cities, route, stations, lowcost, main)
        )
    files["roads.csv"] = csv_text(
        ["city", "from", "to", "length_km", "speed_kmh"],
        [[c, *edge] for c in cities for edge in road_edges(points[c])],
    )
    files["vocabulary/cities.json"] = json_text(city_names.published())
    files["vocabulary/stations.json"] = json_text(station_names.published())
    files["vocabulary/places.json"] = json_text(place_names.published())
    return files


def check_coverage(cities: dict[str, City], points: dict[str, list[Point]]) -> None:
    """The agreed coverage: >= 1 station, 3 landmarks, 2 hotels per city, in its area."""
    for city in cities.values():
        kinds = [p.kind for p in points[city.name]]
        for kind, least in (("station", 1), ("landmark", 3), ("hotel", 2)):
            if kinds.count(kind) < least:
                raise ValueError(f"{city.name} has {kinds.count(kind)} {kind}s, needs {least}")
        for p in points[city.name]:
            if not city.holds(p.lat, p.lon):
                raise ValueError(f"{p.kind} {p.name} ({p.lat}, {p.lon}) lies outside {city.name}")


# --- music -------------------------------------------------------------------------------

GENRES: dict[str, list[str]] = {
    "pop": ["pop music", "popular"],
    "rock": ["rock and roll", "rock n roll", "rock & roll", "alternative", "indie", "grunge"],
    "jazz": ["bebop", "swing", "smooth jazz"],
    "soul": ["motown", "neo soul"],
    "r&b": ["rnb", "r and b", "rhythm and blues", "r & b", "contemporary r&b"],
    "funk": ["funky"],
    "disco": ["seventies disco"],
    "hip-hop": ["hip hop", "hiphop", "rap", "rap music", "trap"],
    "electronic": ["edm", "electro", "dance", "house", "techno", "electronica", "trip hop"],
    "classical": ["classic", "classical music", "orchestral", "symphonic", "piano classics"],
    "folk": ["acoustic", "singer-songwriter", "folk music"],
    "reggae": ["ska", "dub", "roots reggae"],
    "metal": ["heavy metal", "hard rock", "thrash", "thrash metal"],
    "blues": ["delta blues", "chicago blues", "blues rock"],
    "country": ["country music", "americana", "bluegrass"],
    "chanson": ["french chanson", "french", "french song", "chanson française", "variété"],
    "latin": ["latino", "salsa", "reggaeton", "bossa nova", "latin pop"],
}
MOODS: dict[str, list[str]] = {
    "happy": ["upbeat", "cheerful", "joyful", "feel good", "feel-good", "sunny", "uplifting"],
    "calm": [
        "chill",
        "chilled",
        "chill out",
        "relaxed",
        "relaxing",
        "relax",
        "mellow",
        "peaceful",
        "quiet",
        "soothing",
        "soft",
        "gentle",
    ],
    "sad": ["blue", "gloomy", "heartbroken", "down", "tearjerker"],
    "melancholic": ["melancholy", "wistful", "nostalgic", "bittersweet", "moody"],
    "romantic": ["love", "loving", "sensual", "date night", "tender"],
    "energetic": ["party", "workout", "pumped", "intense", "lively", "high energy", "hype"],
    "angry": ["aggressive", "furious", "rage", "angsty", "heavy"],
}


def music(out: Path) -> dict[str, str]:
    rows = read(MUSIC_SRC / "catalogue.csv")
    songs: list[list[object]] = []
    seen: set[tuple[str, str]] = set()
    artists, titles = Names("artist"), Names("title")
    for index, r in enumerate(rows, start=1):
        key = (fold(r["title"]), fold(r["artist"]))
        if key in seen:
            raise ValueError(f"song {r['title']!r} by {r['artist']} is listed twice")
        seen.add(key)
        if r["genre"] not in GENRES or r["mood"] not in MOODS:
            raise ValueError(f"{r['title']!r}: unknown genre {r['genre']!r} or mood {r['mood']!r}")
        year, bpm, seconds = int(r["year"]), int(r["tempo_bpm"]), int(r["duration_s"])
        if not (1600 <= year <= 2026 and 40 <= bpm <= 320 and 60 <= seconds <= 1800):
            raise ValueError(f"{r['title']!r}: year, tempo or duration out of range")
        songs.append(
            [f"s{index:03d}", r["title"], r["artist"], r["genre"], r["mood"], bpm, year, seconds]
        )
        if titles.taken(r["title"], "") is None:  # "Hello" is Adele's and Lionel Richie's
            titles.add(r["title"])
        if artists.taken(r["artist"], "") is None:
            artists.add(r["artist"])
            bare = r["artist"].removeprefix("The ")
            if bare != r["artist"]:
                artists.alias(bare, r["artist"], curated=False)
    for artist in list(artists.names):
        # "Bob Marley & The Wailers" is asked for as "Bob Marley": a band's leader, when
        # the leader's full name (two words or more) is no other artist.
        leader = re.match(r"^(?!the\s)(\S+(?:\s+\S+)+?)\s+(?:&|and)\s+the\s+\S", artist, re.I)
        if leader and artists.taken(leader.group(1), "") is None:
            artists.alias(leader.group(1), artist, curated=False)
    genres, moods = Names("genre"), Names("mood")
    for names, table in ((genres, GENRES), (moods, MOODS)):
        for name, aliases in table.items():
            names.add(name)
            for alias in aliases:
                names.alias(alias, name)
    return {
        "songs.csv": csv_text(
            ["song_id", "title", "artist", "genre", "mood", "tempo_bpm", "year", "duration_s"],
            songs,
        ),
        "vocabulary/genres.json": json_text(genres.published()),
        "vocabulary/moods.json": json_text(moods.published()),
        "vocabulary/artists.json": json_text(artists.published()),
        "vocabulary/titles.json": json_text(titles.published()),
    }


# --- main --------------------------------------------------------------------------------


def generate(out: Path) -> list[Path]:
    """Write every file under `out` (`out/travel/data/...`, `out/music/data/...`)."""
    written = []
    for network, files in (("travel", travel(out)), ("music", music(out))):
        for relative, text in files.items():
            path = out / network / "data" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES, help="examples directory")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
