"""Stage 3, tokenize: Moses tokenization with sacremoses, line by line.

Around Moses: `drop_patterns` are removed first (e.g. a `(CNN)` source tag); after it,
split hyphens are written as `dash_token` and `cannot` becomes `can not` when asked.
sacremoses' own `penn_tokenize` is broken in 0.2.0 and is not used.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sacremoses import MosesTokenizer

from newsprep.config import TokenizeOptions

_MOSES_DASH = "@-@"
_CANNOT = re.compile(r"(?<!\S)(can)(not)(?!\S)", re.IGNORECASE)


@lru_cache(maxsize=8)
def moses_tokenizer(lang: str) -> MosesTokenizer:
    """One tokenizer per process and language: building one compiles many regexes."""
    return MosesTokenizer(lang=lang)


@lru_cache(maxsize=8)
def _drop_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def tokenize_line(line: str, options: TokenizeOptions) -> str:
    """One line of text to space-separated tokens ('' when nothing is left)."""
    drop = _drop_regex(options.drop_patterns)
    if drop is not None:
        line = drop.sub(" ", line)
    if not line.strip():
        return ""
    tokenizer = moses_tokenizer(options.lang)
    tokens = tokenizer.tokenize(
        line,
        aggressive_dash_splits=options.aggressive_dash_splits,
        return_str=True,
        escape=options.escape,
        protected_patterns=tokenizer.WEB_PROTECTED_PATTERNS if options.protect_urls else None,
    )
    if options.aggressive_dash_splits and options.dash_token != _MOSES_DASH:
        tokens = tokens.replace(f" {_MOSES_DASH} ", f" {options.dash_token} ")
    if options.split_cannot:
        tokens = _CANNOT.sub(r"\1 \2", tokens)
    return tokens


def tokenize(text: str, options: TokenizeOptions) -> list[str]:
    """Tokenize each non-empty line; lines that tokenize to nothing are dropped."""
    lines = (tokenize_line(line, options) for line in text.split("\n"))
    return [line for line in lines if line]
