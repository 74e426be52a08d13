"""The fast tokenizer engine: opus-fast-mosestokenizer (a C++ Moses port) and its guard.

The C++ port tokenizes some constructs differently from sacremoses, the reference; a line
with any of them (`fast_differs`), or whose fast tokens are not its own characters re-spaced,
is left to sacremoses by `tasks/stages/tokenize.py`, which imports this module (never the reverse).
tests/tasks/test_tokenizer_parity.py: an example of each construct, and the proof on varied
lines.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import regex

from newsprep.config import ConfigError, TokenizeOptions

FAST_PACKAGE = "opus-fast-mosestokenizer"
_FAST_IMPORT = "mosestokenizer"  # its import name
_FAST_DASH = "@-@"  # what the C++ port writes for a split hyphen (-a)

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
    # a letter without case (º ª, Hebrew, Arabic, modifier letters) in a word with a digit
    # or what Moses keeps inside words, or after a word's period: fast splits it off after
    # a digit, a period, an apostrophe (3nº, Mr.ºC), and a prefix's period before it (Mr. ºC)
    r"[\p{Lo}\p{Lm}\p{Lt}](?:(?<=[\p{N}.'`,:·-]\S*.)|(?=\S*[\p{N}.'`,:·-])|(?<=\.\s+.))",
    r"[^\P{Alpha}\p{L}\p{M}]",  # alphabetic symbols (circled letters Ⓐ): fast splits them off
)


def _leading_literal(pattern: str) -> str:
    return pattern[:2] if pattern.startswith("\\") else pattern[:1]


# Three patterns look back or ahead over their whole word (`\S*`), which is quadratic on a
# long run without spaces (`apple,pear,...`): `fast_differs` checks them word by word
# instead (`_word_differs`), in time linear in the line. The rest look at a few characters.
_WORD_PATTERNS = (FAST_DIFFERS_PATTERNS[5], FAST_DIFFERS_PATTERNS[6], FAST_DIFFERS_PATTERNS[10])
_LINE_PATTERNS = tuple(p for p in FAST_DIFFERS_PATTERNS if p not in _WORD_PATTERNS)

# One regex per leading character: the search skips ahead to that character, where one
# regex of all the patterns would try every pattern at every position (~3x slower). Each
# is searched only in a line that holds a character every match of it holds (its
# patterns begin with it, or `^\s*'`, `(?<!\S),`; the hyphens' group also matches a tab):
# `in` costs a tenth of a search, and most news lines have no quote, comma or hyphen.
# Keyed by leading literal; of two characters, a line must hold the first or the last.
_NEEDED = {"^": "'", "'": "'", "\\.": ".", "(": ",", "-": "-\t"}
_FAST_DIFFERS_SEARCHES = tuple(
    (_NEEDED[key], regex.compile("|".join(group)).search)
    for key, group in itertools.groupby(_LINE_PATTERNS, key=_leading_literal)
)
# The words the three may match in: a digit and a comma or quote, or two periods with a
# letter or digit before the second. The lookbehind makes each word tried once, at its start.
_CANDIDATE_WORDS = regex.compile(
    r"(?<!\S)(?:(?=\S*\d)(?=\S*[,'])|(?=[^\s.]*\.\S*\w\.))\S+"
).finditer
_HAS_DIGIT = regex.compile(r"\d").search
# the word patterns, within one word, without the scan for its digit or its first period
_INWORD_COMMA = regex.compile(r",(?:(?<=[^\s\d],)(?=\S)|(?<=\S,)(?=[^\s\d]))").search
_PERIOD_ENDING = regex.compile(r"\.(?![\p{L}\p{N}.])").search
_FINAL_LIKE_PERIOD = regex.compile(r"\.(?![\p{L}\p{N}.])(?<=\w\.)").finditer
# letters and periods (U.S., p.m.) after a non-word character or the word's start; found
# forwards: the regex module's lookbehind of the pattern walks back the run at every step
_LETTER_PERIODS = regex.compile(r"(?<![\w.,])(?:\p{L}\.)+").finditer


def _word_differs(word: str) -> bool:
    """Whether one word (a run of non-spaces) matches one of `_WORD_PATTERNS`."""
    if _HAS_DIGIT(word):
        if _INWORD_COMMA(word):  # a comma inside a word with a digit
            return True
        quote = word.find("'")  # a word with a digit, a quote, then a final-like period
        if quote >= 0 and _PERIOD_ENDING(word, quote + 1):
            return True
    first = word.find(".")  # a dotted word's final period: one after an earlier period,
    if first < 0:  # unless the word ends there in letters and periods
        return False
    letters_and_periods: set[int] | None = None
    for period in _FINAL_LIKE_PERIOD(word, first + 2):
        if letters_and_periods is None:
            letters_and_periods = {run.end() for run in _LETTER_PERIODS(word)}
        if period.end() not in letters_and_periods:
            return True
    return False


# str.split's spaces that are not the regex module's \s (checked over all of Unicode)
_SPLIT_ONLY_SPACES = regex.compile("[\x1c-\x1f]").search


def _candidate_words(line: str) -> list[str]:
    """Words that may match a word pattern: a superset of `_CANDIDATE_WORDS`' (a word with
    a digit and a comma or quote, or with two periods), from `str.split` and substring
    tests, ~4x cheaper than the regex on news lines; most lines have none."""
    if _SPLIT_ONLY_SPACES(line):  # words as the regex module's \s delimits them
        return [word.group() for word in _CANDIDATE_WORDS(line)]
    digit = ("," in line or "'" in line) and _HAS_DIGIT(line) is not None
    if not digit and line.count(".") < 2:
        return []
    return [
        word
        for word in line.split()
        if (digit and ("," in word or "'" in word)) or word.count(".") >= 2
    ]


_FAST_DIFFERS_CHARACTER = regex.compile("|".join(FAST_DIFFERS_CHARACTERS)).search


# ... and in languages other than English, whose rules the C++ port does not follow as
# tokenizer.perl (and sacremoses) do: found with tests/tasks/moses_reference/.
FAST_DIFFERS_NOT_ENGLISH = (
    r"\d\.(?!\d)",  # a number's period, not a decimal point: numeric prefixes (de: 3. Mai)
    r"'",  # an apostrophe: split the English way (de: geht 's, perl: geht ' s)
)
_ELISION = r"'(?:(?<!\p{L}')|(?!\p{L}))"
FAST_DIFFERS_BY_LANGUAGE = {
    # fr/it split after the apostrophe as fast does, but not next to a non-letter (d'«)
    "fr": (_ELISION,),
    "it": (_ELISION, r"(?<![^\W_])pp\."),  # pp: see is
    # a colon inside a word (USA:n): fast keeps it as tokenizer.perl does, sacremoses
    # without perl_language_rules splits it
    "fi": (r":",),
    "sv": (r":",),
    "ca": (r"·",),  # a middle dot (col·laboració)
    # a prefix its file lists both plain and #NUMERIC_ONLY#: fast takes it as plain
    "is": (r"(?<![^\W_])no\.",),
    "pt": (r"(?<![^\W_])(?:Art|p)\.",),
}


@lru_cache(maxsize=16)
def _language_search(lang: str) -> Any:
    if lang == "en":
        return None
    digit_period, apostrophe = FAST_DIFFERS_NOT_ENGLISH
    patterns = [digit_period, *FAST_DIFFERS_BY_LANGUAGE.get(lang, ())]
    if lang not in ("fr", "it"):
        patterns.append(apostrophe)
    return regex.compile("|".join(patterns)).search


def fast_differs(line: str, lang: str = "en") -> bool:
    """Whether the line has a construct the fast engine tokenizes differently."""
    for needed, search in _FAST_DIFFERS_SEARCHES:
        if (needed[0] in line or needed[-1] in line) and search(line):
            return True
    if any(_word_differs(word) for word in _candidate_words(line)):
        return True
    language_search = _language_search(lang)
    if language_search is not None and language_search(line):
        return True
    return not line.isascii() and _FAST_DIFFERS_CHARACTER(line) is not None


_fast = threading.local()  # the C++ tokenizer object is not shared between threads


def fast_tokenizer(lang: str, aggressive_dash_splits: bool) -> Any:
    """This thread's opus-fast-mosestokenizer tokenizer for these settings (no escaping:
    tasks/stages/tokenize.py escapes with sacremoses' own function)."""
    tokenizers = _fast.__dict__.setdefault("tokenizers", {})
    key = (lang, aggressive_dash_splits)
    if key not in tokenizers:
        fast_class = _fast_class()
        _check_fast_language(lang)
        _set_shared_dir()  # here too: a worker takes the command's environment
        tokenizers[key] = fast_class(lang, aggressive_dash_splits=aggressive_dash_splits)
    return tokenizers[key]


