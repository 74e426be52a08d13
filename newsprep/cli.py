"""`newsprep` command line: run the normalize-corpus flow, list profiles.

Exit codes: 0 the run finished within its failure budget; 1 more articles failed than
--max-failure-rate allows (or the flow itself failed); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, NoReturn, get_args

from pydantic import ValidationError

from newsprep.config import (
    PROFILES,
    SAMPLE_SOURCE,
    ConfigError,
    RunConfig,
    RunOptions,
    TokenizeOptions,
    TokenizerEngine,
)
from newsprep.errors import STATUSES
from newsprep.lifeline import interrupts_held, quiet_interrupts
from newsprep.local_server import DEFAULT_PORT
from newsprep.run import lock as dest_lock
from newsprep.run.ledger.summary import (
    FailureBudgetExceeded,
    RemovalRefused,
    RunSummary,
    check_failure_budget,
    redact,
)
from newsprep.run.locations import (
    apply_storage_options,
    check_apart,
    describe_storage_error,
    without_credentials,
)
from newsprep.tasks.stages.fast_tokenize import require_engine

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DASK_CONNECT_SECONDS = 5.0
EXIT_CODES = """exit codes:
  0  the run finished within its failure budget
  1  more articles failed than --max-failure-rate allows (all else is written), or the
     flow run failed
  2  a usage or configuration error, named in one line; nothing was processed (also: no
     article found, and a member pattern that matched nothing or an empty archive says why).
     Or a run that would remove more of DEST's articles than --max-removal-fraction allows
     (any when SOURCE lists no file): all else is written, those are kept (--allow-removal)
  130  interrupted (Ctrl-C); run the same command again to finish"""


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string
    return key.strip(), value


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what is wrong, where the help is), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="newsprep", description="Raw news articles in, a tokenized training corpus out.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_line())
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="normalize a corpus (the normalize-corpus flow)",
        description="Normalize every article under SOURCE into DEST. Reports to the Prefect "
        "server of PREFECT_API_URL, else to the one `newsprep server start` runs, else to a "
        "temporary server started for this run.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "source", nargs="?", default=SAMPLE_SOURCE,
        help="folder, file or fsspec URL of raw articles (default: the bundled sample)",
    )
    run.add_argument("dest", nargs="?", default="out", help="output folder or URL (default: out)")
    run.add_argument(
        "--profile", default="default", choices=sorted(PROFILES),
        help="named pipeline settings; `newsprep profiles` shows them (default: default)",
    )
    run.add_argument(
        "--set", dest="overrides", action="append", type=_parse_override, default=[],
        metavar="KEY=VALUE", help="override a profile setting, e.g. --set tokenize.lang=de",
    )
    run.add_argument(
        "--tokenizer-engine", choices=get_args(TokenizerEngine),
        help=f"{TokenizeOptions.model_fields['engine'].description} (default: the "
        "profile's)",
    )
    run.add_argument(
        "--task-unit", choices=["shard", "batch"], help=_option_help("task_unit")
    )
    run.add_argument("--batch-size", type=int, help=_option_help("batch_size"))
    run.add_argument("--slice-bytes", type=int, help=_option_help("slice_bytes"))
    run.add_argument("--workers", type=int, help=_option_help("workers"))
    run.add_argument(
        "--runner", choices=["process", "thread", "dask"], help=_option_help("runner")
    )
    run.add_argument("--dask-address", help=_option_help("dask_address"))
    run.add_argument("--max-attempts", type=int, help=_option_help("max_attempts"))
    run.add_argument(
        "--retry-delay-seconds", type=float, help=_option_help("retry_delay_seconds")
    )
    run.add_argument(
        "--article-timeout-seconds", type=float, help=_option_help("article_timeout_seconds")
    )
    run.add_argument("--max-failure-rate", type=float, help=_option_help("max_failure_rate"))
    run.add_argument("--parity-sample", type=float, help=_option_help("parity_sample"))
    run.add_argument(
        "--quarantine-max-item-bytes", type=int, help=_option_help("quarantine_max_item_bytes")
    )
    run.add_argument(
        "--quarantine-max-run-bytes", type=int, help=_option_help("quarantine_max_run_bytes")
    )
    run.add_argument("--force", action="store_true", default=None, help=_option_help("force"))
    run.add_argument(
        "--max-removal-fraction", type=float, help=_option_help("max_removal_fraction")
    )
    run.add_argument(
        "--allow-removal", action="store_true", default=None, help=_option_help("allow_removal")
    )
    run.add_argument(
        "--storage-option", dest="storage_options", action="append", type=_parse_override,
        default=[], metavar="KEY=VALUE",
        help="fsspec option for SOURCE's and DEST's filesystems (repeatable), e.g. "
        "endpoint_url=http://127.0.0.1:9000; handed over in the environment, never "
        "as a flow parameter, so secrets stay out of Prefect, logs and the manifest",
    )
    commands.add_parser(
        "profiles", help="show the named profiles and their settings",
        description="Print every named profile (--profile NAME): its description, config "
        "fingerprint and every setting, as JSON. `newsprep run --set KEY=VALUE` changes "
        "one for a run, by its dotted path (e.g. tokenize.lang).",
    )
    serve = commands.add_parser(
        "serve", help="serve the deployments of deployments/prefect.yaml from this process",
        description="Register the deployments of deployments/prefect.yaml (names, schedules, "
        "parameters) and run their flow runs as subprocesses of this process, from the "
        "repository root: no work pool, no worker. Needs a lasting Prefect server "
        "(`newsprep server start`, or PREFECT_API_URL). Ctrl-C or SIGTERM stops it; Prefect "
        "then pauses the served schedules.",
    )
    serve.add_argument("--prefect-file", help="prefect.yaml to read (default: the repository's)")
    serve.add_argument("--limit", type=int, help="most flow runs at once (default: no limit)")
    server = commands.add_parser(
        "server", help="start, stop or report the local Prefect server (API and UI)",
        description="A lasting local Prefect server, in the background: later `newsprep run`s "
        "and `newsprep serve` use it by themselves (when PREFECT_API_URL is not set), so they "
        "start at once and share one run history in the UI.",
    )
    actions = server.add_subparsers(dest="action", required=True, metavar="start|stop|status")
    start = actions.add_parser(
        "start", help="start it in the background (its log and database in ~/.prefect)",
        description="Start the local Prefect server in the background, on 127.0.0.1 (API and "
        "UI), unless it runs already. Its database is SQLite in ~/.prefect, or PostgreSQL "
        "with --database-url.",
    )
    start.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default: {DEFAULT_PORT})",
    )
    start.add_argument(
        "--database-url", metavar="URL",
        help="keep the server's data in this PostgreSQL database "
        "(postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB) instead of SQLite: for "
        "several users, workers or busy schedules",
    )
    actions.add_parser("stop", help="stop it", description="Stop the local Prefect server.")
    actions.add_parser(
        "status", help="its URL, pid, database, number of flow runs and log file",
        description="Report the local Prefect server; exit 1 when none runs or it does not "
        "answer.",
    )
    return parser


def _option_help(name: str) -> str:
    field = RunOptions.model_fields[name]
    return f"{field.description} (default: {json.dumps(field.default)})"


def _version_line() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    parts = ", ".join(f"{name} {installed(name)}" for name in ("prefect", "sacremoses", "ftfy"))
    return f"newsprep {installed('newsprep')} ({parts})"


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's typed config from the command line; raises ConfigError on bad values."""
    option_names = (
        "task_unit", "batch_size", "slice_bytes", "workers", "runner", "dask_address",
        "max_attempts", "max_failure_rate",
        "force", "parity_sample", "quarantine_max_item_bytes", "quarantine_max_run_bytes",
        "retry_delay_seconds", "article_timeout_seconds",
        "max_removal_fraction", "allow_removal",
    )
    given = {name: getattr(args, name) for name in option_names}
    options = {name: value for name, value in given.items() if value is not None}
    if options.get("dask_address"):
        options.setdefault("runner", "dask")  # an address says which runner
    try:
        config = RunConfig(
            source=args.source,
            dest=args.dest,
            profile=args.profile,
            overrides=dict(args.overrides),
            tokenizer_engine=args.tokenizer_engine or "profile",
            options=RunOptions(**options),
        )
    except ValidationError as exc:
        raise ConfigError(
            "; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                      for e in exc.errors())
        ) from None
    config.pipeline()  # the profile and its overrides: valid, before anything starts
    return config


