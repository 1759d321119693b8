"""What each clause of a request is for: a step, context, a condition, a way back.

Routing tells which skill a clause is nearest to; these pure judgements tell what
to do with it:

- *context* gives facts, not a request ("I'm going to a conference in Lyon",
  "I'm cooking tonight"): it informs the other clauses (dates, places) and is no
  step of its own;
- a *conditional* books what an earlier clause looks for, if there is one
  ("check for a hotel near the Vieux-Port and reserve it if there is one");
- a *return* adds the way back of an earlier trip ("and back on Sunday").
"""

from __future__ import annotations

import re
from enum import Enum

_REQUEST_VERBS = (
    r"book|reserve|find|search|look|check|get|buy|need|want|show|tell|give|play|put|start|"
    r"plan|take|order|rent|hire|call|arrange|organi[sz]e|recommend|suggest|list|see|"
    r"would\s+like|'d\s+like|like|help|can\s+you|could\s+you|please|how|what|which|where|is\s+there|"
    r"are\s+there|any|directions?|route|navigate|listen|queue|shuffle|stream|"
    r"réserve[rz]?|trouve[rz]?|cherche[rz]?|joue[rz]?|mets"
)
_REQUEST = re.compile(rf"\b(?:{_REQUEST_VERBS})\b", re.I)
_STATEMENT = re.compile(
    r"^\s*(?:i'?m|i\s+am|we'?re|we\s+are|i'?ll\s+be|we'?ll\s+be|i\s+have|we\s+have|i'?ve|"
    r"we'?ve|my|our|it'?s|it\s+is|there'?s\s+a|i\s+was|we\s+were|i\s+will\s+be|since|"
    r"because|as|departing|leaving|arriving|staying|going|coming|flying|heading|travell?ing|"
    r"for\s+my|for\s+our|"
    r"(?:i|we)'?ll\s+(?:arrive|be|land|get\s+in|reach|leave|stay|come|travel))\b",
    re.I,
)
# "Christmas in Strasbourg was lovely", "the train is already booked": what is done.
_PAST = re.compile(
    r"\b(?:was|were)\b|\b(?:is|are|'s)\s+(?:already\s+)?(?:booked|sorted|reserved|paid|done)\b",
    re.I,
)
# "I want to visit Nimes", "I need to be in Strasbourg on the 1st": the purpose of the
# trip the other clauses ask for.
_INTENT = re.compile(
    r"^\s*(?:i|we)(?:'d|\s+would)?\s+(?:really\s+)?(?:want|need|like|plan|hope|have)\s+to\s+"
    r"(?:visit|be\s+(?:in|at)|see|attend|spend|explore|discover)\b",
    re.I,
)
_CONDITION = re.compile(
    r"\b(?:if\s+(?:there(?:\s+is|\s+are|'s)|you\s+(?:can\s+)?find|one\s+is|it'?s|it\s+is|so|yes|"
    r"possible|available|any|they\s+have)|should\s+there\s+be|in\s+case\s+there|when\s+available|"
    r"if\s+one\s+exists)\b",
    re.I,
)
_ANAPHOR_BOOKING = re.compile(
    r"\b(?:book|reserve|buy|take|get|grab|put)\s+(?:(?:me|us)\s+on\s+)?(?:it|that|one|them|this|"
    r"the\s+(?:one|room|ticket|seat|cheapest|earliest|first|best|last|latest|nearest|closest))\b",
    re.I,
)
_SEARCH_ONLY = re.compile(
    r"\b(?:don'?t|do\s+not|no|without|not\s+yet|nothing\s+to)\s+(?:book|booking|reserv\w*|buy)"
    r"|\bdon'?t\s+book\b|\bjust\s+(?:looking|checking|searching)\b|\bno\s+booking\b",
    re.I,
)
_QUESTION_OR_VERB = re.compile(
    r"\b(?:what|which|when|how|where|is\s+there|are\s+there|any|show|list|find|search|look|"
    r"check|see|tell|compare|book|reserve|buy|get|need|want|like|take|play|put|start|hear|"
    r"listen|queue|stream|give|grab|recommend|suggest|mets|joue|réserve|trouve|cherche)\b",
    re.I,
)
_RETURN = re.compile(
    r"\b(?:(?:and|then|&)\s+)?(?:back|return(?:ing)?|coming\s+back|the\s+way\s+back|"
    r"round[- ]trip|return\s+(?:ticket|trip|journey|leg))\b",
    re.I,
)


