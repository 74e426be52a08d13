"""Runs by shards, in this process (tests/shard_run.py): the planning, a shard's worker
end to end, the ledger in parts, and what the flow keeps global (the removal guard, the
parts of shards that are gone or cut differently, a DEST of the single manifest)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from archives import build_tar
from session_run import run_session
from shard_run import run_sharded

from newsprep.config import PipelineConfig
from newsprep.run.ledger.parts import Done, PartPaths
from newsprep.run.ledger.reader import ledger_files, read_records
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.planning import plan_shards

STORY = "Story {}: the council met on Monday and voted for the new road to the port.\n"


def make_source(root: Path, folders: str = "abc", per_folder: int = 3) -> Path:
    src = root / "src"
    for folder in folders:
        for number in range(per_folder):
            path = src / folder / f"{number}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(STORY.format(f"{folder}{number}"))
    (src / "feed.jsonl").write_text(
        json.dumps({"id": "x", "text": STORY.format("x")}) + "\n"
        + json.dumps({"id": "y", "text": STORY.format("y")}) + "\n"
    )
    return src


def records(dest: Path) -> dict[str, dict]:
    return {record.id: record.to_dict() for record in read_records(str(dest))}


def corpus(dest: Path) -> dict[str, bytes]:
    """DEST's files but the run's own bookkeeping."""
    return {
        str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*"))
        if p.is_file() and p.relative_to(dest).parts[0] not in ("_ledger", "_run.json")
    }


def ledger_state(dest: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted((dest / "_ledger").iterdir())
    }


def test_the_source_is_cut_into_folders_and_containers(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    (src / ".hidden").mkdir()
    (src / ".hidden" / "1.txt").write_text(STORY)
    (src / "a" / "deeper").mkdir()
    (src / "a" / "deeper" / "d.txt").write_text(STORY)
    (src / "notes.md").write_text("not an article")
    plan = plan_shards(str(src), str(tmp_path / "out"), PipelineConfig())
    assert [shard.key for shard in plan.shards] == [
        "file:feed.jsonl", "folder:", "folder:a", "folder:a/deeper", "folder:b", "folder:c",
    ]
    assert plan.files == 11  # ten text files and the JSONL file; notes.md is not counted


def test_dest_inside_the_source_is_not_a_shard(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    plan = plan_shards(str(src), str(src / "b"), PipelineConfig())
    assert "folder:b" not in plan.keys and "folder:a" in plan.keys


@pytest.mark.parametrize(
    ("names", "collide"),
    [
        (["x.jsonl", "x/1.txt"], True),  # x.jsonl's ids are x/<id>.txt, as x/'s files
        (["x.jsonl", "x.jsonl.gz"], True),
        (["x.txt.jsonl", "x.txt"], True),  # the JSONL's ids under x.txt/, a file x.txt
        (["x.txt.highlights/1.txt", "x.txt"], True),  # a folder where a sidecar goes
        (["x.jsonl", "y/1.txt", "z.txt"], False),
    ],
)
def test_names_that_two_shards_would_write_make_the_folder_one_tree(
    tmp_path: Path, names: list[str], collide: bool
) -> None:
    src = tmp_path / "src"
    for name in names:
        (src / "top" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "top" / name).write_text(STORY)
    keys = plan_shards(str(src), str(tmp_path / "out"), PipelineConfig()).keys
    assert ("tree:top" in keys) == collide
    assert not any(key.startswith(("folder:top/", "file:top/")) for key in keys) or not collide


def test_a_run_by_shards_writes_what_a_run_by_batches_writes(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    (src / "b" / "bad.txt").write_bytes(b"\x00\x01binary\xff" * 50)
    by_shards = run_sharded(src, tmp_path / "shards", workers=1)
    by_batches = run_session(src, tmp_path / "batches", workers=1)
    assert by_shards.counts == by_batches.counts == {
        "ok": 11, "rejected": 1, "failed": 0, "skipped": 0
    }
    assert corpus(tmp_path / "shards") == corpus(tmp_path / "batches")
    assert records(tmp_path / "shards") == records(tmp_path / "batches")
    parts = sorted(Path(url.removeprefix("file://")).name for url in ledger_files(
        str(tmp_path / "shards")))
    assert parts == [
        "file=feed.jsonl.jsonl", "folder=a.jsonl", "folder=b.jsonl", "folder=c.jsonl"
    ]
    lines = sum(
        len((tmp_path / "shards" / "_ledger" / part).read_text().splitlines()) for part in parts
    )
    assert lines == len(records(tmp_path / "shards")), "each article in one part"
    done = Done.from_bytes((tmp_path / "shards" / PartPaths.of("folder:b").done).read_bytes())
    assert done is not None and done.records == 4 and done.settled


def test_an_unchanged_rerun_rewrites_no_part(tmp_path: Path) -> None:
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    before, files = ledger_state(dest), corpus(dest)
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 11}
    assert summary.counts["skipped"] == 11
    assert ledger_state(dest) == before
    assert corpus(dest) == files


GLOB_NAMES = ("a[1].txt", "a1.txt", "b*.txt", "c?.txt", "f[1]/0.txt", "f1/0.txt")


@pytest.mark.parametrize("run", [run_sharded, run_session], ids=["shards", "batches"])
def test_glob_characters_in_dest_and_in_names_are_taken_literally(tmp_path: Path, run) -> None:
    """fsspec's cat and rm take a path holding `[`, `]`, `*` or `?` for a pattern: a
    second run into DEST `D12[y]` crashed reading the markers (FileNotFoundError)."""
    src, dest = tmp_path / "src", tmp_path / "D12[y]"
    for number, name in enumerate(GLOB_NAMES):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(STORY.format(number))
    assert run(src, dest, workers=1).counts["ok"] == len(GLOB_NAMES)
    files, before = corpus(dest), ledger_state(dest)
    assert sorted(files) == sorted(GLOB_NAMES)

    again = run(src, dest, workers=1)
    assert again.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": len(GLOB_NAMES)}
    assert corpus(dest) == files
    if run is run_sharded:
        assert ledger_state(dest) == before, "every shard skipped whole"

    (src / "a[1].txt").unlink()
    shutil.rmtree(src / "f[1]")
    gone = run(src, dest, workers=1)
    assert (gone.removed_articles, gone.removed_files) == (2, 2)
    assert corpus(dest) == {k: v for k, v in files.items() if k not in ("a[1].txt", "f[1]/0.txt")}
    assert sorted(records(dest)) == sorted(set(GLOB_NAMES) - {"a[1].txt", "f[1]/0.txt"})


def test_new_articles_are_an_addition_beside_their_shards_part(tmp_path: Path) -> None:
    """Issue 22: a rerun whose only change is new articles writes their records beside
    the part (its bytes untouched), and the reader gives every article once."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    before = ledger_state(dest)
    (src / "b" / "9.txt").write_text(STORY.format("new"))
    (src / "b" / "7.txt").write_text(STORY.format("newer"))
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 2, "changed": 0, "retried": 0, "skipped": 11}
    after = ledger_state(dest)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"folder=b+1.jsonl", "folder=b.done.json"}
    added = [json.loads(line) for line in (dest / "_ledger" / "folder=b+1.jsonl").open()]
    assert [(r["id"], r["status"]) for r in added] == [("b/7.txt", "ok"), ("b/9.txt", "ok")]
    assert (dest / "b" / "9.txt").exists()
    done = Done.from_bytes((dest / "_ledger" / "folder=b.done.json").read_bytes())
    assert done.records == 5 and [count for _, count in done.additions] == [2]
    assert sorted(records(dest)) == sorted(records(_clean_run(src, tmp_path)))
    assert corpus(dest) == corpus(tmp_path / "clean")

    unchanged = ledger_state(dest)
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 13}
    assert ledger_state(dest) == unchanged, "skipped whole, additions and all"


