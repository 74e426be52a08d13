"""Punctuation normalization: Moses' normalize-punctuation.perl -l LANG, rule for rule.

The perl script is the reference (mosesdecoder 34452895f, its rules unchanged since 2019);
tests/tasks/wmt_reference/ holds its output. It reads bytes (no `use utf8`), so its \\d,
\\s and [a-z] are ASCII only; here they are spelled out as ASCII classes. It works line by
line with the newline kept; here the whole text is done at once, which gives the same
lines (one rule's context is adjusted for it, below). sacremoses' MosesPunctNormalizer
differs from the perl (docs/pipeline.md lists where) and is not used.
"""

from __future__ import annotations

import re
from functools import lru_cache

NORMALIZE_PUNCTUATION = "normalize_punctuation"  # its name in a record's `fixes`

_NBSP = "\u00a0"  # the perl's "pseudo-spaces" are no-break spaces (bytes C2 A0)
_Rules = tuple[tuple[re.Pattern[str], str], ...]


def _rules(*pairs: tuple[str, str]) -> _Rules:
    return tuple((re.compile(pattern), replacement) for pattern, replacement in pairs)


_COMMON = _rules(
    # remove extra spaces
    (r"\r", ""),
    (r"\(", " ("),
    (r"\)", ") "),
    (r" +", " "),
    (r"\) ([.!:?;,])", r")\1"),
    (r"\( ", "("),
    (r" \)", ")"),
    (r"([0-9]) %", r"\1%"),
    (r" :", ":"),
    (r" ;", ";"),
    # Penn-style quotes (the perl's default, without -penn)
    (r"`", "'"),
    (r"''", ' " '),
    # unicode punctuation
    ("„", '"'),
    ("“", '"'),
    ("”", '"'),
    ("–", "-"),
    ("—", " - "),
    (r" +", " "),
    ("´", "'"),
    ("([A-Za-z])‘([A-Za-z])", r"\1'\2"),
    ("([A-Za-z])’([A-Za-z])", r"\1'\2"),
    ("‘", "'"),
    ("‚", "'"),
    ("’", '"'),  # sic: a right single quote not between letters becomes a double quote
    ("''", '"'),
    ("´´", '"'),
    ("…", "..."),
    # French quotes
    (f"{_NBSP}«{_NBSP}", ' "'),
    (f"«{_NBSP}", '"'),
    ("«", '"'),
    (f"{_NBSP}»{_NBSP}", '" '),
    (f"{_NBSP}»", '"'),
    ("»", '"'),
    # pseudo-spaces
    (f"{_NBSP}%", "%"),
    (f"nº{_NBSP}", "nº "),
    (f"{_NBSP}:", ":"),
    (f"{_NBSP}ºC", " ºC"),
    (f"{_NBSP}cm", " cm"),
    (f"{_NBSP}\\?", "?"),
    (f"{_NBSP}!", "!"),
    (f"{_NBSP};", ";"),
    (f",{_NBSP}", ", "),
    (r" +", " "),
)
# English "quotation," followed by comma
_ENGLISH = _rules((r'"([,.]+)', r'\1"'))
# German/Spanish/French "quotation", followed by comma (and every language but en and
# cs). The perl's (\.+)"(\s*[^<]) sees one line and its newline: \s* is [ \t\f\v] (bytes:
# ASCII only) and then the newline or a character other than < and the newline.
_QUOTE_COMMA = _rules((r',"', '",'), (r'(\.+)"([ \t\f\v]*\n|[ \t\f\v]*[^<\n])', r'"\1\2'))
_DIGITS_COMMA = _rules((f"([0-9]){_NBSP}([0-9])", r"\1,\2"))
_DIGITS_PERIOD = _rules((f"([0-9]){_NBSP}([0-9])", r"\1.\2"))


@lru_cache(maxsize=16)
def punctuation_rules(lang: str) -> _Rules:
    """The perl's substitutions for this language, in its order."""
    if lang == "en":
        quotes = _ENGLISH
    elif lang in ("cs", "cz"):  # "Czech is confused": neither
        quotes = ()
    else:
        quotes = _QUOTE_COMMA
    digits = _DIGITS_COMMA if lang in ("de", "es", "cz", "cs", "fr") else _DIGITS_PERIOD
    return _COMMON + quotes + digits


def normalize_punctuation(text: str, lang: str) -> tuple[str, bool]:
    """normalize-punctuation.perl -l LANG over the text's lines; and whether it changed
    anything but the spaces at the ends of a line (which the tokenizer removes anyway)."""
    end = "" if text.endswith("\n") else "\n"  # every line as the perl reads it
    normalized = text + end
    for pattern, replacement in punctuation_rules(lang):
        normalized = pattern.sub(replacement, normalized)
    normalized = normalized.removesuffix(end)
    if normalized == text:
        return text, False
    changed = any(
        new.strip(" ") != old.strip(" ")
        for new, old in zip(normalized.split("\n"), text.split("\n"), strict=True)
    )
    return normalized, changed
