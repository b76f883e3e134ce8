"""Numbers in words: "1 article", "2 articles" (never "1 articles")."""

from __future__ import annotations

_PLURALS = {"PMID": "PMIDs", "watch": "watches", "watch problem": "watch problems", "correction notice": "correction notices",
            "expression of concern": "expressions of concern"}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 article', '3 articles'; `plural` for nouns that do not just add an s."""
    return f"{n} {singular if n == 1 else (plural or _PLURALS.get(singular, singular + 's'))}"
