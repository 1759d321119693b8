"""French requests, read in English: "réservez-moi un hôtel à Nice pour 2 nuits".

The networks' vendors are French and so are many of their users, but the understanding
pipeline (the MiniLM router, the scope judge, the clause roles) reads English. A request
written in French is glossed word by word into the English it means before it is read:
the request vocabulary of travel and music is small (book, ticket, room, night, song,
tonight, near the station...), while names (Nice, Gare de Lyon, Édith Piaf) are kept as
written for the vendors' vocabularies. Only a request that reads as French is glossed.
"""

from __future__ import annotations

import re

_FRENCH_WORDS = re.compile(
    r"\b(?:je|j'|vous|tu|moi|pour|une|des|du|avec|s'il|et|à|près|demain|ce|cette|billet|"
    r"billets|hôtel|hotel|chambre|chanson|chansons|mets|mettez|réserve[rz]?|réservez|nuits?|"
    r"voudrais|aimerais|peux|pouvez|pourriez|merci|bonjour|soir|matin|gare|prochain|prochaine|"
    r"semaine|aller|retour|dernier|premier|musique|morceau|calme|stp|svp)\b",
    re.I,
)

_WEEKDAYS = dict(
    zip(
        ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        strict=True,
    )
)
_MONTHS = dict(
    zip(
        [
            "janvier",
            "février",
            "fevrier",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "aout",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
            "decembre",
        ],
        [
            "January",
            "February",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "August",
            "September",
            "October",
            "November",
            "December",
            "December",
        ],
        strict=True,
    )
)
_DAY = "|".join(_WEEKDAYS)
_MONTH = "|".join(_MONTHS)

