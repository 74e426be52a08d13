"""Non-printing characters: Moses' remove-non-printing-char.perl.

The perl replaces every character of Unicode category C (controls, format characters
such as the zero-width space, soft hyphen and byte order mark, private use, surrogates,
unassigned code points) with a space, line by line. The categories are Python's
`unicodedata`: Unicode 14.0 on Python 3.11, as perl 5.36's.
"""

from __future__ import annotations

import unicodedata

REMOVE_NON_PRINTING = "remove_non_printing"  # its name in a record's `fixes`


def remove_non_printing(text: str) -> tuple[str, bool]:
    """Every category C character but the line feed becomes a space; and whether any did."""
    # str.isprintable() is False for every category C (and Z) character: only the few
    # distinct characters that fail it are looked up
    spaces = {
        ord(ch): " "
        for ch in set(text)
        if not ch.isprintable() and ch != "\n" and unicodedata.category(ch)[0] == "C"
    }
    if not spaces:
        return text, False
    return text.translate(spaces), True
