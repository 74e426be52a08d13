"""`newsprep server`: a lasting local Prefect server that later runs find by themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

NEWSPREP = [sys.executable, "-m", "newsprep.cli"]
SAMPLE = Path(__file__).resolve().parents[2] / "newsprep" / "sample"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def newsprep(*args: str, env: dict[str, str], cwd: Path, timeout: int = 180):
    return subprocess.run(
        [*NEWSPREP, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _flow_runs(api_url: str) -> list[dict]:
    request = urllib.request.Request(
        f"{api_url}/flow_runs/filter", data=b"{}", method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_lasting_server_is_used_by_later_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    port = _free_port()
    status = newsprep("server", "status", env=env, cwd=tmp_path)
    assert status.returncode == 1 and "no local Prefect server" in status.stderr

    started = newsprep("server", "start", "--port", str(port), env=env, cwd=tmp_path)
    try:
        assert started.returncode == 0, started.stderr
        api_url = f"http://127.0.0.1:{port}/api"
        assert f"UI http://127.0.0.1:{port}" in started.stderr
        state = json.loads((tmp_path / "prefect-home" / "newsprep-server.json").read_text())
        assert state["url"] == api_url
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert b"<html" in page.read().lower()  # the UI is served

        again = newsprep("server", "start", "--port", str(port), env=env, cwd=tmp_path)
        assert again.returncode == 0 and "already running" in again.stderr

        for dest in ("out1", "out2"):  # two ad hoc runs, one history
            run = newsprep("run", str(SAMPLE), str(tmp_path / dest), env=env, cwd=tmp_path)
            assert run.returncode == 0, run.stderr[-3000:]
            assert "reporting to the local Prefect server" in run.stderr
            assert "starting a temporary Prefect server" not in run.stderr
            assert json.loads((tmp_path / dest / "_run.json").read_text())["counts"]["ok"] == 24
        runs = _flow_runs(api_url)
        assert sorted(r["name"].rsplit("/", 1)[-1] for r in runs) == ["out1", "out2"]
        assert {r["state_type"] for r in runs} == {"COMPLETED"}

        status = newsprep("server", "status", env=env, cwd=tmp_path)
        assert status.returncode == 0 and "2 flow runs" in status.stderr, status.stderr
    finally:
        stopped = newsprep("server", "stop", env=env, cwd=tmp_path)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(state["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"server pid {state['pid']} still alive after stop")
    status = newsprep("server", "status", env=env, cwd=tmp_path)
    assert status.returncode == 1
