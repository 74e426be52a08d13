"""Tie a helper process's life to the process that started it, so that a `kill -9` of the
command takes its helpers with it (the temporary Prefect server, the fork server, the
stage workers).

On Linux the kernel does it: `PR_SET_PDEATHSIG` sends the child a signal when its parent
dies. Elsewhere a daemon thread polls the parent's pid. Either way a child whose parent is
already gone when it binds ends at once.

`python -m newsprep.lifeline PARENT_PID -m MODULE ARGS...` runs MODULE as `python -m`
would, bound to PARENT_PID.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_PR_SET_PDEATHSIG = 1


def bind_to_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """End this process with `sig` when `parent_pid` (its parent) dies.

    Linux ties the signal to the parent *thread* that forked this process: call it only in
    children started from their parent's main thread, or from a single-threaded parent."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # the parent died before the call
                os.kill(os.getpid(), sig)
            return
    threading.Thread(target=_watch, args=(parent_pid, sig), daemon=True).start()


def _watch(parent_pid: int, sig: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), sig)


def quiet_interrupts(unraisable: Any) -> None:
    """Ctrl-C landing where Python cannot raise it (an import's lock cleanup, a `__del__`)
    is the interrupt the command reports in one line: no "Exception ignored" trace for it.
    Anything else is printed as Python would. The command and its stage workers use it
    as `sys.unraisablehook`."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C (SIGINT) inside the block takes effect as the block ends. The command
    imports Prefect so: a KeyboardInterrupt raised while pydantic builds a schema comes out
    as a SchemaError, which Prefect's import logs with a traceback and goes on. Only in
    the main thread, the one Python delivers signals to; elsewhere nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)  # as if it came now


def main(argv: list[str]) -> None:
    parent, flag, module, *args = argv
    if flag != "-m":
        raise SystemExit("usage: python -m newsprep.lifeline PARENT_PID -m MODULE [ARGS...]")
    bind_to_parent(int(parent))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
