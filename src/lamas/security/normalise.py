"""How the detector and the tool guard read a text: the way a model could read it.

`normalise` undoes Unicode tricks (homoglyphs folded, zero-width and bidi controls dropped,
hidden tag characters decoded, spaced-out words rejoined); `readings` adds leet spelled
out and base64, hex and ROT13 payloads decoded; `readable` turns a JSON document into its
string values.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TAG = re.compile("[\U000e0000-\U000e007f]")
# Letters that look like Latin ones (Cyrillic, Greek, IPA, dotless i), folded to Latin.
_CONFUSABLES = str.maketrans(
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443"
    "\u0445\u0456\u0457\u0458\u0455\u0501\u051b\u051d\u04bb\u0251\u0131\u0261"
    "\u03bf\u03b1\u03b5\u03b9\u03ba\u03bd\u03c1\u03c4\u03c5\u03c7\u0391\u0392"
    "\u0395\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a7\u0410\u0412\u0415"
    "\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0406\u0405\u0408",
    "abeekmhopctyxiijsdqwhaigoaeikvptuxabeikmnoptxabekmhopctxisj",
)
_CONFUSABLE = re.compile("[" + "".join(chr(c) for c in _CONFUSABLES) + "]")
_LATIN = re.compile(r"[a-z]")
_NON_LATIN_LETTER = re.compile(r"[^\W\d_a-z]")
_SPACED = re.compile(r"\b(?:[a-z][ .\-_*]){3,}[a-z]\b")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)


@dataclass(frozen=True, slots=True)
class Normalised:
    text: str
    """Casefolded, NFKC, invisible characters dropped, homoglyphs folded, spaced words joined,
    spaces collapsed (line breaks kept)."""
    tricks: tuple[str, ...]
    """The obfuscations that were undone."""


def normalise(text: str) -> Normalised:
    """`text` as the rules read it, and which Unicode tricks had to be undone to get there."""
    tricks: list[str] = []
    if _TAG.search(text):
        tricks.append("hidden Unicode tag characters")
        text = _TAG.sub(lambda m: chr(ord(m[0]) - 0xE0000) if ord(m[0]) >= 0xE0020 else "", text)
    if _INVISIBLE.search(text):
        tricks.append("zero-width characters")
        text = _INVISIBLE.sub("", text)
    if _BIDI.search(text):
        tricks.append("bidirectional control characters")
        text = _BIDI.sub("", text)
    folded = unicodedata.normalize("NFKC", text)
    if folded != unicodedata.normalize("NFC", text) and any(
        0xFF01 <= ord(c) <= 0xFF5E or 0x1D400 <= ord(c) <= 0x1D7FF for c in text
    ):
        tricks.append("fullwidth or styled letters")
    folded = folded.casefold()
    # An all-ASCII text has no look-alike letters to find: skip the per-word scan (half
    # the time of screening a 1 MB text).
    mixed = (
        []
        if folded.isascii()
        else [
            w
            for w in re.findall(r"\w+", folded)
            if _LATIN.search(w) and _NON_LATIN_LETTER.search(w)
        ]
    )
    if any(_CONFUSABLE.search(w) for w in mixed):
        tricks.append("look-alike letters mixed into Latin words")
    if _CONFUSABLE.search(folded):  # str.translate is slow on long non-ASCII text: only if needed
        folded = folded.translate(_CONFUSABLES)
    folded = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m[0]), folded)
    lines = (" ".join(line.split()) for line in folded.splitlines())
    return Normalised("\n".join(line for line in lines if line), tuple(tricks))


def unleet(text: str) -> str:
    """Words written with digits for letters ("1gn0re") spelled out; other words unchanged."""
    return re.sub(
        r"\b(?=\w*[a-z])(?=\w*[013457])[a-z0-9]{3,}\b", lambda m: m[0].translate(_LEET), text
    )


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{32,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){20,}")


def readable(text: str) -> str:
    """The string values of a JSON document, one per line; any other text as it is."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return text
    try:
        document = json.loads(stripped)
    except (ValueError, RecursionError):  # "[" * 1 MB nests past the recursion limit
        return text
    pieces: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            pieces.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return "\n".join(pieces)


def _printable_ratio(text: str) -> float:
    return sum(c.isprintable() or c in "\n\t" for c in text) / max(1, len(text))


def decoded_payloads(text: str) -> list[tuple[str, str]]:
    """Base64 and hex runs in `text` that decode to readable text: `(kind, decoded)`."""
    found: list[tuple[str, str]] = []
    for match in _BASE64_RUN.finditer(text):
        run = match[0]
        try:
            decoded = base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if len(decoded) >= 12 and _printable_ratio(decoded) > 0.9 and " " in decoded:
            found.append(("base64", decoded))
    for match in _HEX_RUN.finditer(text):
        digits = re.sub(r"[ :]", "", match[0])
        try:
            decoded = bytes.fromhex(digits[: len(digits) // 2 * 2]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if _printable_ratio(decoded) > 0.9 and " " in decoded:
            found.append(("hex", decoded))
    return found


def readings(text: str) -> list[str]:
    """Every way a model could read `text`: normalised, with leet spelled out, and each
    base64, hex or ROT13 payload decoded (the taint check of the tool guard uses these)."""
    plain = normalise(readable(text)).text
    found = [plain, unleet(plain), codecs.decode(plain, "rot13")]
    found.extend(normalise(decoded).text for _, decoded in decoded_payloads(text))
    return list(dict.fromkeys(found))
