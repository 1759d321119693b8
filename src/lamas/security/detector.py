"""A layered prompt-injection detector, calibrated on clean traffic (paper §2.5).

Layers, each scoring a text and flagging it when the score is above its threshold:

- `RuleLayer`: known attack patterns over *normalised* text (homoglyphs folded, zero-width
  and bidi controls dropped, hidden Unicode tag characters decoded, spaced-out and leet
  words rejoined; base64, hex and ROT13 payloads decoded and scanned too). Each rule has
  a weight; the score is the sum of the weights of the rules that match.
- `PerplexityLayer`: the perplexity filter of Alon & Kamfonas (2023) and Jain et al.
  (2023): the text's per-token perplexity under the local GGUF model, taken as the worst
  mean negative log-likelihood over a sliding window of tokens, so that an adversarial
  suffix appended to ordinary text still stands out.
- `ClassifierLayer`: any scoring function (a trained classifier), optional.

`Detector.calibrate(clean_texts, target_fpr)` sets each layer's threshold to a quantile of
its scores on legitimate traffic, so that at most `target_fpr` of that traffic is flagged
(the budget is split evenly between the layers). `screen()` is the middleware that
quarantines flagged content from other agents (records it, does not deliver it) and raises
`InjectionDetected` naming the reasons.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import json
import math
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lamas.errors import InputError, ModelError
from lamas.protocol.messages import DataPart, Envelope, TextPart
from lamas.protocol.types import Context, Handler, Middleware, Reply


@dataclass(frozen=True, slots=True)
class LayerScore:
    score: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Detection:
    """The verdict on one text: flagged or not, each layer's score and threshold, and why."""

    flagged: bool
    scores: Mapping[str, float]
    reasons: tuple[str, ...]
    thresholds: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Patterns that matched without reaching a threshold (for the record, not a verdict)."""


class InjectionDetected(InputError):
    """Content from another agent was flagged as a prompt injection and quarantined."""

    def __init__(self, sender: str, detection: Detection) -> None:
        self.sender = sender
        self.detection = detection
        self.scores = dict(detection.scores)
        self.reasons = detection.reasons
        shown = "; ".join(detection.reasons) or "no reason given"
        super().__init__(
            f"content from {sender!r} looks like a prompt injection and was quarantined, "
            f"not delivered ({shown}); review it in the quarantine log"
        )


class Layer(Protocol):
    """One layer of the detector."""

    name: str
    threshold: float
    floor: float
    """Calibration never sets the threshold below this."""

    def score(self, text: str) -> LayerScore: ...


# --- normalisation ----------------------------------------------------------

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
    mixed = [
        w for w in re.findall(r"\w+", folded) if _LATIN.search(w) and _NON_LATIN_LETTER.search(w)
    ]
    if any(w.translate(_CONFUSABLES) != w for w in mixed):
        tricks.append("look-alike letters mixed into Latin words")
    folded = folded.translate(_CONFUSABLES)
    folded = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m[0]), folded)
    lines = (" ".join(line.split()) for line in folded.splitlines())
    return Normalised("\n".join(line for line in lines if line), tuple(tricks))


# --- rules ------------------------------------------------------------------


def unleet(text: str) -> str:
    """Words written with digits for letters ("1gn0re") spelled out; other words unchanged."""
    return re.sub(
        r"\b(?=\w*[a-z])(?=\w*[013457])[a-z0-9]{3,}\b", lambda m: m[0].translate(_LEET), text
    )


def _near(a: str, b: str, words: int = 4) -> str:
    """`a`, then at most `words` other words, then `b`."""
    return rf"(?:{a})(?:\W+[\w'-]+){{0,{words}}}?\W+(?:{b})"


_SENSITIVE = (
    r"passport(?:[ _]?(?:number|no|details|data|scan|copy))?|(?:credit|debit|payment|bank)"
    r"[ _]?card(?:[ _]?(?:number|details))?|card (?:number|details)|cvv|cvc|security code|iban|"
    r"bank (?:details|account)|password|passcode|pin code|api[ _]?key|access token|secret key|"
    r"credentials|social security|ssn|home[ _]address|date of birth|personal (?:data|details|"
    r"information)|(?:user|guest|traveller|traveler|customer|client)'?s? (?:data|details|"
    r"information|profile|passport|card)|profile|chat history|conversation history|vault"
)
_SEND = (
    r"(?:send|forward|e-?mail|mail|share|transmit|upload|post|leak|disclose|submit|copy|relay|"
    r"export|exfiltrate|give|provide|report|deliver|attach|include|paste|append)"
    r"(?:s|es|ed|d|ing|ied)?|sent|given"
)
_IBAN = r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){3,7}(?: ?[a-z0-9]{1,3})?\b"
_TARGET = (
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+|www\.\S+|"
    r"\b[\w-]+\.(?:com|net|org|io|biz|ru|xyz|example|info|co|cc|top|site|app)\b"
)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    weight: float
    pattern: re.Pattern[str]
    reason: str


def _rule(name: str, weight: float, pattern: str, reason: str) -> Rule:
    return Rule(name, weight, re.compile(pattern, re.MULTILINE), reason)


DEFAULT_RULES: tuple[Rule, ...] = (
    _rule(
        "override",
        1.0,
        _near(
            r"\b(?:ignore|ignoring|disregard|forget|bypass|overrides?|overrule|neglect|discard|"
            r"set aside|pay no attention to|do not follow|don't follow|stop following|skip)",
            r"(?:instructions?|directions?|prompts?|guidelines|programming|guardrails|"
            r"constraints|directives?)\b|(?:previous|prior|above|earlier|preceding|all|any|your|"
            r"original|initial|other|system) (?:rules|context|orders|commands|tasks?|text|"
            r"content|data|info)\b|(?:the )?rest of (?:this|the) (?:data|document|text|"
            r"content|page|message)",
            5,
        ),
        "asks to ignore or override earlier instructions",
    ),
    _rule(
        "new_instructions",
        1.0,
        r"\b(?:new|updated|revised|real|actual|true|secret|hidden|additional|important|urgent)"
        r" (?:instructions?|directives?|task|orders|objective|goal)\s*[:\-!]|"
        r"\bfrom now on,? (?:you (?:are|will|must|shall|should)|your|act|respond|answer|reply|"
        r"ignore|forget)\b|"
        r"\byour (?:new|real|actual|only|true) (?:task|goal|job|purpose|objective|instructions?|"
        r"role)\b|\binstead,? (?:you (?:must|should|will)|just|only)\b",
        "gives the model new instructions",
    ),
    _rule(
        "role_markers",
        1.0,
        r"^\W{0,4}(?:system|assistant|user|human|admin|administrator|developer|root)\s*(?:message|"
        r"prompt|notice|override|instruction)?\s*:|<\|?(?:im_start|im_end|system|endoftext|"
        r"eot_id|start_header_id)\|?>|\[/?(?:inst|sys|system)\]|<</?sys>>|</?(?:system|"
        r"instructions?|admin|sys)>|\[system\]\(#|#{2,}\s*(?:instruction|system|new task)|"
        r"\bsystem (?:message|notice|override|instruction|alert|update)\s*[:\-!]|"
        r"\[admin request|\badmin(?:istrator)? (?:override|instruction|request)\b",
        "imitates a system or chat-role marker",
    ),
    _rule(
        "prompt_leak",
        1.0,
        _near(
            r"\b(?:(?:reveal|print|show|display|repeat|output|leak|share|dump|spell ?check|"
            r"translate|encode|summari[sz]e|quote)(?:s|ed|ing)?|tell me|give me|what (?:are|were)|"
            r"console\.log)\b",
            r"(?:system ?prompt|system ?message|(?:initial|original|starting|hidden|secret|"
            r"previous|above|first) (?:instructions|prompt|configuration)|instructions (?:you "
            r"were given|above)|your (?:instructions|prompt|rules|configuration)|text above|"
            r"everything above|initialization|(?:this |the )?(?:entire|whole) conversation|"
            r"(?:internal|secret|confidential|hidden) (?:[\w-]+ )?(?:code|password|key|token))",
            5,
        )
        + r"|\bwhat (?:were|are|have) you (?:been )?(?:told|instructed|given)\b|\b(?:you were|i "
        r"was|i am|i've been) (?:given|told|instructed)\b|\btext you were given\b|\bbefore this "
        r"conversation (?:started|began)\b",
        "tries to extract the system prompt or instructions",
    ),
    _rule(
        "prompt_words",
        0.4,
        r"\bsystem ?prompt\b|\bsystemprompt\b|\b(?:initial|original|hidden|secret) "
        r"(?:instructions|prompt)\b|\bprevious instructions\b",
        "mentions the model's prompt or instructions",
    ),
    _rule(
        "roleplay",
        1.0,
        r"\bdo anything now\b|\bjailbr(?:ea|o)k|\bdeveloper mode\b|\b(?:dan|stan|dude) mode\b|"
        r"\bunfiltered\b|\bunrestricted\b|\bwithout (?:any )?(?:restrictions|limits|filters|"
        r"censorship|rules)\b|\bbroken free\b|\b(?:not|no longer) bound by\b|\bfreed? from "
        r"(?:the |your |all )?(?:rules|restrictions|confines)|\bpretend (?:to be|you are|that "
        r"you)\b|\bact as (?:if you|an? (?:unrestricted|unfiltered|jailbroken|evil|different|"
        r"new))|\byou are (?:now )?(?:an? )?(?:unrestricted|unfiltered|jailbroken|dan|stan|"
        r"dude|evil|free)\b|\brole-?play as\b|\bimmerse yourself\b|\bstay in character\b|"
        r"\b(?:maintenance|debug|god|sudo|admin|opposite) mode\b|\bevil (?:twin|confidant|bot)\b",
        "role-play or jailbreak framing",
    ),
    _rule(
        "exfil_sensitive",
        0.6,
        _near(rf"\b(?:{_SEND})\b", rf"\b(?:{_SENSITIVE})\b", 8)
        + "|"
        + _near(rf"\b(?:{_SENSITIVE})\b", rf"\b(?:{_SEND})\b", 5),
        "asks to send personal or secret data",
    ),
    _rule(
        "exfil_target",
        0.6,
        _near(
            rf"\b(?:{_SEND})\b", rf"(?:to|at|via|into|on|through|with|cc|bcc)\W+(?:{_TARGET})", 10
        ),
        "asks to send something to an outside address",
    ),
    _rule(
        "payment",
        1.0,
        _near(
            r"\b(?:pay|transfer|wire|remit|deposit|refund)\b",
            r"(?:to|into)\W+(?:(?:the |this |our |my |a )?(?:account|iban|wallet|paypal|"
            r"beneficiary)|" + _TARGET + "|" + _IBAN + r")",
            10,
        )
        + r"|\b(?:change|update|replace|use) (?:the )?(?:payee|beneficiary|bank details|"
        r"payment details|account number|iban)\b",
        "asks to pay or redirect money",
    ),
    _rule(
        "iban",
        0.3,
        _IBAN,
        "contains a bank account number (IBAN)",
    ),
    _rule(
        "relay_one",
        0.6,
        r"\b(?:forward|relay|copy|pass|repeat|broadcast|propagate)\s+(?:this|these|the "
        r"(?:following|above)) (?:exact )?(?:message|instructions?|text|note|notice|prompt)s?"
        r"(?: on)? to\b",
        "asks to pass the text on to someone",
    ),
    _rule(
        "verbatim",
        0.3,
        r"\b(?:exactly as written|word for word|verbatim|without (?:any )?changes)\b",
        "insists on a verbatim copy",
    ),
    _rule(
        "relay",
        0.8,
        r"\b(?:forward|relay|copy|send|pass|repeat|broadcast|propagate|include|paste|append)"
        r" (?:this|these|the (?:following|above)|my) (?:exact )?(?:message|instructions?|text|note|"
        r"notice|prompt|paragraph)s?\b(?:\W+[\w'-]+){0,4}?\W+(?:to|in|into|with) (?:all|every|"
        r"each|any|other|your) |\b(?:in|to|into) (?:all|every|each) (?:of )?(?:your )?(?:future "
        r"|subsequent |outgoing |later )?(?:messages|replies|responses|agents|neighbou?rs|peers)\b",
        "asks to relay the text to other agents (worm)",
    ),
    _rule(
        "markdown_exfil",
        1.0,
        r"!\[[^\]\n]*\]\(\s*(?:https?:)?//[^)\s]*[?&=]|!\[[^\]\n]*\]\[[^\]\n]*\]|"
        r"\]\(\s*https?://[^)\s]*\?[^)\s]*=\s*\[|\"!\[\w*\",\s*\"\]\(",
        "markdown link or image that carries data to a URL",
    ),
    _rule(
        "address_model",
        0.5,
        r"\b(?:note|message|instructions?|attention|notice|reminder|request) (?:to|for) "
        r"(?:the |any |all |every )?(?:ai|assistant|agent|model|llm|chatbot|bot|language model|"
        r"automated (?:systems?|analysis|screening|agents?)|booking (?:agents?|assistants?)|"
        r"(?:ai|llm) (?:agents?|assistants?|systems?))s?\b|\b(?:dear|hey|hello|attention) (?:ai|"
        r"assistant|agent|model|chatgpt|llm|bot)\b|\bif you are an? (?:ai|llm|language model|"
        r"assistant|agent|bot)\b|\b(?:ai|llm) (?:agents?|assistants?) (?:reading|processing) "
        r"this\b|\bto the (?:ai |llm )?(?:assistant|agent|model|bot)\b(?: [\w-]+){0,3}\s*:|"
        r"\b(?:invisible|hidden) (?:to|from) (?:humans|the user|users|people|readers)\b|\bvisible "
        r"(?:only )?to (?:the )?(?:llm|ai|models?|bots?|agents?)\b|\b(?:text|content|section) for "
        r"(?:ai|llm) (?:agents?|assistants?|models?)\b|\b(?:the |an? )?(?:ai |llm )?assistant "
        r"(?:must|shall|needs to|has to)\b",
        "addresses the model directly",
    ),
    _rule(
        "output_hijack",
        0.7,
        r"\b(?:say|print|output|respond|reply|answer|write|repeat|type|return|report|(?:start|"
        r"begin|prepend|end) your (?:answer|reply|response|output))(?:\s+(?:only|exactly|just|"
        r"simply|back|with|this|that|the (?:following|word|words|phrase|text|sentence)))*\s*:?\s*"
        r"[\"'<\u00ab\u201c\u2018]",
        "tells the model what to say, word for word",
    ),
    _rule(
        "urgency",
        0.3,
        r"\bstop everything\b|!{3,}|\b(?:important|urgent|critical|mandatory|attention|warning)"
        r"\s*[:!]|\bthis is a test\b",
        "urgent or alarming framing",
    ),
    _rule(
        "context_break",
        0.4,
        r"\bend of (?:document|context|input|data|file|text|session|conversation|prompt)\b|"
        r"<end of session>|\[rest-of-document\]|</?(?:document|context|data|user_input)>|"
        r"\]\]>|^-{8,}$|^={8,}$",
        "pretends the data has ended",
    ),
    _rule(
        "access_granted",
        0.5,
        r"\baccess granted\b",
        "Tensor-Trust style 'access granted' goal",
    ),
    _rule(
        "encoding_talk",
        0.5,
        r"\b(?:base64|base-64|rot13|rot-13|base32|ascii85|uuencoded?|hex(?:adecimal)?|morse|"
        r"quoted-printable|mime)\b(?:\W+\w+){0,3}?\W+(?:decode|decoded|encoded|string|text|"
        r"message|data)\b|\bdecode (?:the following|this|it)\b",
        "asks to decode an encoded payload",
    ),
    _rule(
        "contact_in_data",
        0.3,
        r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://|\bwww\.",
        "contains a URL or an e-mail address",
    ),
    _rule(
        "symbol_noise",
        0.6,
        r"(?:[\[\](){}!|\\^`~]\s*){8,}",
        "runs of brackets and symbols, as in adversarial suffixes",
    ),
)

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{32,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){20,}")
_NOT_DECODED = frozenset({"contact_in_data", "urgency", "symbol_noise", "context_break", "iban"})
"""Weak rules not re-run on ROT13 text (where noise could match them by chance)."""


def readable(text: str) -> str:
    """The string values of a JSON document, one per line; any other text as it is."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return text
    try:
        document = json.loads(stripped)
    except ValueError:
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


