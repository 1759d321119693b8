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
    r"because|as|departing|leaving|arriving|staying|going|travell?ing|for\s+my|for\s+our)\b",
    re.I,
)
_CONDITION = re.compile(
    r"\b(?:if\s+(?:there\s+(?:is|are|'s)|you\s+(?:can\s+)?find|one\s+is|it'?s|it\s+is|so|"
    r"possible|available|any|they\s+have)|should\s+there\s+be|in\s+case\s+there|when\s+available|"
    r"if\s+one\s+exists)\b",
    re.I,
)
_ANAPHOR_BOOKING = re.compile(
    r"\b(?:book|reserve|buy|take|get)\s+(?:it|that|one|them|this|the\s+(?:one|room|ticket|seat))\b",
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


def role_of(clause: str, *, first: bool = False) -> Role:
    """What `clause` asks for (see the module docstring). The `first` clause of a request
    is never only context: a request that is all statement ("I need to be in Lyon by 9")
    still asks for something."""
    if _CONDITION.search(clause) and _ANAPHOR_BOOKING.search(clause):
        return Role.CONDITIONAL
    if not first and is_return(clause) and not _mentions_new_trip(clause):
        return Role.RETURN
    if not first and _STATEMENT.search(clause) and not _REQUEST.search(_after_subject(clause)):
        return Role.CONTEXT
    return Role.STEP


def is_conditional(text: str) -> bool:
    """Whether a booking in `text` is asked only if its search finds something."""
    return bool(_CONDITION.search(text))


def is_return(clause: str) -> bool:
    return bool(_RETURN.search(clause))


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
