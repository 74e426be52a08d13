"""The fast engine (opus-fast-mosestokenizer) against sacremoses, the reference.

The C++ port tokenizes some constructs differently; tasks/stages/fast_tokenize.py lists them
(FAST_DIFFERS_PATTERNS, FAST_DIFFERS_CHARACTERS) and the fast engine leaves a line with
any of them to sacremoses.
Here: every listed construct has an example on which the two tokenizers themselves differ;
and with the fast engine the pipeline's tokens equal sacremoses' on every line of the
golden article, the bundled sample, the tokenizer cases and parity_lines.txt (a few
hundred varied news lines), with both profiles, and on thousands of generated lines.

sacremoses' own speed-up (set lookups, tasks/stages/tokenize.py) is checked the same way
against an unmodified sacremoses MosesTokenizer, with no difference allowed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import regex
from conftest import GOLDEN_RAW
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sacremoses import MosesTokenizer

from newsprep.config import PROFILES, TokenizeOptions
from newsprep.tasks.stages.fast_tokenize import (
    FAST_DIFFERS_CHARACTERS,
    FAST_DIFFERS_PATTERNS,
    fast_differs,
    fast_tokenizer,
)
from newsprep.tasks.stages.tokenize import moses_tokenizer, tokenize_line
from newsprep.tasks.stages.unicode_fix import fix_unicode

HERE = Path(__file__).parent
SAMPLE = HERE.parent.parent / "newsprep" / "sample"

# Lines on which the two tokenizers differ (the output of fast, then of sacremoses, with
# or without aggressive dash splits), at least one per listed construct.
PITFALLS = (
    "'Hello,' she said.",  # "' Hello , ' she said ." / "'Hello , ' she said ."
    "He said: 'I agree'",  # "' I agree '" / "' I agree'"
    "He is 5'11\" tall.",  # "5 '11 \"" / "5 ' 11 \""
    "Mr.'Smith said so.",  # "Mr. 'Smith" / "Mr. ' Smith"
    "Those don't's are silly.",  # "don 't 's" / "don 't's"
    "Room 6v'U.S. Then",  # "6v 'U.S ." / "6v 'U.S."
    "Visit example.com. Then call.",  # "example.com ." / "example.com."
    "It was Mr..Smith who came.",  # "Mr.. Smith" / "Mr .. Smith"
    "The end.\u2014and then?",  # "end. \u2014" / "end . \u2014"
    "Version 2b. then it failed.",  # "2b ." / "2b."
    "H... no idea.",  # "H..." / "H ..."
    "MR...what now",  # "MR..." / "MR ..."
    "Room 9,Building 4",  # "9 ,Building" / "9 , Building"
    "apples ,3 pears",  # ",3" / ", 3"
    "A--B",  # "A -- B" / "A--B"
    "the (-5) value",  # aggressive: "( @-@ 5 )" / "( -5 )"
    "He was pro-",  # "pro -" / "pro-"
    "z-\thm6",  # "z - hm6" / "z- hm6"
    "so-\u00a0called",  # aggressive: "so @-@ called" / "so- called"
    "It ended.\t then",  # "ended ." / "ended."
    "北京,你好。",  # "北京 , 你好 。" / "北 京 , 你 好 。"
    "กรุงเทพมหานครประกาศมาตรการใหม่",  # sacremoses splits the tone mark off ("ใหม ่")
    "2½ cups",  # "2½" / "2 ½"
    "v\u200bUkqy",  # sacremoses splits the zero-width space off
    "Vive en el piso nº7.",  # "nº 7" / "nº7"
    "The ⒶⒷⒸ of it",  # "Ⓐ Ⓑ Ⓒ" / "ⒶⒷⒸ"
)


def raw_tokens(line: str, aggressive: bool) -> tuple[str, str]:
    """The two tokenizers' own output, without the pipeline around them."""
    fast = " ".join(fast_tokenizer("en", aggressive).tokenize(line))
    reference = moses_tokenizer("en").tokenize(
        line, aggressive_dash_splits=aggressive, return_str=True, escape=False
    )
    return fast, reference.strip()


def differs(line: str) -> bool:
    return any(a != b for a, b in (raw_tokens(line, False), raw_tokens(line, True)))


@pytest.mark.parametrize("line", PITFALLS)
def test_each_pitfall_differs_and_is_left_to_sacremoses(line: str) -> None:
    assert differs(line), "the tokenizers agree here: not a pitfall"
    assert fast_differs(line)
    for profile in ("default", "cnndm", "moses", "wmt"):
        reference = PROFILES[profile].tokenize
        fast = reference.model_copy(update={"engine": "fast"})
        assert tokenize_line(line, fast) == tokenize_line(line, reference)


