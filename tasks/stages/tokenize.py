"""Stage 3, tokenize: Moses tokenization, line by line.

Two engines: sacremoses (the reference) and `fast`, opus-fast-mosestokenizer's C++ port
(an optional extra). The fast engine hands sacremoses every line with a construct it is
known to tokenize differently, so both give the same output (tests/tasks/
test_tokenizer_parity.py: an example of each construct, and the proof on varied lines).
Around Moses: `drop_patterns` are removed first (e.g. a `(CNN)` source tag); after it,
split hyphens are written as `dash_token` and `cannot` becomes `can not` when asked.
sacremoses' own `penn_tokenize` is broken in 0.2.0 and is not used.
"""

from __future__ import annotations

import itertools
import re
import threading
from functools import lru_cache
from importlib import metadata
from typing import Any

import regex
from sacremoses import MosesTokenizer

from newsprep.config import ConfigError, TokenizeOptions

FAST_PACKAGE = "opus-fast-mosestokenizer"

_MOSES_DASH = "@-@"
_CANNOT = re.compile(r"(?<!\S)(can)(not)(?!\S)", re.IGNORECASE)


class _MosesTokenizer(MosesTokenizer):
    """sacremoses' tokenizer with its two character-class tests made cheap.

    sacremoses 0.2.0 builds a set of every Unicode letter on each `islower` and
    `isanyalpha` call, ~40% of its tokenizing time (hplt-project/sacremoses#149); the
    same tests against sets built once give the same answers.
    """

    _LOWER = frozenset(MosesTokenizer.IsLower)
    _ALPHA = frozenset(MosesTokenizer.IsAlpha)

    def islower(self, text: str) -> bool:
        return self._LOWER.issuperset(text)

    def isanyalpha(self, text: str) -> bool:
        return not self._ALPHA.isdisjoint(text)


@lru_cache(maxsize=8)
def moses_tokenizer(lang: str) -> MosesTokenizer:
    """One tokenizer per process and language: building one compiles many regexes."""
    return _MosesTokenizer(lang=lang)


# Constructs the fast engine (opus-fast-mosestokenizer 0.0.8.11) tokenizes differently
# from sacremoses, found by running both over the parity lines and random text; a line
# with any of them is tokenized by sacremoses.
FAST_DIFFERS_PATTERNS = (
    r"^\s*'",  # a line-initial quote: fast splits it off
    r"'\s*$(?<=\S'\s*)",  # a line-final quote after a word: fast splits it off
    r"'(?:(?<=\S')(?=\d)|(?<=\d'))",  # a quote next to a digit (5'11)
    r"'(?<=[^\w\s]')(?=\S)",  # a quote between punctuation and a word
    r"'\w+'(?<=\w'\w+')",  # two quotes in a word (don't's)
    r"'(?:(?<=\d\S*')|(?=\S*\d))\S*\.(?![\p{L}\p{N}.])",  # a word with a digit, a quote, a .
    # a dotted word's final period, unless the word is letters and periods (U.S., p.m.)
    r"\.(?![\p{L}\p{N}.])(?<=\.\S*\w\.)(?<!(?<![\w.,])(?:\p{L}\.)+)",
    r"\.(?:\.(?!\.)|\p{Pd})(?<=\w\..)",  # a word's period before a period or a dash
    r"\.(?=\s+\p{Ll})(?<=\d\S*\.)",  # a period after a word with a digit, then lowercase
    r"\.{3}(?<=(?<![\p{L}\p{N}])[\p{L}\p{N}]{1,3}\.{3}|\p{Lu}\.{3})",  # H... MR... (short word)
    # a comma inside a word with a digit
    r",(?:(?<=[^\s\d],)(?=\S)|(?<=\S,)(?=[^\s\d]))(?:(?<=\d\S*,)|(?=\S*\d))",
    r"(?<!\S),\S",  # a comma starting a word
    r"-(?:(?<=[^\p{L}\p{N}\s-]-)|(?=[^\p{L}\p{N}\s-]))",  # a hyphen next to a symbol ((-5)
    r"--(?:(?<=[^\s-]--)|(?=[^\s-]))",  # a double hyphen touching a word (well--known)
    r"-\s*$|-(?=[^\S ])|\t",  # a hyphen ending the line or before an odd space; a tab
)
# ... and characters, all outside ASCII
FAST_DIFFERS_CHARACTERS = (
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]",  # CJK: sacremoses splits each character
    r"\p{M}",  # combining marks (Thai, Devanagari): fast keeps or drops them
    r"\p{No}",  # vulgar fractions, superscripts (2½)
    r"\p{Cf}",  # invisible format characters (a zero-width space): sacremoses splits them off
)