def _check_fast_language(lang: str) -> None:
    if lang not in fast_languages():
        raise ConfigError(
            f"tokenize.lang {lang!r}: the fast engine ({FAST_PACKAGE}) has no nonbreaking "
            f"prefixes for it; it knows {', '.join(fast_languages())} "
            "(tokenize.engine=sacremoses for other languages)"
        )


@cache
def fast_languages() -> tuple[str, ...]:
    """The languages the fast engine ships nonbreaking prefix files for (it refuses others)."""
    prefix = "nonbreaking_prefix."
    found = (Path(_set_shared_dir()) / "nonbreaking_prefixes").glob(prefix + "*")
    return tuple(sorted(p.name[len(prefix) :] for p in found))


def _set_shared_dir() -> str:
    """Set TOKENIZER_SHARED_DIR, where the fast engine's C++ code looks for its data, to
    the package's own `share` folder when unset, as the engine's import does; its value.
    Set by whoever uses the engine: a stage worker takes the command's environment, not
    that of the fork server that imported the engine (newsprep/run/engine/pool.py)."""
    default = str(_fast_package() / "share")  # found even when set: the engine is installed
    return os.environ.setdefault("TOKENIZER_SHARED_DIR", default)


def _fast_package() -> Path:
    """The fast engine's package folder, found without loading its C++ library (~0.12 s,
    which only the workers need): ConfigError when it is not installed (a namesake
    `mosestokenizer`, the Perl wrapper's, has no such library)."""
    spec = importlib.util.find_spec(_FAST_IMPORT)
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    if folder is None or not any((folder / "lib").glob("_mosestokenizer*")):
        found = "not installed" if folder is None else f"{folder} has no C++ library"
        raise ConfigError(
            f"tokenize.engine 'fast' needs {FAST_PACKAGE}: pip install 'newsprep[fast]' "
            f"({_FAST_IMPORT}: {found})"
        )
    return folder


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
    """Check the tokenize stage's engine is installed and knows the language; its package
    and version, for the run summary. Here, not in tokenize.py, so that the command checks
    it without importing sacremoses or loading the fast engine's library, which only the
    workers need (the fork server loads them meanwhile)."""
    if options.engine == "fast":
        _check_fast_language(options.lang)
        return {FAST_PACKAGE: metadata.version(FAST_PACKAGE)}
    return {}


def fast_tokens(line: str, lang: str, aggressive_dash_splits: bool) -> str | None:
    """The fast engine's tokens (unescaped), or None for a line to leave to sacremoses: one
    with a construct it tokenizes differently (`fast_differs`), or whose fast tokens are not
    its own characters re-spaced (fast rewrites a backtick as an apostrophe, say)."""
    if fast_differs(line, lang):
        return None
    tokens = " ".join(fast_tokenizer(lang, aggressive_dash_splits).tokenize(line))
    rejoined = tokens.replace(f" {_FAST_DASH} ", "-")
    # compared without plain spaces first (half the cost): equal so, they are equal
    # without any whitespace too
    if rejoined.replace(" ", "") != line.replace(" ", "") and \
            "".join(rejoined.split()) != "".join(line.split()):
        return None
    return tokens