@pytest.mark.parametrize("pattern", FAST_DIFFERS_PATTERNS + FAST_DIFFERS_CHARACTERS)
def test_every_construct_has_a_pitfall(pattern: str) -> None:
    examples = [line for line in PITFALLS if regex.search(pattern, line)]
    assert any(differs(line) for line in examples), f"no example of {pattern!r} differs"


def corpus_lines() -> list[str]:
    texts = [GOLDEN_RAW.read_text(encoding="utf-8")]
    articles = sorted(p for p in SAMPLE.rglob("*.txt") if "broken" not in p.parts)
    texts += [p.read_text(encoding="utf-8") for p in articles]
    cases = json.loads((HERE / "tokenizer_cases.json").read_text(encoding="utf-8"))
    texts += [case["input"] for case in cases]
    texts += [
        line
        for line in (HERE / "parity_lines.txt").read_text(encoding="utf-8").splitlines()
        if not line.startswith("# ")
    ]
    config = PROFILES["default"].unicode_fix
    lines = {
        line
        for text in texts
        for line in fix_unicode(text, config).text.split("\n")
        if line.strip()
    }
    return sorted(lines)


LINES = corpus_lines()


def test_the_corpus_is_varied_enough() -> None:
    assert len(LINES) >= 400
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in line) for line in LINES)  # Han
    assert any("http" in line for line in LINES)
    assert any("--" in line or "\u2014" in line for line in LINES)


@pytest.mark.parametrize("profile", ["default", "cnndm", "moses"])
def test_fast_engine_tokenizes_every_line_like_sacremoses(profile: str) -> None:
    reference = PROFILES[profile].tokenize
    fast = reference.model_copy(update={"engine": "fast"})
    found = {
        line: (tokenize_line(line, fast), tokenize_line(line, reference))
        for line in LINES
        if tokenize_line(line, fast) != tokenize_line(line, reference)
    }
    assert not found, "fast and sacremoses differ (fast, sacremoses):\n" + "\n".join(
        f"{line!r}\n  {f!r}\n  {s!r}" for line, (f, s) in found.items()
    )
    fast_lines = [line for line in LINES if not fast_differs(line)]
    assert len(fast_lines) > 0.7 * len(LINES), "most lines are tokenized by fast itself"


# Pieces of news text, glued together at random: words, numbers, abbreviations, URLs,
# quotes, dashes, accents, symbols and odd spaces (also read by benchmarks/parity_fuzz.py).
FRAGMENTS = tuple(json.loads((HERE / "news_fragments.json").read_text(encoding="utf-8")))


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(line=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14).map("".join))
def test_fast_engine_tokenizes_generated_lines_like_sacremoses(line: str) -> None:
    for profile in ("default", "cnndm", "moses", "wmt"):
        reference = PROFILES[profile].tokenize
        fast = reference.model_copy(update={"engine": "fast"})
        assert tokenize_line(line, fast) == tokenize_line(line, reference), profile


def test_fast_engine_leaves_to_sacremoses_a_line_whose_characters_it_changes() -> None:
    """The second net: a line whose fast tokens are not its own characters re-spaced
    (a backtick rewritten; an unspaced em dash made @-@ by aggressive dash splits) is
    tokenized by sacremoses."""
    for line, options in (
        ("The word ``quote'' here.", TokenizeOptions()),
        ("He said\u2014and left.", TokenizeOptions(aggressive_dash_splits=True)),
    ):
        assert not fast_differs(line)
        raw = " ".join(fast_tokenizer("en", options.aggressive_dash_splits).tokenize(line))
        assert "".join(raw.replace(" @-@ ", "-").split()) != "".join(line.split())
        fast = options.model_copy(update={"engine": "fast"})
        assert tokenize_line(line, fast) == tokenize_line(line, options)


@pytest.mark.parametrize("aggressive", [False, True])
@pytest.mark.parametrize("protect_urls", [False, True])
def test_set_lookups_tokenize_exactly_like_sacremoses(aggressive: bool, protect_urls: bool) -> None:
    ours, stock = moses_tokenizer("en"), MosesTokenizer(lang="en")
    assert type(ours) is not MosesTokenizer  # the sped-up subclass is the one in use
    patterns = stock.WEB_PROTECTED_PATTERNS if protect_urls else None
    options = {"aggressive_dash_splits": aggressive, "escape": False, "return_str": True}
    for line in LINES:
        expected = stock.tokenize(line, protected_patterns=patterns, **options)
        assert ours.tokenize(line, protected_patterns=patterns, **options) == expected, line


