"""Names and text that go into generated source.

Nothing a user supplies (variable names, dimension names, dict keys) reaches the source
except through ``identifier`` (which keeps only ``[A-Za-z0-9_]``), ``safe_text`` (for
comments and docstrings: a small set of harmless characters) or ``repr`` of a str.
"""

from __future__ import annotations

import builtins
import keyword
import re

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]")
_SAFE_TEXT = re.compile(r"[^0-9A-Za-z_ \-.,:;()\[\]?*+/=<>'@!%&|^~]")

RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | {
    "np", "numpy", "self"}


def identifier(name: str | None, default: str = "v") -> str:
    """A Python identifier made from ``name``."""
    if not name:
        return default
    ident = _NOT_IDENT.sub("_", name)
    ident = re.sub(r"_+", "_", ident)
    if ident.strip("_") == "":
        ident = default
    if ident[0].isdigit():
        ident = f"{default}_{ident}"
    return ident[:32].rstrip("_") or default


def safe_text(text: str, limit: int = 60) -> str:
    """Text fit for a comment or a docstring: no newlines, quotes or backslashes."""
    text = _SAFE_TEXT.sub("?", str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class NameAllocator:
    """Hands out unique identifiers: ``h``, ``h_1``, ``h_2``..., never a keyword, a
    builtin, ``np`` or a name reserved by the module."""

    def __init__(self, reserved=()):
        self.taken = set(RESERVED) | set(reserved)
        self.counters: dict[str, int] = {}

    def fresh(self, base: str, numbered: bool = False) -> str:
        base = identifier(base)
        if not numbered and base not in self.taken:
            self.taken.add(base)
            return base
        k = self.counters.get(base, 0)
        while True:
            k += 1
            cand = f"{base}{k}" if numbered and not base.endswith("_") else f"{base}_{k}"
            if cand not in self.taken:
                self.counters[base] = k
                self.taken.add(cand)
                return cand
