"""Stage 5, validate: every check in CHECKS fails on a bad output and passes on a good one."""

from __future__ import annotations

import pytest
from ftfy.badness import BADNESS_RE, is_bad
from hypothesis import given, settings
from hypothesis import strategies as st

from newsprep.config import PipelineConfig, ValidateOptions
from newsprep.errors import Rejected
from newsprep.tasks.stages.validate import (
    _MOJIBAKE_WINDOWS,
    CHECKS,
    Checked,
    has_mojibake,
    validate,
)

CONFIG = PipelineConfig()
GOOD = "the region 's top official told reporters on tuesday ."
GOOD_SOURCE = "The region's top official told reporters on Tuesday."

# check name -> (output, source, config) that this check, and no earlier one, rejects
FAILING = {
    "empty-output": ("  \n ", GOOD_SOURCE, CONFIG),
    "too-few-tokens": ("told reporters .", "Told reporters.", CONFIG),
    "control-characters": ("the region 's\x07 top official .", GOOD_SOURCE, CONFIG),
    "uppercase-left": ("the region 's Top official told reporters .", GOOD_SOURCE, CONFIG),
    "mojibake-left": ("they donâ€™t know what to do .", "They don’t know what to do.", CONFIG),
    "length-ratio": ("one two three four five .", GOOD_SOURCE * 3, CONFIG),
}
DETAILS = {
    "empty-output": "no tokens left",
    "too-few-tokens": "3 tokens, min_tokens=5",
    "control-characters": "U+0007 at offset 13",
    "uppercase-left": "'T' (U+0054)",
    "mojibake-left": "mojibake",
    "length-ratio": "allowed 0.5..2.0",
}


def test_every_check_is_tested() -> None:
    assert set(FAILING) == set(CHECKS) == set(DETAILS)


@pytest.mark.parametrize("name", list(CHECKS))
def test_check_fails(name: str) -> None:
    output, source, config = FAILING[name]
    with pytest.raises(Rejected) as info:
        validate(output, source, config)
    assert info.value.reason == name
    assert DETAILS[name] in info.value.detail


@pytest.mark.parametrize("name", list(CHECKS))
def test_check_passes_on_good_output(name: str) -> None:
    assert CHECKS[name](_checked(GOOD, GOOD_SOURCE, CONFIG)) is None
    validate(GOOD, GOOD_SOURCE, CONFIG)


def _checked(output: str, source: str, config: PipelineConfig) -> Checked:
    return Checked(output, source, config)


def test_first_failing_check_wins() -> None:
    # Empty output also has too few tokens; the reason is the first check in order.
    with pytest.raises(Rejected) as info:
        validate("", GOOD_SOURCE, CONFIG)
    assert info.value.reason == "empty-output"


def test_min_tokens_boundary() -> None:
    config = PipelineConfig(validation=ValidateOptions(min_tokens=3))
    validate("told reporters .", "Told reporters.", config)
    assert CHECKS["too-few-tokens"](_checked("told reporters", "x", config)) is not None


def test_lone_surrogate_is_a_control_character() -> None:
    assert "U+D800" in CHECKS["control-characters"](_checked("ab \ud800", "", CONFIG))


def test_tab_is_a_control_character_in_output() -> None:
    # Moses turns tabs into spaces, so a tab in the output means something went wrong.
    assert CHECKS["control-characters"](_checked("a\tb", "", CONFIG)) is not None


def test_uppercase_allowed_when_lowercase_is_off() -> None:
    config = PipelineConfig(lowercase=False)
    assert CHECKS["uppercase-left"](_checked("The Region", "", config)) is None


def test_uppercase_without_lowercase_form_is_named() -> None:
    # U+03D2 GREEK UPSILON WITH HOOK SYMBOL is uppercase and has no lowercase mapping.
    detail = CHECKS["uppercase-left"](_checked("a \u03d2 b", "", CONFIG))
    assert detail is not None
    assert "U+03D2" in detail


def test_uncased_output_passes_the_uppercase_check() -> None:
    # "123 ..." has no cased character: str.islower() is False, yet nothing is uppercase.
    assert CHECKS["uppercase-left"](_checked("123 4.5 % 北京", "", CONFIG)) is None


def test_length_ratio_bounds() -> None:
    ratio = CHECKS["length-ratio"]
    assert ratio(_checked("x" * 50, "y" * 100, CONFIG)) is None  # 0.5: allowed
    assert ratio(_checked("x" * 49, "y" * 100, CONFIG)) is not None
    assert ratio(_checked("x" * 200, "y" * 100, CONFIG)) is None  # 2.0: allowed
    assert ratio(_checked("x" * 201, "y" * 100, CONFIG)) is not None
    assert ratio(_checked("x", "", CONFIG)) is None  # no source: nothing to compare


def _needs_non_ascii(items: list) -> bool:
    """Can this parsed regex sequence only match text holding a non-ASCII character?"""
    from re import _constants as c

    def class_allows_ascii(members: list) -> bool:
        return any(
            op in (c.NEGATE, c.CATEGORY)
            or (op == c.LITERAL and value < 128)
            or (op == c.RANGE and value[0] < 128)
            for op, value in members
        )

    for op, value in items:
        if op == c.LITERAL and value >= 128:
            return True
        if op == c.IN and not class_allows_ascii(value):
            return True
        if op == c.SUBPATTERN and _needs_non_ascii(value[-1]):
            return True
        if op == c.BRANCH and all(_needs_non_ascii(alt) for alt in value[1]):
            return True
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and value[0] >= 1 and _needs_non_ascii(value[2]):
            return True
    return False


def test_mojibake_check_skips_ascii_output_rightly() -> None:
    """The mojibake check skips ASCII output: every alternative of the installed ftfy's
    badness pattern needs a non-ASCII character, so it cannot match ASCII text."""
    from re import _parser

    from ftfy.badness import BADNESS_RE, is_bad

    parsed = list(_parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags))
    assert _needs_non_ascii(parsed)
    assert not _needs_non_ascii(list(_parser.parse("[a-z]+|é")))  # the analysis can say no
    assert _needs_non_ascii(list(_parser.parse("a(?:é|ü)b")))
    output, source, config = FAILING["mojibake-left"]  # non-ASCII mojibake is still caught
    assert is_bad(output)
    with pytest.raises(Rejected, match="mojibake"):
        validate(output, source, config)


def test_the_mojibake_check_searches_windows() -> None:
    """ftfy's regex has the shape the windowed search relies on (else it scans it all)."""
    assert _MOJIBAKE_WINDOWS is not None
    needed, longest = _MOJIBAKE_WINDOWS
    assert longest == 7 and needed.search("é") and not needed.search("\xa0")


def _mojibake_pieces() -> list[str]:
    """The characters the windows are around (none is special in a class), and others."""
    characters = _MOJIBAKE_WINDOWS[0].pattern[1:-1] if _MOJIBAKE_WINDOWS else ""
    return [*characters, *"aZ1 .?\n\xa0", "Ã ", "Ã©", "â€™", "ГўВЂВ", "Œ", "\x80"]


_PIECES = st.lists(st.sampled_from(_mojibake_pieces()), max_size=16).map("".join)


@settings(derandomize=True, max_examples=5000, deadline=None)
@given(
    text=st.one_of(
        _PIECES,  # mostly no match
        st.tuples(_PIECES, st.from_regex(BADNESS_RE, fullmatch=True), _PIECES).map("".join),
    )
)
def test_the_windowed_mojibake_search_decides_as_is_bad(text: str) -> None:
    assert has_mojibake(text) == is_bad(text)
