"""The detector's first layer: known prompt-injection patterns over normalised text.

Each rule has a weight; a text's score is the sum of the weights of the rules that match,
in any of the ways a model could read it (see `lamas.security.normalise`).

The patterns run on RE2 (`google-re2`), which matches in time linear in the text: with
Python's backtracking `re`, `contact_in_data` alone took ~30 s on 100,000 word characters
and never finished on 1 MB, on the event loop, so one long message froze a node. RE2 has
no backreferences or lookaround, and none is used here; its word classes and boundaries
are ASCII, which is what the rules mean (normalised text has homoglyphs folded to Latin already).
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import re2

from lamas.security.layer import LayerScore
from lamas.security.normalise import decoded_payloads, normalise, readable, unleet


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


class Pattern(Protocol):
    """What a rule needs of a compiled pattern (an RE2 one here; `re` would also do)."""

    def search(self, text: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    weight: float
    pattern: Pattern
    reason: str


def _rule(name: str, weight: float, pattern: str, reason: str) -> Rule:
    compiled: Pattern = re2.compile("(?m)" + pattern)  # (?m): ^ and $ at line breaks
    return Rule(name, weight, compiled, reason)


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
        r"dude|evil)\b|\byou are now free\b|\byou are free (?:from|of) (?:your|the|all|any)\b|"
        # (not a bare "you are free": GNU's "This is free software: you are free to change
        # and redistribute it" closes thousands of manual pages and READMEs)
        r"\brole-?play as\b|\bimmerse yourself\b|\bstay in character\b|"
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
    # "Pay the invoice by transfer to IBAN ..." is what a real invoice says: on its own
    # (with the IBAN rule) it stays under the threshold; any other cue (addressing the
    # model, new instructions, urgency, a changed payee) tips it over.
    _rule(
        "payment",
        0.6,
        _near(
            r"\b(?:pay|transfer|wire|remit|deposit|refund)\b",
            r"(?:to|into)\W+(?:(?:the |this |our |my |a )?(?:account|iban|wallet|paypal|"
            r"beneficiary)|" + _TARGET + "|" + _IBAN + r")",
            10,
        ),
        "asks to pay money to an account",
    ),
    _rule(
        "payee_change",
        1.0,
        r"\b(?:change|update|replace|use) (?:the )?(?:payee|beneficiary|bank details|"
        r"payment details|account number|iban)\b|\b(?:bank details|bank account|account "
        r"number|iban|payment details|beneficiary|payee) (?:has |have )?(?:changed|been "
        r"updated|moved)\b|\bnew (?:[\w-]+ )?(?:collection|bank|payment|beneficiary) "
        r"(?:account|details)\b|\bnew iban\b",
        "asks to redirect money to other bank details",
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
        r"\]\(\s*(?:https?:)?//[^)\s]*[?&/=]\s*[\[{<$]|"
        r"\]\(\s*(?:https?:)?//[^)\s]*[?&][\w-]*=[^)\s&]*(?:data|secret|passport|password|"
        r"token|key|card|history|prompt|conversation|chat|user|info)\b|\"!\[\w*\",\s*\"\]\(",
        "markdown link or image whose URL is a template for data to send",
    ),
    # A badge image with a query string (`![PyPI](https://img.shields.io/...?style=flat)`)
    # is in most READMEs: weak on its own, it adds to any instruction around it.
    _rule(
        "markdown_image_query",
        0.5,
        r"!\[[^\]\n]*\]\(\s*(?:https?:)?//[^)\s]*[?&=]",
        "markdown image whose URL carries a query",
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
        r"(?:ai|llm) (?:agents?|assistants?|models?)\b|\b(?:the |an? )?(?:ai |llm |booking )?"
        r"(?:assistant|agent) (?:must|shall|needs to|has to)\b|^\W{0,4}(?:ai |llm )?(?:assistants?|"
        r"agents?)\s*:",
        "addresses the model directly",
    ),
    _rule(
        "output_hijack",
        0.7,
        # an imperative (clause start, or after "please", "and", "must"...), not prose
        # such as 'we say "foo"' or 'the value we return "as is"'
        r"(?:(?:^|[.!?:;,]\s*|\b(?:please|just|only|now|then|and|instead|simply|always|must|"
        r"should|will|shall|need to|have to|to)\s+)(?:say|print|output|respond|reply|answer|"
        r"write|repeat|return)|\b(?:start|begin|prepend|end) your (?:answer|reply|response|"
        r"output))"
        r"(?:\s+(?:only|exactly|just|"
        r"simply|back|with|this|that|the (?:following|word|words|phrase|text|sentence)))*\s*:?\s*"
        "[\"'<\u00ab\u201c\u2018]",
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
        r"\]\]>",
        "pretends the data has ended",
    ),
    # No rule for lines of dashes or equals signs: they underline every other heading in
    # reST, Markdown and plain-text docs (they flagged 38 of 400 Debian package docs), and
    # a delimiter before injected text comes with the text, which the other rules read.
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
_NOT_DECODED = frozenset({"contact_in_data", "urgency", "symbol_noise", "context_break", "iban"})
"""Weak rules not re-run on ROT13 text (where noise could match them by chance)."""


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

        A text that is a JSON document (a tool's output) is read as its string values. Lone
        surrogates (not encodable, so RE2 cannot read them) are replaced first."""
        text = readable(text.encode("utf-8", "replace").decode("utf-8"))
        normal = normalise(text)
        hits: dict[str, str] = {}
        for trick in normal.tricks:
            hits[f"unicode:{trick}"] = f"obfuscated with {trick}"
        variants = {normal.text, unleet(normal.text)}
        for rule in self.rules:
            if any(rule.pattern.search(variant) for variant in variants):
                hits[rule.name] = rule.reason
        if depth == 0:
            for kind, decoded in decoded_payloads(text):
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
