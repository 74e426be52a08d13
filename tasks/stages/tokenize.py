"""Stage 3, tokenize: Moses tokenization, line by line.

Two engines: sacremoses (the reference, here) and `fast`, opus-fast-mosestokenizer's C++
port (an optional extra, tasks/stages/fast_tokenize.py), which hands sacremoses every line it is
known to tokenize differently, so both give the same output.
Around Moses: `drop_patterns` are removed first (e.g. a `(CNN)` source tag); after it, a
line-final period is split off a dotted word (`split_final_period`, tokenizer.perl since
2018), split hyphens are written as `dash_token` and `cannot` becomes `can not` when asked.
sacremoses' own `penn_tokenize` is broken in 0.2.0 and is not used.
"""

from __future__ import annotations

import re
from functools import lru_cache

import regex
from sacremoses import MosesTokenizer

from newsprep.config import TokenizeOptions
from newsprep.tasks.stages.fast_tokenize import fast_tokens

_MOSES_DASH = "@-@"
_CANNOT = re.compile(r"(?<!\S)(can)(not)(?!\S)", re.IGNORECASE)
# The last token: a word, not only periods (multidots stay whole), then a period.
_WORD_PERIOD = re.compile(r"(\S*[^\s.])\.").fullmatch


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

    def handles_nonbreaking_prefixes(self, text: str) -> str:
        """sacremoses' method with its two regexes as string tests. After `str.split()` a
        token holds no whitespace (the re module's `\\s` is `str.isspace`), so
        `re.search(r"^(\\S+)\\.$", token)` is "ends in a period after one character or
        more", and `re.search(r"^[0-9]+", token)` "starts with an ASCII digit". Called per
        token through the re module's cache, they were ~0.1 ms of an article."""
        tokens = text.split()
        last = len(tokens) - 1
        for i, token in enumerate(tokens):
            if len(token) < 2 or token[-1] != ".":
                continue
            prefix = token[:-1]
            if (
                ("." in prefix and self.isanyalpha(prefix))
                or (
                    prefix in self.NONBREAKING_PREFIXES
                    and prefix not in self.NUMERIC_ONLY_PREFIXES
                )
                or (i != last and self.islower(tokens[i + 1][0]))
            ):
                continue  # no change to the token
            if (
                prefix in self.NUMERIC_ONLY_PREFIXES
                and i < last
                and tokens[i + 1][0] in _ASCII_DIGITS
            ):
                continue
            tokens[i] = prefix + " ."
        return " ".join(tokens)


_ASCII_DIGITS = frozenset("0123456789")


# Entries of mosesdecoder's prefix files followed by a space: tokenizer.perl keeps the
# space in its key, so they never match a word; sacremoses strips it.
PERL_UNMATCHED_PREFIXES = {
    "as": ("ভি",),
    "bn": ("ভি",),
    "es": ("Fil", "gr", "pÃ¡g"),
    "it": ("Amn", "Arch", "a.c", "all", "es"),
    "ml": ("പി",),
    "mni": ("ভি",),
    "nl": ("Nrs",),
    "sk": ("Pf",),
    "sv": ("Ö",),
}
# Listed as #NUMERIC_ONLY#, then again plain: the later line wins in tokenizer.perl.
_PERL_PLAIN_PREFIXES = {"is": ("no",)}
# tokenizer.perl: a character kept inside words by the padding of "other" characters, and
# the one padded unless lowercase follows (fi/sv: USA:n; ca: col·laboració; tdt: glottals).
_PERL_INWORD = {"fi": (":", ":"), "sv": (":", ":"), "ca": ("·", "·"), "tdt": ("", "'")}


class _Substitutions:
    """Several (regex, replacement) steps where sacremoses applies one."""

    def __init__(self, steps: list[tuple[re.Pattern[str], str]]) -> None:
        self.steps = steps

    def sub(self, _replacement: object, text: str) -> str:
        for pattern, replacement in self.steps:
            text = pattern.sub(replacement, text)
        return text