def _with_an_addition(tmp_path: Path) -> tuple[Path, Path]:
    """SOURCE and DEST after a run, and a rerun with one new article in folder b (an
    addition beside its part)."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    (src / "b" / "9.txt").write_text(STORY.format("new"))
    run_sharded(src, dest, workers=1)
    assert (dest / "_ledger" / "folder=b+1.jsonl").exists()
    return src, dest


def test_a_change_writes_a_part_and_its_additions_as_one_part_again(tmp_path: Path) -> None:
    src, dest = _with_an_addition(tmp_path)
    (src / "b" / "0.txt").write_text(STORY.format("edited"))
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 1, "retried": 0, "skipped": 11}
    assert not (dest / "_ledger" / "folder=b+1.jsonl").exists()
    part = [json.loads(line) for line in (dest / "_ledger" / "folder=b.jsonl").open()]
    assert [r["id"] for r in part] == ["b/0.txt", "b/1.txt", "b/2.txt", "b/9.txt"]
    assert Done.from_bytes((dest / "_ledger" / "folder=b.done.json").read_bytes()).additions == ()
    assert sorted(records(dest)) == sorted(records(_clean_run(src, tmp_path)))
    assert corpus(dest) == corpus(tmp_path / "clean")


def test_past_the_most_additions_the_part_is_written_whole(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("newsprep.run.engine.shard.MAX_ADDITIONS", 2)
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    ledger = dest / "_ledger"
    for number in (7, 8):
        (src / "b" / f"{number}.txt").write_text(STORY.format(f"new{number}"))
        run_sharded(src, dest, workers=1)
    assert sorted(p.name for p in ledger.glob("folder=b*.jsonl")) == [
        "folder=b+1.jsonl", "folder=b+2.jsonl", "folder=b.jsonl"
    ]
    (src / "b" / "9.txt").write_text(STORY.format("new9"))
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes["new"] == 1
    assert sorted(p.name for p in ledger.glob("folder=b*.jsonl")) == ["folder=b.jsonl"]
    assert len((ledger / "folder=b.jsonl").read_text().splitlines()) == 6
    assert sorted(records(dest)) == sorted(records(_clean_run(src, tmp_path)))


def test_additions_that_would_outgrow_their_part_are_folded_into_it(tmp_path: Path) -> None:
    src, dest = make_source(tmp_path), tmp_path / "out"  # 3 articles a folder
    run_sharded(src, dest, workers=1)
    ledger = dest / "_ledger"
    for number in (7, 8, 9):
        (src / "b" / f"{number}.txt").write_text(STORY.format(f"new{number}"))
    run_sharded(src, dest, workers=1)
    assert sorted(p.name for p in ledger.glob("folder=b*.jsonl")) == [
        "folder=b+1.jsonl", "folder=b.jsonl"
    ]
    (src / "b" / "6.txt").write_text(STORY.format("new6"))  # 4 added against 3
    run_sharded(src, dest, workers=1)
    assert sorted(p.name for p in ledger.glob("folder=b*.jsonl")) == ["folder=b.jsonl"]
    assert len((ledger / "folder=b.jsonl").read_text().splitlines()) == 7
    assert sorted(records(dest)) == sorted(records(_clean_run(src, tmp_path)))


def test_an_addition_without_its_marker_is_read_and_folded_in(tmp_path: Path) -> None:
    """A run killed after it wrote an addition, before the marker: the next run reads
    the part and its additions, processes nothing again, and writes them as one part."""
    src, dest = _with_an_addition(tmp_path)
    (dest / "_ledger" / "folder=b.done.json").unlink()
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 12}
    assert sorted(p.name for p in (dest / "_ledger").glob("folder=b*.jsonl")) == [
        "folder=b.jsonl"
    ]
    assert sorted(records(dest)) == sorted(records(_clean_run(src, tmp_path)))


def test_an_addition_lost_beside_its_marker_is_made_again(tmp_path: Path) -> None:
    src, dest = _with_an_addition(tmp_path)
    (dest / "_ledger" / "folder=b+1.jsonl").unlink()
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 1, "changed": 0, "retried": 0, "skipped": 11}
    assert "b/9.txt" in records(dest)
    assert sorted(records(dest)) == sorted(records(_clean_run(src, tmp_path)))


def test_a_gone_folder_takes_its_additions_and_their_outputs_along(tmp_path: Path) -> None:
    src, dest = make_source(tmp_path, folders="abcd"), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    (src / "c" / "9.txt").write_text(STORY.format("new"))
    run_sharded(src, dest, workers=1)
    assert (dest / "_ledger" / "folder=c+1.jsonl").exists()
    shutil.rmtree(src / "c")
    summary = run_sharded(src, dest, workers=1)
    assert (summary.removed_articles, summary.removed_files) == (4, 4)
    assert not (dest / "c").exists()
    assert not list((dest / "_ledger").glob("folder=c*"))
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))


def test_an_output_deleted_from_dest_is_written_again(tmp_path: Path) -> None:
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    written = (dest / "a" / "1.txt").read_bytes()
    (dest / "a" / "1.txt").unlink()
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes["retried"] == 1
    assert (dest / "a" / "1.txt").read_bytes() == written


def test_a_quarantine_record_deleted_from_dest_is_written_again(tmp_path: Path) -> None:
    """The rejected article's `.reason.json` is gone from DEST (its copy is still there):
    the article is taken again, which writes both, as a clean run does."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    (src / "b" / "bad.txt").write_bytes(b"\x00\x01binary\xff" * 50)
    run_sharded(src, dest, workers=1)
    reason = dest / "_quarantine" / "b" / "bad.txt.reason.json"
    written = reason.read_bytes()
    reason.unlink()
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes["retried"] == 1
    assert reason.read_bytes() == written
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))


