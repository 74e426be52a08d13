"""`flaky://`: an fsspec filesystem that injects I/O faults, for tests and failure drills.

It wraps another filesystem (local by default). A deterministic share of paths fail
their first `failures` reads or writes with a transient error; paths matching
`always_fail` never succeed; reading a path matching `crash_once` kills the reading
process the first time (a marker file in `crash_marker_dir` remembers it), as an
out-of-memory kill of a worker would. `read_log` names a file that gets a line per
read. `latency=SECONDS` makes every request wait that long first (sleeping: no CPU), as a
round trip to an object store does; `request_log` names a file that gets a line per
request (`<operation> <path>`), from every process. What counts as a request is what
would be one on S3: a read, a write, a delete, an info or existence check, an open, and
a listing per folder (`ls`, `walk`) or per 1,000 keys (`find`, a flat listing). Options
come as fsspec storage options, e.g.
`newsprep run flaky:///data/raw out --storage-option fail_fraction=0.2`.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import tempfile
import threading
import time
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

from fsspec.implementations.dirfs import DirFileSystem

_ERRORS = {
    "reset": lambda what: ConnectionResetError(errno.ECONNRESET, f"injected reset: {what}"),
    "timeout": lambda what: TimeoutError(errno.ETIMEDOUT, f"injected timeout: {what}"),
    "slowdown": lambda what: OSError(errno.EBUSY, f"injected SlowDown: {what}"),
    # not transient: a file the run may not read (tests run as root, who may read anything)
    "denied": lambda what: PermissionError(errno.EACCES, f"injected permission denied: {what}"),
}


class FlakyFileSystem(DirFileSystem):
    protocol = "flaky"

    def __init__(
        self,
        target_protocol: str = "file",
        target_options: dict | None = None,
        fail_fraction: float = 0.0,
        failures: int = 1,
        fail_paths: str = "*",
        always_fail: str = "",
        error: str = "reset",
        crash_once: str = "",
        crash_marker_dir: str = "",
        read_log: str = "",
        cut_streams_after: int = 0,
        unlistable: str = "",
        unlistable_error: str = "permission",
        latency: float = 0.0,
        request_log: str = "",
        **kwargs: object,
    ) -> None:
        if target_protocol in ("file", "local") and target_options is None:
            target_options = {"auto_mkdir": True}  # like an object store: no folders to make
        super().__init__(
            path="/", target_protocol=target_protocol, target_options=target_options, **kwargs
        )
        self.path = ""  # no prefix: paths pass through to the wrapped filesystem as they are
        self.fail_fraction, self.failures = float(fail_fraction), int(failures)
        self.fail_paths, self.always_fail = fail_paths, always_fail
        self.make_error = _ERRORS[error]
        self.crash_once, self.crash_marker_dir = crash_once, crash_marker_dir
        self.read_log = read_log  # a file that gets one line per read, from every process
        # a stream opened on a chosen path breaks once it has delivered this many bytes
        self.cut_streams_after = int(cut_streams_after)
        self.unlistable = unlistable  # folders whose listing is refused (PermissionError)
        # or fails `failures` times with a transient `error` ("reset", "timeout", "slowdown")
        self.unlistable_error = unlistable_error
        self.latency, self.request_log = float(latency), request_log
        # listed like an object store (flat, a request per 1,000 keys) when it stands in
        # for one: with a latency, or over S3 itself; over a local disk otherwise folder
        # by folder, so `unlistable` folders are met
        self.lists_flat = bool(self.latency) or target_protocol not in ("file", "local")
        self.injected: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()  # batches read and write from several I/O threads

    def _request(self, operation: str, path: str, count: int = 1) -> None:
        """One request (or `count`): logged, then the latency, slept."""
        if self.request_log:
            with open(self.request_log, "a", encoding="utf-8") as log:
                log.write(f"{operation} {path}\n" * count)
        if self.latency:
            time.sleep(self.latency * count)

    def chosen(self, operation: str, path: str) -> bool:
        """Whether this operation on this path is one that fails (stable across processes)."""
        digest = hashlib.sha256(f"{operation}:{path}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.fail_fraction

    def _inject(self, operation: str, path: str) -> None:
        if self.always_fail and fnmatch(path, self.always_fail):
            raise self.make_error(f"{operation} {path} (always)")
        if not fnmatch(path, self.fail_paths) or not self.chosen(operation, path):
            return
        with self._lock:
            failing = self.injected[operation, path] < self.failures
            self.injected[operation, path] += failing
        if failing:
            raise self.make_error(f"{operation} {path}")

    def _crash(self, path: str) -> None:
        if not self.crash_once or not fnmatch(path, self.crash_once):
            return
        marker = Path(self.crash_marker_dir or tempfile.gettempdir()) / (
            "newsprep-crashed-" + hashlib.sha256(path.encode()).hexdigest()[:16]
        )
        if not marker.exists():
            marker.touch()
            os._exit(70)  # no cleanup, no exception: the process is simply gone

    def cat_file(self, path, *args, **kwargs):
        if self.read_log:
            with open(self.read_log, "a", encoding="utf-8") as log:
                log.write(self._strip_protocol(path) + "\n")
        self._crash(self._strip_protocol(path))
        self._request("read", self._strip_protocol(path))
        self._inject("read", self._strip_protocol(path))
        return super().cat_file(path, *args, **kwargs)

    def open(self, path, mode="rb", *args, **kwargs):
        stripped = self._strip_protocol(path)
        self._request("open", stripped)
        handle = super().open(path, mode, *args, **kwargs)
        if (
            "r" in mode
            and self.cut_streams_after
            and fnmatch(stripped, self.fail_paths)
            and self.chosen("stream", stripped)
        ):
            return _CuttingFile(handle, self, stripped)
        return handle

    def ls(self, path, detail=True, **kwargs):
        stripped = self._strip_protocol(path).rstrip("/")
        self._request("ls", stripped)
        if self.unlistable and fnmatch(stripped, self.unlistable):
            if self.unlistable_error == "permission":
                raise PermissionError(errno.EACCES, "injected: permission denied", stripped)
            if self.injected["list", stripped] < self.failures:
                self.injected["list", stripped] += 1
                raise _ERRORS[self.unlistable_error](f"list {stripped}")
        return super().ls(path, detail=detail, **kwargs)

    def pipe_file(self, path, *args, **kwargs):
        self._request("write", self._strip_protocol(path))
        self._inject("write", self._strip_protocol(path))
        return super().pipe_file(path, *args, **kwargs)

    # the other requests: latency and the log only, no faults
    def info(self, path, **kwargs):
        self._request("info", self._strip_protocol(path))
        return super().info(path, **kwargs)

    def exists(self, path):
        self._request("exists", self._strip_protocol(path))
        return super().exists(path)

    def isdir(self, path):
        self._request("isdir", self._strip_protocol(path))
        return super().isdir(path)

    def walk(self, path, *args, **kwargs):
        for entry in super().walk(path, *args, **kwargs):
            self._request("ls", entry[0])
            yield entry

    def find(self, path, *args, **kwargs):
        found = super().find(path, *args, **kwargs)
        self._request("find", self._strip_protocol(path), max(1, math.ceil(len(found) / 1000)))
        return found

    def rm(self, path, *args, **kwargs):
        self._request("rm", self._strip_protocol(path))
        return super().rm(path, *args, **kwargs)

    def rm_file(self, path, **kwargs):
        self._request("rm", self._strip_protocol(path))
        return super().rm_file(path, **kwargs)


class _CuttingFile:
    """A file read through `flaky://` that breaks (the configured transient error) when its
    position passes `cut_streams_after`, `failures` times per path: a connection lost in
    the middle of a long stream. Everything else is the wrapped file's."""

    def __init__(self, handle, fs: FlakyFileSystem, path: str) -> None:
        self._handle, self._fs, self._path = handle, fs, path

    def read(self, size: int = -1) -> bytes:
        fs, key = self._fs, ("stream", self._path)
        position = self._handle.tell()
        if position >= fs.cut_streams_after and fs.injected[key] < fs.failures:
            fs.injected[key] += 1
            raise fs.make_error(f"stream {self._path} at byte {position}")
        if fs.injected[key] < fs.failures:
            room = fs.cut_streams_after - position
            size = room if size is None or size < 0 else min(size, room)
        return self._handle.read(size)

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()
