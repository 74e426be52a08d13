"""The reader of `.txt` and `.story` files: one article per file, read by the worker."""

from __future__ import annotations

import os
import posixpath
from functools import lru_cache

from fsspec import AbstractFileSystem

from newsprep.errors import Rejected
from newsprep.tasks.io.refs import ArticleRef, SourceFile
from newsprep.tasks.io.stores import on_local_disk
from newsprep.tasks.io.stream import OpenFolders, open_regular_fd


def read_bytes(
    fs: AbstractFileSystem, path: str, max_bytes: int, root: str = "",
    folders: OpenFolders | None = None,
) -> bytes:
    """The article's bytes, reading at most `max_bytes` (one ranged request on object stores).

    On a local disk no link is followed below `root` (SOURCE's folder; else only the file
    itself is not a link), and a FIFO put where the listing saw a file is refused, not
    waited on. `folders` keeps the folders read from open (a batch's)."""
    if on_local_disk(fs):
        # cat_file(end=) would allocate a max_bytes buffer for every article
        path = _local_path(fs, path)
        below = depth_below(path, _local_root(type(fs), root)) if root else 1
        data = _read_local(path, below, max_bytes, folders)
    else:
        data = _read_range(fs, path, max_bytes + 1)
    if len(data) > max_bytes:
        raise Rejected("too-large", f"more than max_bytes={max_bytes} bytes")
    return data


def _read_range(fs: AbstractFileSystem, path: str, end: int) -> bytes:
    """The object's first `end` bytes. S3 refuses any range of an empty object (416,
    InvalidRange, an OSError from s3fs): when the object is empty, that is its bytes."""
    try:
        return fs.cat_file(path, start=0, end=end)
    except OSError:
        if not _is_empty(fs, path):
            raise
        return b""


def _is_empty(fs: AbstractFileSystem, path: str) -> bool:
    try:
        fs.invalidate_cache(path)
        return fs.size(path) == 0
    except OSError:
        return False


def _local_path(fs: AbstractFileSystem, path: str) -> str:
    """`fs._strip_protocol(path)`, without its cost for the plain absolute POSIX paths the
    listing gives (which it returns unchanged)."""
    if os.sep == "/" and path.startswith("/") and not path.endswith("/"):
        return path
    return fs._strip_protocol(path)


@lru_cache(maxsize=16)
def _local_root(fs_class: type[AbstractFileSystem], root: str) -> str:
    """SOURCE's folder as a local path (a run reads every article below the same one)."""
    return fs_class._strip_protocol(root)


def _read_local(
    path: str, below: int, max_bytes: int, folders: OpenFolders | None = None
) -> bytes:
    """Up to `max_bytes + 1` bytes of a local file (`open_regular`'s checks), to its end:
    plain reads on the descriptor, no buffered file object. The descriptor stays
    `O_NONBLOCK`: reads of a regular file, which it is, ignore the flag."""
    fd, status = open_regular_fd(path, below, folders)
    try:
        limit = max_bytes + 1
        chunks = []
        got = 0
        while got < limit:  # the size is a hint: the file may have grown or shrunk since
            chunk = os.read(fd, min(limit - got, max(status.st_size + 1 - got, 1 << 16)))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def depth_below(path: str, root: str) -> int:
    """How many components of `path` lie below the folder `root`."""
    if root and not root.endswith("/") and path.startswith(root + "/"):
        rest = path[len(root) + 1 :].split("/")
        if "" not in rest and "." not in rest and ".." not in rest:  # normal: as relpath
            return len(rest)
    return posixpath.relpath(path, root).count("/") + 1


def file_article(fs: AbstractFileSystem, file: SourceFile) -> ArticleRef:
    return ArticleRef(
        id=file.relative,
        source=file_url(fs, file.path),
        format="story" if file.format == "story" else "txt",
        path=file.path,
        signature=file.signature,
        size=file.size,
    )


def file_url(fs: AbstractFileSystem, path: str) -> str:
    """A listed path as a URL; the local filesystem's unstrip_protocol would normalize
    the (already normal) path again, a cost per article."""
    if on_local_disk(fs) and path.startswith("/"):
        return "file://" + path
    return fs.unstrip_protocol(path)