HEALTH_SECONDS = 5.0  # a configured Prefect server answers its health check in this time


def say(message: str) -> None:
    print(f"newsprep: {message}", file=sys.stderr, flush=True)


def require_answer(api_url: str) -> None:
    """ConfigError, in one line, when the configured Prefect server does not answer."""
    from newsprep.run.orchestration.health import does_not_answer

    silent = does_not_answer(api_url, HEALTH_SECONDS)
    if silent is not None:
        raise ConfigError(
            f"the Prefect server at {redact(api_url)} (PREFECT_API_URL) does not "
            f"answer ({silent}): start it, or unset PREFECT_API_URL to report to the "
            "local server"
        )


@contextmanager
def prefect_api(answered: str | None = None):
    """Use the configured Prefect API, else the lasting local server, else start a
    temporary server for this run. `answered`: a URL already asked (`require_answer`).

    Prefect's own ephemeral mode would start a server in every worker process; one
    server, announced through PREFECT_API_URL, is shared by the flow and its workers.
    """
    from newsprep import local_server

    configured = local_server.configured_api_url()
    if configured:
        if configured != answered:
            require_answer(configured)
        say(f"reporting to the Prefect server at {configured}")
        yield configured
        return
    lasting = local_server.running_server()
    if lasting is not None:
        say(f"reporting to the local Prefect server, UI at {lasting.ui}")
        with local_server.use_api(lasting.url):
            yield lasting.url
        return
    say("starting a temporary Prefect server for this run (`newsprep server start` keeps "
        "one running: runs start at once and share one history)")
    try:
        # no "View at" link: the temporary server has no UI and is gone after the run
        with local_server.temporary_server() as api_url, \
                local_server.use_api(api_url, ui=False):
            yield api_url
    except local_server.ServerError as exc:
        raise ConfigError(
            f"{exc}. Start one lasting server with `newsprep server start` and run again."
        ) from None


