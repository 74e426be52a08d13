"""Ctrl-C that lands where Python cannot raise it prints no trace (issue 19 class 16: one
line, no traceback from any process); other such errors are printed as Python would."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from newsprep.lifeline import quiet_interrupts


class RaisesWhenFreed:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __del__(self) -> None:
        raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), ValueError("kept")])
def test_only_an_interrupt_nobody_can_catch_is_silent(
    error: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(sys, "unraisablehook", quiet_interrupts)
    RaisesWhenFreed(error)  # freed at once: its __del__ raises where nobody can catch it
    gc.collect()
    printed = capsys.readouterr().err
    if isinstance(error, KeyboardInterrupt):
        assert printed == ""
    else:
        assert "Exception ignored in" in printed and "ValueError: kept" in printed


# Prefect's import, with Ctrl-C 50 ms into it (the import takes ~1 s): the interrupt must
# come once the import is done, with nothing printed. Unheld, it is raised inside the
# import, or pydantic turns it into a SchemaError that Prefect logs with a traceback.
_CTRL_C_DURING_PREFECTS_IMPORT = """
import os, signal, sys, threading
from newsprep.lifeline import interrupts_held
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal gives it
imported = False
threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    with interrupts_held():
        import prefect.settings
        imported = True
except KeyboardInterrupt:
    print("interrupted after the import" if imported else "interrupted during the import")
else:
    print("not interrupted")
"""


def test_ctrl_c_during_prefects_import_takes_effect_after_it() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_DURING_PREFECTS_IMPORT],
        capture_output=True, text=True, timeout=120,
    )
    assert done.stdout.strip() == "interrupted after the import", done.stderr[-3000:]
    assert done.stderr == ""


# Ctrl-C sent the moment the command begins to import `module`: held, the import completes
# and the interrupt comes after it (exit 130, one line); unheld, it lands inside.
_CTRL_C_AT_AN_IMPORT = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal gives it
module, argv = sys.argv[1], sys.argv[2:]

class CtrlCAtTheImport:
    sent = False
    def find_spec(self, name, path=None, target=None):
        if name == module and not self.sent and os.getpid() == command:
            self.sent = True
            os.kill(command, signal.SIGINT)
        return None

command = os.getpid()  # not the helpers it forks
sys.meta_path.insert(0, CtrlCAtTheImport())
from newsprep.cli import main
try:
    code = main(argv)
except SystemExit as exit:
    code = exit.code
print(code, "imported" if module in sys.modules else "not imported")
"""

_NO_SERVER = "http://127.0.0.1:9/api"  # nothing answers: the interrupt must come first
_SESSION_SERVER = "the session's Prefect server"  # serve gets as far as its runner's start

# one deployment without a schedule, which serve's runner is interrupted in starting
_PREFECT_YAML = """
deployments:
  - name: ctrl-c-at-the-runners-start
    entrypoint: flows/normalize_corpus.py:normalize_corpus
    parameters: {config: {source: SOURCE, dest: DEST}}
"""


@pytest.mark.parametrize(
    ("module", "command", "api_url"),
    [
        ("prefect", ["serve"], None),
        ("newsprep.flows.normalize_corpus", ["serve"], _NO_SERVER),
        pytest.param(
            "prefect.runner.server", ["serve", "--prefect-file", "{prefect_file}"],
            _SESSION_SERVER, marks=pytest.mark.e2e,
        ),
        ("prefect", ["run", "{source}", "{dest}"], None),
        ("prefect", ["server", "status"], None),
    ],
)
def test_ctrl_c_at_the_commands_prefect_imports_takes_effect_after_them(
    module: str, command: list[str], api_url: str | None, tmp_path, request
) -> None:
    import os
    import subprocess

    source = tmp_path / "in"
    source.mkdir()
    (source / "a.txt").write_text("One sentence.\n")
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    repo = Path(__file__).resolve().parents[1]
    (project / "flows" / "normalize_corpus.py").symlink_to(repo / "flows" / "normalize_corpus.py")
    prefect_file = project / "prefect.yaml"
    prefect_file.write_text(
        _PREFECT_YAML.replace("SOURCE", str(source)).replace("DEST", str(tmp_path / "out"))
    )
    argv = [
        a.format(source=source, dest=tmp_path / "out", prefect_file=prefect_file)
        for a in command
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # no profile names a server
    if api_url == _SESSION_SERVER:
        api_url = request.getfixturevalue("prefect_server")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_AT_AN_IMPORT, module, *argv],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert done.stdout.split() == ["130", "imported"], done.stderr[-3000:]
    said = done.stderr.strip().splitlines()  # the command's own lines, no trace
    assert said[-1].startswith("newsprep: interrupted"), done.stderr[-3000:]
    assert all(line.startswith("newsprep: ") for line in said if line), done.stderr[-3000:]
