"""Lazy package exports (PEP 562): a package names what it offers without importing it.

`from lamas import Network` should cost what Network needs, not every sibling of it
(the embedded model, the injection detector, cryptography): a package's `__init__`
lists where each public name lives and this module loads that home on first access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public names live in `homes`.

    `homes` maps a public name to the module that defines it; a loaded name is cached
    in the package's namespace, so the next lookup is a plain attribute read.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
