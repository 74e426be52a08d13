"""The local Prefect server newsprep runs report to when PREFECT_API_URL is not set.

`newsprep server start` starts a lasting one (API and UI on 127.0.0.1, in the background,
its database in PREFECT_HOME) and records it in `PREFECT_HOME/newsprep-server.json`; every
later `newsprep run` and `newsprep serve` finds it there, so all runs share one history
and none waits for a server to start. Without one, `newsprep run` starts a temporary
server for the run (`temporary_server`). Servers write their output to a log file, never
to the terminal.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsprep.lifeline import interrupts_held

DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 90.0  # a fresh database is migrated first: ~10 s here, more when busy
STOP_TIMEOUT_SECONDS = 15.0
TEMPORARY_LOG_PREFIX = "newsprep-temporary-server-"

# A local server and the CLI send nothing to analytics services; there is no network here
# to reach them, and the client's attempt printed an error.
QUIET_ENVIRONMENT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class ServerError(RuntimeError):
    """A local server could not be started, found or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    url: str  # the API: http://127.0.0.1:PORT/api
    ui: str
    log: str
    started_at: str
    database: str = "SQLite"  # or the PostgreSQL URL, without its password


def quiet_environment() -> None:
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def configured_api_url() -> str | None:
    """The Prefect API the environment or a Prefect profile names (None: none does), read
    as `newsprep run` and `newsprep serve` begin: their first Prefect import, quieted, with
    Ctrl-C held until it is done (a KeyboardInterrupt inside it comes out as a SchemaError
    that Prefect logs with a traceback)."""
    quiet_environment()
    with interrupts_held():
        from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def prefect_home() -> Path:
    # Settings() reads the environment and profile without importing prefect.context,
    # whose settings snapshot must be taken after PREFECT_API_URL is set for the run.
    with interrupts_held():  # `newsprep server ...`'s first Prefect import: Ctrl-C after it
        from prefect.settings import Settings

    return Path(Settings().home).expanduser()


@contextmanager
def use_api(api_url: str, ui: bool = True) -> Iterator[None]:
    """Point this process's Prefect settings, and the processes it starts, at a server;
    send the buffered logs and events there before leaving. `ui=False`: a server without
    a UI, so no links to it are printed."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    updates = {PREFECT_API_URL: api_url} if ui else {PREFECT_API_URL: api_url, PREFECT_UI_URL: ""}
    os.environ["PREFECT_API_URL"] = api_url
    try:
        with temporary_settings(updates=updates):
            try:
                yield
            finally:
                _flush_to_api()
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def _flush_to_api() -> None:
    """Send buffered run logs and events while the server is still up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    from newsprep.run.orchestration.report import PREFECT_API

    if PREFECT_API.gone is not None:
        return  # nothing to send them to
    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


def state_file() -> Path:
    return prefect_home() / "newsprep-server.json"


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state() -> ServerInfo | None:
    """The recorded lasting server, or None (a stale record of a dead one is removed)."""
    path = state_file()
    try:
        info = ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(info.pid):
        path.unlink(missing_ok=True)
        return None
    return info


def running_server() -> ServerInfo | None:
    """The lasting server when it is up and answering."""
    info = read_state()
    return info if info is not None and healthy(info.url, timeout=2.0) else None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as uvicorn binds: a port of a server just stopped (TIME_WAIT) is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # Ctrl-C in the terminal goes to newsprep, which stops it
        )


