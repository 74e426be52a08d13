"""#19 class 7: the Prefect server dies mid-run (kill -9, or `newsprep server stop`). The
text work does not need it: the run finishes its articles, writes the manifest and
_run.json, says in one line that the server went away, and exits as the run went (0)."""

from __future__ import annotations

import http.server
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import ledger
import pytest

from tests.e2e.test_local_server import NEWSPREP, SAMPLE, _free_port, newsprep

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


def _artifacts(api_url: str) -> int:
    """Artifacts on the server: a run's flow makes its progress artifact as it begins."""
    request = urllib.request.Request(
        f"{api_url}/artifacts/count", method="POST", headers={"Content-Type": "application/json"},
        data=b"{}",
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
        # the server goes away once the flow has begun, and articles are done. Before
        # that, Prefect's engine needs it to start the flow run (the test below).
        while ledger.journaled(dest) < 100 or not _artifacts(server["url"]):
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


class _HealthOnly(http.server.BaseHTTPRequestHandler):
    """A Prefect API that answers its health check and then is gone: every other request
    has its connection closed unanswered, as a server killed right after it answered."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/health"):
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"true")
        else:
            self.close_connection = True

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_gone_before_the_flow_begins_stops_the_run_to_be_run_again(
    tmp_path: Path, prefect_server: str
) -> None:
    """The server answers the command's health check, then is gone when Prefect's engine
    starts the flow run: the command stops in one line (exit 1, no traceback) saying to
    run it again, and the run again, with a server, ends as a run never stopped."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_CLIENT_MAX_RETRIES": "0"}  # Prefect's backoff would take a minute
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthOnly)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stopped = tmp_path / "stopped"
    try:
        gone = f"http://127.0.0.1:{stub.server_address[1]}/api"
        run = newsprep("run", str(SAMPLE), str(stopped), env={**env, "PREFECT_API_URL": gone},
                       cwd=tmp_path)
    finally:
        stub.shutdown()
        stub.server_close()
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-5000:]
    said = [line for line in run.stderr.splitlines() if line.startswith("newsprep: the Prefect")]
    assert len(said) == 1 and "run the same command again" in said[0], run.stderr[-3000:]
    assert not (stopped / "_run.json").exists()

    env["PREFECT_API_URL"] = prefect_server
    again = newsprep("run", str(SAMPLE), str(stopped), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    clean = newsprep("run", str(SAMPLE), str(tmp_path / "clean"), env=env, cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert ledger.corpus_files(stopped) == ledger.corpus_files(tmp_path / "clean")
    assert [r["id"] for r in ledger.records(stopped)] == \
        [r["id"] for r in ledger.records(tmp_path / "clean")]
    assert not ledger.journals(stopped)


def test_a_configured_server_that_does_not_answer_ends_the_command_before_dest(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_API_URL": f"http://127.0.0.1:{_free_port()}/api"}  # nothing listens
    run = newsprep("run", str(SAMPLE), str(tmp_path / "out"), env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-5000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("newsprep: error: the Prefect server at ") and \
        "(PREFECT_API_URL) does not answer" in last, run.stderr
    # asked before the run began: nothing written, not even DEST
    assert not (tmp_path / "out").exists(), sorted((tmp_path / "out").rglob("*"))
