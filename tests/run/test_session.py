"""A whole run without Prefect: one article from the source to its manifest line.

The session plans and accounts; here the batches run in this process (the executor and
Prefect's task runs are what the flow adds, tested in tests/flows)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import ledger
import pytest
from session_run import run_session
from shard_run import run_sharded

from newsprep.config import RunConfig, RunOptions
from newsprep.run.engine.batch import process_batch
from newsprep.run.ledger.records import BatchOutcome
from newsprep.run.session import RunSession
from newsprep.tasks.io.listing import list_source

LOGGER = logging.getLogger("test")


def manifest(dest: Path) -> list[dict]:
    return ledger.records(dest)


def test_a_run_accounts_for_every_article(source: Path, tmp_path: Path) -> None:
    (source / "notes.md").write_text("not an article")
    dest = tmp_path / "out"
    summary = run_session(source, dest, batch_size=2, workers=1)

    records = manifest(dest)
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert summary.discovered == len(records) == 5
    assert summary.counts == {"ok": 4, "rejected": 1, "failed": 0, "skipped": 0}
    assert summary.reasons == {"binary-content": 1}
    assert summary.examples == {"binary-content": "broken/corrupted-upload.txt"}
    assert (summary.batches, summary.batch_size, summary.ignored_files) == (3, 2, 1)
    assert json.loads((dest / "_run.json").read_text()) == summary.to_dict()
    for record in records:
        if record["status"] == "ok":
            assert (dest / record["output"]).is_file()
    assert not (dest / "_manifest.journal").exists()


def test_a_second_run_skips_what_the_first_wrote(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    run_session(source, dest, workers=1)
    first = manifest(dest)
    summary = run_session(source, dest, workers=1)
    # the rejected article is not tried again either: its record is carried over
    assert summary.changes == {"new": 0, "changed": 0, "retried": 0, "skipped": 5}
    assert summary.counts == {"ok": 0, "rejected": 1, "failed": 0, "skipped": 4}
    second = manifest(dest)
    for before, after in zip(first, second, strict=True):
        if before["status"] == "ok":
            assert after == {**before, "status": "skipped", "attempts": 0}
        else:
            assert after == {**before, "attempts": 0}
    assert (dest / "_quarantine" / "broken" / "corrupted-upload.txt").is_file()


def test_a_quarantine_record_deleted_from_dest_is_written_again(
    source: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    run_session(source, dest, workers=1)
    reason = dest / "_quarantine" / "broken" / "corrupted-upload.txt.reason.json"
    written = reason.read_bytes()
    reason.unlink()
    summary = run_session(source, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 1, "skipped": 4}
    assert reason.read_bytes() == written


def tree(root: Path) -> dict[str, bytes | None]:
    """DEST's folders (None) and files, but the run's own report and manifest (timings,
    statuses and attempts differ between runs; see same_records)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
        if not ledger.is_ledger_file(p.relative_to(root).as_posix())
    }


def same_records(dest: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("status", "attempts")}
            for r in manifest(dest)]


@pytest.mark.parametrize("output", ["files", "jsonl"])
def test_a_rerun_leaves_what_a_clean_run_writes(
    source: Path, tmp_path: Path, output: str
) -> None:
    """Issue 13 class 6: an article deleted from the source, one that turned bad and one
    that turned good leave no output, quarantine copy or folder of before."""
    dest, clean = tmp_path / "out", tmp_path / "clean"
    config = {"output.format": output, "output.shard_size": 2}
    run_with(source, dest, config)
    good = sorted(p for p in source.rglob("*.txt") if "broken" not in p.parts)
    deleted, turned_bad = good[0], good[1]
    broken = source / "broken" / "corrupted-upload.txt"
    text = deleted.read_bytes()
    deleted.unlink()
    turned_bad.write_bytes(b"\x00\x01binary now" * 40)
    broken.write_bytes(text)  # the rejected one is a good article now

    summary = run_with(source, dest, config)
    run_with(source, clean, config)

    assert tree(dest) == tree(clean)
    assert same_records(dest) == same_records(clean)
    assert summary.removed_articles == 1
    assert summary.removed_files >= 2  # the deleted article's, the bad one's, old copies
    assert json.loads((dest / "_run.json").read_text())["removed_articles"] == 1


def test_articles_under_a_folder_that_cannot_be_listed_are_kept(
    source: Path, tmp_path: Path
) -> None:
    """A folder that cannot be listed this time (permissions) is one rejected record; the
    articles under it are not gone: their outputs and records stay as they were."""
    import fsspec

    dest = tmp_path / "out"
    run_with(source, dest, {})
    before = manifest(dest)
    folder = sorted(p for p in source.iterdir() if p.is_dir() and p.name != "broken")[0]
    under = {r["id"]: r for r in before if r["id"].startswith(f"{folder.name}/")}
    assert under
    fsspec.config.conf["flaky"] = {"unlistable": str(folder)}
    try:
        run_with(f"flaky://{source}", dest, {})
    finally:
        fsspec.config.conf.pop("flaky", None)
    after = {r["id"]: r for r in manifest(dest)}
    assert after[f"{folder.name}#unreadable"]["reason"] == "unreadable-folder"
    assert {k: after[k] for k in under} == under
    for record in under.values():
        if record["output"]:
            assert (dest / record["output"]).is_file(), record["id"]


