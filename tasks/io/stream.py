"""Reading a container (JSONL file, archive) front to back, safely.

`open_container` gives its decompressed bytes as a stream that a transient error in the
middle cannot cut short: the raw file is opened again at the byte reached (a range read on
object stores) and the decompressor goes on where it was, with the retry policy's attempts
for each break. A file cut short gives every byte decompressed before the cut, then its
error. `open_regular` never blocks on a FIFO or a device put where a file was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable
from typing import IO, Any, Protocol, TypeVar

import zstandard
from fsspec import AbstractFileSystem
from fsspec.compression import compr
from fsspec.utils import infer_compression

from newsprep.errors import Rejected
from newsprep.tasks.io.refs import STREAM_BLOCK_SIZE
from newsprep.tasks.io.stores import on_local_disk

T = TypeVar("T")


class Retry(Protocol):
    """The retry policy (newsprep/run/retry.py), as the readers use it."""

    def call(
        self,
        call: Callable[[], T],
        first_attempt: int = 1,
        on_retry: Callable[[int, BaseException], None] | None = None,
    ) -> T: ...


def open_regular(path: str, below: int = 1) -> IO[bytes]:
    """A local file opened for reading, or `Rejected('not-a-file')` at once for a FIFO, a
    device or a socket (opening a FIFO for reading would wait for a writer forever), and
    for a symbolic link: the last `below` components of `path` (the file and the folders
    between it and SOURCE) are opened one by one without following links, so a file or
    folder swapped for a link after the listing cannot lead outside SOURCE."""
    fd, _ = open_regular_fd(path, below)
    try:
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_regular_fd(
    path: str, below: int = 1, folders: OpenFolders | None = None
) -> tuple[int, os.stat_result]:
    """`open_regular`'s checks, giving the descriptor (opened `O_NONBLOCK`, which reads of
    a regular file ignore) and its `fstat`. With `folders`, the file's folder is opened
    (as safely) once for all the files read in it, and kept open there."""
    parts = path.split("/")
    below = max(1, min(below, len(parts) - 1))
    if folders is not None:
        fd = folders.open_file(path, parts, below)
    else:
        folder = _open_folder(path, parts, below)
        try:
            fd = _open_file(path, parts[-1], folder)
        finally:
            os.close(folder)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(status.st_mode) else "not a regular file"
            raise Rejected("not-a-file", f"{path!r} is {kind}")
        return fd, status
    except BaseException:
        os.close(fd)
        raise


_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_NOCTTY", 0)


def _open_folder(path: str, parts: list[str], below: int) -> int:
    """The descriptor of the file's folder: the folder `below` components up is opened as
    it is (SOURCE may be a link), each folder under it without following a link."""
    folder = os.open("/".join(parts[:-below]) or "/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts[-below:-1]:
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=folder)
            except OSError as exc:
                _refuse_link(exc, path, name, folder)
                raise
            os.close(folder)
            folder = inner
    except BaseException:
        os.close(folder)
        raise
    return folder


def _open_file(path: str, name: str, folder: int) -> int:
    try:
        return os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=folder)
    except OSError as exc:
        _refuse_link(exc, path, name, folder)
        raise


class OpenFolders:
    """The folders a batch reads files from, each opened once, kept open until `close`
    (at most MAX_OPEN at a time): two opens and two closes less an article for files one
    folder below SOURCE. A folder is the one that was there at its first file's read; one
    swapped for a link later is not followed, as its files are read in the folder opened."""

    MAX_OPEN = 64

    def __init__(self) -> None:
        self._open: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()  # reads may run in I/O threads

    def open_file(self, path: str, parts: list[str], below: int) -> int:
        """The file's descriptor, opened in its folder's (under the lock: no other thread
        closes that folder meanwhile). A file that cannot be opened closes its folder: a
        retry opens the folder again (one gone stale on a network file system, say)."""
        key = (path.rpartition("/")[0], below)
        with self._lock:
            folder = self._open.get(key)
            if folder is None:
                if len(self._open) >= self.MAX_OPEN:
                    self._close_all()
                folder = self._open[key] = _open_folder(path, parts, below)
            try:
                return _open_file(path, parts[-1], folder)
            except OSError:
                os.close(self._open.pop(key))
                raise

    def close(self) -> None:
        with self._lock:
            self._close_all()

    def _close_all(self) -> None:
        for folder in self._open.values():
            os.close(folder)
        self._open.clear()

    def __enter__(self) -> OpenFolders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _refuse_link(exc: OSError, path: str, name: str, folder: int) -> None:
    """A symbolic link met where the listing saw a file or folder: not followed (ELOOP for
    a file; ENOTDIR when a folder is expected)."""
    if exc.errno == errno.ENOTDIR:
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                exc.errno = errno.ELOOP
    if exc.errno == errno.ELOOP:
        raise Rejected(
            "not-a-file", f"{path!r} is (or is under) a symbolic link now: not followed"
        ) from None


class ResumableReader:
    """The raw bytes of one file, read once front to back. A transient error reopens the
    file at the position reached and reads on (each break gets the policy's attempts)."""

    def __init__(
        self, fs: AbstractFileSystem, path: str, retry: Retry | None, below: int = 1,
        start: int = 0, end: int | None = None,
    ) -> None:
        self.fs, self.path, self.retry, self.below = fs, path, retry, below
        self.start, self.end = start, end  # the bytes read: a slice of a file, or all of it
        self.position = start
        self.resumed = 0  # how many times the file was opened again mid-way
        self._handle: Any = None

    def _open(self) -> Any:
        if on_local_disk(self.fs):
            handle = open_regular(self.fs._strip_protocol(self.path), self.below)
        else:
            handle = self.fs.open(self.path, "rb", block_size=STREAM_BLOCK_SIZE)
        if self.position:
            handle.seek(self.position)
            self.resumed += self.position > self.start
        return handle

    def _read_once(self, size: int) -> bytes:
        if self.end is not None:
            size = min(size, self.end - self.position)
            if size <= 0:
                return b""
        try:
            if self._handle is None:
                self._handle = self._open()
            data = self._handle.read(size)
        except Exception:
            self.close()  # the next attempt opens the file again where it broke
            raise
        self.position += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = STREAM_BLOCK_SIZE
        if self.retry is None:
            return self._read_once(size)
        return self.retry.call(lambda: self._read_once(size))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                handle.close()

    def __enter__(self) -> ResumableReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_container(
    fs: AbstractFileSystem, path: str, compression: str | None, retry: Retry | None,
    below: int = 1, span: tuple[int, int] | None = None,
) -> tuple[ResumableReader, IO[bytes]]:
    """(the raw reader, the stream of decompressed bytes); `compression` as fsspec names
    it, or "infer" (by the file name). `below`: as for `open_regular`. `span`: only the
    bytes from `start` to `end` (not) of a file that is not compressed."""
    if compression == "infer":
        compression = infer_compression(path)
    if span is not None and compression is not None:
        raise ValueError(f"a compressed file cannot be read from the middle: {path!r}")
    raw = ResumableReader(fs, path, retry, below, *(span or (0, None)))
    if compression is None:
        return raw, raw  # type: ignore[return-value]
    if compression == "zstd":  # fsspec's reader stops after the first frame of several
        frames = ZstdFrames(raw)
        reader = zstandard.ZstdDecompressor().stream_reader(frames, read_across_frames=True)
        return raw, Decompressed(reader, raw, frames)  # type: ignore[return-value]
    stream = compr[compression](raw, mode="rb")
    return raw, Decompressed(stream, raw)  # type: ignore[return-value]


class Decompressed:
    """A decompressor's stream whose reads keep every byte decompressed before an error: a
    read that meets one (a file cut short) gives the bytes before it, and the next read
    raises it; the decompressors' own `read(n)` drops what it held of the n bytes.
    `frames`: a zstd file's, which must end where a frame ends (zstandard's reader ends
    quietly in the middle of one). A file of no bytes holds no compressed stream: gzip's
    and zstandard's readers took it for an empty one."""

    def __init__(
        self, stream: Any, raw: ResumableReader, frames: ZstdFrames | None = None
    ) -> None:
        self.stream, self.raw, self.frames = stream, raw, frames
        self._read1 = getattr(stream, "read1", stream.read)  # up to n, not waiting for n
        self._error: Exception | None = None

    def read(self, size: int = -1) -> bytes:
        if self._error is not None:
            raise self._error
        pieces: list[bytes] = []
        held = 0
        try:
            while size < 0 or held < size:
                piece = self._read1(size - held if size >= 0 else STREAM_BLOCK_SIZE)
                if not piece:
                    if self.raw.position == self.raw.start:
                        raise EOFError("Compressed file is empty (0 bytes)")
                    if self.frames is not None and not self.frames.whole:
                        raise EOFError("Compressed file ended before the end of a zstd frame")
                    break
                pieces.append(piece)
                held += len(piece)
        except Exception as exc:
            if not pieces:
                raise
            self._error = exc
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> Decompressed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ZstdFrames:
    """The raw bytes of a zstd file on their way to the decompressor, followed frame by
    frame (RFC 8878: headers and block sizes, nothing decompressed) to tell whether they
    end where a frame ends."""

    def __init__(self, raw: ResumableReader) -> None:
        self.raw = raw
        self.head = b""  # the bytes of the next header so far
        self.need = 4  # that header's length
        self.step: Callable[[int], None] = self._frame  # what reads it
        self.skip = 0  # bytes to pass: a header's fields, a block, a checksum
        self.checksum = 0
        self.lost = False  # bytes that are no frame: the decompressor says what is wrong

    @property
    def whole(self) -> bool:
        return self.lost or (self.step == self._frame and not self.head and not self.skip)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        position, end = 0, len(data)
        while position < end and not self.lost:
            if self.skip:
                passed = min(self.skip, end - position)
                self.skip -= passed
                position += passed
                continue
            piece = data[position : position + self.need - len(self.head)]
            self.head += piece
            position += len(piece)
            if len(self.head) == self.need:
                header, self.head = self.head, b""
                self.step(int.from_bytes(header, "little"))
        return data

    def _frame(self, magic: int) -> None:
        if magic == 0xFD2FB528:
            self.need, self.step = 1, self._descriptor
        elif magic & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame: its size, its bytes
            self.need, self.step = 4, self._skippable
        else:
            self.lost = True

    def _skippable(self, size: int) -> None:
        self.skip, self.need, self.step = size, 4, self._frame

    def _descriptor(self, flags: int) -> None:
        single = flags >> 5 & 1  # no window size; a content size of at least 1 byte
        self.skip = 1 - single + (0, 1, 2, 4)[flags & 3] + (single, 2, 4, 8)[flags >> 6]
        self.checksum = 4 if flags & 4 else 0
        self.need, self.step = 3, self._block

    def _block(self, header: int) -> None:
        kind = header >> 1 & 3
        self.skip = 1 if kind == 1 else header >> 3  # an RLE block is its one byte
        self.lost = kind == 3  # reserved
        if header & 1:  # the frame's last block
            self.skip += self.checksum
            self.need, self.step = 4, self._frame

    def close(self) -> None:
        self.raw.close()
