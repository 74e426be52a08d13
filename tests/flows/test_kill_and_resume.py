"""A run killed with SIGKILL part way, then run again, ends exactly like an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger import corpus_files, journal_lines, journaled, journals, records

from newsprep.config import SAMPLE_SOURCE
from newsprep.tasks.io.sinks import TEMP_MARKER

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.e2e]

ARTICLES = 1200


def build_corpus(root: Path, first: int = 0, articles: int = ARTICLES) -> Path:
    texts = [
        p.read_text(encoding="utf-8")
        for p in sorted(Path(SAMPLE_SOURCE).rglob("*.txt"))
        if "broken" not in p.parts
    ]
    for n in range(first, first + articles):
        target = root / f"part-{n % ARTICLES // 100:02d}" / f"article-{n:05d}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        extra = f"Reference number {n} was filed with this report.\n"
        target.write_text(texts[n % len(texts)] + extra, encoding="utf-8")
    return root


def start(src: Path, dest: Path, unit: str, *extra: str) -> subprocess.Popen:
    # stderr to a file: a pipe nobody reads blocks a run that logs more than it holds
    log = tempfile.TemporaryFile()  # noqa: SIM115 (read and closed with the run)
    run = subprocess.Popen(
        [sys.executable, "-m", "newsprep.cli", "run", str(src), str(dest),
         "--batch-size", "20", "--workers", "2", "--task-unit", unit, *extra],
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )
    run.stderr = log
    return run


def wait_ok(run: subprocess.Popen) -> None:
    """Wait for the run; it must exit 0 (its log's end is the message otherwise)."""
    assert run.wait(timeout=300) == 0, tail(run)


def tail(run: subprocess.Popen) -> str:
    run.stderr.seek(0)
    return run.stderr.read().decode(errors="replace")[-3000:]


def kill_when(run: subprocess.Popen, moment: Callable[[], bool], step: float = 0.003) -> None:
    """SIGKILL the run's process group at the first `moment()` seen true.

    The group runs in steps of `step` seconds (SIGCONT, sleep, SIGSTOP) and the moment
    is looked at while it is stopped, so a short moment is caught whatever the machine's
    speed, and the kill lands in the state that was looked at."""
    deadline = time.monotonic() + 240
    try:
        while not moment():
            assert run.poll() is None, "the run ended before the moment came:\n" + tail(run)
            assert time.monotonic() < deadline, "the run did not get going"
            os.killpg(run.pid, signal.SIGCONT)
            time.sleep(step)
            os.killpg(run.pid, signal.SIGSTOP)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            os.killpg(run.pid, signal.SIGCONT)  # a stopped process dies once it runs
        run.wait(timeout=30)


def kill_when_journaled(run: subprocess.Popen, dest: Path, lines: int) -> None:
    """SIGKILL the run's process group once its journals hold `lines` records."""
    kill_when(run, lambda: journal_lines(dest) >= lines)
    assert journals(dest), "killed part way"


@pytest.mark.parametrize("unit", ["shard", "batch"])
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path, unit: str) -> None:
    src = build_corpus(tmp_path / "src")
    killed, clean = tmp_path / "killed", tmp_path / "clean"

    kill_when(start(src, killed, unit), lambda: journaled(killed) >= 200)
    finished_before_kill = journaled(killed)
    assert 200 <= finished_before_kill < ARTICLES, "killed part way"

    rerun = start(src, killed, unit)
    wait_ok(rerun)
    uninterrupted = start(src, clean, unit)
    wait_ok(uninterrupted)

    assert corpus_files(killed) == corpus_files(clean), \
        "same corpus bytes, no partial or extra files"
    assert not [p for p in killed.rglob("*") if TEMP_MARKER in p.name], "no temp files left"
    assert not journals(killed)
    after, reference = records(killed), records(clean)
    assert [r["id"] for r in after] == [r["id"] for r in reference]
    assert len({r["id"] for r in after}) == ARTICLES, "exactly one record per article"
    statuses = [r["status"] for r in after]
    assert set(statuses) <= {"ok", "skipped"}
    # apart from how it got there (status, attempts), every record is the same
    strip = ("status", "attempts")
    assert [{k: v for k, v in r.items() if k not in strip} for r in after] == [
        {k: v for k, v in r.items() if k not in strip} for r in reference
    ]
    summary = json.loads((killed / "_run.json").read_text())
    assert summary["changes"]["skipped"] >= finished_before_kill
    assert summary["changes"]["new"] == ARTICLES - summary["changes"]["skipped"]
    if unit == "batch":  # one part, rewritten whole: what the rerun skipped says so
        assert statuses.count("skipped") == summary["changes"]["skipped"]
    else:  # the part of a shard finished before the kill is left as that run wrote it
        assert statuses.count("skipped") <= summary["changes"]["skipped"]


