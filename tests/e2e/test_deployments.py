"""The deployments end to end: a real `prefect server`, `prefect deploy`, a real worker.

What a user does (deployments/README.md), step by step, against a throwaway server:
create the work pool, register deployments/prefect.yaml, start a process worker, trigger
the adhoc deployment with parameters, and read the files, the manifest and the artifacts.
`newsprep serve` is checked the same way, on a server of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import pairwise
from pathlib import Path
from uuid import UUID

import ledger
import pytest

from newsprep.local_server import SERVER_SETTINGS

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "newsprep" / "sample"
PREFECT_FILE = "deployments/prefect.yaml"
BIN = Path(sys.executable).parent
POOL = "newsprep-process"
NIGHTLY = "normalize-corpus/normalize-corpus-nightly"
ADHOC = "normalize-corpus/normalize-corpus-adhoc"
RUN_TIMEOUT = 180  # seconds a flow run may take from trigger to a final state

pytestmark = pytest.mark.e2e


# --- processes -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """A subprocess in its own process group, so teardown reaches its children too."""
    with log.open("wb") as out:
        return subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            # the leader is gone; its children may not be
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class Server:
    def __init__(self, url: str, env: dict[str, str], home: Path) -> None:
        self.url, self.env, self.home = url, env, home

    def cli(
        self, *args: str, cwd: Path = REPO, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "prefect"), *args],
            env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        )

    @contextmanager
    def client(self):
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.url}), get_client(
            sync_client=True
        ) as client:
            yield client


@contextmanager
def prefect_server(home: Path) -> Iterator[Server]:
    """Prefect's server on a free port with its own PREFECT_HOME; always stopped."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # the worker polls every 2 s, not 10
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",  # schedules every 5 s, not 60
        **SERVER_SETTINGS,  # as `newsprep server start` runs it
        "PREFECT_CLI_WRAP_LINES": "false",
        "COLUMNS": "200",
    }
    env.pop("PREFECT_PROFILE", None)
    log = home / "server.log"
    server = _start(  # the server `newsprep server start` runs (newsprep/prefect_server.py)
        [sys.executable, "-m", "newsprep.prefect_server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env, log, cwd=home,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"prefect server exited with {server.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after 90 s:\n{_tail(log)}")
            time.sleep(0.5)
        yield Server(url, env, home)
    finally:
        _stop(server)


def _wait_final(server: Server, flow_run_id: UUID, log: Path, timeout: float = RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            if time.monotonic() > deadline:
                pytest.fail(
                    f"flow run {flow_run_id} still {flow_run.state_name} after {timeout} s; "
                    f"log:\n{_tail(log)}"
                )
            time.sleep(1)


def _copy_sample(folder: Path) -> Path:
    shutil.copytree(SAMPLE, folder)
    return folder


def _articles(source: Path) -> set[str]:
    return {p.relative_to(source).as_posix() for p in source.rglob("*.txt")}


def _manifest(dest: Path) -> list[dict]:
    return ledger.records(dest)


def _summary(dest: Path) -> dict:
    return json.loads((dest / "_run.json").read_text())


# --- prefect.yaml on a server with a worker ----------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(server: Server) -> Server:
    pool = server.cli("work-pool", "create", POOL, "--type", "process")
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deploy = server.cli("deploy", "--all", "--prefect-file", PREFECT_FILE)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return server


@pytest.fixture(scope="module")
def worker_log(deployed: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`prefect worker start --pool newsprep-process`, started outside the repository."""
    folder = tmp_path_factory.mktemp("worker")
    log = folder / "worker.log"
    worker = _start(
        [str(BIN / "prefect"), "worker", "start", "--pool", POOL], deployed.env, log, cwd=folder
    )
    try:
        yield log
    finally:
        _stop(worker)


def _config_param(**config: object) -> str:
    """`--param` value of the flow's one parameter, as the README writes it."""
    return "config=" + json.dumps({k: str(v) for k, v in config.items()})


def _trigger(server: Server, *params: str, extra: tuple[str, ...] = ()) -> UUID:
    """`prefect deployment run` as the README shows it; returns the flow run's id."""
    args = [arg for param in params for arg in ("--param", param)]
    result = server.cli("deployment", "run", ADHOC, *args, *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
    assert found, result.stdout
    return UUID(found.group(1))


@pytest.fixture(scope="module")
def first_run(deployed: Server, worker_log: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("adhoc")
    source, dest = _copy_sample(work / "src"), work / "out"
    flow_run_id = _trigger(deployed, _config_param(source=source, dest=dest))
    flow_run = _wait_final(deployed, flow_run_id, worker_log)
    return flow_run, source, dest


def test_schedules(deployed: Server) -> None:
    with deployed.client() as client:
        nightly = client.read_deployment_by_name(NIGHTLY)
        adhoc = client.read_deployment_by_name(ADHOC)
    [schedule] = nightly.schedules
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == "UTC"
    assert schedule.slug == "every day at 02:00 UTC"  # the UI's label of the schedule
    assert schedule.active
    assert adhoc.schedules == []
    for deployment in (nightly, adhoc):
        assert deployment.work_pool_name == POOL
        assert deployment.entrypoint == "flows/normalize_corpus.py:normalize_corpus"
        # the build step baked the repository's absolute path into the pull step
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]
        assert deployment.parameters["config"]["source"] == "newsprep/sample"
        assert deployment.parameters["config"]["profile"] == "default"
    assert nightly.parameters["config"]["dest"] == "out/nightly"
    assert adhoc.parameters["config"]["dest"] == "out/adhoc"


def _fields(schema: dict, model: str) -> dict:
    return schema["definitions"][model]["properties"]


def test_parameter_form(deployed: Server) -> None:
    """The schema the UI renders its run form from: one `config` parameter whose fields
    are all plain inputs (drop-downs for choices, numbers with bounds), none Optional."""
    with deployed.client() as client:
        deployment = client.read_deployment_by_name(ADHOC)
    assert deployment.enforce_parameter_schema
    schema = deployment.parameter_openapi_schema
    assert set(schema["properties"]) == {"config"}
    run = _fields(schema, "RunConfig")
    options = _fields(schema, "RunOptions")
    assert set(run) == {"source", "dest", "profile", "overrides", "tokenizer_engine", "options"}
    assert run["profile"]["enum"] == ["default", "cnndm", "moses", "wmt"]
    assert run["tokenizer_engine"]["enum"] == ["profile", "sacremoses", "fast"]
    assert run["source"]["type"] == run["dest"]["type"] == "string"
    assert run["overrides"]["type"] == "object" and run["overrides"]["default"] == {}
    assert schema["definitions"]["RunOptions"]["additionalProperties"] is False
    assert options["max_failure_rate"]["maximum"] == 1
    assert options["batch_size"]["type"] == options["workers"]["type"] == "integer"
    assert options["batch_size"]["minimum"] == options["workers"]["minimum"] == 0
    assert options["dask_address"]["type"] == "string"
    assert {"process", "thread"} <= set(options["runner"]["enum"])
    for name, field in {**run, **options}.items():
        # an Optional field is an anyOf with null: a type switch in the form, not a field
        assert "anyOf" not in field and field.get("type") != "null", name
        assert name == "options" or "default" in field, name


def test_parameter_form_describes_every_field(deployed: Server) -> None:
    with deployed.client() as client:
        schema = client.read_deployment_by_name(ADHOC).parameter_openapi_schema
    fields = {**_fields(schema, "RunConfig"), **_fields(schema, "RunOptions")}
    assert [name for name, field in fields.items()
            if name != "options" and not field.get("description")] == []


@pytest.mark.parametrize(
    ("param", "field", "reason"),
    [
        (
            'config={"profile": "nope"}',
            "'config.profile'",
            "'nope' is not one of ['default', 'cnndm', 'moses', 'wmt']",
        ),
        (
            'config={"options": {"max_failure_rate": 5}}',
            "'config.options.max_failure_rate'",
            "5 is greater than the maximum of 1",
        ),
        ('config={"options": {"workers": -1}}', "'config.options.workers'", ""),
        ('config={"options": {"bogus": 1}}', "'config.options'", "'bogus' was unexpected"),
        ('config={"tokenizer_engine": "perl"}', "'config.tokenizer_engine'", "'perl'"),
        ('config={"sourc": "x"}', "'config'", "'sourc' was unexpected"),
        (
            'config={"overrides": {"tokenize.langg": "de"}}',
            "'config.overrides'",
            "'tokenize.langg' is not one of ['description', 'input', 'input.format'",
        ),
    ],
)
def test_bad_parameter_fails_fast(deployed: Server, param: str, field: str, reason: str) -> None:
    """The API refuses the run before it is created; the message names the field."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    adhoc_runs = DeploymentFilter(name=DeploymentFilterName(any_=["normalize-corpus-adhoc"]))
    with deployed.client() as client:
        before = len(client.read_flow_runs(deployment_filter=adhoc_runs))
    result = deployed.cli("deployment", "run", ADHOC, "--param", param)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert f"Validation failed for field {field}" in output
    assert reason in output
    with deployed.client() as client:
        # no flow run was created
        assert len(client.read_flow_runs(deployment_filter=adhoc_runs)) == before


def test_adhoc_run(deployed: Server, first_run, worker_log: Path) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flow_run, source, dest = first_run
    assert flow_run.state.is_completed(), f"{flow_run.state}\n{_tail(worker_log)}"
    assert flow_run.name == f"normalize-corpus: {source} → {dest}"

    articles = _articles(source)
    broken = "broken/corrupted-upload.txt"
    assert len(articles) == 25 and broken in articles
    for article in articles - {broken}:
        output = dest / article
        assert output.is_file() and output.stat().st_size > 0, article
    assert not (dest / broken).exists()

    records = {record["id"]: record for record in _manifest(dest)}
    assert set(records) == articles  # one record per article
    assert records[broken]["status"] == "rejected"
    assert {records[a]["status"] for a in articles - {broken}} == {"ok"}
    summary = _summary(dest)
    assert summary["discovered"] == 25
    assert summary["counts"] == {"ok": 24, "rejected": 1, "failed": 0, "skipped": 0}

    with deployed.client() as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    by_type = {artifact.type: artifact for artifact in artifacts}
    assert set(by_type) >= {"markdown", "progress"}, artifacts
    report = by_type["markdown"]
    key = report.key
    assert re.fullmatch(r"corpus-[a-z0-9-]*out-[0-9a-f]{8}", key), key  # one per destination
    assert "| ok | 24 |" in report.data and "| rejected | 1 |" in report.data
    assert f"to `{dest}`" in report.data and "file://" not in report.data
    progress = by_type["progress"]
    assert progress.key == f"{key}-progress" and float(progress.data) == 100
    assert progress.description.startswith("Articles processed: 25/25 articles (100%)")


def test_second_run_is_incremental(deployed: Server, first_run, worker_log: Path) -> None:
    """The same deployment, same parameters again: nothing is rewritten."""
    flow_run, source, dest = first_run
    assert flow_run.state.is_completed()
    outputs = {a: (dest / a).stat().st_mtime_ns for a in _articles(source) if (dest / a).exists()}

    second_id = _trigger(deployed, _config_param(source=source, dest=dest))
    second = _wait_final(deployed, second_id, worker_log)
    assert second.state.is_completed(), f"{second.state}\n{_tail(worker_log)}"
    summary = _summary(dest)
    # every good article is skipped; the rejected one keeps its record, not tried again
    assert summary["counts"] == {"ok": 0, "rejected": 1, "failed": 0, "skipped": 24}
    assert summary["changes"] == {"new": 0, "changed": 0, "retried": 0, "skipped": 25}
    assert {a: (dest / a).stat().st_mtime_ns for a in outputs} == outputs  # not rewritten


def test_chosen_run_name_is_kept(deployed: Server, worker_log: Path, tmp_path: Path) -> None:
    """A name given to the run (the UI form's Run Name, --flow-run-name) stays; only a
    generated one becomes `normalize-corpus: SOURCE → DEST` (test_adhoc_run)."""
    source, dest = _copy_sample(tmp_path / "src"), tmp_path / "out"
    flow_run_id = _trigger(
        deployed, _config_param(source=source, dest=dest),
        extra=("--flow-run-name", "backfill-march"),
    )
    flow_run = _wait_final(deployed, flow_run_id, worker_log)
    assert flow_run.state.is_completed(), f"{flow_run.state}\n{_tail(worker_log)}"
    assert flow_run.name == "backfill-march"


def _deploy(server: Server, folder: Path, spec: dict, deployment: dict) -> str:
    """`prefect deploy` of one more deployment, in a prefect.yaml of its own; its name."""
    import yaml

    prefect_file = folder / "prefect.yaml"
    prefect_file.write_text(yaml.safe_dump({**spec, "deployments": [deployment]}))
    deploy = server.cli("deploy", "--prefect-file", str(prefect_file), "--name", deployment["name"])
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return f"normalize-corpus/{deployment['name']}"


def test_partial_override_keeps_the_deployments_settings(
    deployed: Server, worker_log: Path, tmp_path: Path
) -> None:
    """`--param 'config={"source": ...}'` changes the source only: the run writes to the
    deployment's dest with its profile and options; nested fields merge the same way."""
    import yaml

    source, dest = _copy_sample(tmp_path / "src"), tmp_path / "deployed-dest"
    spec = yaml.safe_load((REPO / PREFECT_FILE).read_text())
    [adhoc] = [d for d in spec["deployments"] if d["name"] == "normalize-corpus-adhoc"]
    partial = {
        **adhoc,
        "name": "normalize-corpus-partial",
        "parameters": {"config": {
            "source": str(tmp_path / "not-this-one"), "dest": str(dest), "profile": "cnndm",
            "overrides": {"validation.min_tokens": 2},
            "options": {"workers": 1, "max_failure_rate": 0.5},
        }},
    }
    name = _deploy(deployed, tmp_path, spec, partial)
    try:
        result = deployed.cli(
            "deployment", "run", name, "--param",
            'config=' + json.dumps({"source": str(source), "options": {"batch_size": 5}}),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        found = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
        assert found, result.stdout
        flow_run = _wait_final(deployed, UUID(found.group(1)), worker_log)
    finally:
        with deployed.client() as client:
            client.delete_deployment(client.read_deployment_by_name(name).id)
    assert flow_run.state.is_completed(), f"{flow_run.state}\n{_tail(worker_log)}"
    assert flow_run.name == f"normalize-corpus: {source} → {dest}"
    summary = _summary(dest)
    assert summary["counts"]["ok"] == 24 and summary["profile"] == "cnndm"
    assert summary["overrides"] == {"validation.min_tokens": 2}
    assert summary["options"]["workers"] == 1 and summary["options"]["batch_size"] == 5
    assert summary["options"]["max_failure_rate"] == 0.5
    assert not (tmp_path / "not-this-one").exists()


def test_config_error_fails_at_once(deployed: Server, worker_log: Path, tmp_path: Path) -> None:
    """A run that cannot start (no such source) fails without retries, its one-line reason
    in the state message and in what `--watch` prints; no traceback in the logs."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    missing = tmp_path / "no-such-folder"
    started = time.monotonic()
    result = deployed.cli(
        "deployment", "run", ADHOC, "--param", _config_param(source=missing, dest=tmp_path / "o"),
        "--watch", "--watch-timeout", str(RUN_TIMEOUT),
    )
    watched = result.stdout + result.stderr
    assert result.returncode == 1, watched
    reason = f"source '{missing}' does not exist"
    assert reason in watched, watched
    found = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
    assert found, watched
    with deployed.client() as client:
        [flow_run] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(found.group(1))]))
        )
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[flow_run.id])
        ))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
    assert flow_run.state.is_failed()
    assert flow_run.state.message == f"cannot run: {reason} (or is not readable)"
    # tried once: the planning retries transient errors only
    assert [t.run_count for t in task_runs if t.name.startswith("plan-shards")] == [1]
    messages = [log.message for log in logs]
    assert f"cannot run: {reason} (or is not readable)" in messages
    # Prefect's engine logs its own traceback for every failed deployment run; none of
    # newsprep's code is in it (the error was handled where it arose)
    ours = [f'File "{REPO}/{folder}/' for folder in ("newsprep", "flows", "tasks")]
    assert not [m for m in messages if any(frame in m for frame in ours)]
    assert time.monotonic() - started < RUN_TIMEOUT


# --- schedules: the server creates flow runs, the worker runs them ------------------------


def _runs_of(client, deployment_name: str, state_type: str | None = None):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    flow_run_filter = None
    if state_type is not None:
        flow_run_filter = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(state_type)]))
        )
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
        flow_run_filter=flow_run_filter,
    )


def _server_tracebacks(server: Server) -> list[str]:
    log = (server.home / "server.log").read_text(errors="replace")
    return [line for line in log.splitlines() if "Traceback" in line or "Error" in line]


def test_nightly_schedule_creates_runs(deployed: Server) -> None:
    """The server's scheduler turns the nightly cron into Scheduled flow runs at 02:00 UTC."""
    from datetime import UTC, datetime, timedelta

    deadline = time.monotonic() + 90  # the scheduler loop runs every 5 s here, 60 s by default
    with deployed.client() as client:
        while not (runs := _runs_of(client, "normalize-corpus-nightly", "SCHEDULED")):
            if time.monotonic() > deadline:
                pytest.fail("no Scheduled run for the nightly deployment after 90 s:\n"
                            + _tail(deployed.home / "server.log"))
            time.sleep(1)
    starts = sorted(run.expected_start_time.astimezone(UTC) for run in runs)
    now = datetime.now(UTC)
    next_two_am = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if next_two_am <= now:
        next_two_am += timedelta(days=1)
    assert starts[0] == next_two_am, starts[:3]
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(starts))
    assert all(run.auto_scheduled for run in runs)
    assert _server_tracebacks(deployed) == []


def test_every_minute_cron_runs(
    deployed: Server, worker_log: Path, tmp_path: Path
) -> None:
    """A deployment on an every-minute cron gets a run from the scheduler, and the worker
    runs it: the corpus is written, with no trigger from the test."""
    import yaml

    source, dest = _copy_sample(tmp_path / "src"), tmp_path / "out"
    spec = yaml.safe_load((REPO / PREFECT_FILE).read_text())
    [nightly] = [d for d in spec["deployments"] if d["name"] == "normalize-corpus-nightly"]
    every_minute = {
        **nightly,
        "name": "normalize-corpus-every-minute",
        "parameters": {
            "config": {**nightly["parameters"]["config"], "source": str(source), "dest": str(dest)}
        },
        "schedules": [{"cron": "* * * * *", "timezone": "UTC", "active": True}],
    }
    name = _deploy(deployed, tmp_path, spec, every_minute)
    try:
        deadline = time.monotonic() + 150  # the next minute, the scheduler, the run itself
        with deployed.client() as client:
            while True:
                runs = _runs_of(client, "normalize-corpus-every-minute")
                done = [run for run in runs if run.state is not None and run.state.is_final()]
                if done:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"no finished scheduled run after 150 s: {runs}\n"
                                f"{_tail(worker_log)}")
                time.sleep(2)
        run = done[0]
        assert run.auto_scheduled
        assert run.state.is_completed(), f"{run.state}\n{_tail(worker_log)}"
        assert _summary(dest)["counts"] == {"ok": 24, "rejected": 1, "failed": 0, "skipped": 0}
        for article in _articles(source) - {"broken/corrupted-upload.txt"}:
            assert (dest / article).stat().st_size > 0, article
    finally:
        with deployed.client() as client:
            client.delete_deployment(client.read_deployment_by_name(name).id)
    assert _server_tracebacks(deployed) == []


# --- newsprep serve ------------------------------------------------------------------------


def test_serve(tmp_path: Path) -> None:
    """`newsprep serve` registers the same deployments and runs them itself (no worker)."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with prefect_server(tmp_path / "prefect-home") as server:
        log = tmp_path / "serve.log"
        serving = _start([str(BIN / "newsprep"), "serve"], server.env, log, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 60
            with server.client() as client:
                while True:
                    names = {d.name for d in client.read_deployments()}
                    if {"normalize-corpus-nightly", "normalize-corpus-adhoc"} <= names:
                        break
                    if serving.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"newsprep serve did not register:\n{_tail(log)}")
                    time.sleep(0.5)
                nightly = client.read_deployment_by_name(NIGHTLY)
                adhoc = client.read_deployment_by_name(ADHOC)
            [schedule] = nightly.schedules
            assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "UTC")
            assert adhoc.schedules == []
            assert adhoc.parameters == {
                "config": {"source": "newsprep/sample", "dest": "out/adhoc", "profile": "default"}
            }
            assert adhoc.parameter_openapi_schema["properties"]["config"]

            source, dest = _copy_sample(tmp_path / "src"), tmp_path / "out"
            with temporary_settings(updates={PREFECT_API_URL: server.url}):
                flow_run = run_deployment(
                    ADHOC,
                    parameters={"config": {"source": str(source), "dest": str(dest)}},
                    timeout=RUN_TIMEOUT,
                    poll_interval=1,
                )
            assert flow_run.state.is_completed(), f"{flow_run.state}\n{_tail(log)}"
            assert _summary(dest)["counts"]["ok"] == 24
        finally:
            _stop(serving)
