"""The normalize-corpus flow on a real Prefect server, reading and writing real files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import fsspec
import ledger
import pytest
from flowrun import run_flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)

from newsprep.cli import apply_storage_options
from newsprep.config import SAMPLE_SOURCE, RunOptions, resolve_pipeline
from newsprep.faults import FlakyFileSystem
from newsprep.run.engine.inflight import READS_AHEAD, WRITES_BEHIND
from newsprep.tasks.stages.normalize import normalize_text, parity

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.e2e]

GOOD = sorted(p for p in Path(SAMPLE_SOURCE).rglob("*.txt") if "broken" not in p.parts)
FAST = RunOptions(workers=2, retry_delay_seconds=0.01)


def manifest(dest: Path) -> list[dict]:
    return ledger.records(dest)


def run_summary(dest: Path) -> dict:
    return json.loads((dest / "_run.json").read_text())


def make_source(root: Path, count: int = 6) -> Path:
    """`count` real sample articles under root/src, in two folders."""
    src = root / "src"
    for index, article in enumerate(GOOD[:count]):
        target = src / ("first" if index % 2 else "second") / article.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(article, target)
    return src


def tree(root: Path) -> dict[str, bytes]:
    """The files under ROOT but the run's ledger and summary."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not ledger.is_ledger_file(p.relative_to(root).as_posix())
    }


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch):
    """Configure the flaky:// filesystem for this process and its worker processes."""

    def configure(**options: object) -> None:
        monkeypatch.delenv("FSSPEC_FLAKY", raising=False)
        apply_storage_options(["flaky:///"], options)

    yield configure
    fsspec.config.conf.pop("flaky", None)
    os.environ.pop("FSSPEC_FLAKY", None)  # set by apply_storage_options for the workers