@pytest.mark.parametrize("run", [run_sharded, run_session], ids=["shards", "batches"])
def test_an_unchanged_article_that_moved_in_its_file_names_where_it_is_now(
    tmp_path: Path, run
) -> None:
    """A line inserted at the top of feed.jsonl: x and y are unchanged, skipped, and
    their records name the lines they are on now (2 and 3), as a clean run's do."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run(src, dest, workers=1)
    feed = src / "feed.jsonl"
    feed.write_text(json.dumps({"id": "w", "text": STORY.format("w")}) + "\n" + feed.read_text())
    summary = run(src, dest, workers=1)
    assert summary.changes == {"new": 1, "changed": 0, "retried": 0, "skipped": 11}
    sources = {k: r["source"] for k, r in records(dest).items() if k.startswith("feed/")}
    assert sources == {f"feed/{name}.txt": f"{feed.as_uri()}:{line}"
                       for line, name in enumerate("wxy", 1)}
    again = run(src, dest, workers=1)
    assert again.changes["skipped"] == 12
    assert {k: r["source"] for k, r in records(dest).items()} == {
        k: r["source"] for k, r in records(_clean_run(src, tmp_path)).items()
    }


@pytest.mark.parametrize("first, second", [
    ({}, {"validation.min_tokens": 30}), ({"validation.min_tokens": 30}, {}),
], ids=["now-rejected", "now-ok"])
@pytest.mark.parametrize("run", [run_sharded, run_session], ids=["shards", "batches"])
def test_files_written_before_their_records_go_when_their_articles_end_otherwise(
    tmp_path: Path, first: dict, second: dict, run
) -> None:
    """A run killed after writing articles' files, before it journaled their records (the
    batch in hand), then run again with other settings: an article now rejected (18
    tokens, fewer than 30) keeps no output of before, one now ok no quarantine copy; DEST
    holds what a clean run writes."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run(src, dest, first, workers=1)
    shutil.rmtree(dest / "_ledger")  # as if killed before any record was journaled
    run(src, dest, second, workers=1)
    clean = tmp_path / "clean"
    run(src, clean, second, workers=1)
    assert corpus(dest) == corpus(clean)


def test_a_gone_folder_takes_its_part_and_outputs_along(tmp_path: Path) -> None:
    src, dest = make_source(tmp_path, folders="abcd"), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    shutil.rmtree(src / "c")
    summary = run_sharded(src, dest, workers=1)
    assert (summary.removed_articles, summary.removed_files) == (3, 3)
    assert not (dest / "c").exists()
    assert not (dest / PartPaths.of("folder:c").records).exists()
    assert not (dest / PartPaths.of("folder:c").done).exists()
    assert not any(record_id.startswith("c/") for record_id in records(dest))
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))


def test_the_removal_guard_keeps_gone_shards_and_articles(tmp_path: Path) -> None:
    """Two of three folders gone (and an article of the third): more than half of DEST
    would go, so nothing goes; --allow-removal lets it."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    (src / "feed.jsonl").unlink()
    run_sharded(src, dest, workers=1)
    before_records, before_files = records(dest), corpus(dest)
    shutil.rmtree(src / "a")
    shutil.rmtree(src / "b")
    (src / "c" / "0.txt").unlink()
    refused = run_sharded(src, dest, workers=1)
    assert refused.removal_refused and "--allow-removal" in refused.removal_refused
    assert (refused.removed_articles, refused.removed_files) == (0, 0)
    assert refused.kept_gone == 3 + 3 + 1  # a/, b/ and c/0.txt: the summary says they stay
    assert corpus(dest) == before_files
    assert records(dest).keys() == before_records.keys()
    allowed = run_sharded(src, dest, workers=1, allow_removal=True)
    assert allowed.removal_refused is None and allowed.removed_articles == 7
    assert sorted(records(dest)) == ["c/1.txt", "c/2.txt"]
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))


def test_a_refused_removal_by_batches_counts_the_articles_it_kept(tmp_path: Path) -> None:
    """By batches (one ledger for DEST), as by shards: the articles gone from SOURCE whose
    records and files a refused removal kept are counted in the summary, not as 0 gone."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_session(src, dest, workers=1, task_unit="batch")
    shutil.rmtree(src / "a")
    shutil.rmtree(src / "b")
    refused = run_session(src, dest, workers=1, task_unit="batch")
    assert refused.removal_refused
    assert (refused.removed_articles, refused.kept_gone) == (0, 6)
    assert len(records(dest)) == 11


