"""The `newsprep` command as a user runs it: a subprocess, real files, exit codes."""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger import corpus_files, journaled, records

from newsprep.config import SAMPLE_SOURCE

pytestmark = pytest.mark.e2e  # each test runs the command in a subprocess

NEWSPREP = [sys.executable, "-m", "newsprep.cli"]


def newsprep(*args: str, cwd: Path, env: dict | None = None, timeout: int = 180):
    return subprocess.run(
        [*NEWSPREP, *args], cwd=cwd, env=env or os.environ.copy(), capture_output=True,
        text=True, timeout=timeout,
    )


def test_quick_start_without_a_server(tmp_path: Path) -> None:
    """`newsprep run` alone: the bundled sample into ./out, with its own Prefect server."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    result = newsprep("run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "_run.json").read_text())
    assert summary["counts"] == {"ok": 24, "rejected": 1, "failed": 0, "skipped": 0}
    assert summary["reasons"] == {"binary-content": 1}
    assert len(list((tmp_path / "out").rglob("*.txt"))) == 24 + 1  # + the quarantine copy
    # the end-of-run summary names counts, reasons and where the output is
    assert "ok        24" in result.stderr and "binary-content" in result.stderr
    assert "ledger:     out/_ledger/" in result.stderr
    assert "articles (100%)" in result.stderr  # progress: done/total, rate, ETA
    # what it does is said first; a clean run prints no traceback or server noise
    assert result.stderr.startswith("newsprep: ")
    assert "starting a temporary Prefect server" in result.stderr
    assert "s processing" in result.stderr and "s wall time" in result.stderr
    for noise in ("Traceback", "CancelledError", "Error", "Stopping temporary server"):
        assert noise not in result.stderr


# The golden reference makes four edits no rule can derive from the source: "China" is
# written "chinese" three times and "Chunxian" is dropped once. These, and nothing else,
# may differ.
ALLOWED_EDITS = [
    ("replace", ["china"], ["chinese"]),
    ("delete", ["chunxian"], []),
    ("replace", ["china"], ["chinese"]),
    ("replace", ["china"], ["chinese"]),
]


@pytest.mark.usefixtures("prefect_server")
def test_cnndm_profile_reproduces_the_golden_file(
    tmp_path: Path, golden_raw: Path, golden_cnndm: Path
) -> None:
    src = tmp_path / "raw"
    src.mkdir()
    (src / golden_raw.name).write_bytes(golden_raw.read_bytes())
    result = newsprep("run", str(src), str(tmp_path / "out"), "--profile", "cnndm", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    ours = (tmp_path / "out" / golden_raw.name).read_text(encoding="utf-8")
    golden = golden_cnndm.read_text(encoding="utf-8")
    assert ours.endswith(" .\n") and not golden.endswith("\n")  # we always end with a newline
    a, b = ours.split(), golden.split()
    edits = [
        (op, a[i1:i2], b[j1:j2])
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        if op != "equal"
    ]
    assert edits == ALLOWED_EDITS
    assert len(ours.splitlines()) == len(golden.splitlines()) == 15


@pytest.mark.usefixtures("prefect_server")
def test_wmt_profile_run_gives_the_moses_chain_lines(tmp_path: Path) -> None:
    """`newsprep run --profile wmt`, as the README says, against the perl chain's lines."""
    reference = Path(__file__).parent / "tasks" / "wmt_reference"
    src = tmp_path / "raw"
    src.mkdir()
    (src / "fr.txt").write_bytes((reference / "fr.txt").read_bytes())
    out = tmp_path / "out"
    result = newsprep(
        "run", str(src), str(out), "--profile", "wmt", "--set", "tokenize.lang=fr",
        "--tokenizer-engine", "fast", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "fr.txt").read_bytes() == (reference / "fr.expected").read_bytes()
    [record] = records(out)
    assert record["status"] == "ok"
    assert record["fixes"] == ["normalize_punctuation", "remove_non_printing"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nope"], "invalid choice: 'nope'"),
        (["--set", "tokenize.nope=1"], "unknown setting 'tokenize.nope'"),
        (["--set", "layout=columns"], "layout"),
        (["--set", "input.text_fields=[]"], "input.text_fields: Value error, name at least one"),
        (["--set", "fetch.fallback_encodings=[\"no-such-codec\"]"], "fallback_encodings"),
        (["--set", "fetch.fallback_encodings=[\"rot13\"]"], "'rot13' is not a text encoding"),
        (["--set", "fetch.fallback_encodings=[\"cp1252\", \"base64\"]"], "not a text encoding"),
        (["--workers", "-1"], "--workers"),
        (["--max-failure-rate", "2"], "--max-failure-rate"),
        (["--parity-sample", "0.1"], "parity_sample compares the fast tokenizer engine"),
        (
            ["--tokenizer-engine", "fast", "--set", "tokenize.protect_urls=true"],
            "protect_urls needs engine 'sacremoses'",
        ),
        (
            ["--profile", "wmt", "--set", "tokenize.lang=tdt", "--tokenizer-engine", "fast"],
            "tokenize.lang 'tdt': the fast engine (opus-fast-mosestokenizer) has no nonbreaking",
        ),
    ],
)
def test_configuration_errors_exit_2_without_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = newsprep("run", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_source_exits_2(tmp_path: Path) -> None:
    result = newsprep("run", str(tmp_path / "nowhere"), str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.usefixtures("prefect_server")
def test_failure_budget_exceeded_exits_1(tmp_path: Path, golden_raw: Path) -> None:
    src = tmp_path / "raw"
    src.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (src / name).write_bytes(golden_raw.read_bytes())
    result = newsprep(
        "run", f"flaky://{src}", str(tmp_path / "out"), "--max-attempts", "2",
        "--storage-option", f"always_fail={src}/b.txt", cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "max_failure_rate" in result.stderr
    # an expected outcome, said in one line: no traceback of the flow's exception
    assert "Traceback" not in result.stderr and "FailureBudgetExceeded" not in result.stderr
    assert "newsprep: run failed: 1 of 3 articles failed, more than max_failure_rate" in (
        result.stderr
    )
    # the failed run's summary is printed too (the exception carries it)
    assert "failed    1" in result.stderr and "ok        2" in result.stderr
    found = records(tmp_path / "out")
    assert [(r["id"], r["status"]) for r in found] == [
        ("a.txt", "ok"), ("b.txt", "failed"), ("c.txt", "ok")
    ]
    assert found[1]["attempts"] == 2


def test_fast_engine_missing_is_a_configuration_error(tmp_path: Path) -> None:
    """A namesake `mosestokenizer` (the Perl-wrapper package) is not the fast engine."""
    namesake = tmp_path / "site" / "mosestokenizer"
    namesake.mkdir(parents=True)
    (namesake / "__init__.py").write_text("class MosesTokenizer:\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(namesake.parent)}
    result = newsprep("run", "--tokenizer-engine", "fast", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "tokenize.engine 'fast' needs opus-fast-mosestokenizer" in result.stderr
    assert "pip install 'newsprep[fast]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help_show_defaults_and_exit_codes(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = newsprep("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"newsprep {version('newsprep')} (prefect {version('prefect')}")
    run_help = newsprep("run", "--help", cwd=tmp_path).stdout
    assert "exit codes:" in run_help and "  2  a usage or configuration error" in run_help
    flat = " ".join(run_help.split())
    assert "(default: 3)" in flat  # --max-attempts
    assert "(default: 0.01)" in flat  # --max-failure-rate
    assert '(default: "process")' in flat  # --runner


def test_every_command_has_its_own_help(tmp_path: Path) -> None:
    for command, says in [
        (["profiles"], "Print every named profile"),
        (["serve"], "Needs a lasting Prefect server"),
        (["server", "start"], "--database-url URL"),
        (["server", "status"], "exit 1 when none runs"),
    ]:
        result = newsprep(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: newsprep {' '.join(command)} ")
        assert says in " ".join(result.stdout.split()), result.stdout


def test_server_start_refuses_a_database_url_that_is_not_postgresql(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    result = newsprep("server", "start", "--database-url", "mysql://me:secret@db/prefect",
                      cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "newsprep: error: --database-url 'mysql://me:***@db/prefect' is not a PostgreSQL URL: "
        "give postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
    ]


def test_a_usage_error_is_one_line(tmp_path: Path) -> None:
    result = newsprep("run", "--profile", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "newsprep run: error: argument --profile: invalid choice: 'nope' (choose from "
        "'cnndm', 'default', 'moses', 'wmt') (see `newsprep run --help`)"
    ]


def test_sample_from_the_clone_with_a_temporary_server(tmp_path: Path) -> None:
    """From the clone, as the README's quick start: the first line names newsprep/sample;
    the temporary server's UI is gone after the run, so no "View at" link is printed."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    repo = Path(SAMPLE_SOURCE).parents[1]
    dest = tmp_path / "out"
    result = newsprep("run", SAMPLE_SOURCE, str(dest), cwd=repo, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.splitlines()[0] == f"newsprep: newsprep/sample -> {dest}, profile default"
    assert "View at" not in result.stderr and "/runs/flow-run/" not in result.stderr


@pytest.mark.usefixtures("prefect_server")
def test_incremental_run_says_what_changed(tmp_path: Path) -> None:
    """A rerun after one article was added, one edited and one deleted: the summary says
    so; the rejected article, unchanged, keeps its record and is not tried again. The
    retry delay and article time limit are options of the command line."""
    source = tmp_path / "src"
    source.mkdir()
    good = sorted(p for p in Path(SAMPLE_SOURCE).rglob("*.txt") if "broken" not in p.parts)
    for article in good[:5]:
        target = source / article.relative_to(SAMPLE_SOURCE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(article.read_bytes())
    binary = (Path(SAMPLE_SOURCE) / "broken" / "corrupted-upload.txt").read_bytes()
    (source / "broken").mkdir(exist_ok=True)
    (source / "broken" / "corrupted-upload.txt").write_bytes(binary)
    dest = tmp_path / "out"
    options = ("--retry-delay-seconds", "0.05", "--article-timeout-seconds", "30")
    first = newsprep("run", str(source), str(dest), *options, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "since the last run" not in first.stderr
    [rejected] = [record for record in records(dest) if "broken" in record["id"]]
    articles = sorted(p for p in source.rglob("*.txt") if "broken" not in p.parts)
    articles[0].unlink()
    articles[1].write_text(articles[1].read_text() + "One more paragraph, added later.\n")
    (source / "added.txt").write_text(articles[2].read_text() + "A new article.\n")
    second = newsprep("run", str(source), str(dest), *options, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "  since the last run: 1 new, 1 changed, 1 gone, 4 unchanged\n" in second.stderr
    summary = json.loads((dest / "_run.json").read_text())
    assert summary["counts"] == {"ok": 2, "rejected": 1, "failed": 0, "skipped": 3}
    assert summary["options"]["retry_delay_seconds"] == 0.05
    assert summary["options"]["article_timeout_seconds"] == 30
    [broken] = [record for record in records(dest) if "broken" in record["id"]]
    assert (broken["status"], broken["reason"]) == ("rejected", "binary-content")
    # not tried again: its shard (the folder broken/) was skipped whole, its part as it was
    assert broken == rejected


@pytest.mark.usefixtures("prefect_server")
def test_every_log_line_reaches_the_server_before_the_command_ends(tmp_path: Path) -> None:
    """Issue 21: the command ends without the interpreter's teardown (~0.45 s), after
    the exit hooks: the server holds every line of the run's log the console showed, the
    last one too, and the exit code is the run's."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    src = sample_source(tmp_path / "src", articles=250)  # three shards
    result = newsprep("run", str(src), str(tmp_path / "out"), "--batch-size", "20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = [line.split(" - ", 1)[1] for line in result.stderr.splitlines()
             if "| INFO    | " in line and " - View at http" not in line]
    [flow_run_id] = set(re.findall(r"/runs/flow-run/([0-9a-f-]{36})", result.stderr))
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200
        )
    assert shown[-1] == "Finished in state Completed()"
    assert sorted(log.message for log in logs) == sorted(shown)


# -- issue 13: hostile runs -------------------------------------------------------------------


def sample_source(root: Path, articles: int = 3) -> Path:
    texts = sorted(p for p in Path(SAMPLE_SOURCE).rglob("*.txt") if "broken" not in p.parts)
    root.mkdir(parents=True)
    for n in range(articles):
        target = root / f"part-{n // 100:02d}" / f"article-{n:05d}.txt"
        target.parent.mkdir(exist_ok=True)
        target.write_text(texts[n % len(texts)].read_text() + f"Reference {n}.\n")
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def test_dest_inside_or_equal_to_source_exits_2_before_writing(tmp_path: Path) -> None:
    """Class 11: through a symbolic link, the same folder, or SOURCE inside DEST."""
    src = sample_source(tmp_path / "src")
    (src / "corpus").mkdir()
    (tmp_path / "elsewhere").symlink_to(src / "corpus")
    before = snapshot(tmp_path)
    for source, dest, message in [
        (src, tmp_path / "elsewhere" / "out", "DEST is inside SOURCE"),
        (src, src, "SOURCE and DEST are the same place"),
        (src / "part-00", src, "SOURCE is inside DEST"),
    ]:
        result = newsprep("run", str(source), str(dest), cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        assert message in result.stderr and "Traceback" not in result.stderr
        assert "Prefect server" not in result.stderr  # refused before any server
        assert snapshot(tmp_path) == before, "nothing written"


def test_setup_errors_exit_2_in_one_line_before_a_server(tmp_path: Path) -> None:
    """Class 13: a DEST that is a file, one that cannot be written, a dead Dask scheduler.
    The fork server, which the command starts before its checks, ends with it."""
    import socket

    import psutil

    marker = f"refused-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "NEWSPREP_TEST_MARKER": marker}

    def marked() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get("NEWSPREP_TEST_MARKER") == marker:
                    found.append(process)
        return found

    src = sample_source(tmp_path / "src")
    (tmp_path / "file").write_text("a file")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    for args, message in [
        ([str(src), str(tmp_path / "file")], "is a file, not a folder"),
        ([str(src), str(tmp_path / "file" / "out")], "DEST"),
        ([str(src), "/sys/newsprep-out"], "DEST /sys/newsprep-out"),  # even root cannot
        ([str(src), str(tmp_path / "out"), "--dask-address", dead],
         f"no Dask scheduler answers at {dead}"),
    ]:
        result = newsprep("run", *args, cwd=tmp_path, env=env, timeout=60)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "Prefect server" not in result.stderr
        lines = result.stderr.strip().splitlines()  # what it reads and writes, the error
        assert len(lines) == 2 and lines[1].startswith("newsprep: error: "), result.stderr
        _, alive = psutil.wait_procs(marked(), timeout=10)
        assert not alive, [" ".join(p.cmdline())[:120] for p in alive]
    assert not (tmp_path / "out").exists()


def test_unusable_urls_exit_2_in_one_line_before_a_server(tmp_path: Path) -> None:
    """Class 13: a protocol fsspec does not know (`S3://`, a typo) as DEST, and an FTP
    server that does not answer as DEST or SOURCE (fsspec connects as it makes the
    filesystem) ended in tracebacks and exit 1."""
    import socket

    src = sample_source(tmp_path / "src")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    for args, message in [
        ([str(src), "S3://bucket/out"], "cannot open DEST S3://bucket/out: Protocol not known"),
        ([str(src), f"ftp://user:hunter2@{dead}/out"], f"cannot use DEST ftp://{dead}/out"),
        ([f"ftp://{dead}/in", str(tmp_path / "out")], f"cannot use source ftp://{dead}/in"),
    ]:
        result = newsprep("run", *args, cwd=tmp_path, timeout=60)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[1].startswith("newsprep: error: "), result.stderr
    assert not (tmp_path / "out").exists()


def test_a_second_run_into_a_dest_in_use_refuses(tmp_path: Path) -> None:
    """Class 15: while another process holds DEST, a run exits 2 naming it, and writes
    nothing; once it is free, the run goes ahead."""
    from newsprep.run import lock as dest_lock

    src = sample_source(tmp_path / "src")
    dest = tmp_path / "out"
    held = dest_lock.acquire(str(dest))
    try:
        result = newsprep("run", str(src), str(dest), cwd=tmp_path)
    finally:
        dest_lock.release(held)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"is in use by another newsprep run (pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in dest.iterdir()) == []


def descendants(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _as_a_terminal_job() -> None:
    """Ctrl-C and Ctrl-\\ as a terminal's foreground job has them. A test process started
    in the background of a non-interactive shell (`pytest &`) ignores both, and its
    children inherit that: the command would never see the SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def started_run(src: Path, dest: Path, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    """`newsprep run` in a process group of its own, its signals as a terminal gives them,
    once it has journaled 100 articles (in the ledger's parts or their journals)."""
    run = subprocess.Popen(
        [*NEWSPREP, "run", str(src), str(dest), "--batch-size", "20", "--workers", "2"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=_as_a_terminal_job,
    )
    deadline = time.monotonic() + 150
    while journaled(dest) < 100:
        assert run.poll() is None, run.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)
    return run


@pytest.mark.usefixtures("prefect_server")
def test_kill_9_takes_the_helpers_along_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    """Class 14: kill -9 of the command (not its process group) ends the temporary Prefect
    server, the fork server and its workers; the next run removes the index folder."""
    import psutil

    src = sample_source(tmp_path / "src", articles=1500)
    dest, temp = tmp_path / "out", tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), TMPDIR=str(temp))
    run = started_run(src, dest, cwd=tmp_path, env=env)
    # its first shards begin before the temporary server has started (run/early.py)
    deadline = time.monotonic() + 120
    while "uvicorn" not in " ".join(" ".join(p.cmdline()) for p in descendants(run.pid)):
        assert run.poll() is None and time.monotonic() < deadline, "no server started"
        time.sleep(0.05)
    helpers = descendants(run.pid)
    names = " ".join(" ".join(p.cmdline()) for p in helpers)
    assert "uvicorn" in names and "forkserver" in names and len(helpers) >= 4
    assert list(temp.glob("newsprep-index-*"))

    os.kill(run.pid, signal.SIGKILL)  # the command alone
    run.wait(timeout=30)
    _, alive = psutil.wait_procs(helpers, timeout=30)
    assert not alive, [" ".join(p.cmdline())[:120] for p in alive]

    env["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"]  # the session's server: faster
    rerun = newsprep("run", str(src), str(dest), "--workers", "2", cwd=tmp_path, env=env,
                     timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not list(temp.glob("newsprep-index-*")), "the killed run's index is removed"
    assert not (dest / "_newsprep.lock").exists()
    assert len(list(dest.rglob("article-*.txt"))) == 1500


@pytest.mark.usefixtures("prefect_server")
def test_ctrl_c_ends_in_one_line_and_exit_130(tmp_path: Path) -> None:
    """Issue 19 class 16: Ctrl-C (SIGINT to the terminal's process group) mid-run prints
    one line, no traceback from any process, exit 130; the rerun finishes the corpus."""
    # enough articles that the run is still going when the signal comes, on a loaded machine
    src = sample_source(tmp_path / "src", articles=4000)
    dest = tmp_path / "out"
    run = started_run(src, dest, cwd=tmp_path)

    assert run.poll() is None, "the run ended before the signal"
    os.killpg(run.pid, signal.SIGINT)
    stderr = run.communicate(timeout=120)[1].decode()

    assert run.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    assert stderr.rstrip().splitlines()[-1] == (
        "newsprep: interrupted; run the same command again to finish (finished articles are "
        "kept)"
    )
    rerun = newsprep("run", str(src), str(dest), "--workers", "2", cwd=tmp_path, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(list(dest.rglob("article-*.txt"))) == 4000


@pytest.mark.usefixtures("prefect_server")
def test_a_member_pattern_that_matches_nothing_exits_2(tmp_path: Path) -> None:
    """Issue 19 class 12: a pattern no member matches is a warning in the summary; when
    nothing at all was found, exit 2 saying so."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("stories/a.story", "stories/b.story"):
            data = b"The council met on Monday to talk about the budget for schools.\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (tmp_path / "x.tgz").write_bytes(buffer.getvalue())

    typo = newsprep("run", f"tar://*.storys::{tmp_path / 'x.tgz'}", str(tmp_path / "out"),
                    cwd=tmp_path)
    setting = newsprep("run", str(tmp_path / "x.tgz"), str(tmp_path / "out2"),
                       "--set", "input.member_pattern=*.txt", cwd=tmp_path)
    right = newsprep("run", f"tar://*.story::{tmp_path / 'x.tgz'}", str(tmp_path / "out3"),
                     cwd=tmp_path)

    for result, pattern in ((typo, "*.storys"), (setting, "*.txt")):
        assert result.returncode == 2, result.stderr[-3000:]
        message = f"the member pattern {pattern!r} matched none of the 2 members of x.tgz"
        assert f"  warning: {message}" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1] == (
            f"newsprep: error: no articles found: {message}"
        )
        assert "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "out" / "_run.json").read_text())
    assert summary["warnings"] == [
        "the member pattern '*.storys' matched none of the 2 members of x.tgz"
    ]
    assert right.returncode == 0, right.stderr[-3000:]
    assert "matched none" not in right.stderr


@pytest.mark.parametrize("engine", ["sacremoses", "fast"])
@pytest.mark.parametrize("lang", ["xx", "english"])
def test_an_unknown_language_exits_2_in_one_line(tmp_path: Path, lang: str, engine: str) -> None:
    """#19 class 15: sacremoses ran an unknown language with English rules, silently."""
    result = newsprep(
        "run", "--tokenizer-engine", engine, "--set", f"tokenize.lang={lang}", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        f"newsprep: error: tokenize.lang: Value error, unknown language {lang!r}: Moses "
        "(sacremoses) has nonbreaking prefixes for as, bn, ca, cs, de, el, en, es, et, fi, fr, "
        "ga, gu, hi, hu, is, it, kn, lt, lv, ml, mni, mr, nl, or, pa, pl, pt, ro, ru, sk, sl, "
        "sv, ta, tdt, te, yue, zh; another ISO 639-1 code gets the English ones, as with "
        "tokenizer.perl"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("prefect_server")
def test_the_command_begins_its_first_shards_while_it_imports_prefect(tmp_path: Path) -> None:
    """Issue 21: the command plans the run and begins a group of shards per worker before
    its flow runs (newsprep/run/early.py); the flow takes them: a task run per group, each
    run once, and the corpus and ledger of a run that began in its flow (`--runner thread`
    never begins early)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    src = sample_source(tmp_path / "src", articles=450)  # five shards
    early = newsprep("run", str(src), str(tmp_path / "early"), "--workers", "2", cwd=tmp_path)
    assert early.returncode == 0, early.stderr[-3000:]
    [(begun, groups)] = re.findall(
        r"planned, and (\d+) of (\d+) task runs' shards begun", early.stderr
    )
    assert int(begun) == 2  # a group per worker
    [flow_run_id] = set(re.findall(r"/runs/flow-run/([0-9a-f-]{36})", early.stderr))
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    assert len(task_runs) == int(groups) > 2  # no plan-shards task run: the command planned
    assert {(t.state_name, t.run_count) for t in task_runs} == {("Completed", 1)}
    named = " ".join(t.name for t in task_runs)
    assert sorted(re.findall(r"part-\d\d", named)) == [f"part-0{n}" for n in range(5)]
    plain = newsprep("run", str(src), str(tmp_path / "plain"), "--runner", "thread",
                     "--workers", "2", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "shards begun" not in plain.stderr
    assert corpus_files(tmp_path / "early") == corpus_files(tmp_path / "plain")
    assert records(tmp_path / "early") == records(tmp_path / "plain")