def test_sigkill_in_a_run_of_additions_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    """Issue 22: new articles in every folder make additions beside the parts; a run
    killed part way through them, then run again, ends with the corpus and records of a
    run that was not killed."""
    src = build_corpus(tmp_path / "src")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for dest in (killed, clean):
        first = start(src, dest, "shard")
        wait_ok(first)
    build_corpus(src, first=ARTICLES, articles=ARTICLES)  # 100 new in each folder

    kill_when_journaled(start(src, killed, "shard"), killed, 100)

    rerun = start(src, killed, "shard")
    wait_ok(rerun)
    uninterrupted = start(src, clean, "shard")
    wait_ok(uninterrupted)

    assert corpus_files(killed) == corpus_files(clean), \
        "same corpus bytes, no partial or extra files"
    assert not journals(killed)
    strip = ("status", "attempts")
    after, reference = records(killed), records(clean)
    assert len({r["id"] for r in after}) == 2 * ARTICLES
    assert [{k: v for k, v in r.items() if k not in strip} for r in after] == [
        {k: v for k, v in r.items() if k not in strip} for r in reference
    ]
    additions = sorted(p.name for p in (clean / "_ledger").glob("*+1.jsonl"))
    assert additions == [f"folder=part-{n:02d}+1.jsonl" for n in range(12)]


def jsonl_corpus(
    path: Path, skip: range = range(0), swap: range = range(0), articles: int = ARTICLES
) -> Path:
    """One JSONL file of ARTICLES records (the sample's texts), lines in `skip` left out,
    the ids of the lines in `swap` swapped with those as far from the end (no byte moves:
    the slices keep their bounds, and the articles change slices)."""
    texts = [
        p.read_text(encoding="utf-8")
        for p in sorted(Path(SAMPLE_SOURCE).rglob("*.txt"))
        if "broken" not in p.parts
    ]
    ids = {n: 0 if n % 97 == 96 else n for n in range(articles)}  # some renamed, rejected
    for n in swap:
        ids[n], ids[ARTICLES - 1 - n] = ids[ARTICLES - 1 - n], ids[n]
    lines = [
        json.dumps({"id": f"story-{ids[n]:04d}", "text": texts[n % len(texts)]})
        for n in range(articles) if n not in skip
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path.parent


SLICES = ("--slice-bytes", "262144")  # about 140 articles a slice


def _slice_parts(dest: Path) -> list[str]:
    """The ledger parts of DEST's slices (a slice's part is named after its bytes)."""
    return sorted(p.name for p in (dest / "_ledger").glob("slice=*.jsonl"))


@pytest.mark.parametrize(
    "moment", ["first-run", "after-lines-added", "after-lines-went", "after-ids-swapped"]
)
def test_sigkill_in_a_run_of_slices_then_rerun_equals_uninterrupted(
    tmp_path: Path, moment: str
) -> None:
    """Issue 22: a large JSONL file cut into slices; killed part way through its first
    run, or through the run after lines were added at its end (its last slice grows and
    keeps its part), or removed from its middle, or two lines of
    different slices swapped their ids (articles move between slices: the old parts are
    read like a migration's), then run again: the corpus and records of a run not
    killed, and no article lost."""
    src = jsonl_corpus(tmp_path / "src" / "feed.jsonl")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    if moment != "first-run":
        for dest in (killed, clean):
            first = start(src, dest, "shard", *SLICES)
            wait_ok(first)
        if moment == "after-lines-added":
            jsonl_corpus(src / "feed.jsonl", articles=ARTICLES + 400)
        elif moment == "after-lines-went":
            jsonl_corpus(src / "feed.jsonl", skip=range(100, 300))
        else:
            jsonl_corpus(src / "feed.jsonl", swap=range(10, 130))  # the first and last slices

    if moment == "after-lines-went":
        # every slice after the cut moved: its 140 articles are unchanged, journaled at once
        # and compacted into the slice's new part at once; killed once two new parts are in
        first_parts = set(_slice_parts(killed))
        kill_when(start(src, killed, "shard", *SLICES),
                  lambda: len(set(_slice_parts(killed)) - first_parts) >= 2)
        new_parts = set(_slice_parts(killed)) - first_parts
    else:
        kill_when_journaled(start(src, killed, "shard", *SLICES), killed, 40)

    rerun = start(src, killed, "shard", *SLICES, "--allow-removal")
    wait_ok(rerun)
    uninterrupted = start(src, clean, "shard", *SLICES, "--allow-removal")
    wait_ok(uninterrupted)

    assert corpus_files(killed) == corpus_files(clean), \
        "same corpus bytes, no partial or extra files"
    assert not journals(killed)
    strip = ("status", "attempts")
    after, reference = records(killed), records(clean)
    expected = ARTICLES + {"after-lines-went": -200, "after-lines-added": 400}.get(moment, 0)
    assert len({r["id"] for r in after}) == expected
    assert [{k: v for k, v in r.items() if k not in strip} for r in after] == [
        {k: v for k, v in r.items() if k not in strip} for r in reference
    ]
    slices = _slice_parts(clean)
    assert len(slices) > 5
    if moment == "after-lines-went":
        assert len(new_parts) < len(slices), "killed part way"
    for record in after:  # every output a record names is there
        if record.get("output"):
            assert (killed / record["output"]).is_file(), record