def _decoded_payloads(text: str) -> list[tuple[str, str]]:
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
    found.extend(normalise(decoded).text for _, decoded in _decoded_payloads(text))
    return list(dict.fromkeys(found))


class RuleLayer:
    """Known-pattern rules over normalised text; the score is the sum of matched weights."""

    name = "rules"

    def __init__(
        self, rules: Sequence[Rule] = DEFAULT_RULES, *, threshold: float = 0.9, floor: float = 0.9
    ) -> None:
        self.rules = tuple(rules)
        self.threshold = threshold
        self.floor = floor

    def matches(self, text: str, *, depth: int = 0) -> dict[str, str]:
        """Each matched rule's name and reason (decoded payloads are scanned once more).

        A text that is a JSON document (a tool's output) is read as its string values."""
        text = readable(text)
        normal = normalise(text)
        hits: dict[str, str] = {}
        for trick in normal.tricks:
            hits[f"unicode:{trick}"] = f"obfuscated with {trick}"
        variants = {normal.text, unleet(normal.text)}
        for rule in self.rules:
            if any(rule.pattern.search(variant) for variant in variants):
                hits[rule.name] = rule.reason
        if depth == 0:
            for kind, decoded in _decoded_payloads(text):
                hits[f"encoded:{kind}"] = f"carries a {kind}-encoded text"
                for name, reason in self.matches(decoded, depth=1).items():
                    hits.setdefault(f"{kind}:{name}", f"{reason} ({kind}-encoded)")
            rot = codecs.decode(normal.text, "rot13")
            for rule in self.rules:
                if (
                    rule.name not in _NOT_DECODED
                    and rule.name not in hits
                    and rule.pattern.search(rot)
                ):
                    hits[f"rot13:{rule.name}"] = f"{rule.reason} (ROT13-encoded)"
        return hits

    def weight(self, name: str) -> float:
        if name.startswith("unicode:"):
            return 1.0 if "tag" in name else 0.6
        if name.startswith("encoded:"):
            return 0.5
        base = name.split(":", 1)[-1]
        for rule in self.rules:
            if rule.name == base:
                return rule.weight
        return 0.0

    def score(self, text: str) -> LayerScore:
        hits = self.matches(text)
        total = sum(self.weight(name) for name in hits)
        return LayerScore(round(total, 6), tuple(f"{n}: {r}" for n, r in hits.items()))