# Ordered: longer phrases first. Lower-case words only (a capitalised word is a name).
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"s'il (?:vous|te) pla[iî]t|svp|stp", "please"),
    (r"(?:de la |du )?chanson fran[çc]aise", "French chanson"),
    (r"des ann[ée]es (\d0)", r"from the \1s"),
    (r"pouvez-vous|pourriez-vous|peux-tu|pourrais-tu|vous pouvez|tu peux", "could you"),
    (
        r"je voudrais|j'aimerais|je veux|je souhaite|il me faut|j'ai besoin d'|j'ai besoin de",
        "I need",
    ),
    (r"r[ée]serve[rz]?-(?:moi|nous) aussi", "also book"),
    (r"r[ée]serve[rz]?-(?:moi|nous)|r[ée]servez|r[ée]server|r[ée]serve", "book"),
    (
        r"mets-(?:moi|nous)|mettez-(?:moi|nous)|mettez|mets|joue[rz]?-(?:moi|nous)|jouez|jouer|joue",
        "play",
    ),
    (r"trouve[rz]?-(?:moi|nous)|trouvez|trouver|cherche[rz]?", "find"),
    (r"un aller-retour|un aller retour|aller-retour", "a return ticket"),
    (r"un aller simple", "a one-way ticket"),
    (r"un billet de train|un billet", "a train ticket"),
    (r"des billets|deux billets", "two tickets"),
    (r"une chambre", "a room"),
    (r"un h[ôo]tel", "a hotel"),
    (r"h[ôo]tel", "hotel"),
    (r"chambre", "room"),
    (r"une chanson d'|une chanson de", "a song by "),
    (r"des chansons d'|des chansons de", "songs by "),
    (r"une chanson|un morceau", "a song"),
    (r"chansons?", "song"),
    (r"de la musique|du son", "some music"),
    (r"musique", "music"),
    (r"le dernier train|le dernier", "the last train"),
    (r"le premier train|le premier", "the first train"),
    (r"le moins cher|la moins ch[èe]re", "the cheapest"),
    (r"pas cher|pas ch[èe]re", "cheap"),
    (r"près de la gare|pr[èe]s de la gare", "near the station"),
    (r"pr[èe]s du|pr[èe]s de la|pr[èe]s de|pr[èe]s d'", "near"),
    (r"la gare", "the station"),
    (r"à partir du|à partir de|dès le|a partir du", "from"),
    (r"jusqu'au|jusqu'à", "until"),
    (r"du (\d{1,2}) au (\d{1,2})", r"from \1 to \2"),
    (r"après-demain", "the day after tomorrow"),
    (r"aujourd'hui", "today"),
    (r"demain matin", "tomorrow morning"),
    (r"demain soir", "tomorrow evening"),
    (r"demain", "tomorrow"),
    (r"ce soir", "tonight"),
    (r"ce matin", "this morning"),
    (r"cet après-midi", "this afternoon"),
    (r"ce week-end|ce weekend", "this weekend"),
    (r"le week-end prochain|le weekend prochain", "next weekend"),
    (r"la semaine prochaine", "next week"),
    (rf"({_DAY}) prochain", r"next \1"),
    (r"le matin|matin", "morning"),
    (r"l'après-midi|après-midi|aprem", "afternoon"),
    (r"le soir|soir", "evening"),
    (r"nuits", "nights"),
    (r"nuit", "night"),
    (r"étoiles|etoiles", "stars"),
    (r"pas loin", "nearby"),
    (r"calme", "calm"),
    (r"m[ée]lancoliques?", "melancholic"),
    (r"romantiques?", "romantic"),
    (r"[ée]nergiques?", "energetic"),
    (r"plut[ôo]t", "rather"),
    (r"[ée]couter", "to listen to"),
    (r"triste", "sad"),
    (r"joyeuse|joyeux|gaie?", "happy"),
    (r"un restaurant|une table", "a restaurant table"),
    (r"une voiture", "a car"),
    (r"un taxi", "a taxi"),
    (r"avec", "with"),
    (r"avant", "before"),
    (r"après", "after"),
    (r"vers", "around"),
    (r"aussi", "also"),
    (r"et", "and"),
    (r"merci(?: beaucoup)?|bonjour|salut|coucou", ""),
    (r"de ([A-Z][\w'-]+) à", r"from \1 to"),
    (r"depuis", "from"),
    (r"pour", "for"),
    (r"à|au|en", "in"),
    (r"du|des", "some"),
    (r"une|un", "a"),
    (r"le|la|les|l'", "the "),
    (r"moi|nous", "me"),
)
# Case-sensitive: a capitalised word is a name ("Le Havre", "La Rochelle", "Gare de Lyon").
_GLOSSES = tuple(
    (re.compile(rf"(?<![\w'-])(?:{pattern})(?:(?<=')|(?![\w-]))"), gloss)
    for pattern, gloss in _PHRASES
)
_OPENERS = re.compile(rf"(?:un|une|le|la|les|{_FRENCH_WORDS.pattern})\b", re.I)
_OPENING_WORD = re.compile(r"(?:^|(?<=[.!?]\s))([A-ZÀ-Ý][\w'-]*)")


def is_french(text: str) -> bool:
    """Whether `text` reads as French: at least two of its lower-case words are French
    request words (a name such as "Le Havre" or "La Rochelle" is no evidence)."""
    found = [m.group(0) for m in _FRENCH_WORDS.finditer(text) if not m.group(0)[:1].isupper()]
    return len(found) >= 2


def gloss(text: str) -> str:
    """The English `text` means, when it is French; `text` itself otherwise."""
    if not is_french(text):
        return text
    # A sentence's first word is capitalised as a sentence's, not as a name's.
    glossed = _OPENING_WORD.sub(
        lambda m: m.group(1).lower() if _OPENERS.match(m.group(1)) else m.group(1), text
    )
    for pattern, english in _GLOSSES:
        glossed = pattern.sub(english, glossed)
    for french, english in (*_WEEKDAYS.items(), *_MONTHS.items()):
        glossed = re.sub(rf"\b{french}\b", english, glossed, flags=re.I)
    glossed = re.sub(
        r"([,.!?])[\s,.!?]*(?=[,.!?]|$)", r"\1", re.sub(r"\s+([,.!?])", r"\1", glossed)
    )
    return re.sub(r"\s{2,}", " ", glossed).strip(" ,")
