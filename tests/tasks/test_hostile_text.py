"""Issue #19, the text classes: line separators that glued words (13), invisible
characters in the text and in names (14), and `max_line_chars` bounding the lines the
tokenizer sees (6). Expected texts are written out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from source_files import write

from newsprep.config import PROFILES, resolve_pipeline
from newsprep.errors import Rejected
from newsprep.run.engine.batch import Job, process_batch
from newsprep.run.ledger.index import RunIndex
from newsprep.run.retry import RetryPolicy
from newsprep.tasks.io.listing import iter_articles, list_source
from newsprep.tasks.stages.normalize import normalize_text

NEWS = "The city council approved the new budget on Tuesday after a long debate.\n"


# -- 13. a line separator is a line break ------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "cnndm", "moses"])
@pytest.mark.parametrize(
    "separator",
    ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
    ids=["VT", "FF", "FS", "GS", "RS", "NEL", "LS", "PS"],
)
def test_a_line_separator_between_lines_is_a_line_break(profile: str, separator: str) -> None:
    config = PROFILES[profile]
    text = f"Protesters gathered near the group.{separator}The police kept watch all night.\n"
    with_newline = text.replace(separator, "\n")
    result = normalize_text(text.encode(), config)
    assert result.text == normalize_text(with_newline.encode(), config).text
    assert "group.the" not in result.text and "\u2026" not in result.text
    assert "separators_to_line_breaks" in result.fixes


def test_separators_become_lines_in_the_default_layout() -> None:
    text = "One line here.\x0bTwo lines here.\x1cThree\x1dFour\x1eFive\u0085Six lines here.\n"
    result = normalize_text(text.encode(), PROFILES["default"])
    assert result.text == (
        "one line here .\ntwo lines here .\nthree\nfour\nfive\nsix lines here .\n"
    )


def test_a_nel_inside_latin1_mojibake_is_still_repaired() -> None:
    # "Åland" in UTF-8 (C3 85) read as Latin-1 is "Ã\x85land": mojibake, not a line break
    raw = "The \u00c3\u0085land Islands held a vote on Sunday evening.\n".encode()
    assert normalize_text(raw, PROFILES["default"]).text == (
        "the \u00e5land islands held a vote on sunday evening .\n"
    )


# -- 6. max_line_chars bounds what the tokenizer sees ------------------------------------


def test_lines_the_unicode_fix_lengthens_past_max_line_chars_are_rejected() -> None:
    config = resolve_pipeline("default", {"fetch.max_line_chars": 50})
    ligatures = "\ufb03" * 40  # 40 characters read, 120 once "ffi" (fix_latin_ligatures)
    with pytest.raises(Rejected) as rejected:
        normalize_text(f"{ligatures}\n".encode(), config)
    assert rejected.value.reason == "line-too-long"
    assert "a line of 120 characters" in rejected.value.detail


@pytest.mark.parametrize("separator", ["\x0b", "\x1c", "\x1d", "\x1e", "\x85"])
def test_lines_split_by_a_separator_stay_split_for_the_tokenizer(separator: str) -> None:
    config = resolve_pipeline("default", {"fetch.max_line_chars": 50})
    half = "word " * 8  # 40 characters: each half passes the check, both do not
    result = normalize_text(f"{half}{separator}{half}\n".encode(), config)
    assert result.text == "word word word word word word word word\n" * 2


# -- 14. invisible characters --------------------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "cnndm", "moses"])
def test_invisible_characters_are_removed_and_recorded(profile: str) -> None:
    config = PROFILES[profile]
    hidden = (
        "The pass\u200b\u200b\u2060word was a se\u00adcret of the\U000e0041\U000e0042 "
        "mayor\ufffe and his staff\uffff for a long time.\n"
    )
    plain = "The password was a secret of the mayor and his staff for a long time.\n"
    result = normalize_text(hidden.encode("utf-8", "surrogatepass"), config)
    assert result.text == normalize_text(plain.encode(), config).text
    assert "remove_invisible_characters" in result.fixes
    assert "remove_invisible_characters" not in normalize_text(plain.encode(), config).fixes


def test_invisible_characters_are_removed_from_highlights() -> None:
    story = "Body text of the story is here.\n\n@highlight\n\nA se\u00adcret \U000e0020point\n"
    result = normalize_text(story.encode(), PROFILES["default"], "story")
    assert result.highlights == "a secret point\n"
    assert "remove_invisible_characters" in result.fixes


def test_one_zero_width_space_stays_as_tokenizer_perl_keeps_it() -> None:
    text = "Tokyo\u200b shares rose on Monday morning.\n"
    result = normalize_text(text.encode(), PROFILES["moses"])
    assert result.text == "tokyo \u200b shares rose on monday morning .\n"
    assert result.fixes == ()


@pytest.mark.parametrize(
    "name", ["report\u202etxt.exe.txt", "se\u00adcret.txt", "tag\U000e0041.txt", "a\u200bb.txt"]
)
def test_a_name_with_an_invisible_or_reordering_character_is_not_an_output_name(
    tmp_path: Path, name: str
) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    write(src / name, NEWS.encode())
    write(src / "plain.txt", NEWS.encode())
    config = PROFILES["default"]
    listing = list_source(str(src), str(dest), config, RunIndex())
    refs = list(iter_articles(listing, config, None))
    job = Job(source_root=listing.root, dest_root=str(dest), pipeline=config,
              retry=RetryPolicy(1, 0.0), checkpoint_dir=str(tmp_path / "checkpoints"))
    records = {record.source.rpartition("/")[2]: record for record in process_batch(refs, 0, job)}
    bad = records[name]
    assert (bad.status, bad.reason) == ("rejected", "unsafe-id")
    assert bad.id.startswith("_unsafe/") and bad.id.isprintable()
    assert records["plain.txt"].status == "ok"
    written = [p.name for p in dest.rglob("*")]
    assert written and all(n.isprintable() and "\u00ad" not in n for n in written)
