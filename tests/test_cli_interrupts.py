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
