"""The `cnndm` profile against the published CNN/DailyMail file for the same article.

The reference was made by another pipeline, so it is not byte-identical to ours. The only
differences allowed are listed here, one by one; anything else is a regression.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from conftest import GOLDEN_CNNDM

from newsprep.config import PROFILES, resolve_pipeline
from newsprep.tasks.stages.normalize import normalize_text

# (reference line, opcode tag, our tokens, reference tokens, up to 2 tokens before and after;
#  a line break is the token "\n")
# The reference writes "chinese" where the source says "China" (three times) and drops
# "chunxian" from "Zhang Chunxian" once. Nothing else may differ.
ALLOWED = [
    (0, "replace", ["china"], ["chinese"], ["beijing"], ["has", "linked"]),
    (2, "delete", ["chunxian"], [], ["said", "zhang"], ["on", "the"]),
    (2, "replace", ["china"], ["chinese"], ["session", "of"], ["'s", "rubber"]),
    (6, "replace", ["china"], ["chinese"], ["state", "\n"], ["'s", "state"]),
]

# The same four edits as whole-line substitutions: (line, ours, reference).
LINE_EDITS = [
    (0, "beijing china has linked", "beijing chinese has linked"),
    (2, "said zhang chunxian on", "said zhang on"),
    (2, "session of china 's", "session of chinese 's"),
    (6, "china 's state media", "chinese 's state media"),
]


@pytest.fixture(scope="module")
def reference() -> str:
    if not GOLDEN_CNNDM.exists():
        pytest.fail(f"the golden target is missing: {GOLDEN_CNNDM}")
    return GOLDEN_CNNDM.read_text(encoding="utf-8")


@pytest.fixture(params=["sacremoses", "fast"])
def ours(request: pytest.FixtureRequest, golden_raw: Path) -> str:
    """The cnndm output with either tokenizer engine: both must meet the reference."""
    pipeline = resolve_pipeline("cnndm", {"tokenize.engine": request.param})
    return normalize_text(golden_raw.read_bytes(), pipeline).text


def _tokens(text: str) -> list[str]:
    """Whitespace tokens, with each line break kept as a "\\n" token (line context)."""
    out: list[str] = []
    for number, line in enumerate(text.strip("\n").split("\n")):
        if number:
            out.append("\n")
        out.extend(line.split())
    return out


def test_tokens_differ_only_by_the_listed_edits(ours: str, reference: str) -> None:
    a, b = _tokens(ours), _tokens(reference)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    found = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        line = b[:j1].count("\n")
        before, after = a[max(0, i1 - 2) : i1], a[i2 : i2 + 2]
        found.append((line, tag, a[i1:i2], b[j1:j2], before, after))
    assert found == ALLOWED


def test_line_structure_matches_after_the_listed_edits(ours: str, reference: str) -> None:
    # The golden file has no final newline; our output files end with exactly one.
    assert ours.endswith("\n")
    assert not ours.endswith("\n\n")
    assert not reference.endswith("\n")
    lines = ours[:-1].split("\n")
    ref_lines = reference.split("\n")
    assert len(lines) == len(ref_lines) == 15
    for number, mine, theirs in LINE_EDITS:
        assert lines[number].count(mine) == 1, (number, mine)
        lines[number] = lines[number].replace(mine, theirs)
    assert lines == ref_lines


def test_no_fixes_recorded_for_clean_ascii_source(golden_raw: Path) -> None:
    # The raw article is plain ASCII with \n line ends: nothing to decode or repair.
    assert normalize_text(golden_raw.read_bytes(), PROFILES["cnndm"]).fixes == ()


def test_the_clones_golden_pair_is_the_reference() -> None:
    """tests/golden/ holds copies of the reference pair; where the originals sit beside the
    clone (../shared/golden/), the copies must still be byte-identical to them."""
    from conftest import GOLDEN, SHARED_GOLDEN

    if not SHARED_GOLDEN.is_dir():
        pytest.skip(f"no reference pair beside the clone ({SHARED_GOLDEN}) to compare with")
    for original in sorted(SHARED_GOLDEN.glob("cnn-xinjiang.*.txt")):
        assert (GOLDEN / original.name).read_bytes() == original.read_bytes(), original.name