def _perl(pattern: str) -> regex.Pattern[str]:
    """A sacremoses rule with Perl's character classes (the `regex` module's \\p{...} agree
    with perl 5.36's: letters of every script, Han included; no viramas)."""
    classes = {"Alnum": r"\p{Alnum}", "Alpha": r"\p{Alpha}", "N": r"\p{N}"}
    return regex.compile(pattern.format(**classes))


class _PerlMosesTokenizer(_MosesTokenizer):
    """sacremoses with tokenizer.perl's rules where 0.2.0 has others (perl_language_rules)."""

    # Perl's \s has no \x1c-\x1f (Python's has): tokenizer.perl deletes them, no space
    DEDUPLICATE_SPACE = re.compile(r"[^\S\x1c-\x1f]+"), " "
    AGGRESSIVE_HYPHEN_SPLIT = _perl(r"([{Alnum}])\-(?=[{Alnum}])"), r"\1 @-@ "
    COMMA_SEPARATE_1 = _perl(r"([^{N}])[,]"), r"\1 , "
    COMMA_SEPARATE_2 = _perl(r"[,]([^{N}])"), r" , \1"
    COMMA_SEPARATE_3 = _perl(r"([{N}])[,]$"), r"\1 , "
    ENGLISH_SPECIFIC_APOSTROPHE = [  # noqa: RUF012 - sacremoses' attribute
        (_perl(r"([^{Alpha}])[']([^{Alpha}])"), r"\1 ' \2"),
        (_perl(r"([^{Alpha}{N}])[']([{Alpha}])"), r"\1 ' \2"),
        (_perl(r"([{Alpha}])[']([^{Alpha}])"), r"\1 ' \2"),
        (_perl(r"([{Alpha}])[']([{Alpha}])"), r"\1 '\2"),
        (_perl(r"([{N}])[']([s])"), r"\1 '\2"),
    ]
    FR_IT_SPECIFIC_APOSTROPHE = [  # noqa: RUF012
        (_perl(r"([^{Alpha}])[']([^{Alpha}])"), r"\1 ' \2"),
        (_perl(r"([^{Alpha}])[']([{Alpha}])"), r"\1 ' \2"),
        (_perl(r"([{Alpha}])[']([^{Alpha}])"), r"\1 ' \2"),
        (_perl(r"([{Alpha}])[']([{Alpha}])"), r"\1' \2"),
    ]
    _ANY_ALPHA = regex.compile(r"\p{Alpha}").search
    _ALL_LOWER = regex.compile(r"\p{Lower}*").fullmatch

    def __init__(self, lang: str) -> None:
        super().__init__(lang=lang)
        # sacremoses sets its own for zh/ja/ko here
        self.AGGRESSIVE_HYPHEN_SPLIT = type(self).AGGRESSIVE_HYPHEN_SPLIT
        unmatched = PERL_UNMATCHED_PREFIXES.get(lang, ())
        self.NONBREAKING_PREFIXES = [p for p in self.NONBREAKING_PREFIXES if p not in unmatched]
        plain = _PERL_PLAIN_PREFIXES.get(lang, ())
        self.NUMERIC_ONLY_PREFIXES = [p for p in self.NUMERIC_ONLY_PREFIXES if p not in plain]
        kept, padded = _PERL_INWORD.get(lang, ("", None))
        pattern = rf"[^\p{{Alnum}}\s\.'\`\,\-{kept}]"
        if padded:  # ... and that character unless lowercase follows
            pattern += rf"|{padded}(?=$|[^\p{{Ll}}])"
        self.PAD_NOT_ISALNUM = (regex.compile(f"({pattern})"), r" \1 ")
        if lang in ("ga", "ca"):  # contractions split after the apostrophe, as fr/it
            self.NON_SPECIFIC_APOSTROPHE = (_Substitutions(self.FR_IT_SPECIFIC_APOSTROPHE), "")
        elif lang in ("so", "tdt"):  # glottals: an apostrophe between letters stays
            steps = self.FR_IT_SPECIFIC_APOSTROPHE[:3]
            self.NON_SPECIFIC_APOSTROPHE = (_Substitutions(steps), "")

    def islower(self, text: str) -> bool:
        return self._ALL_LOWER(text) is not None

    def isanyalpha(self, text: str) -> bool:
        return self._ANY_ALPHA(text) is not None


