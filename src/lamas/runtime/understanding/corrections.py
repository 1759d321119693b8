"""A request that corrects itself: "on Monday the 29th, sorry I mean Tuesday the 30th".

People fix what they said in the same breath ("play Take Five... actually no, something by
Miles Davis instead"). Both versions reaching the planner books the wrong one, or both.
The correction replaces the phrase it corrects: the words after the last cue word
(a preposition or an asking verb) before it, or after the same cue the correction opens
with ("to Lyon, I mean to Marseille").
"""

from __future__ import annotations

import re

from lamas.protocol.instruction import ASKING_VERBS

_MARKER = re.compile(
    r"(?:(?:\.{2,}|…|[,;.!]|\s-)\s*|\s+(?=sorry\b))"
    r"(?:(?:sorry|oops|no|wait|err?|um+|uh+)[,!]?\s+)*"
    r"(?:actually,?\s+(?:no,?\s+)?(?:make\s+(?:it|that)\s+)?|I\s+meant?,?\s+|"
    r"no\s+wait,?\s+|or\s+rather,?\s+|make\s+(?:it|that)\s+|scratch\s+that,?\s+|"
    r"sorry[,!]?\s+(?!(?:for|to|about|if|but|that|i\s+am|i'm)\b))",
    re.I,
)
_CUES = frozenset(
    {"on", "at", "in", "to", "for", "from", "by", "near", "around", "with", *ASKING_VERBS}
)


def corrected(instruction: str) -> str:
    """`instruction` with every self-correction applied (unchanged when there is none)."""
    for _ in range(3):  # a request corrects itself at most a few times
        match = _MARKER.search(instruction)
        if match is None or match.start() == 0:
            return instruction
        before, after = instruction[: match.start()], instruction[match.end() :]
        replacement = re.sub(r"\s+instead\b", "", after, count=1, flags=re.I)
        instruction = _replace_last_phrase(before, replacement)
    return instruction


def _replace_last_phrase(before: str, replacement: str) -> str:
    words = before.split()
    opening = replacement.split(maxsplit=1)[0].casefold() if replacement.strip() else ""
    # "to Lyon, I mean to Marseille": from the same cue; else from the last cue.
    for index in range(len(words) - 1, -1, -1):
        if opening in _CUES and words[index].casefold() == opening:
            return " ".join([*words[:index], replacement])
    for index in range(len(words) - 1, -1, -1):
        word = words[index]
        if word.casefold().strip(",.") in _CUES and (index == 0 or not word[:1].isupper()):
            # A capitalised cue inside the request is part of a name ("play Take Five").
            return " ".join([*words[: index + 1], replacement])
    return replacement