def run(
    config: RunConfig, storage_options: dict[str, Any] | None = None,
    started: float | None = None,
) -> int:
    started = time.monotonic() if started is None else started
    # first of all: the fork server's imports are the longest wait before the first article
    fork_server = _start_fork_server(config)
    try:
        apply_storage_options([config.source, config.dest], storage_options or {})
        # credentials in a URL become storage options: the flow's parameters carry none
        config = without_credentials(config)
        say(f"{_shown_source(config.source)} -> {redact(config.dest)}, profile {config.profile}")
        # setup problems end the command here, in one line, before a Prefect server starts
        require_engine(config.pipeline().tokenize)  # installed, and knows the language
        check_apart(config.source, config.dest)
        _check_source(config.source)
        _check_dask(config.options)
        # a server the environment names is asked before DEST is touched (one only a
        # Prefect profile names is known, and asked, once Prefect is imported)
        answered = os.environ.get("PREFECT_API_URL") or None
        if answered:
            require_answer(answered)
        lock = dest_lock.acquire(config.dest)  # also proves DEST writable
    except BaseException:
        _stop_fork_server(fork_server)
        raise
    try:
        return _run_flow(config, started, fork_server, answered)
    finally:
        dest_lock.release(lock)  # after the fork server's end: no worker of it still writes


def _shown_source(source: str) -> str:
    """SOURCE as the first line shows it: the bundled sample relative to the working
    directory when it is under it (`newsprep/sample` in a clone), else as given."""
    if source == SAMPLE_SOURCE:
        relative = os.path.relpath(source)
        if not relative.startswith(".."):
            return relative
    return redact(source)