@lru_cache(maxsize=8)
def moses_tokenizer(lang: str, perl_language_rules: bool = False) -> MosesTokenizer:
    """One tokenizer per process and language: building one compiles many regexes."""
    if perl_language_rules:
        return _PerlMosesTokenizer(lang=lang)
    return _MosesTokenizer(lang=lang)


@lru_cache(maxsize=16)
def _unmatched_prefix_regex(lang: str) -> re.Pattern[str]:
    words = "|".join(map(re.escape, PERL_UNMATCHED_PREFIXES[lang]))
    return re.compile(rf"(?<![^\W_])(?:{words})\.")


def _perl_unmatched_prefix(line: str, options: TokenizeOptions) -> bool:
    """A prefix tokenizer.perl does not match, in the line: sacremoses knows, fast does not."""
    if not options.perl_language_rules or options.lang not in PERL_UNMATCHED_PREFIXES:
        return False
    return _unmatched_prefix_regex(options.lang).search(line) is not None


_SPACES = re.compile(" {2,}")


@lru_cache(maxsize=8)
def _drop_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def _split_final_period(tokens: str) -> str:
    """A line-final period split off its word: `re.sub(r"(?:^| )(\\S*[^\\s.])\\.$", r" \\1 .",
    tokens).lstrip()` (test_tokenize), without trying a regex at every space."""
    if tokens.endswith("."):
        head, _, last = tokens.rpartition(" ")
        word = _WORD_PERIOD(last)
        if word is not None:
            tokens = f"{head} {word.group(1)} ."
    return tokens.lstrip()


def tokenize_line(line: str, options: TokenizeOptions) -> str:
    """One line of text to space-separated tokens ('' when nothing is left)."""
    drop = _drop_regex(options.drop_patterns)
    if drop is not None:
        line = drop.sub(" ", line)
    if not line.strip():
        return ""
    tokens = None
    if options.engine == "fast" and not _perl_unmatched_prefix(line, options):
        tokens = fast_tokens(line, options.lang, options.aggressive_dash_splits)
        if tokens is not None and options.escape:
            tokens = moses_tokenizer(options.lang).escape_xml(tokens)
    if tokens is None:
        tokenizer = moses_tokenizer(options.lang, options.perl_language_rules)
        tokens = tokenizer.tokenize(
            line,
            aggressive_dash_splits=options.aggressive_dash_splits,
            return_str=True,
            escape=options.escape,
            protected_patterns=tokenizer.WEB_PROTECTED_PATTERNS if options.protect_urls else None,
        ).strip()  # it can leave a space after a line-final .' (so does tokenizer.perl)
    if options.split_final_period:
        tokens = _split_final_period(tokens)
    if options.aggressive_dash_splits and options.dash_token != _MOSES_DASH:
        tokens = tokens.replace(f" {_MOSES_DASH} ", f" {options.dash_token} ")
    if options.split_cannot:
        tokens = _CANNOT.sub(r"\1 \2", tokens)
    if "  " in tokens:  # Moses (perl and both engines) leaves two spaces in ":.'": no empty token
        tokens = _SPACES.sub(" ", tokens)
    return tokens


def tokenize(text: str, options: TokenizeOptions) -> list[str]:
    """Tokenize each non-empty line; lines that tokenize to nothing are dropped."""
    lines = (tokenize_line(line, options) for line in text.split("\n"))
    return [line for line in lines if line]