@given(text=st.text())
def test_set_lookups_answer_like_sacremoses(text: str) -> None:
    ours, stock = moses_tokenizer("en"), MosesTokenizer(lang="en")
    assert ours.islower(text) == stock.islower(text)
    assert ours.isanyalpha(text) == stock.isanyalpha(text)


_PREFIX_WORDS = st.one_of(
    st.sampled_from(["No.", "Mr.", "p.m.", "U.S.", "Art.", "no.", "Nr.", "Fig.", "a.", ".",
                     "..", "5.", "٥.", "x.y.", "ab.", "5", "٥", "x", "X", "é"]),
    st.text(alphabet="aZé.5٥", max_size=4),
)
# words and the spaces between them: str.split's (and the re module's \s), some of which
# are not ASCII, and none
_PREFIX_TEXT = st.lists(
    st.tuples(_PREFIX_WORDS, st.sampled_from([" ", " ", "\t", "\u2028", "\x1c", "\u00a0", ""])),
    max_size=10,
).map(lambda pairs: "".join(word + space for word, space in pairs))


@given(text=_PREFIX_TEXT, lang=st.sampled_from(["en", "de", "pt", "is", "fr"]))
@example(text="No. 5 No. ٥ No. x", lang="en")  # a numeric-only prefix: only ASCII digits keep it
@example(text="Mr. Smith p.m. then U.S. . a.", lang="en")
def test_nonbreaking_prefixes_without_regexes_answer_like_sacremoses(text: str, lang: str) -> None:
    """The override's string tests (a period ending a token, an ASCII digit starting the
    next) give sacremoses' own method's result, with the same prefix lists."""
    for perl_rules in (False, True):
        ours = moses_tokenizer(lang, perl_rules)
        expected = MosesTokenizer.handles_nonbreaking_prefixes(ours, text)
        assert ours.handles_nonbreaking_prefixes(text) == expected


def test_fast_engine_rejects_protect_urls() -> None:
    with pytest.raises(ValueError, match="protect_urls needs engine 'sacremoses'"):
        TokenizeOptions(engine="fast", protect_urls=True)


def test_fast_engine_escapes_like_sacremoses() -> None:
    line = 'AT&T said "profits < costs" [again] | it\'s over.'
    escaped = TokenizeOptions(escape=True)
    assert "&amp;" in tokenize_line(line, escaped)
    fast = escaped.model_copy(update={"engine": "fast"})
    assert tokenize_line(line, fast) == tokenize_line(line, escaped)


def _differs_by_the_patterns(line: str) -> bool:
    """The guard as FAST_DIFFERS_PATTERNS and FAST_DIFFERS_CHARACTERS define it (English):
    one regex search each, quadratic on long words, fine on short lines."""
    return any(regex.search(p, line) for p in FAST_DIFFERS_PATTERNS + FAST_DIFFERS_CHARACTERS)


# the characters the patterns turn on, with letters, digits and spaces between them
GUARD_ALPHABET = [*"aZ19.,'-\t é(!", "U.S.", "p.m.", "...", "--", "  "]


@settings(derandomize=True, max_examples=5000, deadline=None)
@given(line=st.lists(st.sampled_from(GUARD_ALPHABET), min_size=1, max_size=16).map("".join))
def test_the_linear_guard_decides_as_the_patterns_say(line: str) -> None:
    """fast_differs checks three of the patterns word by word (in linear time): it must
    decide exactly as the patterns themselves."""
    assert fast_differs(line) == _differs_by_the_patterns(line)


def test_the_linear_guard_decides_as_the_patterns_say_on_the_corpus() -> None:
    assert [line for line in LINES if fast_differs(line) != _differs_by_the_patterns(line)] == []


# ... and the spaces on which str.split and the regex module's \s disagree (\x1c-\x1f),
# other spaces, a non-ASCII digit and letter: `_candidate_words` splits words with str.split
@settings(derandomize=True, max_examples=5000, deadline=None)
@given(
    line=st.lists(
        st.sampled_from([*GUARD_ALPHABET, "\x1c", "\x1f", "\xa0", "\u2009", "٣", "ß", "'s"]),
        min_size=1,
        max_size=16,
    ).map("".join)
)
def test_the_linear_guard_decides_as_the_patterns_say_across_spaces(line: str) -> None:
    assert fast_differs(line) == _differs_by_the_patterns(line)