def _leading_literal(pattern: str) -> str:
    return pattern[:2] if pattern.startswith("\\") else pattern[:1]


# One regex per leading character: the search skips ahead to that character, where one
# regex of all the patterns would try every pattern at every position (~3x slower).
_FAST_DIFFERS_SEARCHES = tuple(
    regex.compile("|".join(group)).search
    for _, group in itertools.groupby(FAST_DIFFERS_PATTERNS, key=_leading_literal)
)
_FAST_DIFFERS_CHARACTER = regex.compile("|".join(FAST_DIFFERS_CHARACTERS)).search


def fast_differs(line: str) -> bool:
    """Whether the line has a construct the fast engine tokenizes differently."""
    if any(search(line) for search in _FAST_DIFFERS_SEARCHES):
        return True
    return not line.isascii() and _FAST_DIFFERS_CHARACTER(line) is not None


_fast = threading.local()  # the C++ tokenizer object is not shared between threads


def fast_tokenizer(lang: str, aggressive_dash_splits: bool) -> Any:
    """This thread's opus-fast-mosestokenizer tokenizer for these settings (no escaping:
    `_fast_tokens` escapes with sacremoses' own function)."""
    cache = _fast.__dict__.setdefault("tokenizers", {})
    key = (lang, aggressive_dash_splits)
    if key not in cache:
        cache[key] = _fast_class()(lang, aggressive_dash_splits=aggressive_dash_splits)
    return cache[key]


def _fast_class() -> Any:
    try:
        from mosestokenizer import MosesTokenizer as FastMosesTokenizer
        from mosestokenizer.lib import _mosestokenizer  # noqa: F401 - the C++ one, not a namesake
    except (ImportError, RuntimeError) as exc:
        raise ConfigError(
            f"tokenize.engine 'fast' needs {FAST_PACKAGE}: pip install 'newsprep[fast]' ({exc})"
        ) from None
    return FastMosesTokenizer


def require_engine(options: TokenizeOptions) -> dict[str, str]:
    """Check the engine can be loaded here; its package and version, for the run summary."""
    if options.engine == "fast":
        fast_tokenizer(options.lang, options.aggressive_dash_splits)
        return {FAST_PACKAGE: metadata.version(FAST_PACKAGE)}
    return {}


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
    tokens = _fast_tokens(line, options) if options.engine == "fast" else None
    if tokens is None:
        tokenizer = moses_tokenizer(options.lang)
        tokens = tokenizer.tokenize(
            line,
            aggressive_dash_splits=options.aggressive_dash_splits,
            return_str=True,
            escape=options.escape,
            protected_patterns=tokenizer.WEB_PROTECTED_PATTERNS if options.protect_urls else None,
        ).strip()  # it can leave a space after a line-final quote; tokenizer.perl strips
    if options.aggressive_dash_splits and options.dash_token != _MOSES_DASH:
        tokens = tokens.replace(f" {_MOSES_DASH} ", f" {options.dash_token} ")
    if options.split_cannot:
        tokens = _CANNOT.sub(r"\1 \2", tokens)
    return tokens


def _fast_tokens(line: str, options: TokenizeOptions) -> str | None:
    """The fast engine's tokens, or None for a line left to sacremoses: one with a
    construct it tokenizes differently (`fast_differs`), or whose fast tokens are not its
    own characters re-spaced (fast rewrites a backtick as an apostrophe, say)."""
    if fast_differs(line):
        return None
    fast = fast_tokenizer(options.lang, options.aggressive_dash_splits)
    tokens = " ".join(fast.tokenize(line))
    if "".join(tokens.replace(f" {_MOSES_DASH} ", "-").split()) != "".join(line.split()):
        return None
    return moses_tokenizer(options.lang).escape_xml(tokens) if options.escape else tokens


def tokenize(text: str, options: TokenizeOptions) -> list[str]:
    """Tokenize each non-empty line; lines that tokenize to nothing are dropped."""
    lines = (tokenize_line(line, options) for line in text.split("\n"))
    return [line for line in lines if line]
