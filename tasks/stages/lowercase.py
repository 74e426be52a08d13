"""Stage 4, lowercase: Unicode-aware, not casefold (ß stays ß)."""

from __future__ import annotations


def lowercase(line: str, final_sigma: bool = True) -> str:
    """`str.lower()`; characters whose lowercase form is still cased are left to validation.

    final_sigma=False lowercases Σ to σ everywhere, as Perl's `lc` (Moses' lowercase.perl)
    does: str.lower() writes ς at the end of a word, its only context-dependent mapping.
    """
    if not final_sigma:
        line = line.replace("Σ", "σ")
    return line.lower()