class Role(Enum):
    STEP = "step"
    CONTEXT = "context"
    CONDITIONAL = "conditional"
    RETURN = "return"
    SEARCH_ONLY = "search-only"
    """"don't book anything yet": the clause before it only looks."""


def role_of(clause: str, *, first: bool = False) -> Role:
    """What `clause` asks for (see the module docstring). The `first` clause of a request
    is never only context: a request that is all statement ("I need to be in Lyon by 9")
    still asks for something."""
    if _CONDITION.search(clause) and _ANAPHOR_BOOKING.search(clause):
        return Role.CONDITIONAL
    if not first and _SEARCH_ONLY.search(clause):
        return Role.SEARCH_ONLY
    if not first and is_return(clause) and not _mentions_new_trip(clause):
        return Role.RETURN
    if not first and _STATEMENT.search(clause) and not _REQUEST.search(_after_subject(clause)):
        return Role.CONTEXT
    if not first and (
        _INTENT.search(clause) or (_PAST.search(clause) and not _REQUEST.search(clause))
    ):
        return Role.CONTEXT
    return Role.STEP


def is_verbless(clause: str) -> bool:
    """ "train Paris Lyon friday 8am": no verb, no question. To a booking assistant such a
    terse request asks for the thing itself (book it), not a list to look at."""
    return not _QUESTION_OR_VERB.search(clause)


def only_looks(clause: str) -> bool:
    """Whether the clause says not to book ("no booking please", "just looking")."""
    return bool(_SEARCH_ONLY.search(clause))


def is_conditional(text: str) -> bool:
    """Whether a booking in `text` is asked only if its search finds something."""
    return bool(_CONDITION.search(text))


def books_it(clause: str) -> bool:
    """ "book it", "reserve that one": a booking of what another clause finds."""
    return bool(_ANAPHOR_BOOKING.search(clause))


def is_return(clause: str) -> bool:
    return bool(_RETURN.search(clause))


def return_part(clause: str) -> str | None:
    """The way back said inside a trip's own clause ("Paris to Rennes on the 1st, back on
    the 4th" -> "back on the 4th"), or None."""
    match = re.search(
        r"[,;]?\s*\b(?:and\s+|then\s+)?(?:back|return(?:ing)?|coming\s+back)\b.*$", clause, re.I
    )
    if match is None or match.start() < 8:
        return None
    return match.group(0).strip(" ,;")


_BOOKING_VERB = re.compile(
    r"\b(?:book|reserve|buy|get\s+(?:me|us)|grab|réserve[rz]?|check\s+in(?:to)?|"
    # "need a room" wherever it is said ("Next weekend I'm in Lille, need a hotel"), but
    # not denied or said of someone else ("I don't need a hotel", "do you need a seat").
    r"(?<!n't\s)(?<!not\s)(?<!you\s)(?<!they\s)(?<!she\s)(?<!\bhe\s)(?:need|want)\s+"
    r"(?:a|an|the|some|two|three|\d+|[a-z]+s|something|anything|"
    r"hotel|room|train|ticket|seat|bed|place)\b|"
    r"(?:i|we)\s+(?:need|want|have)\s+to\s+(?:get|go|travel|be|take)|"
    r"(?:i|we)(?:'d|\s+would)\s+like\s+(?:a|an|the|to\s+(?:go|get|travel|take)))\b",
    re.I,
)


def says_book(clause: str) -> bool:
    """Whether the clause's own verb commits ("book", "reserve", "buy", "I need a room":
    asking for the thing itself, not for information about it)."""
    return bool(_BOOKING_VERB.search(clause))


def asks_round_trip(text: str) -> bool:
    """ "a return ticket" / "round trip" in one clause: both ways, the return date asked."""
    return bool(
        re.search(
            r"\b(?:round[- ]trip|return\s+(?:ticket|trip|journey)|aller[- ]retour)\b", text, re.I
        )
    )


def _after_subject(clause: str) -> str:
    match = _STATEMENT.search(clause)
    return clause[match.end() :] if match else clause


def _mentions_new_trip(clause: str) -> bool:
    """ "back from Lyon to Paris" names both ends: a trip of its own, not the reverse leg."""
    return bool(re.search(r"\bfrom\s+\S+.*\bto\s+\S+", clause, re.I))
