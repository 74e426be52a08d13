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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from newsprep.config import ConfigError

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
ENTRYPOINT = "flows/normalize_corpus.py:normalize_corpus"


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

    local_server.quiet_environment()
    if not os.environ.get("PREFECT_API_URL") and (lasting := local_server.running_server()):
        os.environ["PREFECT_API_URL"] = lasting.url
        print(f"newsprep: serving on the local Prefect server, UI at {lasting.ui}", flush=True)
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # A temporary server would share this process group: Ctrl-C stops it first, and
        # the runner then hangs trying to pause the schedules on a server that is gone.
        raise ConfigError(
            "newsprep serve needs a lasting Prefect server: run `newsprep server start` "
            "(or point PREFECT_API_URL at one)"
        )
    prefect_file = Path(prefect_file or DEFAULT_PREFECT_FILE)
    deployments = build_deployments(prefect_file)
    os.chdir(project_root(prefect_file))
    prefect_serve(*deployments, limit=limit)
    return 0
