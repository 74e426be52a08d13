"""Writing under DEST: atomic output files and the quarantine of rejected articles."""

from __future__ import annotations

import json
import os
import posixpath
import uuid

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

QUARANTINE_DIR = "_quarantine"
TEMP_MARKER = ".newsprep-tmp-"


def write_atomic(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write all of `data` or nothing: a temp file renamed into place on local disks.

    Object stores (S3 and the like) publish an object only when its upload completes,
    so there the write itself is atomic.
    """
    if not isinstance(fs, LocalFileSystem):
        fs.pipe_file(path, data)
        return
    parent, name = posixpath.split(path)
    fs.makedirs(parent, exist_ok=True)
    temp = posixpath.join(parent, f".{name}{TEMP_MARKER}{uuid.uuid4().hex}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def quarantine(
    fs: AbstractFileSystem, dest_root: str, article_id: str, raw: bytes, record: dict
) -> str:
    """Keep the original bytes of a rejected article and why, under DEST/_quarantine/.

    Returns the quarantine path relative to DEST.
    """
    relative = posixpath.join(QUARANTINE_DIR, article_id)
    target = posixpath.join(dest_root, relative)
    write_atomic(fs, target, raw)
    reason = json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1) + "\n"
    write_atomic(fs, target + ".reason.json", reason.encode())
    return relative
