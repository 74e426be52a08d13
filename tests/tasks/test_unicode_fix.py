"""Stage 2, unicode fix: ftfy with newsprep's recorded configuration.

Expected texts follow ftfy's documented fixes; `fixes` must name a step only when it
changed the text, and fixing fixed text again changes nothing.
"""

from __future__ import annotations

import re

import ftfy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsprep.config import PROFILES, UnicodeFixOptions
from newsprep.tasks.stages.unicode_fix import fix_unicode, text_fixer_config

OPTIONS = UnicodeFixOptions()

# (input, fixed text, recorded fixes)
CASES = [
    pytest.param("Plain ASCII text.\n", "Plain ASCII text.\n", (), id="unchanged"),
    pytest.param(
        "“Hi,” she said. ‘It’s late.’",
        "\"Hi,\" she said. 'It's late.'",
        ("uncurl_quotes",),
        id="curly-quotes",
    ),
    pytest.param(
        # ’ as UTF-8 (E2 80 99) read as Windows-1252 is â€™ (€ is not in Latin-1: "sloppy").
        "donâ€™t",
        "don't",
        ("encode:sloppy-windows-1252", "decode:utf-8", "uncurl_quotes"),
        id="mojibake-apostrophe",
    ),
    pytest.param(
        "cafÃ© owner", "café owner", ("encode:latin-1", "decode:utf-8"), id="mojibake-latin1"
    ),
    pytest.param(
        "Tom &amp; Jerry &eacute;t&eacute;", "Tom & Jerry été", ("unescape_html",), id="html"
    ),
    pytest.param(
        # unescape_html="auto": text with "<" looks like HTML and is left alone.
        "<p>Tom &amp; Jerry</p>", "<p>Tom &amp; Jerry</p>", (), id="html-auto-skips-markup"
    ),
    pytest.param("ﬁnance ﬂows", "finance flows", ("fix_latin_ligatures",), id="ligatures"),
    pytest.param("ＡＢＣ，１２３", "ABC,123", ("fix_character_width",), id="fullwidth"),
    pytest.param("Vie\u0323\u0302t Nam", "Vi\u1ec7t Nam", ("normalize:NFC",), id="nfc"),
    pytest.param("\ufeffHeadline", "Headline", ("remove_control_chars",), id="inner-bom"),
    pytest.param(
        "Beijing\u200b says", "Beijing\u200b says", (), id="zero-width-space-is-not-a-control"
    ),
    pytest.param(
        # 0x8D has no Windows-1252 character, so fix_c1_controls leaves it: nothing to record
        # (ftfy's explanation still lists the no-op step; the stage must not record it).
        "a\x8db",
        "a\x8db",
        (),
        id="c1-control-without-cp1252-meaning",
    ),
    pytest.param("北京 مرحبا Привет", "北京 مرحبا Привет", (), id="non-latin-untouched"),
]


@pytest.mark.parametrize(("text", "expected", "fixes"), CASES)
def test_fix(text: str, expected: str, fixes: tuple[str, ...]) -> None:
    fixed = fix_unicode(text, OPTIONS)
    assert fixed.text == expected
    assert fixed.fixes == fixes
    assert bool(fixed.fixes) == (fixed.text != text)  # a fix is recorded iff text changed


@pytest.mark.parametrize(("text", "expected", "fixes"), CASES)
def test_fixing_twice_is_a_no_op(text: str, expected: str, fixes: tuple[str, ...]) -> None:
    once = fix_unicode(text, OPTIONS)
    twice = fix_unicode(once.text, OPTIONS)
    assert twice.text == once.text
    assert twice.fixes == ()


def test_double_escaped_html_is_unescaped_fully() -> None:
    # ftfy repeats unescape_html until nothing changes: &amp;lt; -> &lt; -> <
    fixed = fix_unicode("a &amp;lt; b", OPTIONS)
    assert fixed.text == "a < b"
    assert fixed.fixes == ("unescape_html",)  # recorded once, in order of first use


def test_html_unescaped_even_with_markup_when_forced() -> None:
    fixed = fix_unicode("<p>Tom &amp; Jerry</p>", UnicodeFixOptions(unescape_html=True))
    assert fixed.text == "<p>Tom & Jerry</p>"


