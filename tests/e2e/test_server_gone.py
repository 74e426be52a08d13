"""#19 class 7: the Prefect server dies mid-run (kill -9, or `newsprep server stop`). The
text work does not need it: the run finishes its articles, writes the manifest and
_run.json, says in one line that the server went away, and exits as the run went (0)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import ledger
import pytest

from tests.e2e.test_local_server import NEWSPREP, _free_port, newsprep

pytestmark = pytest.mark.e2e

ARTICLES = 3000
WORDS = ["the", "council", "approved", "a", "new", "budget", "on", "tuesday", "after",
         "a", "long", "debate", "about", "roads"]


def _source(root: Path) -> Path:
    pick = random.Random(19)
    for n in range(ARTICLES):
        path = root / f"part-{n // 500}" / f"article-{n:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        # long enough that one worker is still busy when `newsprep server stop`, itself a
        # command of a second or two, has stopped the server (200 words took 2 s in all)
        path.write_text(" ".join(pick.choice(WORDS) for _ in range(1000)).capitalize() + ".\n")
    return root


def _running_flow_runs(api_url: str) -> int:
    request = urllib.request.Request(
        f"{api_url}/flow_runs/count", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.load(response))


@pytest.mark.parametrize("how", ["kill -9", "newsprep server stop"])
def test_a_run_whose_server_dies_finishes_without_it(tmp_path: Path, how: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    src, dest = _source(tmp_path / "src"), tmp_path / "out"
    started = newsprep("server", "start", "--port", str(_free_port()), env=env, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    server = json.loads((tmp_path / "prefect-home" / "newsprep-server.json").read_text())
    run = subprocess.Popen(
        [*NEWSPREP, "run", str(src), str(dest), "--workers", "1", "--batch-size", "20"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        # the command begins its first shards before its flow runs (newsprep/run/early.py):
        # the server goes away once the flow run is running, and articles are done
        while ledger.journaled(dest) < 100 or not _running_flow_runs(server["url"]):
            assert run.poll() is None and time.monotonic() < deadline, "no progress"
            time.sleep(0.2)
        assert run.poll() is None, "the run ended before the server went away"
        if how == "kill -9":
            os.kill(server["pid"], signal.SIGKILL)
        else:
            assert newsprep("server", "stop", env=env, cwd=tmp_path).returncode == 0
        _, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
        newsprep("server", "stop", env=env, cwd=tmp_path)

    assert run.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-5000:]
    went = [line for line in stderr.splitlines() if line.startswith("newsprep: the Prefect")]
    assert len(went) == 1 and "went away during the run" in went[0], stderr[-3000:]
    assert "the corpus, its ledger and _run.json are complete" in went[0]
    records = ledger.records(dest)
    assert len(records) == ARTICLES and {r["status"] for r in records} == {"ok"}
    assert json.loads((dest / "_run.json").read_text())["counts"]["ok"] == ARTICLES
    assert len(list(dest.rglob("article-*.txt"))) == ARTICLES
    assert not ledger.journals(dest)
