"""A user profile made of canaries: unique strings that must never be found outside the
vault and the vendor granted them (the privacy tests plant it, then scan for it)."""

from __future__ import annotations

import random
from typing import Any

from lamas.runtime.netfile import load_module_file
from support.casestudy import EXAMPLES

travel = load_module_file(EXAMPLES / "travel" / "agents.py")


def luhn_card(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(15)]
    for check in range(10):
        number = "".join(map(str, [*digits, check]))
        if travel.luhn_valid(number):
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    raise AssertionError("unreachable: one check digit always fits")


def canary_profile(rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    tag = f"{rng.getrandbits(48):012x}"
    card = luhn_card(rng)
    profile = {
        "name": f"Canaryname Zq{tag}",
        "passport_number": f"CP{tag.upper()}",
        "payment_card": card,
        "home_address": f"{tag} Canary Lane, Nowhere",
        "preferences": {
            "seat": "window",
            "hotel": {"min_stars": 3, "max_price_per_night": 160},
            "note": f"canary-pref-{tag}",
        },
    }
    canaries = [
        profile["name"],
        f"Zq{tag}",
        profile["passport_number"],
        card,
        card.replace(" ", ""),
        profile["home_address"],
        f"{tag} Canary Lane",
        f"canary-pref-{tag}",
        tag,
    ]
    return profile, canaries