def _feed(src: Path, ids: range, archive: bool) -> None:
    """SOURCE's one container: `feed.jsonl`, or `feed.tar` of `.txt` members."""
    if archive:
        with tarfile.open(src / "feed.tar", "w") as tar:
            for number in ids:
                data = STORY.format(f"f{number}").encode()
                member = tarfile.TarInfo(f"{number}.txt")
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
        return
    (src / "feed.jsonl").write_text("".join(
        json.dumps({"id": f"{number}", "text": STORY.format(f"f{number}")}) + "\n"
        for number in ids
    ))


@pytest.mark.parametrize("archive", [False, True], ids=["jsonl", "tar"])
def test_a_container_that_lost_most_of_its_articles_keeps_them(
    tmp_path: Path, archive: bool
) -> None:
    """A JSONL file or archive cut short (a partial download) holds 2 of its 10 articles:
    its shard keeps the 8 and the run is refused, though DEST as a whole (20 articles in
    folders beside it) would shrink by less than half; one that lost 4 of 10 loses them.
    A container's articles are counted only as its shard reads it, so it is judged by
    itself."""
    src = make_source(tmp_path, folders="ab", per_folder=10)
    (src / "feed.jsonl").unlink()
    _feed(src, range(10), archive)
    dest = tmp_path / "out"
    run_sharded(src, dest, workers=1)
    before_records, before_files = records(dest), corpus(dest)
    assert len(before_records) == 30

    _feed(src, range(2), archive)
    for rerun in (1, 2):  # the kept articles are judged again, not taken as settled
        refused = run_sharded(src, dest, workers=1)
        assert refused.removal_refused, rerun
        assert "feed" in refused.removal_refused and "--allow-removal" in refused.removal_refused
        assert (refused.removed_articles, refused.removed_files) == (0, 0), rerun
        assert refused.kept_gone == 8, rerun
        assert corpus(dest) == before_files, rerun
        assert records(dest).keys() == before_records.keys(), rerun

    allowed = run_sharded(src, dest, workers=1, allow_removal=True)
    assert allowed.removal_refused is None and allowed.removed_articles == 8
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))

    _feed(src, range(10), archive)
    run_sharded(src, dest, workers=1)
    _feed(src, range(6), archive)
    shrunk = run_sharded(src, dest, workers=1)
    assert shrunk.removal_refused is None and shrunk.removed_articles == 4
    assert corpus(dest) == corpus(_clean_run(src, tmp_path / "again"))


def test_an_empty_source_removes_nothing(tmp_path: Path) -> None:
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    before = corpus(dest)
    shutil.rmtree(src)
    src.mkdir()
    summary = run_sharded(src, dest, workers=1)
    assert summary.removal_refused and "lists no file" in summary.removal_refused
    assert corpus(dest) == before and len(records(dest)) == 11


def test_a_dest_of_the_single_manifest_is_migrated(tmp_path: Path) -> None:
    """The ledger of a run by batches was one file, `_manifest.jsonl`, with the same record
    lines: a sharded run takes its records over (nothing is done again), removes what is
    gone, writes parts, and removes the old file."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_session(src, dest, workers=1)
    (dest / PartPaths.of("run:").records).rename(dest / "_manifest.jsonl")
    shutil.rmtree(dest / "_ledger")
    old = records(dest)
    assert len(old) == 11 and (dest / "_manifest.jsonl").exists()
    (src / "c" / "2.txt").unlink()
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 10}
    assert (summary.removed_articles, summary.removed_files) == (1, 1)
    assert not (dest / "_manifest.jsonl").exists()
    assert not (dest / "c" / "2.txt").exists()
    migrated = records(dest)
    assert migrated.keys() == old.keys() - {"c/2.txt"}
    assert all(migrated[k]["sha256"] == old[k]["sha256"] for k in migrated)
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))
    again = run_sharded(src, dest, workers=1)
    assert again.changes["skipped"] == 10 and again.removed_articles == 0


def test_shards_cut_differently_hand_their_records_over(tmp_path: Path) -> None:
    """A JSONL file `a.jsonl` beside folder `a/` makes the source one tree shard; when it
    goes, folders are shards again. Either way no article is done again, and only the
    JSONL file's articles are new, then gone."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    (src / "a.jsonl").write_text(json.dumps({"id": "z", "text": STORY.format("z")}) + "\n")
    tree = run_sharded(src, dest, workers=1)
    assert tree.shards == 1
    assert tree.changes == {"new": 1, "changed": 0, "retried": 0, "skipped": 11}
    assert tree.removed_articles == 0 and "a/z.txt" in records(dest)
    (src / "a.jsonl").unlink()
    folders = run_sharded(src, dest, workers=1)
    assert folders.shards == 4
    assert folders.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 11}
    assert (folders.removed_articles, folders.removed_files) == (1, 1)
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))
    assert sorted(p.name for p in (dest / "_ledger").iterdir() if p.suffix == ".jsonl") == [
        "file=feed.jsonl.jsonl", "folder=a.jsonl", "folder=b.jsonl", "folder=c.jsonl"
    ]


def _recompress(src: Path) -> None:
    (src / "feed.jsonl.gz").write_bytes(gzip.compress((src / "feed.jsonl").read_bytes()))
    (src / "feed.jsonl").unlink()


def _folder_to_jsonl(src: Path) -> None:
    lines = [json.dumps({"id": path.stem, "text": path.read_text()}) + "\n"
             for path in sorted((src / "a").iterdir())]
    shutil.rmtree(src / "a")
    (src / "a.jsonl").write_text("".join(lines))


def _jsonl_to_folder(src: Path) -> None:
    (src / "feed").mkdir()
    for line in (src / "feed.jsonl").read_text().splitlines():
        article = json.loads(line)
        (src / "feed" / f"{article['id']}.txt").write_text(article["text"])
    (src / "feed.jsonl").unlink()