def _wait_healthy(process: subprocess.Popen, api_url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(api_url, timeout=1.0):
        if process.poll() is not None:
            raise ServerError(
                f"the Prefect server exited with code {process.returncode} while starting; "
                f"its log: {log}\n{_tail(log)}"
            )
        if time.monotonic() > deadline:
            _terminate(process)
            raise ServerError(
                f"the Prefect server did not answer within {timeout:.0f} s (a busy machine, "
                f"or several servers starting at once?); its log: {log}"
            )
        time.sleep(0.2)


def _terminate(process: subprocess.Popen | int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the server's process group, SIGKILL it if still there after `timeout`."""
    pid = process if isinstance(process, int) else process.pid
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if isinstance(process, subprocess.Popen):
            if process.poll() is not None:
                break
        elif not _alive(pid):
            break
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if isinstance(process, subprocess.Popen):
        process.wait()


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# Settings of the servers newsprep starts (defaults: the environment may override them).
SERVER_SETTINGS = {
    # SQLite waits up to 60 s for a lock (Prefect's default is 10 s): on a small, busy
    # machine the server's services and concurrent runs otherwise fail with "database is
    # locked"
    "PREFECT_SERVER_DATABASE_TIMEOUT": "60",
    # flow run logs are streamed to subscribers, so `prefect deployment run --watch` shows
    # them (a failed run's reason among them); Prefect's default shows only state changes
    "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
    "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
    # the UI opens on Prefect's classic UI (V1), which labels a schedule with its slug
    # ("every day at 02:00 UTC"); the V2 UI shows only the cron. Both stay available.
    "PREFECT_SERVER_UI_V2_ENABLED": "false",
}


def _server_environment() -> dict[str, str]:
    env = {**SERVER_SETTINGS, **QUIET_ENVIRONMENT, **os.environ}  # the user's own values win
    env.pop("PREFECT_API_URL", None)
    return env


DATABASE_URL_SETTING = "PREFECT_SERVER_DATABASE_CONNECTION_URL"


def database_url(url: str) -> str:
    """A PostgreSQL URL as Prefect's server takes it (postgresql+asyncpg://...)."""
    from urllib.parse import urlsplit

    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+asyncpg"
    if not sep or scheme != "postgresql+asyncpg" or not urlsplit(url).hostname:
        raise ServerError(
            f"--database-url {_without_password(url)!r} is not a PostgreSQL URL: give "
            "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return f"{scheme}://{rest}"


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    return url.replace(f":{password}@", ":***@", 1)


def start(port: int = DEFAULT_PORT, database: str | None = None) -> tuple[ServerInfo, bool]:
    """Start the lasting server (API and UI) unless it runs already; (info, started now).

    Its database: SQLite in PREFECT_HOME, or the PostgreSQL database of `database` (or of
    PREFECT_SERVER_DATABASE_CONNECTION_URL)."""
    env = _server_environment()
    if database:
        env[DATABASE_URL_SETTING] = database_url(database)
    current = running_server()
    if current is not None:
        wanted = _without_password(env[DATABASE_URL_SETTING]) if database else current.database
        if wanted != current.database:
            raise ServerError(
                f"the local Prefect server runs already, on database {current.database}; "
                "stop it first (`newsprep server stop`) to start one on another"
            )
        return current, False
    if not _port_free(port):
        raise ServerError(
            f"port {port} on 127.0.0.1 is in use by another program; choose another with "
            f"`newsprep server start --port N`"
        )
    home = prefect_home()
    log = home / "newsprep-server.log"
    api_url = f"http://127.0.0.1:{port}/api"
    env.setdefault("PREFECT_UI_API_URL", api_url)  # the UI's API: Prefect assumes port 4200
    process = _launch(
        [sys.executable, "-m", "newsprep.prefect_server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        log, env,
    )
    _wait_healthy(process, api_url, log, START_TIMEOUT_SECONDS)
    info = ServerInfo(
        pid=process.pid, url=api_url, ui=f"http://127.0.0.1:{port}", log=str(log),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        database=_without_password(env.get(DATABASE_URL_SETTING) or "SQLite"),
    )
    state_file().write_text(json.dumps(asdict(info)))
    return info, True


def stop() -> ServerInfo | None:
    """Stop the lasting server; the one stopped, or None when none was running."""
    info = read_state()
    if info is None:
        return None
    _terminate(info.pid)
    state_file().unlink(missing_ok=True)
    return info


def flow_run_count(api_url: str) -> int | None:
    request = urllib.request.Request(
        f"{api_url}/flow_runs/count", data=b"{}", method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(json.loads(response.read()))
    except (OSError, ValueError):
        return None


def _remove_dead_servers_logs(home: Path) -> None:
    """Remove the logs temporary servers of killed runs left (their run's pid is gone)."""
    for path in home.glob(f"{TEMPORARY_LOG_PREFIX}*.log"):
        pid = path.name[len(TEMPORARY_LOG_PREFIX) : -len(".log")]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


@contextmanager
def temporary_server() -> Iterator[str]:
    """A Prefect server (API only) for one run: started, yielded as its API URL, stopped.

    Its output goes to a log file in PREFECT_HOME, so no server shutdown noise reaches the
    terminal; the file is removed when the server stops, kept when it failed to start.
    """
    home = prefect_home()
    _remove_dead_servers_logs(home)
    log = home / f"{TEMPORARY_LOG_PREFIX}{os.getpid()}.log"
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**_server_environment(), "PREFECT_UI_ENABLED": "false"}
    # bound to this process (newsprep/lifeline.py): a kill -9 of the run stops it too
    process = _launch(
        [sys.executable, "-m", "newsprep.lifeline", str(os.getpid()),
         "-m", "uvicorn", "--factory", "newsprep.prefect_server:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        log, env,
    )
    _wait_healthy(process, api_url, log, START_TIMEOUT_SECONDS)  # its log stays if not
    try:
        yield api_url
    finally:
        _terminate(process)
        log.unlink(missing_ok=True)