# --- perplexity -------------------------------------------------------------

BYTE_FRAGMENT_LOGPROB = -10.0
"""Stands for a token the server reports no probability for (part of a UTF-8 character)."""

TokenLogprobs = Callable[[str], list[float]]
"""The log-probability of each token of a text under a language model."""


class GGUFLogprobs:
    """Per-token log-probabilities of a text under a GGUF model, run by xllamacpp.

    llama.cpp's server reports log-probabilities of generated tokens only (no `echo`), so
    each token is scored in turn: the prompt is the prefix as token ids (the server's cache
    keeps it, so each step evaluates one token), the token itself is forced with a large
    logit bias, and the server reports its log-probability under the raw distribution.
    The text is tokenized by the server's own `/tokenize` on its loopback port. The cost is
    one decode step per token (about 20 ms with the 135M model on two cores), so texts are
    cut to `max_tokens`: the first and the last `max_tokens / 2` of a longer text are scored
    (each in its full left context, which the server evaluates in one batch), since an
    injection tends to sit at the start or the end of the text it hides in. A token that is
    only part of a UTF-8 character gets no probability from the server; it counts as
    `BYTE_FRAGMENT_LOGPROB`.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        prefix: str = "Message:\n",
        max_tokens: int = 96,
        n_ctx: int = 1024,
        threads: int = 1,
    ) -> None:
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"no GGUF file at {self.path}")
        self.prefix = prefix
        self.max_tokens = max_tokens
        self._n_ctx = n_ctx
        self._threads = threads
        self._server: Any = None
        self._lock = threading.Lock()

    def _ensure_loaded(self) -> Any:
        if self._server is None:
            from lamas.llm.local import load_server

            self._server = load_server(self.path, n_ctx=self._n_ctx, threads=self._threads)
        return self._server

    def _tokenize(self, server: Any, text: str) -> list[int]:
        import httpx

        with httpx.Client(trust_env=False, timeout=30.0) as client:
            reply = client.post(f"{server.listening_address}/tokenize", json={"content": text})
        reply.raise_for_status()
        return [int(t) for t in reply.json()["tokens"]]

    def __call__(self, text: str) -> list[float]:
        with self._lock:
            server = self._ensure_loaded()
            start = len(self._tokenize(server, self.prefix))
            ids = self._tokenize(server, self.prefix + text)
            positions = list(range(start, len(ids)))
            if len(positions) > self.max_tokens:
                half = self.max_tokens // 2
                positions = positions[:half] + positions[-(self.max_tokens - half) :]
            logprobs: list[float] = []
            for i in positions:
                result = server.handle_completions(
                    {
                        "prompt": ids[:i],
                        "n_predict": 1,
                        "logprobs": 1,
                        "temperature": 0.0,
                        "logit_bias": [[ids[i], 100.0]],
                        "cache_prompt": True,
                    }
                )
                try:
                    choice = result["choices"][0]
                    if choice["logprobs"] is None and "error" not in result:
                        # A token that is only part of a UTF-8 character (an emoji, a hidden
                        # tag character) is held back by the server with its probability.
                        logprobs.append(BYTE_FRAGMENT_LOGPROB)
                        continue
                    token = choice["logprobs"]["content"][0]
                except (KeyError, IndexError, TypeError) as error:
                    raise ModelError(
                        f"no log-probabilities from {self.path.name}: {result!r:.200}"
                    ) from error
                logprobs.append(float(token["logprob"]))
            return logprobs


class PerplexityLayer:
    """The perplexity filter: the worst windowed mean negative log-likelihood (nats/token).

    `score` is `log(perplexity)` of the most surprising window of `window` tokens (the
    whole text when it is shorter). Scores are cached by text.
    """

    name = "perplexity"

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        logprobs: TokenLogprobs | None = None,
        window: int = 16,
        threshold: float = math.inf,
        floor: float = 0.0,
        cache_size: int = 4096,
        **model_options: Any,
    ) -> None:
        if logprobs is None:
            if model_path is None:
                raise ModelError("PerplexityLayer needs a model_path or a logprobs function")
            logprobs = GGUFLogprobs(model_path, **model_options)
        self.logprobs = logprobs
        self.window = window
        self.threshold = threshold
        self.floor = floor
        self._cache: OrderedDict[str, float] = OrderedDict()
        self._cache_size = cache_size

    def log_perplexity(self, text: str) -> float:
        found = self._cache.get(text)
        if found is not None:
            self._cache.move_to_end(text)
            return found
        values = self.logprobs(text)
        if not values:
            score = 0.0
        elif len(values) <= self.window:
            score = -sum(values) / len(values)
        else:
            running = -sum(values[: self.window])
            worst = running
            for i in range(self.window, len(values)):
                running += values[i - self.window] - values[i]
                worst = max(worst, running)
            score = worst / self.window
        self._cache[text] = score
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return score

    def score(self, text: str) -> LayerScore:
        value = self.log_perplexity(text)
        return LayerScore(value, (f"perplexity {math.exp(min(value, 50)):.0f} per token",))


class ClassifierLayer:
    """Any scoring function as a layer, e.g. a trained injection classifier's probability."""

    def __init__(
        self,
        scorer: Callable[[str], float],
        *,
        name: str = "classifier",
        threshold: float = 0.5,
        floor: float = 0.0,
    ) -> None:
        self.scorer = scorer
        self.name = name
        self.threshold = threshold
        self.floor = floor

    def score(self, text: str) -> LayerScore:
        value = float(self.scorer(text))
        return LayerScore(value, (f"{self.name} score {value:.3f}",))


