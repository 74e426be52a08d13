"""Mapped batches on a real Dask cluster: a scheduler and two worker processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import ledger
import pytest
from flowrun import run_flow

from newsprep.config import SAMPLE_SOURCE, RunOptions

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.e2e]
DASK = [sys.executable, "-m", "distributed.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    with started_cluster(tmp_path, dict(os.environ)) as address:
        yield address


@contextlib.contextmanager
def started_cluster(tmp_path: Path, environ: dict[str, str]):
    """A scheduler and two workers with this environment (as a remote cluster's own)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    assert dask, "the dask command comes with distributed (newsprep[dask])"
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", ":0", "--no-show"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers = [
        subprocess.Popen(
            [dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
             "--host", "127.0.0.1", "--dashboard-address", ":0",
             "--local-directory", str(tmp_path / f"worker-{n}")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n in range(2)
    ]
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()




def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not ledger.is_ledger_file(p.relative_to(root).as_posix())
    }


@pytest.mark.parametrize("unit", ["shard", "batch"])
def test_dask_cluster_output_equals_local_run(
    tmp_path: Path, dask_cluster: str, unit: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(SAMPLE_SOURCE, src)
    local, dask = tmp_path / "local", tmp_path / "dask"
    run_flow(str(src), str(local), options=RunOptions(workers=2))
    summary = run_flow(
        str(src), str(dask),
        options=RunOptions(
            runner="dask", dask_address=dask_cluster, batch_size=5, task_unit=unit
        ),
    )
    assert summary.counts["ok"] == 24
    if unit == "batch":
        assert summary.batches == 5 and summary.shards == 0
    else:  # a shard a folder of articles, a shard a JSONL file or archive
        files = [p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".")]
        containers = [p for p in files if p.name.endswith((".jsonl", ".tar", ".tar.gz"))]
        folders = {p.parent for p in files if p not in containers}
        assert summary.shards == len(folders) + len(containers)
    assert read_tree(dask) == read_tree(local)
    assert ledger.records(dask) == ledger.records(local)
    assert summary.options["runner"] == "dask"
    assert summary.options["workers"] == 2  # not given: the cluster's threads


NEWSPREP = [sys.executable, "-m", "newsprep.cli"]
STORY = "Story {}: the council met on Monday and voted for the new road to the port.\n"


def local_cluster_run(src: Path, dest: Path, *more: str) -> subprocess.Popen:
    """`newsprep run --runner dask` with no address: the command starts a local cluster."""
    return subprocess.Popen(
        [*NEWSPREP, "run", str(src), str(dest), "--runner", "dask", "--workers", "2", *more],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def test_cli_local_dask_cluster_equals_a_process_run(tmp_path: Path) -> None:
    """The command's own local cluster (its workers forked from the run's fork server,
    distributed and the Prefect tasks imported there once) writes what the stage pool
    writes, and leaves no process behind."""
    import psutil

    src = tmp_path / "src"
    shutil.copytree(SAMPLE_SOURCE, src)
    local, dask = tmp_path / "local", tmp_path / "dask"
    process = subprocess.run([*NEWSPREP, "run", str(src), str(local), "--workers", "2"],
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    run = local_cluster_run(src, dask)
    helpers: dict = {}  # the cluster's processes as they come, and their command lines
    while run.poll() is None:
        time.sleep(0.05)
        try:
            for child in psutil.Process(run.pid).children(recursive=True):
                if child not in helpers:
                    helpers[child] = " ".join(child.cmdline())
        except psutil.Error:  # the run, or a child, ended as it was looked at
            continue
    assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-3000:]
    assert read_tree(dask) == read_tree(local)
    assert ledger.records(dask) == ledger.records(local)
    # forked, they carry the fork server's command line (spawned ones: spawn_main)
    commands = list(helpers.values())
    assert sum("multiprocessing.forkserver" in c for c in commands) >= 3, commands
    assert not any("spawn_main" in c for c in commands), commands
    _, alive = psutil.wait_procs(list(helpers), timeout=30)
    assert not alive, [" ".join(p.cmdline())[:120] for p in alive]


def test_kill_9_of_a_local_dask_cluster_run_ends_its_workers(tmp_path: Path) -> None:
    """kill -9 of the command alone (not its process group) ends the fork server and the
    Dask workers forked from it; the rerun finishes the corpus."""
    import psutil

    src = tmp_path / "src"
    src.mkdir()
    for number in range(3000):
        (src / f"a{number:04d}.txt").write_text(STORY.format(number))
    dest = tmp_path / "out"
    run = local_cluster_run(src, dest, "--batch-size", "20")
    deadline = time.monotonic() + 150
    while ledger.journaled(dest) < 100:
        assert run.poll() is None, run.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)
    helpers = psutil.Process(run.pid).children(recursive=True)
    assert len(helpers) >= 3, [" ".join(p.cmdline())[:120] for p in helpers]  # server, workers
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    _, alive = psutil.wait_procs(helpers, timeout=30)
    assert not alive, [" ".join(p.cmdline())[:120] for p in alive]
    rerun = subprocess.run([*NEWSPREP, "run", str(src), str(dest), "--runner", "dask"],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(list(dest.glob("a*.txt"))) == 3000


def test_a_remote_clusters_workers_get_the_commands_storage_options(
    tmp_path: Path, s3, s3_server: str
) -> None:
    """Workers of a cluster started elsewhere, whose environment knows no S3 endpoint or
    credentials, read and write S3 with those the command was given (`--storage-option`),
    and have their own settings back once the run ends."""
    for number in range(6):
        s3.pipe_file(f"raw/news/{number}.txt", STORY.format(number).encode())
    bare = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    bare.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                AWS_DEFAULT_REGION="us-east-1")
    given = [f"endpoint_url={s3_server}", "key=testing-key-id", "secret=testing-secret-key"]
    with started_cluster(tmp_path, bare) as address:
        run = subprocess.run(
            [*NEWSPREP, "run", "s3://raw/news", "s3://clean/news", "--runner", "dask",
             "--dask-address", address, *(f"--storage-option={o}" for o in given)],
            capture_output=True, text=True, timeout=300, env=bare,
        )
        from distributed import Client

        with Client(address, timeout=60) as client:
            after = client.run(lambda: dict(__import__("fsspec").config.conf))

    assert run.returncode == 0, run.stderr[-3000:]
    s3.invalidate_cache()
    assert sorted(s3.find("clean/news/")) == sorted(
        [f"clean/news/{n}.txt" for n in range(6)]
        + [p for p in s3.find("clean/news/") if "/_" in p]
    )
    assert s3.cat_file("clean/news/0.txt") == (
        b"story 0 : the council met on monday and voted for the new road to the port .\n"
    )
    assert len(after) == 2 and all("s3" not in conf for conf in after.values()), after


def test_a_lasting_clusters_workers_list_s3_afresh_every_run(tmp_path: Path, s3) -> None:
    """A cluster's workers live on from run to run, and so do their s3fs filesystems, which
    keep every listing they make: the second run's workers listed SOURCE as the first had
    seen it, so an object put since got no record (silently left out) and one deleted
    since was tried (`failed`, read-error). Each run has its workers list them afresh."""
    for desk in ("a", "b"):
        for number in range(3):
            s3.pipe_file(f"raw/desks/{desk}/{number}.txt", STORY.format(number).encode())
    with started_cluster(tmp_path, dict(os.environ)) as address:
        options = RunOptions(runner="dask", dask_address=address)
        first = run_flow("s3://raw/desks", "s3://clean/desks", options=options)
        s3.pipe_file("raw/desks/a/new.txt", STORY.format(7).encode())
        s3.pipe_file("raw/desks/b/new.txt", STORY.format(8).encode())
        s3.rm_file("raw/desks/b/1.txt")
        s3.invalidate_cache()  # as a new command's flow process starts
        again = run_flow("s3://raw/desks", "s3://clean/desks", options=options)

    assert first.counts["ok"] == 6
    s3.invalidate_cache()
    records = {r["id"]: r["status"] for r in ledger.records("s3://clean/desks")}
    assert sorted(records) == [
        "a/0.txt", "a/1.txt", "a/2.txt", "a/new.txt", "b/0.txt", "b/2.txt", "b/new.txt",
    ]
    assert "failed" not in records.values()
    assert again.counts == {"ok": 2, "rejected": 0, "failed": 0, "skipped": 5}
    assert (again.changes["new"], again.removed_articles) == (2, 1)
    assert s3.cat_file("clean/desks/b/new.txt") == (
        b"story 8 : the council met on monday and voted for the new road to the port .\n"
    )
    assert not s3.exists("clean/desks/b/1.txt")
