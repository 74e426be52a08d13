"""The manifest: a journal per run, compacted into one sorted record per article."""

from __future__ import annotations

import json
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.manifest import (
    JOURNAL,
    MANIFEST,
    ManifestWriter,
    existing_outputs,
    manifest_lines,
    remove_temp_files,
)
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef
from newsprep.tasks.io.sinks import TEMP_MARKER

FS = LocalFileSystem()


def record(article_id: str, status: str = "ok") -> ArticleRecord:
    made = ArticleRecord.start(ArticleRef(id=article_id, source=f"src/{article_id}"), "f")
    made.status = status
    return made


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_batches_are_journaled_then_compacted_sorted_by_id(tmp_path: Path) -> None:
    with RunIndex() as index:
        writer = ManifestWriter(FS, str(tmp_path), index)
        writer.load_previous()
        writer.append([record("c"), record("a")])
        assert [r["id"] for r in lines(tmp_path / JOURNAL)] == ["c", "a"]  # durable now
        writer.append([record("b", "rejected")])
        writer.compact()
    manifest = (tmp_path / MANIFEST).read_text(encoding="utf-8")
    assert manifest == record("a").to_line() + record("b", "rejected").to_line() + record(
        "c").to_line()
    assert not (tmp_path / JOURNAL).exists()


def test_a_killed_runs_journal_is_folded_into_the_manifest_at_once(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(record("a", "failed").to_line() + record("b").to_line())
    # the killed run rewrote a, and died while writing its next line
    (tmp_path / JOURNAL).write_text(record("a").to_line() + record("z").to_line()[:20])
    with RunIndex() as index:
        writer = ManifestWriter(FS, str(tmp_path), index)
        writer.load_previous()
        assert [r["id"] for r in lines(tmp_path / MANIFEST)] == ["a", "b"]
        assert lines(tmp_path / MANIFEST)[0]["status"] == "ok"
        assert (tmp_path / JOURNAL).read_text() == ""
        assert index.previous("a") == record("a")
        writer.compact()


def test_read_manifest_stops_at_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(record("a").to_line() + "\n" + record("b").to_line()[:-1])
    read = [ArticleRecord.from_line(line) for _, line in manifest_lines(FS, str(path))]
    assert read == [record("a")]
    assert list(manifest_lines(FS, str(tmp_path / "missing.jsonl"))) == []


def test_existing_outputs_and_temp_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("x")
    (tmp_path / "y.txt").write_text("y")
    stale = tmp_path / "a" / f".x.txt{TEMP_MARKER}0123"
    stale.write_text("partial")
    assert remove_temp_files(FS, str(tmp_path)) == 1
    assert not stale.exists()
    assert sorted(existing_outputs(FS, str(tmp_path))) == ["a/b/x.txt", "y.txt"]
    assert list(existing_outputs(FS, str(tmp_path / "none"))) == []


# -- #19 class 5: one corrupted manifest line costs one article ---------------------------


def test_unreadable_manifest_lines_are_left_out_named_and_kept(tmp_path: Path) -> None:
    good = [record("a"), record("c"), record("e")]
    bad = [
        record("b").to_line()[:25] + "\n",  # torn: cut and joined to the next line
        json.dumps({"id": "d", "status": "ok"}) + "\n",  # a record without its source
        record("f").to_line().replace("src/f", "src/\xff").encode("latin-1").decode(
            "utf-8", "surrogateescape") + "",  # a stray non-UTF-8 byte
        '["g"]\n',
        json.dumps({**record("h").to_dict(), "status": "done"}) + "\n",
        json.dumps({**record("i").to_dict(), "output": 7}) + "\n",
    ]
    raw = b"".join([
        good[0].to_line().encode(), bad[0].encode(), bad[1].encode(),
        good[1].to_line().encode(), bad[2].encode("utf-8", "surrogateescape"),
        bad[3].encode(), bad[4].encode(), bad[5].encode(), good[2].to_line().encode(),
    ])
    (tmp_path / MANIFEST).write_bytes(raw)
    for attempt in (1, 2):  # a run killed before it rewrote the manifest meets them again
        with RunIndex() as index:
            writer = ManifestWriter(FS, str(tmp_path), index)
            writer.load_previous()
            assert [json.loads(line)["id"] for line in index.previous_lines()] == ["a", "c", "e"]
            assert index.previous("b") is None and index.previous("d") is None
            (report,) = writer.unreadable_report()
        assert report.startswith(f"{tmp_path / MANIFEST}: 6 unreadable line(s) left out (")
        assert "line 2: not JSON" in report and "line 3: a record without source" in report
        assert "line 5: not UTF-8: byte 0xff at column" in report and "and 3 more" in report
        assert report.endswith(f"the lines are kept in {tmp_path / '_manifest.unreadable'}")
        kept = (tmp_path / "_manifest.unreadable").read_bytes()
        assert kept == b"".join(line.encode("utf-8", "surrogateescape") for line in bad), attempt


def test_an_unreadable_journal_line_is_named_too(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(record("a").to_line())
    (tmp_path / JOURNAL).write_bytes(b'{"id": "b", "sour\n' + record("c").to_line().encode())
    with RunIndex() as index:
        writer = ManifestWriter(FS, str(tmp_path), index)
        writer.load_previous()
        assert [r["id"] for r in lines(tmp_path / MANIFEST)] == ["a", "c"]
        (report,) = writer.unreadable_report()
        assert report.startswith(f"{tmp_path / JOURNAL}: 1 unreadable line(s) left out (line 1")