def test_good_and_broken_files(tmp_path: Path) -> None:
    src = make_source(tmp_path, 4)
    (src / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (src / "empty.txt").write_bytes(b"  \n\t\n")
    (src / "notes.md").write_text("not an article")
    dest = tmp_path / "out"

    summary = run_flow(str(src), str(dest), options=FAST)

    records = {r["id"]: r for r in manifest(dest)}
    assert sorted(records) == sorted(
        [str(p.relative_to(src)) for p in src.rglob("*.txt")]
    ), "one record per discovered article"
    broken, empty = records.pop("broken.txt"), records.pop("empty.txt")
    assert (broken["status"], broken["reason"]) == ("rejected", "binary-content")
    assert "NUL byte" in broken["detail"]
    assert (empty["status"], empty["reason"]) == ("rejected", "empty-output")
    # the quarantine keeps the original bytes and the reason
    kept = dest / broken["quarantine"]
    assert kept.read_bytes() == (src / "broken.txt").read_bytes()
    assert json.loads(Path(f"{kept}.reason.json").read_text())["reason"] == "binary-content"
    for record in records.values():
        assert record["status"] == "ok" and record["attempts"] == 1
        written = (dest / record["output"]).read_bytes()
        assert hashlib.sha256(written).hexdigest() == record["sha256"]
        text = written.decode("utf-8")
        assert text.endswith("\n") and not text.endswith("\n\n")
        assert text == text.lower()
        assert record["tokens"] == len(text.split())
    assert not (dest / "notes.md").exists()
    assert summary.counts == {"ok": 4, "rejected": 2, "failed": 0, "skipped": 0}
    assert summary.discovered == sum(summary.counts.values()) == 6
    assert summary.reasons == {"binary-content": 1, "empty-output": 1}
    assert summary.ignored_files == 1
    assert set(summary.versions) >= {"newsprep", "prefect", "ftfy", "sacremoses"}
    assert summary.config_fingerprint and summary.pipeline["unicode_fix"]["normalization"]


def test_same_input_same_bytes(tmp_path: Path) -> None:
    src = make_source(tmp_path, 6)
    run_flow(str(src), str(tmp_path / "one"), options=FAST)
    run_flow(
        str(src), str(tmp_path / "two"), options=RunOptions(workers=1, batch_size=1)
    )
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert len(one) == 6  # six articles
    assert one == two
    assert len(manifest(tmp_path / "one")) == 6
    assert manifest(tmp_path / "one") == manifest(tmp_path / "two")


def test_transient_read_errors_are_retried(tmp_path: Path, flaky) -> None:
    # 16 articles: the plan (a hash of each path) hits all or none with odds of 2 in 65,536
    # whatever the temp directory is called; with 6 it was 1 in 32
    src = make_source(tmp_path, 16)
    flaky(fail_fraction=0.5, failures=2)
    dest = tmp_path / "out"

    summary = run_flow(f"flaky://{src}", str(dest), options=FAST)

    plan = FlakyFileSystem(fail_fraction=0.5)
    expected = {
        str(p.relative_to(src)): 3 if plan.chosen("read", str(p)) else 1
        for p in src.rglob("*.txt")
    }
    assert 0 < list(expected.values()).count(3) < len(expected), "the plan hits some, not all"
    records = manifest(dest)
    assert {r["id"]: r["attempts"] for r in records} == expected
    assert {r["status"] for r in records} == {"ok"}
    assert summary.counts["ok"] == 16


def test_permanent_fault_fails_the_article_and_the_budget(tmp_path: Path, flaky) -> None:
    src = make_source(tmp_path, 4)
    victim = sorted(src.rglob("*.txt"))[0]
    flaky(always_fail=str(victim))
    dest = tmp_path / "out"

    state = run_flow(f"flaky://{src}", str(dest), options=FAST, return_state=True)

    assert state.is_failed()
    assert "max_failure_rate" in state.message or "failed" in state.message
    records = {r["id"]: r for r in manifest(dest)}
    failed = records[str(victim.relative_to(src))]
    assert (failed["status"], failed["reason"]) == ("failed", "read-error")
    assert failed["attempts"] == FAST.max_attempts
    assert "ConnectionResetError" in failed["detail"]
    assert [r["status"] for r in records.values()].count("ok") == 3
    # everything that succeeded was written before the run was marked failed
    assert all((dest / r["output"]).exists() for r in records.values() if r["status"] == "ok")

    lenient = FAST.model_copy(update={"max_failure_rate": 0.5})
    state = run_flow(
        f"flaky://{src}", str(tmp_path / "lenient"), options=lenient, return_state=True
    )
    assert state.is_completed()


def test_rerun_skips_unchanged_and_redoes_changed(tmp_path: Path) -> None:
    src = make_source(tmp_path, 5)
    dest = tmp_path / "out"
    run_flow(str(src), str(dest), options=FAST)
    first = tree(dest)

    second = run_flow(str(src), str(dest), options=FAST)
    assert second.counts["skipped"] == 5 and second.changes["skipped"] == 5
    assert tree(dest) == first

    changed = sorted(src.rglob("*.txt"))[1]
    changed.write_text(changed.read_text() + "A new closing paragraph was added today.\n")
    third = run_flow(str(src), str(dest), options=FAST)
    assert third.changes == {"new": 0, "changed": 1, "retried": 0, "skipped": 4}
    assert "a new closing paragraph was added today ." in (
        dest / changed.relative_to(src)
    ).read_text()

    forced = run_flow(
        str(src), str(dest), options=FAST.model_copy(update={"force": True})
    )
    assert forced.counts["ok"] == 5 and forced.changes["new"] == 0

    other = run_flow(str(src), str(dest), profile="cnndm", options=FAST)
    assert other.counts["ok"] == 5, "a different config fingerprint reprocesses"


def test_batch_size_one_names_task_runs_after_articles(tmp_path: Path) -> None:
    src = make_source(tmp_path, 3)
    state = run_flow(
        str(src), str(tmp_path / "out"),
        options=RunOptions(workers=2, batch_size=1), return_state=True,
    )
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        flow_run = client.read_flow_run(flow_run_id)
    names = sorted(run.name for run in task_runs)
    articles = sorted(f"article {p.relative_to(src)}" for p in src.rglob("*.txt"))
    assert [n for n in names if n.startswith("article ")] == articles
    assert any(n.startswith("discover-articles") for n in names)
    assert flow_run.name == f"normalize-corpus: {src} → {tmp_path / 'out'}"

    kinds = {a.type: a for a in artifacts}
    assert "| ok | 3 |" in kinds["markdown"].data
    assert kinds["progress"].data == 100.0


def test_worker_crash_reruns_the_batch_without_redoing_finished_articles(
    tmp_path: Path, flaky
) -> None:
    # batches larger than what a batch has in flight (reads ahead, writes behind), so a
    # crash finds most of the batch finished
    size = READS_AHEAD + WRITES_BEHIND + 24
    src = tmp_path / "src"
    for n in range(2 * size):
        target = src / f"part-{n // 50}" / f"{n:04d}-{GOOD[n % len(GOOD)].name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOOD[n % len(GOOD)], target)
    ordered = sorted(str(p.relative_to(src)) for p in src.rglob("*.txt"))
    victim = src / ordered[-1]  # the last article of batch 1
    markers, reads = tmp_path / "markers", tmp_path / "reads.log"
    markers.mkdir()
    flaky(crash_once=str(victim), crash_marker_dir=str(markers), read_log=str(reads))
    dest = tmp_path / "out"

    summary = run_flow(
        f"flaky://{src}", str(dest),
        options=RunOptions(workers=2, batch_size=size, task_unit="batch"),
    )

    assert list(markers.iterdir()), "the worker process really died once"
    assert summary.counts["ok"] == 2 * size and summary.discovered == 2 * size
    records = manifest(dest)
    assert [r["status"] for r in records] == ["ok"] * 2 * size
    assert all((dest / r["output"]).exists() for r in records)
    log = reads.read_text().splitlines()
    read_counts = {name: log.count(str(src / name)) for name in ordered}
    # Batch 1 was past all but its last READS_AHEAD + WRITES_BEHIND + 1 articles when
    # its last read killed the worker: the rerun read none of the ones it had finished.
    first, second = ordered[:size], ordered[size:]
    assert read_counts[second[-1]] == 2
    assert {read_counts[name] for name in second} <= {1, 2}
    assert sum(read_counts[name] == 1 for name in second) >= size - 1 - READS_AHEAD - WRITES_BEHIND
    # the dying worker took the pool down, batch 0 with it: at most what batch 0 had in
    # flight is read again, never an article it had finished
    assert {read_counts[name] for name in first} <= {1, 2}
    assert sum(read_counts[name] == 2 for name in first) <= READS_AHEAD + WRITES_BEHIND + 1


@pytest.mark.parametrize("runner", ["process", pytest.param("dask", marks=pytest.mark.e2e)])
def test_worker_crash_reruns_the_shards_and_every_article_ends_once(
    tmp_path: Path, flaky, runner: str
) -> None:
    """By shards: a worker that dies breaks the pool (or a local Dask cluster's worker:
    its task fails at once); the shards in flight run again (the one that killed it too),
    and every article has one record, ok."""
    src = tmp_path / "src"
    for n in range(200):
        target = src / f"part-{n // 50}" / f"{n:04d}-{GOOD[n % len(GOOD)].name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOOD[n % len(GOOD)], target)
    ordered = sorted(str(p.relative_to(src)) for p in src.rglob("*.txt"))
    victim = src / ordered[-1]
    markers, reads = tmp_path / "markers", tmp_path / "reads.log"
    markers.mkdir()
    flaky(crash_once=str(victim), crash_marker_dir=str(markers), read_log=str(reads))
    dest = tmp_path / "out"

    options = RunOptions(workers=2, batch_size=20, runner=runner)
    summary = run_flow(f"flaky://{src}", str(dest), options=options)

    assert list(markers.iterdir()), "the worker process really died once"
    assert summary.counts["ok"] == 200 and summary.discovered == 200
    records = manifest(dest)
    assert [r["id"] for r in records] == ordered and {r["status"] for r in records} == {"ok"}
    assert all((dest / r["output"]).exists() for r in records)
    log = reads.read_text().splitlines()
    read_counts = {name: log.count(str(src / name)) for name in ordered}
    assert read_counts[ordered[-1]] == 2
    assert set(read_counts.values()) <= {1, 2}, "a rerun reads an article once more at most"


def test_fast_engine_with_parity_sample_records_every_sampled_article(tmp_path: Path) -> None:
    src = make_source(tmp_path, 4)
    # Han text and a URL's final period: where the C++ tokenizer alone would differ
    (src / "han.txt").write_text(
        "Visitors in Beijing read the sign 北京欢迎你 at the station entrance every day.\n"
        "Details are at https://example.com/visit.html.\n",
        encoding="utf-8",
    )
    options = FAST.model_copy(update={"parity_sample": 1.0})
    summary = run_flow(
        str(src), str(tmp_path / "fast"), tokenizer_engine="fast", options=options
    )
    run_flow(str(src), str(tmp_path / "reference"), options=FAST)

    records = {r["id"]: r for r in manifest(tmp_path / "fast")}
    assert {r["status"] for r in records.values()} == {"ok"}
    assert "北 京 欢 迎 你" in (tmp_path / "fast" / "han.txt").read_text(encoding="utf-8")
    for record in records.values():  # every article sampled, each the reference's bytes
        assert record["parity"] == "same"
        out = record["output"]
        assert (tmp_path / "fast" / out).read_bytes() == (tmp_path / "reference" / out).read_bytes()
    assert summary.parity == {"same": 5}
    assert "opus-fast-mosestokenizer" in summary.versions
    assert summary.pipeline["tokenize"]["engine"] == "fast"


def test_parity_reports_where_an_output_differs_from_the_reference() -> None:
    raw = b"The first line.\nThe second line.\n"
    config = resolve_pipeline("default", {})
    ours = normalize_text(raw, config)
    assert parity(raw, ours, config) == "same"
    changed = replace(ours, text=ours.text.replace("second", "2nd"))
    assert parity(raw, changed, config) == (
        "differs: text line 2: 'the 2nd line .' here, 'the second line .' from sacremoses"
    )


def test_parity_sample_takes_the_same_articles_every_time(tmp_path: Path) -> None:
    src = make_source(tmp_path, 6)
    fast = {"tokenize.engine": "fast"}
    options = FAST.model_copy(update={"parity_sample": 0.5})
    sampled = []
    for name in ("one", "two"):
        run_flow(str(src), str(tmp_path / name), overrides=fast, options=options)
        sampled.append(sorted(r["id"] for r in manifest(tmp_path / name) if r["parity"]))
    assert sampled[0] == sampled[1]
    assert 0 < len(sampled[0]) < 6


@pytest.mark.parametrize("kind", ["jsonl", "tar"])
def test_progress_moves_without_a_total(tmp_path: Path, kind: str) -> None:
    """A JSONL file or an archive has no article count up front; the progress bar and the
    progress log line still end at the count, read back from the Prefect server."""
    from archives import build_tar, story_text
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker
    from source_files import jsonl, write

    src = tmp_path / "src"
    if kind == "jsonl":
        write(src / "news.jsonl", jsonl(*({"id": f"a{n}", "text": story_text(n).split("@")[0]}
                                          for n in range(5))))
    else:
        write(src / "news.tgz", build_tar([(f"s{n}.story", story_text(n).encode())
                                           for n in range(5)]))
    state = run_flow(str(src), str(tmp_path / "out"), options=FAST, return_state=True)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    [progress] = [a for a in artifacts if a.type == "progress"]
    assert progress.data == 100.0
    assert progress.description.startswith("Articles processed: 5/5 articles (100%), ")
    assert any(log.message.startswith("5/5 articles (100%), ") for log in logs), [
        log.message for log in logs]
