"""One run at a time per DEST: a lock held in DEST for as long as a run writes there.

On a local disk it is `DEST/_newsprep.lock` under `flock`: the kernel releases it when
the process ends, however it ends, so a killed run never blocks the next one. On object
stores (S3 and the like) it is an object created only if absent (a conditional PUT),
holding its owner (host, pid, a token) and an expiry that a heartbeat thread moves
forward; a lock whose expiry passed, or whose owner is a dead process on this host, is
stale and taken over. The lock is removed when the run ends.

The CLI takes the lock before a server starts (it also proves DEST writable); the flow
takes it again, which within the same process only counts a holder, so runs started from
a deployment are covered too.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
import socket
import threading
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from newsprep.config import ConfigError
from newsprep.run.ledger.summary import redact
from newsprep.run.locations import describe_storage_error
from newsprep.tasks.io.paths import LOCK_NAME
from newsprep.tasks.io.stores import on_local_disk, remove_path

HEARTBEAT_SECONDS = 20.0
EXPIRY_SECONDS = 120.0  # an object-store lock not renewed for this long is stale


class DestBusy(ConfigError):
    """Another run holds DEST's lock."""


_held: dict[str, tuple[DestLock, int]] = {}  # key -> (lock, holders in this process)
_held_guard = threading.Lock()


def acquire(dest: str) -> DestLock:
    """Take DEST's lock, or count one more holder when this process has it already."""
    fs, root = open_dest(dest)
    key = _key(fs, root)
    with _held_guard:
        if key in _held:
            lock, holders = _held[key]
            _held[key] = (lock, holders + 1)
            return lock
        lock = DestLock(fs, root, dest)
        lock.take()
        _held[key] = (lock, 1)
        return lock


def open_dest(dest: str) -> tuple[AbstractFileSystem, str]:
    """DEST's filesystem and path; ConfigError in one line for an unknown protocol (`S3://`,
    a typo), a filesystem whose package is missing (`gs://` without gcsfs) or a server
    that does not answer (`ftp://`, which connects at once)."""
    what = f"DEST {redact(dest)}"
    try:
        return fsspec.url_to_fs(dest)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"cannot open {what}: {(str(exc).splitlines() or [''])[0]}") from None
    except Exception as exc:
        raise ConfigError(describe_storage_error(exc, what)) from None


def release(lock: DestLock) -> None:
    key = _key(lock.fs, lock.root)
    with _held_guard:
        current = _held.get(key)
        if current is None or current[0] is not lock:
            return
        if current[1] > 1:
            _held[key] = (lock, current[1] - 1)
            return
        del _held[key]
    lock.give_up()


def _key(fs: AbstractFileSystem, root: str) -> str:
    if on_local_disk(fs):
        return "file://" + os.path.realpath(root)
    return fs.unstrip_protocol(root.rstrip("/"))


class DestLock:
    def __init__(self, fs: AbstractFileSystem, root: str, shown: str) -> None:
        self.fs, self.root, self.shown = fs, root.rstrip("/") or root, shown
        self.path = posixpath.join(self.root, LOCK_NAME)
        self.local = on_local_disk(fs)
        self.token = uuid.uuid4().hex
        self._fd: int | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _owner(self) -> dict[str, Any]:
        now = time.time()
        return {
            "host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "heartbeat": now, "expires": now + EXPIRY_SECONDS,
        }

    def _busy(self, owner: dict[str, Any] | None) -> DestBusy:
        who = "another newsprep run"
        if owner:
            who += f" (pid {owner.get('pid')} on {owner.get('host')}, since " \
                   f"{owner.get('started_at')})"
        return DestBusy(
            f"DEST {self.shown} is in use by {who}; run again when it has finished, or "
            "choose another DEST"
        )

    # local disk: flock
    def take(self) -> None:
        if self.local:
            self._take_local()
        else:
            self._take_remote()

    def _take_local(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise ConfigError(f"DEST {self.shown} is a file, not a folder")
        try:
            os.makedirs(self.root, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    owner = _parse(os.pread(fd, 4096, 0))
                    os.close(fd)
                    raise self._busy(owner) from None
                # the holder before us may have removed the file after we opened it
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(self._owner()).encode(), 0)
        except DestBusy:
            raise
        except OSError as exc:
            raise ConfigError(describe_storage_error(exc, f"DEST {self.shown}")) from None
        self._fd = fd

    # object stores: a conditional create, a heartbeat, an expiry
    def _take_remote(self) -> None:
        try:
            if self.fs.isfile(self.root):
                raise ConfigError(f"DEST {self.shown} is an object, not a folder (prefix)")
            for _ in range(3):
                current = self._read_remote()
                if current is not None:
                    if not _stale(current):
                        raise self._busy(current)
                    remove_path(self.fs, self.path)  # a killed run's lock
                try:
                    self.fs.pipe_file(self.path, json.dumps(self._owner()).encode(),
                                      mode="create")
                except FileExistsError:
                    continue  # another run created it between our read and our write
                except TypeError:  # a filesystem without conditional writes
                    self.fs.pipe_file(self.path, json.dumps(self._owner()).encode())
                mine = self._read_remote()
                if mine is not None and mine.get("token") == self.token:
                    break
                raise self._busy(mine)
            else:
                raise self._busy(self._read_remote())
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(describe_storage_error(exc, f"DEST {self.shown}")) from None
        self._heartbeat = threading.Thread(target=self._beat, name="dest-lock", daemon=True)
        self._heartbeat.start()

    def _read_remote(self) -> dict[str, Any] | None:
        try:
            return _parse(self.fs.cat_file(self.path))
        except FileNotFoundError:
            return None

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                current = self._read_remote()
                if current is None or current.get("token") != self.token:
                    return  # taken over (we were stale): nothing more to renew
                owner = {**current, "heartbeat": time.time(),
                         "expires": time.time() + EXPIRY_SECONDS}
                self.fs.pipe_file(self.path, json.dumps(owner).encode())
            except Exception:  # a transient error: the next beat tries again
                continue

    def give_up(self) -> None:
        if self.local:
            if self._fd is not None:
                with suppress(OSError):
                    os.unlink(self.path)
                os.close(self._fd)  # unlinked first, so a waiter sees a new file
                self._fd = None
            return
        self._stop.set()
        try:
            current = self._read_remote()
            if current is not None and current.get("token") == self.token:
                remove_path(self.fs, self.path)
        except Exception:
            pass  # it expires by itself


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        owner = json.loads(data)
    except ValueError:
        return None
    return owner if isinstance(owner, dict) else None


def _stale(owner: dict[str, Any] | None) -> bool:
    """No owner worth waiting for: unreadable, expired, or a dead process on this host."""
    if owner is None:
        return True
    if float(owner.get("expires", 0)) < time.time():
        return True
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False