# --- the detector -----------------------------------------------------------


def quantile_threshold(scores: Sequence[float], fpr: float) -> float:
    """The smallest threshold such that at most `fpr` of `scores` lie strictly above it."""
    if not scores:
        raise InputError("calibration needs at least one clean text")
    ordered = sorted(scores, reverse=True)
    allowed = math.floor(fpr * len(ordered) + 1e-9)
    return ordered[min(allowed, len(ordered) - 1)]


class Detector:
    """Layers in order; a text is flagged when any layer scores above its threshold."""

    def __init__(self, layers: Iterable[Layer] | None = None) -> None:
        self.layers: list[Layer] = list(layers) if layers is not None else [RuleLayer()]
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise InputError(f"detector layers need distinct names, got {names}")

    def calibrate(self, clean_texts: Iterable[str], target_fpr: float = 0.01) -> dict[str, float]:
        """Set each layer's threshold from legitimate traffic and return them.

        The false-positive budget is split evenly between layers, so the union of their
        flags stays within `target_fpr` on `clean_texts`; a threshold never goes below
        the layer's `floor`.
        """
        if not 0 <= target_fpr < 1:
            raise InputError(f"target_fpr must be in [0, 1), got {target_fpr}")
        texts = list(clean_texts)
        share = target_fpr / max(1, len(self.layers))
        for layer in self.layers:
            scores = [layer.score(t).score for t in texts]
            layer.threshold = max(layer.floor, quantile_threshold(scores, share))
        return self.thresholds

    @property
    def thresholds(self) -> dict[str, float]:
        return {layer.name: layer.threshold for layer in self.layers}

    def score(self, text: str) -> Detection:
        scores: dict[str, float] = {}
        reasons: list[str] = []
        notes: list[str] = []
        for layer in self.layers:
            result = layer.score(text)
            scores[layer.name] = result.score
            if result.score > layer.threshold:
                reasons.extend(f"{layer.name}: {r}" for r in result.reasons)
                reasons.append(
                    f"{layer.name} score {result.score:.2f} > threshold {layer.threshold:.2f}"
                )
            else:
                notes.extend(f"{layer.name}: {r}" for r in result.reasons)
        return Detection(bool(reasons), scores, tuple(reasons), self.thresholds, tuple(notes))


