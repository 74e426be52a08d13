"""The session's clean-up of leaked named semaphores (tests/semaphores.py) removes only
those no live process holds: never those of a run or test session going on beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from semaphores import SHM, remove_unheld

# a process that makes a semaphore as the stage pool's queues do, says its file, and waits
HOLDER = """
import multiprocessing, sys
lock = multiprocessing.get_context("forkserver").Lock()
print("/dev/shm/sem." + lock._semlock.name.lstrip("/"), flush=True)
sys.stdin.read()
"""

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm")


def _holder() -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, start_new_session=True,  # its group: itself and its resource tracker
    )
    path = Path(process.stdout.readline().strip())
    assert path.exists()
    return process, path


def test_a_semaphore_its_live_creator_holds_stays() -> None:
    """Its creator maps it under the temporary name glibc unlinked (`sem.XXXXXX (deleted)`
    in /proc/<pid>/maps): what holds it is found by inode, not by name."""
    process, path = _holder()
    try:
        assert remove_unheld({path}) == []
        assert path.exists()
    finally:
        process.communicate("")
    assert not path.exists()  # its creator unlinked it as it ended


def test_a_semaphore_whose_creator_was_killed_with_its_tracker_is_removed() -> None:
    process, path = _holder()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert path.exists()  # leaked: nothing left to unlink it
    assert remove_unheld({path}) == [path]
    assert not path.exists()
