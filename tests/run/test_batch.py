"""One batch in a worker, without Prefect: real files in, outputs, quarantine, checkpoint."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from run_helpers import file_refs, make_job

from newsprep.config import resolve_pipeline
from newsprep.run.engine.batch import (
    ArticleLimit,
    ArticleTimeout,
    BatchTimer,
    TimeLimit,
    crashed_batch_records,
    in_sample,
    process_batch,
)
from newsprep.run.ledger.checkpoint import NOTES_PER_WRITE, read_checkpoint
from newsprep.tasks.io.sinks import TEMP_MARKER


def test_a_batch_writes_ok_articles_and_quarantines_the_rest(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    records = process_batch(file_refs(source), 0, make_job(source, dest))

    by_status = {r.status for r in records}
    assert by_status == {"ok", "rejected"}
    for record in records:
        if record.status == "ok":
            text = (dest / record.output).read_bytes()
            assert hashlib.sha256(text).hexdigest() == record.sha256
            assert text.endswith(b"\n") and text.decode().islower()
            assert record.tokens == len(text.split())
        else:
            assert (record.reason, record.output) == ("binary-content", None)
            original = (source / record.id).read_bytes()
            assert (dest / record.quarantine).read_bytes() == original
            reason = json.loads((dest / (record.quarantine + ".reason.json")).read_text())
            assert reason["reason"] == "binary-content"


def test_a_rerun_batch_takes_finished_articles_from_its_checkpoint(
    source: Path, tmp_path: Path
) -> None:
    dest, notes = tmp_path / "out", tmp_path / "checkpoints"
    job = make_job(source, dest, checkpoint_dir=str(notes))
    refs = file_refs(source)
    first = process_batch(refs[:2], 7, job)
    noted = read_checkpoint(notes / "batch-000007.jsonl")
    assert list(noted) == [r.id for r in first]

    for record in first:  # take the outputs away: a rerun must not write them again
        if record.output:
            (dest / record.output).unlink()
    again = process_batch(refs, 7, job)
    assert again[:2] == first
    assert not any((dest / r.output).exists() for r in first if r.output)
    assert all((dest / r.output).exists() for r in again[2:] if r.output)


def test_a_rerun_jsonl_batch_rebuilds_its_whole_shard(source: Path, tmp_path: Path) -> None:
    """A shard holds the batch's texts: run again, it is written whole, with every article,
    not only those missing from a checkpoint."""
    import gzip

    dest, notes = tmp_path / "out", tmp_path / "checkpoints"
    pipeline = resolve_pipeline("default", {"output.format": "jsonl"})
    job = make_job(source, dest, checkpoint_dir=str(notes), pipeline=pipeline)
    refs = file_refs(source)
    process_batch(refs[:2], 3, job)
    assert not notes.exists()  # no checkpoint for a shard
    again = process_batch(refs, 3, job)
    rows = gzip.decompress((dest / "part-00003.jsonl.gz").read_bytes()).decode().splitlines()
    ok = [r.id for r in again if r.status == "ok"]
    assert [json.loads(row)["id"] for row in rows] == ok and len(ok) > 2


def test_a_checkpoint_line_cut_short_is_not_a_record(source: Path, tmp_path: Path) -> None:
    notes = tmp_path / "checkpoints"
    job = make_job(source, tmp_path / "out", checkpoint_dir=str(notes))
    process_batch(file_refs(source)[:2], 0, job)
    path = notes / "batch-000000.jsonl"
    text = path.read_text()
    path.write_text(text[: len(text) - 5])  # the second note, cut by a crash
    assert len(read_checkpoint(path)) == 1


def test_crashed_batch_keeps_what_it_finished_and_fails_the_rest(
    source: Path, tmp_path: Path
) -> None:
    job = make_job(source, tmp_path / "out", checkpoint_dir=str(tmp_path / "checkpoints"))
    refs = file_refs(source)
    finished = process_batch(refs[:1], 3, job)
    records = crashed_batch_records(refs, 3, job, "BrokenProcessPool: died")
    assert records[0] == finished[0]
    assert [(r.status, r.reason, r.detail) for r in records[1:]] == [
        ("failed", "worker-crash", "BrokenProcessPool: died")
    ] * (len(refs) - 1)


def test_a_missing_file_fails_read_error_without_retries(source: Path, tmp_path: Path) -> None:
    refs = file_refs(source)
    Path(refs[0].path).unlink()
    (record,) = process_batch(refs[:1], 0, make_job(source, tmp_path / "out"))
    assert (record.status, record.reason, record.attempts) == ("failed", "read-error", 1)
    assert record.detail.startswith("FileNotFoundError")


def test_jsonl_output_is_one_shard_per_batch(source: Path, tmp_path: Path) -> None:
    from newsprep.config import resolve_pipeline

    dest = tmp_path / "out"
    job = make_job(source, dest, pipeline=resolve_pipeline("default", {"output.format": "jsonl"}))
    records = process_batch(file_refs(source), 4, job)
    assert {r.output for r in records if r.status == "ok"} == {"part-00004.jsonl.gz"}
    assert [p.name for p in dest.iterdir() if p.name.startswith("part-")] == [
        "part-00004.jsonl.gz"
    ]


def test_the_parity_sample_is_the_same_articles_every_time() -> None:
    ids = [f"a/{n}.txt" for n in range(400)]
    sampled = [i for i in ids if in_sample(i, 0.25)]
    assert sampled == [i for i in ids if in_sample(i, 0.25)]
    assert 60 < len(sampled) < 140
    assert not any(in_sample(i, 0.0) for i in ids) and all(in_sample(i, 1.0) for i in ids)


def test_output_folders_are_made_as_needed_even_when_removed_between_batches(
    source: Path, tmp_path: Path
) -> None:
    """Folders are made when a write finds them missing, not checked before every file:
    a folder made for one batch and removed before the next is made again."""
    dest = tmp_path / "out"
    job = make_job(source, dest)
    refs = [r for r in file_refs(source) if "broken" not in r.id]
    first = process_batch(refs, 0, job)
    assert all(r.status == "ok" and "/" in r.output for r in first)
    outputs = {r.output: (dest / r.output).read_bytes() for r in first}
    shutil.rmtree(dest)

    again = process_batch(refs, 1, job)
    assert [(r.status, r.output) for r in again] == [(r.status, r.output) for r in first]
    assert {r.output: (dest / r.output).read_bytes() for r in again} == outputs
    assert not [p for p in dest.rglob("*") if TEMP_MARKER in p.name]


def test_a_file_where_an_output_folder_goes_is_an_output_conflict(
    source: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    (ref,) = [r for r in file_refs(source) if "broken" not in r.id][:1]
    folder = dest / Path(ref.id).parent
    folder.parent.mkdir(parents=True)
    folder.write_bytes(b"a file, not a folder")
    (record,) = process_batch([ref], 0, make_job(source, dest))
    assert (record.status, record.reason, record.output) == ("rejected", "output-conflict", None)
    assert folder.read_bytes() == b"a file, not a folder"
    assert not [p for p in dest.rglob("*") if TEMP_MARKER in p.name]


def _die_at_poison(refs: list, index: int, job: object) -> None:
    """process_batch in a forked worker that dies (os._exit, no clean-up) when it comes to
    the article holding POISON; the checkpoint writes by count only."""
    from newsprep.run.engine import batch
    from newsprep.run.ledger import checkpoint
    from newsprep.tasks.stages import normalize as stages

    checkpoint.SECONDS_PER_WRITE = 1e9
    normalize = stages.normalize_text

    def dying(raw: bytes, *args: object) -> object:
        if b"POISON" in raw:
            os._exit(9)
        return normalize(raw, *args)

    stages.normalize_text = dying  # in the forked worker only: batch imports it per call
    batch.process_batch(refs, index, job)


def _run_dying(refs: list, index: int, job: object) -> None:
    worker = multiprocessing.get_context("fork").Process(
        target=_die_at_poison, args=(refs, index, job)
    )
    worker.start()
    worker.join(60)
    assert worker.exitcode == 9


def test_a_worker_killed_mid_batch_loses_only_unwritten_notes_and_redoes_them_the_same(
    source: Path, tmp_path: Path
) -> None:
    src = tmp_path / "many"
    texts = [p.read_text() for p in sorted(source.rglob("*.txt")) if "broken" not in p.parts]
    count, poison = NOTES_PER_WRITE + 8, NOTES_PER_WRITE + 4
    for n in range(count):
        text = texts[n % len(texts)] + (f"Article {n}.\n" if n != poison else "POISON.\n")
        (src / f"a{n:03d}.txt").parent.mkdir(exist_ok=True)
        (src / f"a{n:03d}.txt").write_text(text)
    refs = file_refs(src)
    ids = [r.id for r in refs]
    clean = process_batch(refs, 0, make_job(src, tmp_path / "clean"))
    assert all(r.status == "ok" for r in clean)

    dest, notes = tmp_path / "out", tmp_path / "checkpoints"
    job = make_job(src, dest, checkpoint_dir=str(notes))
    path = notes / "batch-000005.jsonl"
    _run_dying(refs, 5, job)  # the first run: notes written NOTES_PER_WRITE at a time
    assert list(read_checkpoint(path)) == ids[:NOTES_PER_WRITE]
    written = sorted(p.name for p in dest.iterdir())
    assert written == ids[:poison]  # finished, some not noted: redone by the next run

    _run_dying(refs, 5, job)  # run again after a crash: each note at once
    assert list(read_checkpoint(path)) == ids[:poison]
    records = crashed_batch_records(refs, 5, job, "BrokenProcessPool: died")
    assert records[:poison] == clean[:poison]
    assert {r.reason for r in records[poison:]} == {"worker-crash"}

    final = process_batch(refs, 5, job)  # no crash this time
    assert final == clean
    for record in clean:
        expected = (tmp_path / "clean" / record.output).read_bytes()
        assert (dest / record.output).read_bytes() == expected
    assert not [p for p in dest.iterdir() if TEMP_MARKER in p.name]


def test_an_alarm_inside_a_step_ends_it_and_one_between_steps_ends_the_next() -> None:
    with (
        ArticleLimit(0.05),
        pytest.raises(ArticleTimeout, match="article_timeout_seconds"),
        TimeLimit(0.05),
    ):
        time.sleep(10)
    with ArticleLimit(0.05):
        started = time.monotonic()
        time.sleep(0.3)  # between steps (the record, the checkpoint): not interrupted
        assert time.monotonic() - started >= 0.3
        with pytest.raises(ArticleTimeout), TimeLimit(0.05):
            raise AssertionError("the step must not start")
    with ArticleLimit(10), TimeLimit(10):  # the next article has a limit of its own
        time.sleep(0.1)


def test_a_batch_sets_its_timer_once_not_for_each_article(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two timer calls a batch (armed at its first article, disarmed at its end), not two
    an article: no article here comes near its limit of 300 s."""
    calls = []
    setitimer = signal.setitimer

    def counted(which: int, seconds: float, *interval: float) -> tuple[float, float]:
        calls.append(seconds)
        return setitimer(which, seconds, *interval)

    monkeypatch.setattr(signal, "setitimer", counted)
    refs = file_refs(source)
    records = process_batch(refs, 0, make_job(source, tmp_path / "out"))
    assert {r.status for r in records} == {"ok", "rejected"} and len(refs) == 5
    assert calls == [300.0, 0]
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nothing left armed


