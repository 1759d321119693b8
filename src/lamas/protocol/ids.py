"""Ids by unique prefix, as git takes commits: `8b0e42a2` for a 32-digit task id.

Ids are shown short everywhere; every command taking a task, entry or agent id takes
any unique prefix of it, and says which it was when the prefix is unknown or ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lamas.errors import InputError

PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
SHOWN = 5
"""How many candidates an ambiguity error lists."""


class UnknownId(InputError):
    """No id of this kind starts with the prefix given."""

    def __init__(self, what: str, prefix: str) -> None:
        self.what = what
        self.prefix = prefix
        super().__init__(f"no {what} {prefix!r} (no {what} id starts with it)")


class AmbiguousId(InputError):
    """More than one id of this kind starts with the prefix given."""

    def __init__(self, what: str, prefix: str, matches: list[str]) -> None:
        self.what = what
        self.prefix = prefix
        self.matches = matches
        shown = ", ".join(matches[:SHOWN]) + (", ..." if len(matches) > SHOWN else "")
        super().__init__(
            f"{what} prefix {prefix!r} is ambiguous: it starts {len(matches)}"
            f"{'+' if len(matches) > SHOWN else ''} {what} ids ({shown}); give more characters"
        )


def check_prefix(prefix: str, what: str) -> str:
    """`prefix` if it can be part of an id; a clear error for anything else."""
    if not PREFIX_PATTERN.match(prefix):
        raise InputError(
            f"{prefix!r} is not a {what} id or prefix (letters, digits and _ . : - only)"
        )
    return prefix


def match_prefix(prefix: str, ids: Iterable[str], what: str) -> str:
    """The one id of `ids` that is `prefix` or starts with it."""
    check_prefix(prefix, what)
    candidates = sorted(set(ids))
    if prefix in candidates:
        return prefix  # an exact id wins, even if it is also the prefix of another
    matches = [i for i in candidates if i.startswith(prefix)]
    if not matches:
        raise UnknownId(what, prefix)
    if len(matches) > 1:
        raise AmbiguousId(what, prefix, matches)
    return matches[0]