@pytest.mark.parametrize("change", [_recompress, _folder_to_jsonl, _jsonl_to_folder])
def test_a_gone_shard_leaves_the_outputs_of_its_articles_new_shard(
    tmp_path: Path, change
) -> None:
    """feed.jsonl gzipped to feed.jsonl.gz, folder a/ made a.jsonl (or the reverse):
    the articles keep their ids under the new shard, which writes their files; the gone
    shard's part goes, not those files."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    change(src)
    summary = run_sharded(src, dest, workers=1)
    clean = _clean_run(src, tmp_path)
    assert corpus(dest) == corpus(clean)
    assert (summary.removed_articles, summary.removed_files) == (0, 0)
    assert {k: r["output"] for k, r in records(dest).items()} == {
        k: r["output"] for k, r in records(clean).items()
    }
    again = run_sharded(src, dest, workers=1)
    assert again.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 11}


def test_a_killed_shard_keeps_its_journal_and_is_redone_from_it(tmp_path: Path) -> None:
    """A shard's finished batches are journaled beside its part; a run killed before the
    part was written loses none of them (the next run reads the journal)."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    first = records(dest)
    part = PartPaths.of("folder:a")
    lines = (dest / part.records).read_text().splitlines(keepends=True)
    (dest / part.done).unlink()
    (dest / part.records).write_text("".join(lines[:1]))  # as if killed mid-shard
    (dest / part.journal).write_text("".join(lines[1:]))
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 11}
    assert not (dest / part.journal).exists() or not (dest / part.journal).read_text()
    assert {k: (r["output"], r["sha256"]) for k, r in records(dest).items()} == {
        k: (r["output"], r["sha256"]) for k, r in first.items()
    }
    assert (dest / part.done).exists()


def _clean_run(src: Path, tmp_path: Path) -> Path:
    clean = tmp_path / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    run_sharded(src, clean, workers=1)
    return clean


def test_dest_deep_inside_the_source_leaves_its_neighbours_in(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    (src / "b" / "runs").mkdir()
    keys = plan_shards(str(src), str(src / "b" / "runs" / "out"), PipelineConfig()).keys
    assert "folder:b" in keys


def test_a_shard_notes_its_progress_batch_by_batch(tmp_path: Path, monkeypatch) -> None:
    """The flow hears of a long shard before it ends: after a batch that ends past the
    note interval, the worker notes how many of its articles are done, in the run's local
    folder (here every batch: an interval of 0)."""
    import newsprep.run.engine.shard as shard_module
    from newsprep.run.engine.batch import Job
    from newsprep.run.ledger.parts import Shard

    monkeypatch.setattr(shard_module, "PROGRESS_NOTE_SECONDS", 0.0)
    src = make_source(tmp_path, folders="a", per_folder=5)
    notes = tmp_path / "progress"
    notes.mkdir()
    job = Job(source_root=str(src), dest_root=str(tmp_path / "out"), pipeline=PipelineConfig())
    seen: list[str] = []
    note = shard_module._note_progress

    def read_each_note(sjob: shard_module.ShardJob, paths: PartPaths, done: int) -> None:
        note(sjob, paths, done)
        seen.append((notes / paths.name).read_text())

    monkeypatch.setattr(shard_module, "_note_progress", read_each_note)
    sjob = shard_module.ShardJob(job, batch_size=2, progress_dir=str(notes))
    outcome = shard_module.run_shard(Shard("folder", "a"), sjob)
    assert outcome.articles == 5
    assert seen == ["2", "4", "5"]


def test_a_worker_notes_progress_at_most_once_an_interval(
    tmp_path: Path, monkeypatch
) -> None:
    """Short shards one after the other do not each create a note file: a worker notes
    the shard in hand only when PROGRESS_NOTE_SECONDS have passed since its last note
    (a clock that moves 0.4 s a call: of six one-batch shards, the 1st and the 4th)."""
    import types

    import newsprep.run.engine.shard as shard_module
    from newsprep.run.engine.batch import Job
    from newsprep.run.ledger.parts import Shard

    ticks = iter(100 + 0.4 * n for n in range(1000))
    monkeypatch.setattr(shard_module, "time", types.SimpleNamespace(monotonic=lambda: next(ticks)))
    monkeypatch.setattr(shard_module, "PROGRESS_NOTE_SECONDS", 1.0)
    monkeypatch.setattr(shard_module, "_noted_at", 0.0)
    src = make_source(tmp_path, folders="abcdef", per_folder=2)
    notes = tmp_path / "progress"
    notes.mkdir()
    job = Job(source_root=str(src), dest_root=str(tmp_path / "out"), pipeline=PipelineConfig())
    sjob = shard_module.ShardJob(job, progress_dir=str(notes))
    for folder in "abcdef":
        outcome = shard_module.run_shard(Shard("folder", folder), sjob)
        assert outcome.articles == 2 and outcome.batches == 1
    noted = sorted(path.name for path in notes.iterdir()
                   if path.suffix != shard_module.OUTCOME_SUFFIX)  # a finished shard's
    assert noted == [PartPaths.of("folder:a").name, PartPaths.of("folder:d").name]
    assert [(notes / name).read_text() for name in noted] == ["2", "2"]


@pytest.fixture
def small_shards(monkeypatch) -> int:
    """Folders of more than 3 files are cut into ranges of names."""
    import newsprep.run.planning as planning

    monkeypatch.setattr(planning, "SHARD_FILES", 3)
    return 3


def test_a_large_folder_is_cut_into_ranges_that_stay(tmp_path: Path, small_shards: int) -> None:
    src, dest = make_source(tmp_path, folders="a", per_folder=8), tmp_path / "out"
    (src / "feed.jsonl").unlink()
    summary = run_sharded(src, dest, workers=1)
    assert summary.shards == 3 and summary.counts["ok"] == 8
    keys = plan_shards(str(src), str(dest), PipelineConfig()).keys
    assert keys == {"range:a//", "range:a//3.txt", "range:a//6.txt"}
    assert records(dest) == records(_batch_run(src, tmp_path))
    before = ledger_state(dest)
    (src / "a" / "3b.txt").write_text(STORY.format("new"))  # between 3.txt and 4.txt
    again = run_sharded(src, dest, workers=1)
    assert again.changes == {"new": 1, "changed": 0, "retried": 0, "skipped": 8}
    after = ledger_state(dest)
    assert {name for name in after if after[name] != before.get(name)} == {
        "range=a%2F%2F3.txt+1.jsonl", "range=a%2F%2F3.txt.done.json"
    }


def test_a_range_grown_past_twice_its_size_is_cut_again_losing_nothing(
    tmp_path: Path, small_shards: int
) -> None:
    src, dest = make_source(tmp_path, folders="a", per_folder=4), tmp_path / "out"
    (src / "feed.jsonl").unlink()
    run_sharded(src, dest, workers=1)  # ranges from '' and from 3.txt
    first = records(dest)
    for letter in "abcdef":  # the range from 3.txt: 3.txt, 3a..3f: 7 names, over 2 x 3
        (src / "a" / f"3{letter}.txt").write_text(STORY.format(f"3{letter}"))
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 6, "changed": 0, "retried": 0, "skipped": 4}
    assert summary.removed_articles == 0
    keys = plan_shards(str(src), str(dest), PipelineConfig()).keys
    assert keys == {"range:a//", "range:a//3.txt", "range:a//3c.txt", "range:a//3f.txt"}
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))
    assert all(records(dest)[k]["sha256"] == r["sha256"] for k, r in first.items())
    assert run_sharded(src, dest, workers=1).changes["skipped"] == 10