# what a local Dask cluster's workers import besides the stages: forked from the fork
# server that imported it once, they start at once instead of each importing it
_DASK_WORKER_PRELOAD = ("distributed",)
# ... and the fast engine's C++ library (~0.15 s to load), which each worker would load
_FAST_ENGINE_PRELOAD = ("mosestokenizer",)


def _start_fork_server(config: RunConfig) -> bool:
    """Start the fork server the run's workers come from, when it has some (the stage
    pool's, a local Dask cluster's): its imports then overlap the command's checks and
    Prefect's import. Whether it started."""
    from newsprep.run.engine.forkserver import start_fork_server

    options = config.options
    local_dask = options.runner == "dask" and not options.dask_address
    if options.runner != "process" and not local_dask:
        return False
    fast = config.pipeline().tokenize.engine == "fast"
    start_fork_server(
        (_DASK_WORKER_PRELOAD if local_dask else ()) + (_FAST_ENGINE_PRELOAD if fast else ())
    )
    return True


def _stop_fork_server(started: bool) -> None:
    if started:
        from newsprep.run.engine.forkserver import stop_fork_server

        stop_fork_server()


def _run_flow(
    config: RunConfig, started: float, fork_server: bool, answered: str | None = None
) -> int:
    from newsprep.run.early import begin_early_start, can_begin_early, give_up_early_start

    if can_begin_early(config):  # the workers begin while Prefect is imported
        begin_early_start(config)
    try:
        with prefect_api(answered):
            with interrupts_held():
                from prefect.settings import (
                    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
                    temporary_settings,
                )

                from newsprep.flows.normalize_corpus import normalize_corpus

            # No flow run heartbeats: they serve workers' crash detection; this run is in
            # the foreground, and stopping the heartbeat thread costs up to 1 s at its end.
            with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                try:
                    state = normalize_corpus(config, return_state=True)
                    result = state.result(raise_on_failure=False)
                except Exception as exc:
                    if _server_gone() is None:
                        _went_away_unseen(exc)
                    state = result = None  # Prefect could not record the end of the run
    finally:
        give_up_early_start()  # the flow took it, unless the run ended before its flow
        _stop_fork_server(fork_server)
    if _server_gone() is not None:
        from newsprep.run.orchestration.report import PREFECT_API

        PREFECT_API.discard_pending()  # what the run's end queued for the server
        return _finished_without_server(config, result, started)
    summary = getattr(result, "summary", result)  # FailureBudgetExceeded carries it
    if isinstance(summary, RunSummary):
        print(render_summary(summary, wall_seconds=time.monotonic() - started), file=sys.stderr)
    if isinstance(summary, RunSummary) and not summary.discovered and summary.warnings:
        print(f"newsprep: error: no articles found: {summary.warnings[0]}", file=sys.stderr)
        return EXIT_USAGE
    if state.is_completed():
        return EXIT_OK
    if isinstance(result, RemovalRefused):
        print(f"newsprep: error: {result}", file=sys.stderr)
        return EXIT_USAGE
    print(f"newsprep: run {state.name.lower()}: {redact(str(state.message))}", file=sys.stderr)
    return EXIT_FAILED


def _server_gone() -> str | None:
    """What was seen when the Prefect server went away during the run, or None."""
    from newsprep.run.orchestration.report import PREFECT_API

    return PREFECT_API.gone


def _went_away_unseen(exc: Exception) -> None:
    """Prefect's engine could not reach the server where the run does not ask first: as
    it starts the flow run (before the flow begins: the run stops, to be run again) or
    records its end. `_finished_without_server` says which; what is not the server's
    absence is raised again."""
    from newsprep.run.orchestration.report import PREFECT_API, unreachable

    if not unreachable(exc):
        raise exc
    PREFECT_API.went_away(f"{type(exc).__name__}: {exc}", None)


