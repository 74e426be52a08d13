"""Mapped batches on a real Dask cluster: a scheduler and two worker processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
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
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
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