def _batch_run(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / "batches"
    shutil.rmtree(out, ignore_errors=True)
    run_session(src, out, workers=1)
    return out


def test_small_shards_share_a_task_run_large_ones_have_their_own() -> None:
    from newsprep.run.ledger.parts import Shard
    from newsprep.run.sharded import GROUP_ARTICLES, group_shards

    shards = [Shard("folder", f"f{n:03d}") for n in range(30)] + [
        Shard("file", "big.jsonl"), Shard("folder", "huge"), Shard("file", "new.jsonl")
    ]
    sizes = {shard.key: GROUP_ARTICLES // 10 for shard in shards[:30]}
    sizes |= {"file:big.jsonl": 50 * GROUP_ARTICLES, "folder:huge": GROUP_ARTICLES,
              "file:new.jsonl": None}
    groups = group_shards(shards, sizes, workers=2)
    assert [len(group.shards) for group in groups] == [10, 10, 10, 1, 1, 1]
    assert [shard for group in groups for shard in group.shards] == shards
    assert groups[0].name == "shards folder:f000 .. folder:f009 (10)"
    assert groups[3].name == "shard file:big.jsonl"


def test_the_last_groups_of_a_run_are_smaller_so_the_workers_end_together() -> None:
    """Issue 21: 200 folders of 100 articles on 2 workers: groups of 4,000 articles
    (GROUP_ARTICLES, under half of each worker's share), then over the last group's worth
    per worker (8,000 articles) groups of 1,000; no shard twice, none left out."""
    from newsprep.run.ledger.parts import Shard
    from newsprep.run.sharded import group_shards

    shards = [Shard("folder", f"f{n:03d}") for n in range(200)]
    groups = group_shards(shards, {shard.key: 100 for shard in shards}, workers=2)
    sizes = [100 * len(group.shards) for group in groups]
    assert sizes == [4000] * 3 + [1000] * 8
    assert [shard for group in groups for shard in group.shards] == shards


def test_a_small_run_still_gives_every_worker_several_task_runs() -> None:
    from newsprep.run.ledger.parts import Shard
    from newsprep.run.sharded import GROUPS_PER_WORKER, group_shards

    shards = [Shard("folder", f"f{n}") for n in range(12)]
    groups = group_shards(shards, {shard.key: 4 for shard in shards}, workers=2)
    assert len(groups) >= GROUPS_PER_WORKER * 2 - 2
    assert [shard for group in groups for shard in group.shards] == shards


def test_a_group_that_keeps_crashing_leaves_each_shard_a_failed_item(tmp_path: Path) -> None:
    import logging

    from newsprep.config import RunOptions
    from newsprep.run.engine.batch import Job
    from newsprep.run.engine.shard import ShardGroup, ShardJob
    from newsprep.run.ledger.parts import Shard
    from newsprep.run.orchestration.executor import BatchExecutor, _Queue, shard_units
    from newsprep.run.retry import MAX_BATCH_CRASHES

    job = Job(source_root=str(tmp_path), dest_root=str(tmp_path / "out"),
              pipeline=PipelineConfig())
    group = ShardGroup((Shard("folder", "a"), Shard("folder", "b")))
    executor = BatchExecutor(RunOptions(runner="thread"), 1, "en", logging.getLogger("test"))
    queue, units = _Queue(iter([])), shard_units(ShardJob(job))
    for _ in range(1, MAX_BATCH_CRASHES):
        assert list(executor._crashed(group, RuntimeError("boom"), queue, units)) == []
        assert queue.take(1) == [group]
    (outcomes,) = executor._crashed(group, RuntimeError("boom"), queue, units)
    assert [(o.key, o.tally.statuses["failed"], dict(o.tally.reasons)) for o in outcomes] == [
        ("folder:a", 1, {"shard-crash": 1}), ("folder:b", 1, {"shard-crash": 1})
    ]


def test_a_shard_finished_before_its_group_crashed_counts_as_this_runs(
    tmp_path: Path, monkeypatch
) -> None:
    """The settings changed, and the worker dies in the second shard of a task run, after
    the first was written whole: the task run is run again, and the first shard's
    articles are this run's work, ok and changed (not skipped, not unchanged), as in a
    run without a crash."""
    import logging

    import newsprep.run.engine.shard as shard_module
    from newsprep.config import RunConfig, RunOptions
    from newsprep.run.sharded import ShardedSession

    src, dest = make_source(tmp_path, folders="ab"), tmp_path / "out"
    (src / "feed.jsonl").unlink()
    run_sharded(src, dest, workers=1)
    real, calls = shard_module.process_batch, []

    def dies_in_the_second_shard(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    config = RunConfig(source=str(src), dest=str(dest), profile="cnndm",
                       options=RunOptions(task_unit="shard", workers=1))
    with ShardedSession(config, logging.getLogger("test")) as session:
        plan = plan_shards(config.source, config.dest, session.pipeline)
        sjob, groups = session.plan_shards(plan, on_progress=lambda percent, line: None)
        group = shard_module.ShardGroup(tuple(s for g in groups for s in g.shards))  # shared
        assert [shard.key for shard in group.shards] == ["folder:a", "folder:b"]
        monkeypatch.setattr(shard_module, "process_batch", dies_in_the_second_shard)
        with pytest.raises(RuntimeError):
            shard_module.run_group(group, sjob)
        monkeypatch.setattr(shard_module, "process_batch", real)
        for outcome in shard_module.run_group(group, sjob):  # the executor runs it again
            session.record_shard(outcome)
        summary = session.finish_shards()
    assert summary.counts == {"ok": 6, "rejected": 0, "failed": 0, "skipped": 0}
    assert summary.changes == {"new": 0, "changed": 6, "retried": 0, "skipped": 0}
    assert {r["status"] for r in records(dest).values()} == {"ok"}


def test_a_migration_keeps_the_old_ledgers_unreadable_lines(tmp_path: Path, caplog) -> None:
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_session(src, dest, workers=1)
    old = dest / "_manifest.jsonl"
    (dest / PartPaths.of("run:").records).rename(old)
    shutil.rmtree(dest / "_ledger")
    lines = old.read_bytes().splitlines(keepends=True)
    lines[2] = b"{not json\n"
    old.write_bytes(b"".join(lines))
    summary = run_sharded(src, dest, workers=1)
    assert summary.changes == {"new": 1, "changed": 0, "retried": 0, "skipped": 10}
    assert (dest / "_manifest.unreadable").read_bytes() == b"{not json\n"
    assert any("1 unreadable line(s) left out (line 3: not JSON" in m for m in caplog.messages)
    assert not old.exists() and len(records(dest)) == 11


def test_a_refused_migration_keeps_the_records_it_could_not_place(tmp_path: Path) -> None:
    """A DEST of a run by batches (its one part, `run=.jsonl`) whose SOURCE lost most of
    its articles: the removal is refused, and the records no shard took stay in DEST's
    ledger, run after run, with their files."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_session(src, dest, workers=1)
    shutil.rmtree(src / "a")
    shutil.rmtree(src / "b")
    for rerun in (1, 2):
        summary = run_sharded(src, dest, workers=1)
        assert summary.removal_refused, rerun
        assert summary.kept_gone == 3 + 3, rerun
        kept = records(dest)
        assert {"a/0.txt", "b/2.txt", "c/1.txt", "feed/x.txt"} <= kept.keys(), rerun
        assert (dest / "a" / "0.txt").exists() and (dest / "b" / "2.txt").exists()


def test_a_part_edited_after_its_marker_is_read_line_by_line(tmp_path: Path) -> None:
    """An unchanged shard's part is parsed whole only when its bytes are those its marker
    names; a part edited since (here a record made valid JSON with a status newsprep
    never writes) is read line by line: the line is left out and its article redone."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    paths = PartPaths.of("folder:a")
    part = dest / paths.records
    done = Done.from_bytes((dest / paths.done).read_bytes())
    assert done is not None and len(done.part_sha256) == 64
    assert run_sharded(src, dest, workers=1).changes["skipped"] == 11  # unedited: as it was
    edited = part.read_text().replace('"status": "ok"', '"status": "done"', 1)
    part.write_text(edited)
    again = run_sharded(src, dest, workers=1)
    assert again.counts["ok"] == 1 and again.changes["skipped"] == 10
    assert "done" not in {record["status"] for record in records(dest).values()}
    assert (dest / paths.unreadable).read_text().count('"status": "done"') == 1


def test_a_containers_verdict_of_an_older_reader_is_read_again(tmp_path: Path) -> None:
    """A JSONL file an older newsprep judged as a whole (one record `feed.jsonl#unreadable`,
    `not-jsonl`, in a settled part) is not skipped whole with its file unchanged: its
    shard reads it again, and its articles are written and recorded."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    paths = PartPaths.of("file:feed.jsonl")
    [first, _] = [ArticleRecord.from_line(line) for line in
                  (dest / paths.records).read_text().splitlines()]
    verdict = ArticleRecord(
        id="feed.jsonl#unreadable", source=first.source, status="rejected",
        reason="not-jsonl", detail="20 of the first 20 lines are not JSON objects",
        signature=first.signature, fingerprint=first.fingerprint,
    )
    (dest / paths.records).write_text(verdict.to_line())
    marker = json.loads((dest / paths.done).read_text())
    (dest / paths.done).write_text(json.dumps({**marker, "records": 1}))
    for name in ("x.txt", "y.txt"):
        (dest / "feed" / name).unlink()

    again = run_sharded(src, dest, workers=1)
    assert again.counts["ok"] == 2 and again.removal_refused is None
    assert {"feed/x.txt", "feed/y.txt"} <= records(dest).keys()
    assert "feed.jsonl#unreadable" not in records(dest)
    assert corpus(dest) == corpus(_clean_run(src, tmp_path))


def test_a_marker_of_before_gets_its_parts_digest_and_the_part_stays(tmp_path: Path) -> None:
    """A marker written without the part's digest (an older newsprep) is rewritten with
    it by the first unchanged rerun, which reads the part line by line; the part itself
    is not rewritten."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    marker = dest / PartPaths.of("folder:a").done
    fields = json.loads(marker.read_text())
    marker.write_text(json.dumps({k: v for k, v in fields.items() if k != "part_sha256"}))
    before = ledger_state(dest)
    assert run_sharded(src, dest, workers=1).changes["skipped"] == 11
    after = ledger_state(dest)
    assert {name for name in after if after[name] != before[name]} == {marker.name}
    assert json.loads(marker.read_text()) == fields


def test_a_part_lost_beside_its_marker_is_made_again(tmp_path: Path) -> None:
    """A part removed (or emptied) while its marker stays: the shard is not skipped with
    no records, its articles are taken again and its records come back."""
    src, dest = make_source(tmp_path), tmp_path / "out"
    run_sharded(src, dest, workers=1)
    first = records(dest)
    (dest / PartPaths.of("folder:a").records).unlink()
    (dest / PartPaths.of("folder:b").records).write_text("")
    again = run_sharded(src, dest, workers=1)
    assert again.counts["ok"] == 6 and again.changes["skipped"] == 5
    assert {k: r["sha256"] for k, r in records(dest).items()} == {
        k: r["sha256"] for k, r in first.items()
    }


def test_an_object_stores_folders_are_listed_a_level_at_a_time_at_once(
    tmp_path: Path, monkeypatch
) -> None:
    """On an object store (flaky://, 20 ms a request) the planning lists a level's
    folders at once: a tree of a folder a day costs its depth in round trips, not its
    folder count. The plan is the one of the same tree on the local disk."""
    import posixpath
    import threading

    import fsspec

    import newsprep.run.planning as planning

    src = tmp_path / "src"
    for day in range(12):
        for number in range(2):
            path = src / "2026" / f"12-{day:02d}" / f"{number}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(STORY.format(f"{day}-{number}"))
    local = plan_shards(str(src), str(tmp_path / "out"), PipelineConfig())
    monkeypatch.setitem(fsspec.config.conf, "flaky", {"latency": 0.02})
    # each day folder's listing waits until all 12 are in flight: one at a time, the
    # first would wait alone until the barrier breaks
    days = threading.Barrier(12, timeout=30)
    waited: list[str] = []
    entries = planning._entries

    def counted(fs, folder: str):
        if posixpath.basename(folder.rstrip("/")).startswith("12-"):
            days.wait()
            waited.append(folder)
        return entries(fs, folder)

    monkeypatch.setattr(planning, "_entries", counted)
    remote = plan_shards(f"flaky://{src}", str(tmp_path / "out"), PipelineConfig())
    assert [s.key for s in remote.shards] == [s.key for s in local.shards]
    assert (remote.counts, remote.files) == (local.counts, local.files) and local.files == 24
    assert len(waited) == 12  # the day folders, all in flight at once


def test_a_finished_shard_keeps_no_checkpoint_in_the_runs_local_folder(tmp_path: Path) -> None:
    """A shard's batch checkpoints (each finished article's note, for a worker that dies
    mid-shard) go once its part is written: a run of a million shards must not keep
    every article's note until its end."""
    import logging

    from newsprep.config import RunConfig, RunOptions
    from newsprep.run.engine.shard import run_group
    from newsprep.run.sharded import ShardedSession

    src = make_source(tmp_path / "src", folders="abcd", per_folder=5)
    config = RunConfig(
        source=str(src), dest=str(tmp_path / "out"), options=RunOptions(task_unit="shard"),
    )
    with ShardedSession(config, logging.getLogger("test")) as session:
        plan = plan_shards(config.source, config.dest, session.pipeline)
        sjob, groups = session.plan_shards(plan, on_progress=lambda percent, line: None)
        checkpoints = Path(sjob.job.checkpoint_dir)
        totals = []
        for group in groups:
            for outcome in run_group(group, sjob):
                session.record_shard(outcome)
                totals.append(outcome.tally.total)
                assert not [p for p in checkpoints.rglob("*") if p.is_file()]
                assert not [p for p in checkpoints.rglob("*") if p.is_dir()]  # none a shard
        summary = session.finish_shards()
    assert sorted(totals) == [2, 5, 5, 5, 5]  # feed.jsonl's two, each folder's five
    assert summary.counts["ok"] == 22


def test_a_container_that_cannot_be_read_to_its_end_gets_a_quarantine_copy(
    tmp_path: Path,
) -> None:
    """A JSONL file that is not JSONL, and an archive cut short, are one record each,
    `<file>#unreadable`: like any rejected article, its bytes (the file's) are copied to
    the quarantine; a file over quarantine_max_item_bytes is not copied, and its record
    says so and why. A good file put in its place takes the copy away."""
    src, dest = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    noise = b"".join(bytes([n, 255, 0]) * 20 + b"\n" for n in range(40))  # no line JSON
    (src / "noise.jsonl").write_bytes(noise)
    members = {f"s/{n}.txt": STORY.format(n).encode() * 20 for n in range(6)}
    cut = build_tar(list(members.items()), "w")[:3000]
    (src / "cut.tar").write_bytes(cut)
    big = build_tar([(f"b/{n}.txt", STORY.format(n).encode() * 200) for n in range(6)], "w")
    (src / "big.tar").write_bytes(big[: len(big) // 2])
    limit = 8192
    assert len(noise) < limit and len(cut) < limit < len(big) // 2

    summary = run_sharded(src, dest, workers=1, quarantine_max_item_bytes=limit)

    got = records(dest)
    for name, data in (("noise.jsonl", noise), ("cut.tar", cut)):
        record = got[f"{name}#unreadable"]
        assert record["status"] == "rejected", record
        assert (dest / record["quarantine"]).read_bytes() == data
    big_record = got["big.tar#unreadable"]
    assert (big_record["status"], big_record["reason"]) == ("rejected", "corrupt-archive")
    assert big_record["quarantine"] is None
    assert (f"no quarantine copy: {len(big) // 2} bytes, over quarantine_max_item_bytes="
            f"{limit}") in big_record["detail"]
    assert summary.counts["rejected"] == 3

    (src / "noise.jsonl").write_text(json.dumps({"id": "n", "text": STORY.format("n")}) + "\n")
    run_sharded(src, dest, workers=1, quarantine_max_item_bytes=limit)
    assert "noise.jsonl#unreadable" not in records(dest)
    assert not (dest / got["noise.jsonl#unreadable"]["quarantine"]).exists()
    assert (dest / got["cut.tar#unreadable"]["quarantine"]).read_bytes() == cut
