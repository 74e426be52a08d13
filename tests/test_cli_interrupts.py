"""Ctrl-C that lands where Python cannot raise it prints no trace (issue 19 class 16: one
line, no traceback from any process); other such errors are printed as Python would."""

from __future__ import annotations

import gc
import sys

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
