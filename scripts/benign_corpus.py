"""Broad benign text for the learned layer: real prose that reads like instructions.

The first learned layer was trained on ~40 generated benign sentences and a slice of the
standard library's docstrings, and flagged one package README in five: any text that says
"you", "users", "instructions" or "install" looked like an injection to it, because the
only texts in training that addressed the reader were attacks. This module adds, all of it
pinned by the Python version or by this file (so `make injection-model` stays
reproducible), none of it from the external test corpora or AgentDojo:

- `reference_docs`: the Python language reference and library topics that ship with the
  interpreter (`pydoc_data.topics`, PSF licence), cut into passages;
- `stdlib_docstrings`: the docstrings of every pure-Python standard-library module, read
  from source with `ast` (nothing is imported or run);
- `hard_negatives`: generated tool outputs (e-mails, tickets, web pages, chat, JSON) that
  *talk about* instructions, security, passwords, payments, prompts and AI assistants the
  way real ones do ("never share your password", "the install instructions are in
  INSTALL.md", "the system prompt is set in config.yaml") without addressing the model.
"""

from __future__ import annotations

import ast
import random
import sys
import sysconfig
from pathlib import Path

from injection_corpus import CARRIERS, Sample, fill

PASSAGE = 1500
"""Characters per passage of a long document (about the learned layer's few windows)."""


def passages(text: str, size: int = PASSAGE) -> list[str]:
    """`text` cut at paragraph breaks into pieces of at most about `size` characters."""
    out: list[str] = []
    current = ""
    for para in text.split("\n\n"):
        if current and len(current) + len(para) > size:
            out.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current.strip():
        out.append(current)
    return [p[: size * 2] for p in out if len(p.strip()) >= 80]


def reference_docs() -> list[Sample]:
    """The interpreter's own reference documentation, in passages, in a fixed order."""
    from pydoc_data.topics import topics

    source = f"Python {sys.version_info.major}.{sys.version_info.minor} pydoc_data.topics"
    return [
        Sample(passage, 0, "reference_docs", source=source)
        for name in sorted(topics)
        for passage in passages(topics[name])
    ]


_SKIP = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "site-packages")


def stdlib_docstrings(limit: int = 6000) -> list[Sample]:
    """Docstrings (>= 120 characters) of the standard library's Python sources, read with
    `ast` in sorted path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    source = f"Python {sys.version_info.major}.{sys.version_info.minor} stdlib docstrings"
    out: list[Sample] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p.startswith(_SKIP) for p in parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, _DOCUMENTED))]
        for node in nodes:
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 120:
                out.append(Sample(doc[:3000], 0, "docs", source=source))
        if len(out) >= limit:
            break
    return out[:limit]


_DOCUMENTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

HARD_NEGATIVE = [
    # security and passwords, as IT departments and banks write them
    "Never share your password with anyone, including the IT helpdesk.",
    "We will never ask for your PIN, password or full card number by e-mail or phone.",
    "If a message asks you to ignore a security warning, report it to {email}.",
    "Phishing e-mails often pretend to come from an administrator and ask you to act fast.",
    "Your password expires in 7 days; change it from the account settings page.",
    "Two-factor authentication codes are valid for 30 seconds and are sent only to your phone.",
    "Do not forward this e-mail outside the company: it contains customer data.",
    "The API key in this ticket was revoked; generate a new one in the developer console.",
    "Store secrets in the vault, never in the repository or in chat.",
    "Access tokens are rotated every night at 02:00 UTC.",
    "The security team will run a phishing simulation next week; do not reply to test e-mails.",
    "If you forgot your password, click 'Forgot password' and follow the link we send you.",
    "Payment details are encrypted and never stored on our servers.",
    "We changed our privacy policy: personal data is now kept for 12 months instead of 24.",
    # instructions as a topic
    "The installation instructions are in INSTALL.md; follow them in order.",
    "Follow the on-screen instructions to finish setting up your device.",
    "The previous instructions in the wiki are out of date; the new ones are in the handbook.",
    "You can skip this step if you already created an account.",
    "Ignore the deprecation warnings printed during the build; they are harmless.",
    "Override the default settings by creating a local config file.",
    "Set the environment variable APP_HOME to change where the data is stored.",
    "The assembly instructions for the shelf were missing from the box, please send a copy.",
    "Please disregard the earlier version of the schedule; the new one is attached.",
    "Forget about the old template and use the one on the shared drive from now on.",
    "Administrators can change these rules in the admin panel under Policies.",
    "Developers should read the contribution guide before opening a pull request.",
    "Users must accept the terms of service before they can continue.",
    "Run the migration script before restarting the server, otherwise the app will not start.",
    # AI and prompts as a topic
    "Our assistant can summarise long documents and answer questions about your orders.",
    "The chatbot cannot see your payment details or your passwords.",
    "The system prompt is configured in settings.yaml under agent.system_prompt.",
    "Prompt templates live in the prompts/ folder; each one has a name and a version.",
    "This library helps you build prompts for language models and parse their answers.",
    "The model returns a JSON object with the fields answer and sources.",
    "In the workshop we discussed prompt injection and how to test models against it.",
    "The AI feature is disabled for accounts in the EU until the review is complete.",
    "You are responsible for keeping your API key secret and for all use of your account.",
    "The support agent will call you back within two working days.",
    # payments and accounts as a topic
    "Your refund of {amount} EUR was sent to the card you paid with.",
    "Direct debit: {amount} EUR will be taken from your account on {date}.",
    "Please update your billing address in the customer portal before the next invoice.",
    "The transfer to your savings account was completed on {date}.",
    "Reply STOP to unsubscribe from these messages.",
]
HARD_NEGATIVE_TRANSLATED = {
    "fr": [
        "Ne communiquez jamais votre mot de passe, même au service informatique.",
        "Suivez les instructions à l'écran pour terminer l'installation.",
        "Les anciennes instructions du wiki ne sont plus à jour.",
    ],
    "de": [
        "Geben Sie Ihr Passwort niemals weiter, auch nicht an den IT-Support.",
        "Folgen Sie den Anweisungen auf dem Bildschirm, um die Einrichtung abzuschließen.",
        "Ignorieren Sie die Warnungen beim Build, sie sind harmlos.",
    ],
    "es": [
        "Nunca comparta su contraseña con nadie.",
        "Siga las instrucciones de la pantalla para terminar la configuración.",
    ],
}


def hard_negatives(rng: random.Random, n: int) -> list[Sample]:
    """Benign tool outputs made of sentences about instructions, security and AI."""
    out: list[Sample] = []
    carriers = sorted(CARRIERS)
    for _ in range(n):
        lang = rng.choice(["en"] * 6 + sorted(HARD_NEGATIVE_TRANSLATED))
        bank = HARD_NEGATIVE if lang == "en" else HARD_NEGATIVE_TRANSLATED[lang]
        body = " ".join(fill(rng, rng.choice(bank)) for _ in range(rng.randint(1, 4)))
        carrier = rng.choice(carriers)
        out.append(Sample(CARRIERS[carrier](rng, body), 0, f"hard_negative_{carrier}", lang))
    return out