def test_disabled_fix_is_neither_applied_nor_recorded() -> None:
    fixed = fix_unicode("“Hi”", UnicodeFixOptions(uncurl_quotes=False))
    assert fixed.text == "“Hi”"
    assert fixed.fixes == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one\r\ntwo\r\n", "one\ntwo\n"),
        ("one\rtwo\r", "one\ntwo\n"),
        ("one\r\ntwo\rthree\nfour", "one\ntwo\nthree\nfour"),
    ],
    ids=["crlf", "lone-cr", "mixed"],
)
def test_line_endings_become_lf(text: str, expected: str) -> None:
    fixed = fix_unicode(text, OPTIONS)
    assert fixed.text == expected
    assert fixed.fixes == ("fix_line_breaks",)


def test_line_endings_become_lf_even_without_fix_line_breaks() -> None:
    fixed = fix_unicode("one\r\ntwo\rthree", UnicodeFixOptions(fix_line_breaks=False))
    assert fixed.text == "one\ntwo\nthree"
    assert fixed.fixes == ()  # ftfy did not do it, so it is not recorded as ftfy's


def test_fixes_are_recorded_once_in_order_of_first_use() -> None:
    # ftfy runs line by line; fixes are recorded once each, in order of first use.
    fixed = fix_unicode("cafÃ©\nplain line\ndonâ€™t\n", OPTIONS)
    assert fixed.text == "café\nplain line\ndon't\n"
    assert fixed.fixes == (
        "encode:latin-1",
        "decode:utf-8",
        "encode:sloppy-windows-1252",
        "uncurl_quotes",
    )


def _every_line_through_ftfy(text: str, options: UnicodeFixOptions) -> tuple[str, set[str]]:
    """The unicode fix without its skip of plain lines: ftfy on every line (the text has no
    line separators or \r, which fix_unicode handles before and after ftfy)."""
    out, fixes = [], set()
    for line in re.findall(r"[^\n]*\n|[^\n]+", text):
        fixed, steps = ftfy.fix_and_explain(line, config=text_fixer_config(options))
        out.append(fixed)
        if fixed != line:
            fixes.update(p if a == "apply" else f"{a}:{p}" for a, p in steps or ())
    return "".join(out), fixes


OPTION_SETS = [
    *{p.unicode_fix for p in PROFILES.values()},
    UnicodeFixOptions(unescape_html=True, normalization="NFKC"),
    UnicodeFixOptions(normalization=None, fix_line_breaks=False),
]
# printable ASCII, which fix_unicode does not hand to ftfy, and what ftfy fixes beside it
PIECES = [
    *"aZ09 .,;'\"<>-~\t\n&",
    "&amp;",
    "&eacute;",
    "\x1b[31m",
    "\x00",
    "\x7f",
    "Ã©",
    "â€™",
    "“",
    "ﬁ",
    "Ａ",
    "e\u0301",
    "\ufeff",
    "\u200b",
    "é",
]


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=20).map("".join),
    options=st.sampled_from(OPTION_SETS),
)
def test_plain_lines_skip_ftfy_without_changing_a_thing(
    text: str, options: UnicodeFixOptions
) -> None:
    fixed = fix_unicode(text, options)
    expected, fixes = _every_line_through_ftfy(text, options)
    assert (fixed.text, set(fixed.fixes)) == (expected, fixes)


@settings(derandomize=True, max_examples=2000, deadline=None)
@given(
    line=st.text(st.characters(max_codepoint=0x7F), max_size=40),
    options=st.sampled_from(OPTION_SETS),
)
def test_ftfy_leaves_printable_ascii_without_ampersand_alone(
    line: str, options: UnicodeFixOptions
) -> None:
    """What the skip relies on, over all of ASCII: ftfy changes a line of printable ASCII
    without '&' in no configuration."""
    if re.fullmatch(r"[\x20-\x25\x27-\x7e]*", line):
        assert ftfy.fix_and_explain(line, config=text_fixer_config(options)).text == line