# --- quarantine and the middleware -------------------------------------------


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    at: float
    envelope: Envelope
    detection: Detection


class QuarantineLog:
    """Keeps what `screen()` quarantined, in memory, for review (use as its `quarantine`)."""

    def __init__(self) -> None:
        self.records: list[QuarantineRecord] = []

    def __call__(self, envelope: Envelope, detection: Detection) -> None:
        self.records.append(QuarantineRecord(time.time(), envelope, detection))

    def __len__(self) -> int:
        return len(self.records)


def envelope_text(envelope: Envelope) -> str:
    """All the text an envelope carries: text parts and every string inside data parts."""
    pieces: list[str] = []

    def strings(value: Any) -> None:
        if isinstance(value, str):
            pieces.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)

    for part in envelope.message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, DataPart):
            strings(part.data)
    return "\n".join(pieces)


def screen(
    detector: Detector,
    *,
    quarantine: Callable[[Envelope, Detection], None],
    trusted: Collection[str] = (),
) -> Middleware:
    """Middleware: envelopes from other agents (senders not in `trusted`) are scored; a
    flagged one is handed to `quarantine` (recorded, not delivered) and the sender gets
    `InjectionDetected` naming the reasons. Layers that run a model score in a worker
    thread, so the event loop stays free."""
    trusted_senders = frozenset(trusted)
    offload = any(not isinstance(layer, RuleLayer) for layer in detector.layers)

    def middleware(handler: Handler) -> Handler:
        async def screened(envelope: Envelope, context: Context) -> Reply:
            if envelope.sender not in trusted_senders and envelope.sender != context.agent_id:
                text = envelope_text(envelope)
                if text:
                    detection = (
                        await asyncio.to_thread(detector.score, text)
                        if offload
                        else detector.score(text)
                    )
                    if detection.flagged:
                        quarantine(envelope, detection)
                        raise InjectionDetected(envelope.sender, detection)
            return await handler(envelope, context)

        return screened

    return middleware
