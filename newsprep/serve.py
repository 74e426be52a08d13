"""`newsprep serve`: the deployments of deployments/prefect.yaml, served by one process.

No work pool and no worker: `prefect.serve` registers the deployments (same names,
schedules, parameters and descriptions as `prefect deploy --all --prefect-file
deployments/prefect.yaml`) and runs their flow runs as subprocesses of this process.
prefect.yaml stays the one source of truth; this module only reads it.

Both ways register the same deployment names, so on one Prefect server use one or the
other: whichever registered last owns the deployment. When `serve` stops, Prefect pauses
the served schedules (`pause_on_shutdown`); `prefect deploy` makes them active again.
"""

from __future__ import annotations

import datetime
import os
import signal
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from newsprep.config import ConfigError
from newsprep.lifeline import interrupts_held

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
ENTRYPOINT = "flows/normalize_corpus.py:normalize_corpus"
FLOW_NAME = "normalize-corpus"


def load_specs(prefect_file: Path = DEFAULT_PREFECT_FILE) -> list[dict[str, Any]]:
    """The `deployments:` entries of a prefect.yaml (YAML anchors and merges resolved)."""
    try:
        document = yaml.safe_load(Path(prefect_file).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read {prefect_file}: {exc.strerror}") from None
    specs = document.get("deployments") or []
    if not specs:
        raise ConfigError(f"{prefect_file} defines no deployments")
    for spec in specs:
        if spec.get("entrypoint") != ENTRYPOINT:
            raise ConfigError(
                f"{prefect_file}: deployment {spec.get('name')!r} has entrypoint "
                f"{spec.get('entrypoint')!r}; newsprep serve only serves {ENTRYPOINT}"
            )
    return specs


def project_root(prefect_file: Path = DEFAULT_PREFECT_FILE) -> Path:
    """The folder the entrypoint is relative to: what the pull step's directory is."""
    start = Path(prefect_file).resolve().parent
    script = ENTRYPOINT.partition(":")[0]
    for folder in (start, *start.parents):
        if (folder / script).is_file():
            return folder
    raise ConfigError(f"no {script} in {start} or above it: is {prefect_file} in the repository?")


def schedule_from_spec(spec: dict[str, Any]) -> Schedule:
    """One `schedules:` entry of prefect.yaml (cron, interval or rrule) as a Prefect Schedule."""
    from prefect.schedules import Schedule

    fields = dict(spec)
    if isinstance(fields.get("interval"), int | float):
        fields["interval"] = datetime.timedelta(seconds=fields["interval"])
    try:
        return Schedule(**fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad schedule {spec!r}: {exc}") from None


def build_deployments(prefect_file: Path = DEFAULT_PREFECT_FILE) -> list[RunnerDeployment]:
    """`flow.to_deployment(...)` for every deployment of the prefect.yaml."""
    with interrupts_held():
        from prefect.deployments.runner import EntrypointType

        from newsprep.flows.normalize_corpus import normalize_corpus

    return [
        normalize_corpus.to_deployment(
            name=spec["name"],
            description=spec.get("description"),
            tags=spec.get("tags"),
            version=spec.get("version"),
            parameters=spec.get("parameters") or {},
            schedules=[schedule_from_spec(s) for s in spec.get("schedules") or []],
            enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
            # The module path works from any working directory (a file path would not).
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in load_specs(prefect_file)
    ]


def serve(prefect_file: Path | None = None, limit: int | None = None) -> int:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM). Returns an exit code.

    Flow runs start in the repository root, like the pull step of prefect.yaml, so relative
    `source`/`dest` parameters mean the same thing in both ways of deploying.
    """
    from newsprep import local_server

    api_url = local_server.configured_api_url()
    if not api_url and (lasting := local_server.running_server()):
        api_url = lasting.url
        print(f"newsprep: serving on the local Prefect server, UI at {lasting.ui}", flush=True)
    if not api_url:
        # A temporary server would share this process group: Ctrl-C stops it first, and
        # the runner then hangs trying to pause the schedules on a server that is gone.
        raise ConfigError(
            "newsprep serve needs a lasting Prefect server: run `newsprep server start` "
            "(or point PREFECT_API_URL at one)"
        )
    prefect_file = Path(prefect_file or DEFAULT_PREFECT_FILE)
    specs = load_specs(prefect_file)
    deployments = build_deployments(prefect_file)
    root = project_root(prefect_file)
    with local_server.use_api(api_url):
        drop_replaced_schedules(specs)
        os.chdir(root)
        _run(deployments, limit)
    return 0


def drop_replaced_schedules(specs: list[dict[str, Any]]) -> None:
    """Delete the served deployments' schedules that prefect.yaml no longer has.

    Prefect updates schedules that have slugs by slug and never removes one, so a renamed
    slug would add a second schedule beside the old one.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for spec in specs:
            slugs = {schedule.get("slug") for schedule in spec.get("schedules") or []}
            try:
                deployment = client.read_deployment_by_name(f"{FLOW_NAME}/{spec['name']}")
            except ObjectNotFound:
                continue
            for schedule in deployment.schedules:
                if schedule.slug is None or schedule.slug not in slugs:
                    client.delete_deployment_schedule(deployment.id, schedule.id)


def _run(deployments: list[RunnerDeployment], limit: int | None) -> None:
    """`prefect.serve`, except that SIGTERM stops the runner as Ctrl-C does (Prefect's
    handler calls the runner's async stop without awaiting it)."""
    import asyncio

    with interrupts_held():  # Ctrl-C during Prefect's imports: one line, after them
        import prefect.runner.server  # noqa: F401 - the runner's start imports it (FastAPI)
        from prefect.runner import Runner

    class _Runner(Runner):
        def handle_sigterm(self, *args: Any) -> None:
            loop = asyncio.get_running_loop()
            self._stopping_task = loop.create_task(self._stop_once_started())

        async def _stop_once_started(self) -> None:
            # a SIGTERM between Prefect's installing this handler and the runner's start
            # (astop refuses a runner that has not started: it would serve on)
            while not self.started:
                await asyncio.sleep(0.05)
            await self.astop()

    # until the runner has started, SIGTERM stops this process as Ctrl-C does
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with suppress(KeyboardInterrupt):  # Ctrl-C: the runner has stopped
        runner = _Runner(pause_on_shutdown=True, limit=limit)
        for deployment in deployments:
            runner.add_deployment(deployment)
        names = ", ".join(deployment.name for deployment in deployments)
        print(f"newsprep: serving {names}; Ctrl-C to stop", flush=True)
        asyncio.run(runner.start())
