"""Stage 3, tokenize: Moses conventions, and the rules newsprep adds around sacremoses.

Most cases live in tokenizer_cases.json (ftfy's test-case style). Expected values are written
from the Moses rules (tokenizer.perl, sacremoses 0.2.0 as the reference implementation);
"expect": "fail" records a known discrepancy instead of deleting it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsprep.config import PROFILES, TokenizeOptions
from newsprep.tasks.stages.tokenize import _split_final_period, tokenize, tokenize_line

CASES_FILE = Path(__file__).with_name("tokenizer_cases.json")
CASE_KEYS = {"label", "lang", "options", "input", "expected", "expect"}


def load_cases() -> list:
    """One pytest param per case; known discrepancies are strict xfails."""
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    params = []
    for case in cases:
        if set(case) != CASE_KEYS:
            raise ValueError(f"{case.get('label')!r}: keys must be {sorted(CASE_KEYS)}")
        if case["expect"] not in ("pass", "fail"):
            raise ValueError(f"{case['label']!r}: expect must be 'pass' or 'fail'")
        marks = []
        if case["expect"] == "fail":
            marks.append(pytest.mark.xfail(reason=f"known: {case['label']}", strict=True))
        params.append(pytest.param(case, id=case["label"], marks=marks))
    return params


CASES = load_cases()


def test_case_file_is_well_formed() -> None:
    cases = [p.values[0] for p in CASES]
    assert len(cases) >= 30
    labels = [c["label"] for c in cases]
    assert len(labels) == len(set(labels)), "labels must be unique"
    assert any(c["expect"] == "fail" for c in cases)


@pytest.mark.parametrize("case", CASES)
def test_tokenizer_case(case: dict) -> None:
    options = TokenizeOptions(lang=case["lang"], **case["options"])
    assert tokenize_line(case["input"], options) == case["expected"]


def test_tokenize_drops_empty_lines_and_keeps_line_order() -> None:
    text = "First line.\n\n   \nSecond, line.\n"
    assert tokenize(text, TokenizeOptions()) == ["First line .", "Second , line ."]


def test_tokenize_drops_a_line_left_empty_by_drop_patterns() -> None:
    options = TokenizeOptions(drop_patterns=(r"\(CNN\)", r"^Advertisement$"))
    text = "(CNN)\nAdvertisement\nThe story."
    assert tokenize(text, options) == ["The story ."]


def test_cnndm_profile_rules_together() -> None:
    # (CNN) dropped, hyphen split to a plain -, cannot split: the corpus' conventions.
    line = "Beijing (CNN)Forces cannot ignore far-western Xinjiang's rubber-stamp vote."
    assert tokenize_line(line, PROFILES["cnndm"].tokenize) == (
        "Beijing Forces can not ignore far - western Xinjiang 's rubber - stamp vote ."
    )


def test_dash_token_replaces_only_split_hyphens() -> None:
    # Any dash_token, not only "-", replaces Moses' @-@ between letters and between digits.
    options = TokenizeOptions(aggressive_dash_splits=True, dash_token="<dash>")
    assert tokenize_line("far-western and 1990-2000", options) == (
        "far <dash> western and 1990 <dash> 2000"
    )


def test_dash_token_unused_without_aggressive_splits() -> None:
    options = TokenizeOptions(dash_token="-")
    assert tokenize_line("far-western", options) == "far-western"


def test_curly_apostrophe_is_not_a_contraction_for_moses() -> None:
    # Why the unicode-fix stage uncurls quotes first: Moses only knows the ASCII apostrophe.
    assert tokenize_line("don’t", TokenizeOptions()) == "don ’ t"
    assert tokenize_line("don't", TokenizeOptions()) == "don 't"


def test_decomposed_diacritics_are_split_by_moses() -> None:
    # Why the unicode-fix stage normalizes to NFC: combining marks are not IsAlnum.
    nfd = "Vie\u0323\u0302t"
    assert tokenize_line(nfd, TokenizeOptions(lang="vi")) == "Vie \u0323 \u0302 t"


# the rule as a regex: the last token, a word (not only periods), then a period
FINAL_PERIOD = re.compile(r"(?:^| )(\S*[^\s.])\.$")


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(
    tokens=st.lists(
        st.sampled_from([*"a1. .", "U.S.", "...", "\xa0", "\t", "\x1c", "é", " ", "  "]),
        max_size=12,
    ).map("".join)
)
def test_the_final_period_split_is_the_regex_rule(tokens: str) -> None:
    """Tokens have no line feed (lines are split at it), so `$` is the end of the text."""
    assert _split_final_period(tokens) == FINAL_PERIOD.sub(r" \1 .", tokens).lstrip()
