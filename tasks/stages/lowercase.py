"""Stage 4, lowercase: Unicode-aware, not casefold (ß stays ß)."""

from __future__ import annotations


def lowercase(line: str) -> str:
    """`str.lower()`; characters whose lowercase form is still cased are left to validation."""
    return line.lower()