def _finished_without_server(config: RunConfig, result: Any, started: float) -> int:
    """The end of a run whose Prefect server went away: what the run wrote says how it
    ended (DEST/_run.json), in the same exit codes."""
    summary = getattr(result, "summary", result)
    if not isinstance(summary, RunSummary):
        summary = RunSummary.read(config.dest)
        began = time.time() - (time.monotonic() - started)
        if summary is not None and datetime.fromisoformat(summary.started_at).timestamp() < \
                began - 1:
            summary = None  # an earlier run's
    if summary is None:
        say(f"the Prefect server went away during the run ({_server_gone()}) and the run did "
            "not finish: run the same command again, it goes on where this one stopped")
        return EXIT_FAILED
    print(render_summary(summary, wall_seconds=time.monotonic() - started), file=sys.stderr)
    say(f"the Prefect server went away during the run ({_server_gone()}); the run finished "
        "without it: the corpus, its ledger and _run.json are complete, Prefect's record "
        "of the run is not")
    if summary.removal_refused:
        print(f"newsprep: error: {summary.removal_refused}", file=sys.stderr)
        return EXIT_USAGE
    try:
        check_failure_budget(summary, config.options.max_failure_rate)
    except FailureBudgetExceeded as exc:
        say(f"run failed: {exc}")
        return EXIT_FAILED
    return EXIT_OK


def _check_source(source: str) -> None:
    import fsspec

    from newsprep.tasks.io.listing import split_member_pattern

    source = split_member_pattern(source)[1]  # the archive itself; members are listed later
    what = f"source {redact(source)}"
    try:
        fs, path = fsspec.url_to_fs(source)
        exists = fs.exists(path)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"cannot open {what}: {exc}") from None
    except Exception as exc:  # credentials, endpoint, permissions: one line, no traceback
        raise ConfigError(describe_storage_error(exc, what)) from None
    if not exists:
        raise ConfigError(f"{what} does not exist")


def _check_dask(options: RunOptions) -> None:
    """The dask runner needs distributed, and a given scheduler must answer."""
    import socket
    from urllib.parse import urlsplit

    if options.runner != "dask":
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("runner 'dask' needs distributed: pip install 'newsprep[dask]'") \
            from None
    address = options.dask_address
    if not address:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ConfigError(f"--dask-address {address!r} is not tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=DASK_CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"no Dask scheduler answers at {address} (--dask-address): "
                          f"{reason}") from None


def render_summary(summary: RunSummary, wall_seconds: float | None = None) -> str:
    """The one-screen end-of-run report."""
    counts = summary.counts
    width = max(len(status) for status in STATUSES)
    wall = f", {wall_seconds:.1f} s wall time" if wall_seconds is not None else ""
    lines = [
        "",
        f"newsprep: {summary.discovered} articles, profile {summary.profile}, "
        f"{summary.seconds:.1f} s processing ({summary.articles_per_second} "
        f"articles/s){wall}",
        *(f"  {status:<{width}}  {counts.get(status, 0)}" for status in STATUSES),
    ]
    if summary.reasons:
        lines.append("  top reasons:")
        lines += [f"    {count:>6}  {reason}" for reason, count in
                  list(summary.reasons.items())[:5]]
    if summary.ignored_files:
        lines.append(f"  ignored {summary.ignored_files} files that are not articles")
        shown = summary.ignored[:3]
        more = summary.ignored_files - len(shown)
        lines.append("    e.g. " + ", ".join(shown) + (f" and {more} more" if more > 0 else ""))
    lines += [f"  warning: {warning}" for warning in summary.warnings]
    changes = summary.changes
    kept = summary.kept_gone
    if summary.removed_articles or kept or any(
        changes.get(k) for k in ("changed", "retried", "skipped")
    ):
        retried = changes.get("retried", 0)
        gone = f"{summary.removed_articles + kept} gone"
        if kept:
            gone += f" ({'kept' if not summary.removed_articles else f'{kept} of them kept'}: " \
                "removal refused)"
        lines.append(
            f"  since the last run: {changes.get('new', 0)} new, {changes.get('changed', 0)} "
            f"changed, {gone}, {changes.get('skipped', 0)} unchanged"
            + (f", {retried} tried again" if retried else "")
        )
    if summary.removed_articles or summary.removed_files:
        lines.append(
            f"  removed {summary.removed_files} stale files from DEST (of "
            f"{summary.removed_articles} articles gone from SOURCE, and of articles that "
            "did not end as before)"
        )
    dest = summary.dest.rstrip("/")
    lines += [f"  corpus:     {summary.dest}", f"  ledger:     {dest}/_ledger/"]
    if summary.quarantined:
        lines.append(f"  quarantine: {dest}/_quarantine/")
    return "\n".join(lines)


