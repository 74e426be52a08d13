"""What kind of store a path is on: the one place newsprep tells them apart.

- the local disk: OS calls, temp files renamed into place, an appended journal, a folder
  walk (an article read inline, one at a time);
- an object store: keys under a prefix, listed flat (a request per 1,000 keys), objects
  that appear whole when their upload completes (S3, GCS, Azure; or a filesystem that
  stands in for one, `lists_flat`, as flaky:// with a latency or over S3 does);
- anything else (flaky:// over the local disk, ftp, http): not the local disk (one write
  per object, reads ahead and writes behind), but listed folder by folder.
"""

from __future__ import annotations

from typing import Literal

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

StoreKind = Literal["local", "object-store", "other"]

_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


def store_kind(fs: AbstractFileSystem) -> StoreKind:
    if isinstance(fs, LocalFileSystem):
        return "local"
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    if getattr(fs, "lists_flat", False) or not _OBJECT_STORES.isdisjoint(protocols):
        return "object-store"
    return "other"


def on_local_disk(fs: AbstractFileSystem) -> bool:
    return store_kind(fs) == "local"


def object_store(fs: AbstractFileSystem) -> bool:
    return store_kind(fs) == "object-store"


def url_fs(url: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem and path of a URL; for a chain such as tar://...::/data/x.tgz,
    of its last part (where the archive is)."""
    if "::" in url:
        url = url.rsplit("::", 1)[1]
    return fsspec.url_to_fs(url)


def url_on_local_disk(url: str) -> bool:
    """Whether the URL (for a chain, its last part) is a path on the local disk."""
    return on_local_disk(url_fs(url)[0])
