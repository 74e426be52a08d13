"""tasks/io/footprint.py: one type for the paths an article may write under DEST."""

from __future__ import annotations

from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from newsprep.tasks.io.footprint import Footprint, with_companions
from newsprep.tasks.io.sinks import quarantine

LONG = "n" * 250 + ".txt"  # a legal name that the .reason.json suffix makes too long


def test_the_paths_of_an_article() -> None:
    footprint = Footprint("world/a.story")
    assert footprint.paths() == [
        "world/a.story",
        "world/a.story.highlights",
        "_quarantine/world/a.story",
        "_quarantine/world/a.story.reason.json",
    ]
    assert footprint.claims() == [
        "world/a.story", "world/a.story.reason.json", "world/a.story.highlights"
    ]
    assert Footprint("a.txt", has_highlights=False).claims() == ["a.txt", "a.txt.reason.json"]


@pytest.mark.parametrize("article_id", ["a.txt", f"deep/{LONG}", LONG])
def test_the_quarantine_writes_the_footprint_and_a_record_finds_it_again(
    tmp_path: Path, article_id: str
) -> None:
    """What the sink writes is what the footprint says, and what a later run removes for
    the recorded quarantine path (with_companions) is the same pair of files, also when
    the reason's name had to be shortened."""
    recorded = quarantine(LocalFileSystem(), str(tmp_path), article_id, b"raw", {"id": article_id})
    footprint = Footprint(article_id)
    written = sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()
    )
    assert recorded == footprint.quarantine
    assert written == sorted([footprint.quarantine, footprint.quarantine_reason])
    assert with_companions(recorded) == [footprint.quarantine, footprint.quarantine_reason]
    assert (tmp_path / footprint.quarantine).read_bytes() == b"raw"
    if article_id.endswith(LONG):
        assert len(Path(footprint.quarantine_reason).name.encode()) <= 255


def test_an_output_has_no_companions() -> None:
    assert with_companions("world/a.txt") == ["world/a.txt"]