def run_with(src: Path | str, dest: Path, overrides: dict):
    config = RunConfig(source=str(src), dest=str(dest), overrides=overrides,
                       options=RunOptions(workers=1))
    with RunSession(config, LOGGER) as session:
        listing = list_source(config.source, config.dest, session.pipeline, session.index)
        job, batches = session.plan(listing, on_progress=lambda percent, line: None)
        for batch in batches:
            session.record(BatchOutcome(batch.index, process_batch(batch.articles, batch.index,
                                                                   job)))
        return session.finish()


def test_a_long_named_article_that_turns_good_leaves_no_quarantine_record(
    tmp_path: Path,
) -> None:
    """Classes 6 and 10: the quarantine record of a name that is as long as a file name
    can be is written shortened; the rerun that finds the article good removes it (it
    raised ENAMETOOLONG looking for the unshortened name, and every rerun failed)."""
    src, dest, clean = tmp_path / "src", tmp_path / "out", tmp_path / "clean"
    src.mkdir()
    article = src / ("L" * 251 + ".txt")
    article.write_bytes(b"\x00\x01binary" * 10)
    first = run_session(src, dest, workers=1)
    assert first.counts["rejected"] == 1
    assert len(list((dest / "_quarantine").iterdir())) == 2  # the copy and its record

    article.write_text("Now a fine article with enough words in it.\n")
    summary = run_session(src, dest, workers=1)
    run_session(src, clean, workers=1)

    assert summary.counts["ok"] == 1
    assert summary.removed_files == 2
    assert tree(dest) == tree(clean)


def test_an_article_that_became_a_folder_is_written_on_the_first_rerun(
    tmp_path: Path,
) -> None:
    """Class 6: `x.txt` is now a folder `x.txt/` of articles and `d.txt/` a file `d.txt`
    (and a rejected one too, in _quarantine/): the stale files in the way go before the
    new articles are written (they went at the end, and the new ones were output-conflict
    until the run after)."""
    src, dest, clean = tmp_path / "src", tmp_path / "out", tmp_path / "clean"
    words = "A fine article with enough words in it, number {}.\n"
    binary = b"\x00\x01binary" * 10
    (src / "d.txt").mkdir(parents=True)
    (src / "d.txt" / "in.txt").write_text(words.format(1))
    (src / "x.txt").write_text(words.format(2))
    (src / "q.txt").write_bytes(binary)
    run_session(src, dest, workers=1)

    shutil.rmtree(src / "d.txt")
    (src / "d.txt").write_text(words.format(3))
    for name in ("x.txt", "q.txt"):
        (src / name).unlink()
        (src / name).mkdir()
    (src / "x.txt" / "in.txt").write_text(words.format(4))
    (src / "q.txt" / "in.txt").write_bytes(binary)
    summary = run_session(src, dest, workers=1)
    run_session(src, clean, workers=1)

    assert summary.counts == {"ok": 2, "rejected": 1, "failed": 0, "skipped": 0}
    assert summary.reasons == {"binary-content": 1}
    assert summary.removed_files == 4  # d.txt/in.txt, x.txt, q.txt and its record
    assert tree(dest) == tree(clean)
    assert same_records(dest) == same_records(clean)


@pytest.mark.parametrize("unit", ["shard", "batch"])
def test_the_ledger_reads_back_and_loads_with_datasets(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unit: str
) -> None:
    """The package's reader and `datasets.load_dataset("json")` read the records a run
    wrote, from its parts (one a shard; one for a run by batches): the same articles,
    fields and values."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local files only: no hub, no network
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    from newsprep.run.ledger.reader import ledger_features, ledger_files, read_records

    dest = tmp_path / "out"
    assert ledger_files(str(dest)) == []
    run = run_sharded if unit == "shard" else run_session
    run(source, dest, workers=1)
    assert len(ledger_files(str(dest))) == (2 if unit == "shard" else 1)  # broken/, business/
    first = sorted(p for p in source.rglob("*.txt") if "broken" not in p.parts)[0]
    (first.parent / "added.txt").write_text(first.read_text() + "One more line.\n")
    run(source, dest, workers=1)
    # by shards, the new article's record is an addition beside its folder's part
    assert len(ledger_files(str(dest))) == (3 if unit == "shard" else 1)
    written = manifest(dest)
    assert len(written) == 6 and len({r["id"] for r in written}) == 6
    records = [record.to_dict() for record in read_records(str(dest))]
    assert records == written
    assert {r["status"] for r in records} >= {"ok", "rejected"}

    loaded = datasets.load_dataset(
        "json", data_files=ledger_files(str(dest)), features=ledger_features(), split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded.num_rows == len(written)
    assert sorted(loaded.column_names) == sorted(written[0])
    assert sorted(loaded.to_list(), key=lambda r: r["id"]) == written
