"""The named semaphores in /dev/shm that a test session leaves behind, and which of them
no live process holds (tests/conftest.py removes those at the session's end)."""

from __future__ import annotations

import os
from pathlib import Path

SHM = Path("/dev/shm")


def semaphores() -> set[Path]:
    return set(SHM.glob("sem.*")) if SHM.is_dir() else set()


def _file_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return os.major(st.st_dev), os.minor(st.st_dev), st.st_ino


def held_semaphores() -> set[tuple[int, int, int]]:
    """(device major, minor, inode) of every file under /dev/shm a live process maps.
    By inode, not by name: the process that creates a semaphore maps it under a temporary
    name it then unlinks (glibc's sem_open), so its /proc/<pid>/maps line reads
    `/dev/shm/sem.XXXXXX (deleted)`, not the semaphore's name."""
    held = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            lines = maps.read_text().splitlines()
        except OSError:  # the process ended meanwhile, or is not ours to read
            continue
        for line in lines:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith(str(SHM) + "/"):
                major, minor = fields[3].split(":")
                held.add((int(major, 16), int(minor, 16), int(fields[4])))
    return held


def remove_unheld(made: set[Path]) -> list[Path]:
    """Remove the semaphores of `made` that no live process maps (their creator was
    killed with its resource tracker); those of live processes (another test session, a
    run going on beside the tests) stay. The ones removed."""
    held = held_semaphores()
    removed = []
    for path in made:
        key = _file_key(path)
        if key is None or key in held:
            continue
        try:
            path.unlink()
        except OSError:  # gone meanwhile, or another user's
            continue
        removed.append(path)
    return removed
