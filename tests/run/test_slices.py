"""A large JSONL file cut into slices, each a shard (newsprep/run/slicing.py): the slices
write what the whole file's shard writes, line for line, for every kind of line (blank,
malformed, without an id, too large, an id taken by an earlier slice), and keep doing
so as the file is read again unchanged, grown at its end, or edited in the middle."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import pytest
from jsonl_lines import STORY, hostile_lines
from shard_run import run_sharded

import newsprep.run.slicing as slicing
from newsprep.config import PipelineConfig
from newsprep.run.ledger.reader import read_records
from newsprep.run.planning import plan_shards

SLICE = 4096  # the smallest slice_bytes: the file below is cut into about 15 slices
WHOLE = 10**9  # never cut


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def corpus(dest: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*"))
        if p.is_file() and p.relative_to(dest).parts[0] not in ("_ledger", "_run.json")
    }


def records(dest: Path) -> dict[str, dict]:
    """DEST's records by id; `skipped` read as `ok`, as an addition keeps it (parts.py)."""
    found = {}
    for record in read_records(str(dest)):
        row = record.to_dict()
        if row["status"] == "skipped":
            row["status"] = "ok"
        row.pop("attempts")
        found[record.id] = row
    return found


def run_both(src: Path, root: Path, **options: object) -> tuple[object, object]:
    """The same source into DEST `whole` (one shard for the file) and `cut` (slices)."""
    whole = run_sharded(src, root / "whole", slice_bytes=WHOLE, **options)
    cut = run_sharded(src, root / "cut", slice_bytes=SLICE, **options)
    return whole, cut


def assert_same(root: Path) -> None:
    whole, cut = root / "whole", root / "cut"
    assert corpus(cut) == corpus(whole)
    assert records(cut) == records(whole)
    for record in records(cut).values():  # every file a record names is there
        for field in ("output", "highlights", "quarantine"):
            if record.get(field):
                assert (cut / record[field]).is_file(), record


def the_cut(dest: Path) -> slicing.SliceCut:
    cut = slicing.SliceCut.from_bytes(
        (dest / "_ledger" / "file=feeds%2Fbig.jsonl.slices").read_bytes()
    )
    assert cut is not None
    return cut


