"""The stage pool's worker processes (newsprep/run/engine/pool.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import BrokenExecutor
from pathlib import Path

import fsspec.config
import pytest
from run_helpers import file_refs, make_job

from newsprep.run.engine.forkserver import start_fork_server
from newsprep.run.engine.pool import StagePool


def test_each_pool_gives_its_workers_the_environment_of_its_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fork server outlives a run (it starts once per process); a later run's workers
    must still see that run's environment (credentials, FSSPEC_* options)."""
    start_fork_server()
    with StagePool(2) as pool:
        assert pool._current().submit(os.getenv, "NEWSPREP_POOL_MARK").result() is None
    monkeypatch.setenv("NEWSPREP_POOL_MARK", "second run")
    with StagePool(2) as pool:
        workers = [pool._current().submit(os.getenv, "NEWSPREP_POOL_MARK") for _ in range(4)]
        assert {future.result() for future in workers} == {"second run"}


def test_a_command_that_never_loaded_the_fast_engine_gets_workers_that_run_it(
    source: Path, tmp_path: Path
) -> None:
    """As `newsprep run` does: the command checks the fast engine without loading it, the
    fork server loads it, and each worker takes the command's environment (without the
    variables the engine's import set in the fork server)."""
    code = f"""
import os, sys
from pathlib import Path
from newsprep.config import resolve_pipeline
from newsprep.run.engine.batch import Job
from newsprep.run.engine.forkserver import start_fork_server
from newsprep.run.engine.pool import StagePool
from newsprep.tasks.io.refs import ArticleRef
assert "mosestokenizer" not in sys.modules and "TOKENIZER_SHARED_DIR" not in os.environ
start_fork_server(("mosestokenizer",))
pipeline = resolve_pipeline("moses", {{"tokenize.engine": "fast"}})
job = Job(source_root={str(source)!r}, dest_root={str(tmp_path / "out")!r}, pipeline=pipeline)
refs = [ArticleRef(id=str(p.relative_to({str(source)!r})), source=p.as_uri(), path=str(p))
        for p in sorted(Path({str(source)!r}).rglob("*.txt"))]
with StagePool(2) as pool:
    print(sorted((r.status, r.reason) for r in pool.run(refs, 0, job)))
"""
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZER_SHARED_DIR"}
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    expected = [("ok", None)] * 4 + [("rejected", "binary-content")]
    assert shown.stdout.strip() == str(expected), shown.stderr[-3000:]


def test_a_dying_worker_fails_its_batch_and_the_next_batch_gets_a_fresh_pool(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = file_refs(source)
    markers = tmp_path / "markers"
    markers.mkdir()
    # reading refs[1] kills the worker process, once
    options = {"crash_once": refs[1].path, "crash_marker_dir": str(markers)}
    monkeypatch.setitem(fsspec.config.conf, "flaky", options)
    job = make_job(f"flaky://{source}", tmp_path / "out")
    with StagePool(1) as pool:
        with pytest.raises(BrokenExecutor):
            pool.run(refs, 0, job)
        assert list(markers.iterdir()), "the worker really died"
        records = pool.run(refs, 0, job)
    assert [r.id for r in records] == [r.id for r in refs]
    assert [r.status for r in records].count("ok") == len(refs) - 1  # all but the binary one


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux's /proc")
@pytest.mark.e2e  # a subprocess: stopping the fork server ends multiprocessing's use of it
def test_stop_fork_server_leaves_no_process_behind() -> None:
    code = """
import os
from newsprep.run.engine.forkserver import start_fork_server, stop_fork_server
from newsprep.run.engine.pool import StagePool
start_fork_server()
with StagePool(2) as pool:
    assert pool._current().submit(os.getpid).result() != os.getpid()
stop_fork_server()
children = [
    int(pid) for task in os.listdir("/proc/self/task")
    for pid in open(f"/proc/self/task/{task}/children").read().split()
]
commands = [open(f"/proc/{pid}/cmdline", "rb").read() for pid in children]
print(sum(b"forkserver" in command for command in commands), "fork servers left")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "0 fork servers left", result.stderr


def _die() -> None:
    os._exit(9)  # as a worker killed (kill -9, out of memory) does


def test_a_pool_whose_worker_died_before_the_flow_took_it_starts_afresh(
    source: Path, tmp_path: Path
) -> None:
    """A worker of the groups begun while the command imports Prefect (early.py) dies
    before the flow takes the pool: the flow's start of it makes a fresh pool (it raised
    BrokenProcessPool, and the run ended in a traceback)."""
    with StagePool(1) as pool:
        dead = pool._current()
        died = dead.submit(_die)
        with pytest.raises(BrokenExecutor):
            died.result()
        pool.start()
        records = pool.run(file_refs(source), 0, make_job(str(source), tmp_path / "out"))
    assert [r.status for r in records].count("ok") == len(records) - 1  # but the binary one
