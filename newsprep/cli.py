"""`newsprep` command line: run the normalize-corpus flow, list profiles.

Exit codes: 0 the run finished within its failure budget; 1 more articles failed than
--max-failure-rate allows (or the flow itself failed); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, get_args

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
from newsprep.run.summary import RunSummary
from newsprep.tasks.stages.tokenize import require_engine

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsprep", description="Raw news articles in, a tokenized training corpus out."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="normalize a corpus (the normalize-corpus flow)")
    run.add_argument(
        "source", nargs="?", default=SAMPLE_SOURCE,
        help="folder, file or fsspec URL of raw articles (default: the bundled sample)",
    )
    run.add_argument("dest", nargs="?", default="out", help="output folder or URL (default: out)")
    run.add_argument("--profile", default="default", choices=sorted(PROFILES))
    run.add_argument(
        "--set", dest="overrides", action="append", type=_parse_override, default=[],
        metavar="KEY=VALUE", help="override a profile setting, e.g. --set tokenize.lang=de",
    )
    run.add_argument(
        "--tokenizer-engine", choices=get_args(TokenizerEngine),
        help=TokenizeOptions.model_fields["engine"].description,
    )
    fields = RunOptions.model_fields
    run.add_argument("--batch-size", type=int, help=fields["batch_size"].description)
    run.add_argument("--workers", type=int, help=fields["workers"].description)
    run.add_argument(
        "--runner", choices=["process", "thread", "dask"], help=fields["runner"].description
    )
    run.add_argument("--dask-address", help=fields["dask_address"].description)
    run.add_argument("--max-attempts", type=int, help=fields["max_attempts"].description)
    run.add_argument(
        "--max-failure-rate", type=float, help=fields["max_failure_rate"].description
    )
    run.add_argument("--parity-sample", type=float, help=fields["parity_sample"].description)
    run.add_argument("--force", action="store_true", default=None,
                     help=fields["force"].description)
    run.add_argument(
        "--storage-option", dest="storage_options", action="append", type=_parse_override,
        default=[], metavar="KEY=VALUE",
        help="fsspec option for SOURCE's and DEST's filesystems (repeatable), e.g. "
        "endpoint_url=http://127.0.0.1:9000; handed over in the environment, never "
        "as a flow parameter, so secrets stay out of Prefect, logs and the manifest",
    )
    commands.add_parser("profiles", help="show the named profiles and their settings")
    serve = commands.add_parser(
        "serve", help="serve the deployments of deployments/prefect.yaml from this process"
    )
    serve.add_argument("--prefect-file", help="prefect.yaml to read (default: the repository's)")
    serve.add_argument("--limit", type=int, help="most flow runs at once (default: no limit)")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's typed config from the command line; raises ConfigError on bad values."""
    option_names = (
        "batch_size", "workers", "runner", "dask_address", "max_attempts", "max_failure_rate",
        "force", "parity_sample",
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
            tokenizer_engine=args.tokenizer_engine,
            options=RunOptions(**options),
        )
    except ValidationError as exc:
        raise ConfigError(
            "; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                      for e in exc.errors())
        ) from None
    # validate profile overrides and load the tokenizer engine now, before any server starts
    require_engine(config.pipeline().tokenize)
    return config


@contextmanager
def prefect_api():
    """Use the configured Prefect API, or start one local server for this run.

    Prefect's own ephemeral mode would start a server in every worker process; one
    server, announced through PREFECT_API_URL, is shared by the flow and its workers.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    from prefect.server.api.server import SubprocessASGIServer

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield server.api_url
    finally:
        _flush_to_api()
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def _flush_to_api() -> None:
    """Send buffered run logs and events while the server is still up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


def apply_storage_options(urls: Sequence[str], options: dict[str, Any]) -> None:
    """Hand fsspec options to every filesystem of these URLs, in this process and in the
    worker processes it starts (fsspec reads FSSPEC_<PROTOCOL> when imported)."""
    import fsspec.config
    from fsspec.core import split_protocol

    if not options:
        return
    protocols = {split_protocol(part)[0] for url in urls for part in url.split("::")}
    for protocol in sorted(p for p in protocols if p not in (None, "file", "tar")):
        variable = f"FSSPEC_{protocol.upper()}"
        merged = {**json.loads(os.environ.get(variable, "{}")), **options}
        os.environ[variable] = json.dumps(merged)
        fsspec.config.conf.setdefault(protocol, {}).update(options)


def run(config: RunConfig, storage_options: dict[str, Any] | None = None) -> int:
    apply_storage_options([config.source, config.dest], storage_options or {})
    _check_source(config.source)
    from newsprep.run.pool import start_fork_server, stop_fork_server

    fork_server = config.options.runner == "process"
    if fork_server:
        start_fork_server()  # its imports overlap Prefect's
    try:
        with prefect_api():
            from newsprep.flows.normalize_corpus import normalize_corpus

            state = normalize_corpus(**config.model_dump(), return_state=True)
            result = state.result(raise_on_failure=False)
    finally:
        if fork_server:
            stop_fork_server()
    summary = getattr(result, "summary", result)  # FailureBudgetExceeded carries it
    if isinstance(summary, RunSummary):
        print(render_summary(summary), file=sys.stderr)
    if state.is_completed():
        return EXIT_OK
    print(f"newsprep: run {state.name.lower()}: {state.message}", file=sys.stderr)
    return EXIT_FAILED


def _check_source(source: str) -> None:
    import fsspec

    if source.startswith("tar://") and "::" in source:
        source = source.split("::", 1)[1]  # the archive itself; members are listed later
    try:
        fs, path = fsspec.url_to_fs(source)
        exists = fs.exists(path)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"cannot open source {source!r}: {exc}") from None
    except PermissionError as exc:
        raise ConfigError(f"no permission to read source {source!r}: {exc}") from None
    if not exists:
        raise ConfigError(f"source {source!r} does not exist")


def render_summary(summary: RunSummary) -> str:
    """The one-screen end-of-run report."""
    counts = summary.counts
    width = max(len(status) for status in STATUSES)
    lines = [
        "",
        f"newsprep: {summary.discovered} articles, profile {summary.profile}, "
        f"{summary.seconds:.1f} s ({summary.articles_per_second} articles/s)",
        *(f"  {status:<{width}}  {counts.get(status, 0)}" for status in STATUSES),
    ]
    if summary.reasons:
        lines.append("  top reasons:")
        lines += [f"    {count:>6}  {reason}" for reason, count in
                  list(summary.reasons.items())[:5]]
    if summary.ignored_files:
        lines.append(f"  ignored {summary.ignored_files} files that are not articles")
    dest = summary.dest.rstrip("/")
    lines += [f"  corpus:     {summary.dest}", f"  manifest:   {dest}/_manifest.jsonl"]
    if counts.get("rejected") or counts.get("failed"):
        lines.append(f"  quarantine: {dest}/_quarantine/")
    return "\n".join(lines)


def show_profiles() -> int:
    for name, profile in PROFILES.items():
        print(f"{name}: {profile.description} (fingerprint {profile.fingerprint()})")
        print(json.dumps(profile.model_dump(mode="json"), indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "profiles":
            return show_profiles()
        if args.command == "serve":
            from newsprep.serve import serve

            return serve(args.prefect_file, limit=args.limit)
        return run(config_from_args(args), dict(args.storage_options))
    except ConfigError as exc:
        print(f"newsprep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