def slice_parts(dest: Path) -> list[str]:
    return sorted(p.name for p in (dest / "_ledger").glob("slice=*.jsonl"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_lines(src / "feeds" / "big.jsonl", hostile_lines(400))
    write_lines(src / "feeds" / "small.jsonl", hostile_lines(5, seed=2))
    (src / "feeds" / "note.txt").write_text(STORY.format("note"))
    return src


def test_a_large_jsonl_file_is_cut_and_its_slices_write_what_the_whole_file_does(
    source: Path, tmp_path: Path
) -> None:
    plan = plan_shards(str(source), str(tmp_path / "plan"), PipelineConfig(), slice_bytes=SLICE)
    slices = [shard for shard in plan.shards if shard.kind == "slice"]
    assert len(slices) > 5
    assert {shard.path for shard in slices} == {"feeds/big.jsonl"}
    assert "file:feeds/small.jsonl" in plan.keys  # smaller than a slice: one shard
    assert [s.part.start for s in slices] == sorted(s.part.start for s in slices)
    assert all(a.part.end == b.part.start for a, b in itertools.pairwise(slices))
    assert slices[-1].part.end == (source / "feeds" / "big.jsonl").stat().st_size
    lines = (source / "feeds" / "big.jsonl").read_bytes().split(b"\n")
    assert sum(s.part.articles for s in slices) == sum(1 for line in lines if line.strip())
    assert any(s.part.renamed for s in slices[1:])  # ids taken in an earlier slice

    whole, cut = run_both(source, tmp_path)

    assert_same(tmp_path)
    assert cut.shards == whole.shards + len(slices) - 1
    assert len(slice_parts(tmp_path / "cut")) == len(slices)
    reasons = {r["reason"] for r in records(tmp_path / "cut").values()}
    assert {"duplicate-id", "malformed-jsonl"} <= reasons
    assert (tmp_path / "cut" / "_ledger" / "file=feeds%2Fbig.jsonl.slices").is_file()


def test_an_unchanged_file_is_not_read_to_be_cut_again(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sharded(source, tmp_path / "cut", slice_bytes=SLICE)
    reads = []
    passes = slicing.jsonl_articles
    monkeypatch.setattr(slicing, "jsonl_articles", lambda *a, **k: reads.append(a) or passes(
        *a, **k))

    again = run_sharded(source, tmp_path / "cut", slice_bytes=SLICE)

    assert reads == []
    assert again.changes["new"] == again.changes["changed"] == 0
    assert again.changes["skipped"] > 300


def test_lines_added_at_the_end_keep_the_slices_before(source: Path, tmp_path: Path) -> None:
    big = source / "feeds" / "big.jsonl"
    run_both(source, tmp_path)
    before = the_cut(tmp_path / "cut")
    parts_before = [p.name.removesuffix(".done.json")
                    for p in (tmp_path / "cut" / "_ledger").glob("slice=*.done.json")]
    with big.open("a") as file:  # new ids, a repeated one, and a line without an id
        file.write("\n".join(hostile_lines(80, seed=3, first=400)) + "\n")

    whole, cut = run_both(source, tmp_path)

    assert_same(tmp_path)
    assert cut.changes == whole.changes
    assert cut.changes["new"] > 0
    after = the_cut(tmp_path / "cut")
    assert after.slices[: len(before.slices) - 1] == before.slices[:-1]  # as they were
    grown = after.slices[len(before.slices) - 1]
    assert (grown.start, grown.name) == (before.slices[-1].start, before.slices[-1].name)
    assert grown.end > before.slices[-1].end
    assert len(after.slices) > len(before.slices)
    # every slice keeps its key, the grown one too: no part is read like a migration's
    names = {p.name for p in (tmp_path / "cut" / "_ledger").glob("slice=*.done.json")}
    assert {f"{n}.done.json" for n in parts_before} <= names


@pytest.mark.parametrize("edit", ["remove-lines", "insert-lines", "change-a-line"])
def test_a_file_edited_in_the_middle_loses_nothing(
    source: Path, tmp_path: Path, edit: str
) -> None:
    big = source / "feeds" / "big.jsonl"
    run_both(source, tmp_path)
    lines = big.read_text().split("\n")
    if edit == "remove-lines":
        del lines[20:60]  # ids move to other slices
    elif edit == "insert-lines":
        lines[30:30] = hostile_lines(40, seed=4, first=1000)
    else:
        lines[100] = json.dumps({"id": "a3", "text": "Now the id of an earlier line."})
    big.write_text("\n".join(lines))

    whole, cut = run_both(source, tmp_path, allow_removal=True)

    assert_same(tmp_path)
    assert cut.changes == whole.changes
    again = run_sharded(source, tmp_path / "cut", slice_bytes=SLICE)
    assert again.changes["new"] == again.changes["changed"] == 0
    assert_same(tmp_path)


def test_a_file_cut_before_and_read_whole_now_and_back(source: Path, tmp_path: Path) -> None:
    """slice_bytes raised past the file: its slices' parts are handed to its one shard,
    and lowered again: the one part to the slices; nothing is processed again."""
    run_both(source, tmp_path)
    for size in (WHOLE, SLICE):
        summary = run_sharded(source, tmp_path / "cut", slice_bytes=size)
        assert summary.changes["new"] == summary.changes["changed"] == 0
        assert corpus(tmp_path / "cut") == corpus(tmp_path / "whole")
        assert records(tmp_path / "cut") == records(tmp_path / "whole")
    assert slice_parts(tmp_path / "cut")


def test_a_file_that_is_gone_takes_its_slices_and_cut_with_it(
    source: Path, tmp_path: Path
) -> None:
    run_both(source, tmp_path)
    (source / "feeds" / "big.jsonl").unlink()

    run_both(source, tmp_path, allow_removal=True)

    assert_same(tmp_path)
    assert slice_parts(tmp_path / "cut") == []
    assert not list((tmp_path / "cut" / "_ledger").glob("*.slices"))
    assert not (tmp_path / "cut" / "feeds" / "big").exists()


def test_a_file_that_is_not_jsonl_is_not_cut(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    noise = random.Random(5).randbytes(9000).replace(b"\n", b" ")
    (src / "dump.jsonl").write_bytes(b"\n".join(noise[i : i + 90] for i in range(0, 9000, 90)))

    whole, cut = run_both(src, tmp_path)

    assert_same(tmp_path)
    assert cut.shards == whole.shards == 1
    assert [r["reason"] for r in records(tmp_path / "cut").values()] == ["not-jsonl"]
    # what was found is kept: the file is not read again to be cut while it is the same
    stored = slicing.SliceCut.from_bytes(
        (tmp_path / "cut" / "_ledger" / "file=dump.jsonl.slices").read_bytes()
    )
    assert stored is not None and stored.slices == ()


def test_a_single_file_source_is_cut_too(source: Path, tmp_path: Path) -> None:
    big = source / "feeds" / "big.jsonl"
    _whole, cut = run_both(big, tmp_path)
    assert_same(tmp_path)
    assert cut.shards > 5


def test_the_shrinking_of_a_cut_file_is_guarded(source: Path, tmp_path: Path) -> None:
    """A cut file's articles are counted before its shards run: a file cut short by
    most of its lines removes nothing (the whole file's shard cannot know)."""
    big = source / "feeds" / "big.jsonl"
    run_sharded(source, tmp_path / "cut", slice_bytes=SLICE)
    big.write_text("\n".join(big.read_text().split("\n")[:40]) + "\n")

    summary = run_sharded(source, tmp_path / "cut", slice_bytes=SLICE)

    assert summary.removal_refused
    assert len(records(tmp_path / "cut")) > 300
    shutil.rmtree(source)


def test_a_run_of_slices_knows_its_total_up_front(source: Path, tmp_path: Path) -> None:
    """Progress shows done of a total when every shard's count is known: the cut counts
    a large file's lines (a JSONL file read whole is counted only as its shard reads it)."""
    import logging

    from newsprep.config import RunConfig, RunOptions
    from newsprep.run.sharded import ShardedSession

    (source / "feeds" / "small.jsonl").unlink()
    lines = (source / "feeds" / "big.jsonl").read_bytes().split(b"\n")
    expected = sum(1 for line in lines if line.strip()) + 1  # and note.txt
    totals = {}
    for size in (SLICE, WHOLE):
        config = RunConfig(source=str(source), dest=str(tmp_path / f"out-{size}"),
                           options=RunOptions(slice_bytes=size))
        with ShardedSession(config, logging.getLogger("test")) as session:
            plan = plan_shards(config.source, config.dest, session.pipeline, slice_bytes=size)
            session.plan_shards(plan, on_progress=lambda percent, line: None)
            totals[size] = session.progress.total
    assert totals == {SLICE: expected, WHOLE: None}


def test_the_cut_of_a_file_with_a_long_name_goes_with_the_file(tmp_path: Path) -> None:
    """A path too long for a part's file name is hashed; its cut is still found (by the
    path it holds) and removed with the file."""
    src = tmp_path / "src"
    name = "a-very-long-feed-name-" * 10 + ".jsonl"
    write_lines(src / name, hostile_lines(200))
    write_lines(src / "other.jsonl", hostile_lines(3, seed=9))
    run_sharded(src, tmp_path / "cut", slice_bytes=SLICE)
    cuts = list((tmp_path / "cut" / "_ledger").glob("h-*.slices"))
    assert len(cuts) == 1

    (src / name).unlink()
    run_sharded(src, tmp_path / "cut", slice_bytes=SLICE, allow_removal=True)

    assert not list((tmp_path / "cut" / "_ledger").glob("*.slices"))
    assert set(records(tmp_path / "cut")) == {r for r in records(tmp_path / "cut")
                                               if r.startswith("other/")}
