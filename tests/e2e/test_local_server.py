"""`newsprep server`: a lasting local Prefect server that later runs find by themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=10) as ui:
            ui_settings = json.loads(ui.read())
        assert ui_settings["api_url"] == api_url  # the UI calls this server
        assert ui_settings["default_ui"] == "v1"  # the UI that labels schedules by slug

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


def _wait_for(condition, what: str, log: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"{what} after {timeout} s; log:\n{tail}")
        time.sleep(0.5)
    return value


def _deployment(api_url: str, name: str) -> dict | None:
    try:
        with urllib.request.urlopen(
            f"{api_url}/deployments/name/normalize-corpus/{name}", timeout=10
        ) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        return None


def _serve(env: dict[str, str], cwd: Path, log: Path, *args: str) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([*NEWSPREP, "serve", *args], env=env, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)


def _stop_serving(serving: subprocess.Popen, log: Path) -> str:
    """SIGTERM, as a service manager stops it; returns what it printed."""
    serving.send_signal(signal.SIGTERM)
    try:
        code = serving.wait(timeout=60)
    except subprocess.TimeoutExpired:
        serving.kill()
        pytest.fail(f"newsprep serve still running 60 s after SIGTERM:\n{log.read_text()}")
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert "never awaited" not in output and "Traceback" not in output, output
    return output


@contextmanager
def lasting_server(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    """`newsprep server start` on a free port, PREFECT_HOME in tmp_path, always stopped:
    (the environment without PREFECT_API_URL, the API URL, what start printed)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    port = _free_port()
    started = newsprep("server", "start", "--port", str(port), env=env, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    try:
        yield env, f"http://127.0.0.1:{port}/api", started.stderr
    finally:
        stopped = newsprep("server", "stop", env=env, cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr


def test_serve_on_the_lasting_server(tmp_path: Path) -> None:
    """The README's way: `newsprep server start`, then `newsprep serve` (no PREFECT_API_URL),
    then `prefect deployment run`; a renamed schedule slug replaces the schedule."""
    with lasting_server(tmp_path) as (env, api_url, _):
        _serve_and_rename_a_schedule(tmp_path, env, api_url)


def _serve_and_rename_a_schedule(tmp_path: Path, env: dict[str, str], api_url: str) -> None:
    prefect_env = {**env, "PREFECT_API_URL": api_url}
    log = tmp_path / "serve.log"
    serving = _serve(env, tmp_path, log)
    try:
        nightly = _wait_for(lambda: _deployment(api_url, "normalize-corpus-nightly"),
                            "no nightly deployment", log)
        _wait_for(lambda: _deployment(api_url, "normalize-corpus-adhoc"), "no adhoc", log)
        assert "serving on the local Prefect server" in log.read_text()
        [schedule] = nightly["schedules"]
        assert schedule["slug"] == "every day at 02:00 UTC"  # the UI's label
        dest = tmp_path / "out"
        triggered = subprocess.run(
            [str(Path(sys.executable).parent / "prefect"), "deployment", "run",
             "normalize-corpus/normalize-corpus-adhoc", "--param",
             json.dumps({"source": str(SAMPLE), "dest": str(dest)}).join(["config=", ""]),
             "--watch", "--watch-timeout", "180"],
            env=prefect_env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
        )
        assert triggered.returncode == 0, triggered.stdout + triggered.stderr + log.read_text()
        assert "Completed" in triggered.stdout
        assert json.loads((dest / "_run.json").read_text())["counts"]["ok"] == 24
    finally:
        output = _stop_serving(serving, log)
    assert "All deployments have been paused" in output

    # prefect.yaml with the nightly schedule's slug renamed, served again
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "deployments").mkdir()
    repo = Path(__file__).resolve().parents[2]
    (project / "flows" / "normalize_corpus.py").symlink_to(repo / "flows" / "normalize_corpus.py")
    spec = (repo / "deployments" / "prefect.yaml").read_text()
    assert "slug: every day at 02:00 UTC" in spec
    renamed = project / "deployments" / "prefect.yaml"
    renamed.write_text(spec.replace("slug: every day at 02:00 UTC", "slug: nightly at 2 UTC"))
    log = tmp_path / "serve-again.log"
    serving = _serve(env, tmp_path, log, "--prefect-file", str(renamed))
    try:
        def renamed_schedule() -> list | None:
            schedules = (_deployment(api_url, "normalize-corpus-nightly") or {})["schedules"]
            return schedules if any(s["slug"] == "nightly at 2 UTC" for s in schedules) else None

        schedules = _wait_for(renamed_schedule, "no renamed schedule", log)
        assert [(s["slug"], s["schedule"]["cron"]) for s in schedules] == [
            ("nightly at 2 UTC", "0 2 * * *")
        ]
    finally:
        _stop_serving(serving, log)


def _post(api_url: str, path: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{api_url}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sqlite_server_takes_concurrent_writes(tmp_path: Path) -> None:
    """Workers' heartbeats and new flow runs from 24 clients at once: every write succeeds.
    (Prefect's own SQLite transactions answered ~90% of these 503 "database is locked"
    on 2 cores: newsprep/prefect_server.py.)"""
    from concurrent.futures import ThreadPoolExecutor

    with lasting_server(tmp_path) as (_, api_url, started):
        assert "database SQLite" in started
        assert _post(api_url, "/work_pools/", {"name": "pool", "type": "process"}) == 201
        request = urllib.request.Request(
            f"{api_url}/flows/", data=b'{"name": "f"}', method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            flow_id = json.loads(response.read())["id"]

        def client(n: int) -> list[int]:
            statuses = []
            for i in range(20):
                statuses.append(_post(api_url, "/work_pools/pool/workers/heartbeat",
                                      {"name": f"worker-{n}", "heartbeat_interval_seconds": 30}))
                statuses.append(_post(api_url, "/flow_runs/",
                                      {"flow_id": flow_id, "name": f"run-{n}-{i}"}))
            return statuses

        with ThreadPoolExecutor(24) as pool:
            statuses = [s for batch in pool.map(client, range(24)) for s in batch]
        assert {s: statuses.count(s) for s in set(statuses)} == {204: 480, 201: 480}
        log = (tmp_path / "prefect-home" / "newsprep-server.log").read_text(errors="replace")
        assert "database is locked" not in log and "Traceback" not in log


def _postgres_bin(name: str) -> str | None:
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture
def postgres(tmp_path: Path):
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's package; .ci/run installs it),
    run as the `postgres` user when the tests run as root. Yields its URL."""
    import shutil
    import tempfile

    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; CI has it)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="newsprep-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    run(initdb, "-D", str(data), "-U", "newsprep", "-A", "trust", "--no-sync")
    run(pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        run(_postgres_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port),
            "-U", "newsprep", "prefect")
        yield f"postgresql+asyncpg://newsprep:not-shown@127.0.0.1:{port}/prefect"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_server_on_postgresql(tmp_path: Path, postgres: str) -> None:
    """`newsprep server start --database-url postgresql+asyncpg://...`: runs report to it
    and their history is in PostgreSQL, not in a SQLite file."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    home = tmp_path / "prefect-home"
    env["PREFECT_HOME"] = str(home)
    port = _free_port()
    started = newsprep("server", "start", "--port", str(port), "--database-url", postgres,
                       env=env, cwd=tmp_path)
    try:
        assert started.returncode == 0, started.stderr
        shown = postgres.replace(":not-shown@", ":***@")
        assert f"database {shown}" in started.stderr and "not-shown" not in started.stderr
        run = newsprep("run", str(SAMPLE), str(tmp_path / "out"), env=env, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "reporting to the local Prefect server" in run.stderr
        status = newsprep("server", "status", env=env, cwd=tmp_path)
        assert status.returncode == 0 and "1 flow runs" in status.stderr, status.stderr
        assert f"database {shown}" in status.stderr
    finally:
        stopped = newsprep("server", "stop", env=env, cwd=tmp_path)
    assert stopped.returncode == 0
    assert not list(home.glob("*.db"))  # no SQLite database
    port_of = postgres.rsplit(":", 1)[1].split("/")[0]
    psql = subprocess.run(
        [_postgres_bin("psql") or "psql", "-h", "127.0.0.1", "-p", port_of, "-U", "newsprep",
         "-d", "prefect", "-At", "-c", "select name, state_type from flow_run"],
        capture_output=True, text=True, timeout=60,
    )
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.split("\n")[0].endswith(f"{tmp_path / 'out'}|COMPLETED"), psql.stdout