def test_in_a_batch_each_article_gets_its_whole_limit() -> None:
    """The timer set for the first article fires during the second: it is set again for
    the second's deadline, which ends it when it runs over, and no sooner; an article with
    a shorter limit than the one the timer was set for sets it again. The articles within
    their limit sleep 0.35 of 0.6 s: a loaded machine's delays stay inside the margin."""
    limit, within = 0.6, 0.35
    with BatchTimer():
        with ArticleLimit(limit), TimeLimit(limit):  # within its limit
            time.sleep(within)
        started = time.monotonic()
        with ArticleLimit(limit), pytest.raises(ArticleTimeout), TimeLimit(limit):
            time.sleep(10)  # the timer fires 0.25 s in: too soon for this one
        assert limit <= time.monotonic() - started < 5
        for _ in range(2):  # each within its limit, together over it
            with ArticleLimit(limit), TimeLimit(limit):
                time.sleep(within)
        time.sleep(0.5)  # between articles: the timer fires with no limit in force
        with ArticleLimit(10), TimeLimit(10):  # a longer limit arms it, then a shorter one
            pass
        started = time.monotonic()
        with ArticleLimit(limit), pytest.raises(ArticleTimeout), TimeLimit(limit):
            time.sleep(10)  # ended at its own deadline, not at the longer limit's
        assert limit <= time.monotonic() - started < 5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
