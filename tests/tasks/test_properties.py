"""Properties of the whole text pipeline and of single stages, for arbitrary input."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from newsprep.config import PROFILES, PipelineConfig
from newsprep.errors import Rejected
from newsprep.tasks.stages.layout import layout
from newsprep.tasks.stages.lowercase import lowercase
from newsprep.tasks.stages.normalize import normalize_text
from newsprep.tasks.stages.unicode_fix import fix_unicode

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# Small thresholds so short generated texts get through validation and reach the output checks.
LENIENT = {
    name: profile.model_copy(
        update={"validation": profile.validation.model_copy(
            update={"min_tokens": 0, "min_length_ratio": 0.0, "max_length_ratio": 100.0}
        )}
    )
    for name, profile in PROFILES.items()
}
CONFIGS = [*PROFILES.values(), *LENIENT.values()]

# Words, punctuation, quotes, mojibake and line breaks: text that mostly survives validation.
PIECES = st.sampled_from([
    "China", "Xinjiang's", "don’t", "cannot", "far-western", "(CNN)", "$4.5", "3.2%", "12,000",
    "IS...", "“quoted”", "donâ€™t", "cafÃ©", "&amp;", "https://x.org/a", "北京", "Привет",
    "مرحبا", "Việt", "ΟΔΟΣ", "İ", "ß", " ", " ", "\n", "\r\n", "\r", ".", ",", "'", '"', "-",
    "\t", "\u00a0", "\u2028", "\x85", "\x0c", "\ufeff", "…",
])
NEWSY = st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=40).map("".join)


def check_output(raw: bytes, config: PipelineConfig) -> None:
    """normalize_text returns a well-formed output or raises Rejected, nothing else."""
    try:
        result = normalize_text(raw, config)
    except Rejected as exc:
        event(f"rejected: {exc.reason}")
        return
    event("ok")
    text = result.text
    assert text.encode("utf-8").decode("utf-8") == text
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    for line in text[:-1].split("\n"):
        tokens = line.split(" ")
        assert "" not in tokens, f"empty token in {line!r}"
        assert line.split() == tokens, f"whitespace inside a token in {line!r}"
    controls = [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cs")]
    assert controls == []
    if config.lowercase:
        assert not any(c.isupper() or c.istitle() for c in text)
    assert result.tokens == len(text.split())


@pytest.mark.parametrize("config", CONFIGS, ids=[*PROFILES, *(f"lenient-{n}" for n in LENIENT)])
@SETTINGS
@given(text=st.one_of(st.text(), NEWSY))
@example(text="Here are five more words.\n:.'")  # found by hypothesis: Moses leaves ":  . '"
def test_normalize_text_on_any_text(config: PipelineConfig, text: str) -> None:
    check_output(text.encode("utf-8"), config)


@pytest.mark.parametrize("config", CONFIGS, ids=[*PROFILES, *(f"lenient-{n}" for n in LENIENT)])
@SETTINGS
@given(raw=st.binary())
@example(raw=b"\xef\xbb\xbf\xff")  # a UTF-8 BOM, then not UTF-8: cp1252 decodes the BOM bytes
@example(raw=b"\xff\xfe\x00\xd8")  # UTF-16 BOM then a lone surrogate
def test_normalize_text_on_any_bytes(config: PipelineConfig, raw: bytes) -> None:
    check_output(raw, config)


@SETTINGS
@given(text=st.one_of(st.text(), NEWSY))
@example(text="\x8d")  # found by hypothesis: ftfy explained a no-op fix_c1_controls step
@example(text="\u0392\x0b\x81")  # found by hypothesis: lines were split at \x0b
@example(text="<\r&ap;")  # found by hypothesis: a lone \r joined two lines for ftfy
def test_fix_unicode_is_idempotent(text: str) -> None:
    options = PROFILES["default"].unicode_fix
    once = fix_unicode(text, options)
    twice = fix_unicode(once.text, options)
    assert twice.text == once.text
    assert twice.fixes == ()


@SETTINGS
@given(text=st.text())
def test_lowercase_is_idempotent(text: str) -> None:
    once = lowercase(text)
    assert lowercase(once) == once


@SETTINGS
@given(lines=st.lists(st.text(alphabet=st.characters(exclude_characters="\n"), min_size=1)))
def test_paragraph_layout_preserves_line_count(lines: list[str]) -> None:
    out = layout(lines, "paragraphs")
    assert (out.count("\n") + 1 if lines else 0) == len(lines)
    assert (out.split("\n") if lines else []) == lines