def show_profiles() -> int:
    for name, profile in PROFILES.items():
        print(f"{name}: {profile.description} (fingerprint {profile.fingerprint()})")
        print(json.dumps(profile.model_dump(mode="json"), indent=2))
    return EXIT_OK


def server_command(action: str, port: int, database: str | None = None) -> int:
    from newsprep import local_server

    try:
        if action == "start":
            if database:
                local_server.database_url(database)  # a bad URL: one line, nothing started
            if local_server.running_server() is None:
                say(f"starting a Prefect server on 127.0.0.1:{port} ...")
            info, started = local_server.start(port, database)
            say(f"Prefect server {'started' if started else 'already running'}: UI {info.ui}, "
                f"API {info.url}, database {info.database} (pid {info.pid}, log {info.log})")
            say("`newsprep run` and `newsprep serve` use it now; for `prefect` commands: "
                f"export PREFECT_API_URL={info.url}")
            return EXIT_OK
        if action == "stop":
            info = local_server.stop()
            say(f"stopped the Prefect server at {info.ui}" if info else "no server was running")
            return EXIT_OK
        info = local_server.read_state()
        if info is None:
            say("no local Prefect server (start one with `newsprep server start`)")
            return EXIT_FAILED
        if not local_server.healthy(info.url):
            say(f"the local Prefect server (pid {info.pid}) does not answer at {info.url}; "
                f"its log: {info.log}")
            return EXIT_FAILED
        runs = local_server.flow_run_count(info.url)
        say(f"Prefect server running since {info.started_at}: UI {info.ui}, API {info.url}, "
            f"database {info.database}, pid {info.pid}, {runs} flow runs, log {info.log}")
        return EXIT_OK
    except local_server.ServerError as exc:
        print(f"newsprep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _process_age() -> float:
    """Seconds since this process started (Linux; 0 elsewhere), so that the wall time a
    run reports includes the interpreter's start and the imports."""
    try:
        with open("/proc/self/stat") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _end_without_teardown(code: int) -> NoReturn:
    """End the process as the interpreter would, but without its teardown, which frees
    every object of the modules Prefect and pydantic loaded: ~0.45 s at the end of every
    run (mypy ends the same way, `hard_exit`). First what the interpreter does first:
    threading's exit hooks (Prefect's log and event workers drain) and the non-daemon
    threads joined; then the exit hooks (multiprocessing's, logging's, Prefect's)."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe or stream: nothing more to say
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic() - (_process_age() if argv is None else 0.0)
    if argv is None:  # the command itself, not a caller here
        sys.unraisablehook = quiet_interrupts  # the stage workers set it too
    args = build_parser().parse_args(argv)
    code = _command(args, started)
    if argv is None and args.command == "run":  # the command itself, not a caller here
        _end_without_teardown(code)
    return code


def _command(args: argparse.Namespace, started: float) -> int:
    try:
        if args.command == "profiles":
            return show_profiles()
        if args.command == "server":
            return server_command(
                args.action, getattr(args, "port", DEFAULT_PORT),
                getattr(args, "database_url", None),
            )
        if args.command == "serve":
            from newsprep.serve import serve

            return serve(args.prefect_file, limit=args.limit)
        return run(config_from_args(args), dict(args.storage_options), started)
    except ConfigError as exc:
        print(f"newsprep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback
        resume = "; run the same command again to finish (finished articles are kept)"
        print(f"\nnewsprep: interrupted{resume if args.command == 'run' else ''}",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
