"""What kind of store a path is on: the one place newsprep tells them apart; and reading
and removing paths under DEST by their names (`read_files`, `remove_path`).

- the local disk: OS calls, temp files renamed into place, an appended journal, a folder
  walk (an article read inline, one at a time);
- an object store: keys under a prefix, listed flat (a request per 1,000 keys), objects
  that appear whole when their upload completes (S3, GCS, Azure; or a filesystem that
  stands in for one, `lists_flat`, as flaky:// with a latency or over S3 does);
- anything else (flaky:// over the local disk, ftp, http): not the local disk (one write
  per object, reads ahead and writes behind), but listed folder by folder.
"""

from __future__ import annotations

from contextlib import suppress
from glob import has_magic
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


def forget_listings() -> None:
    """Have this process list SOURCE and DEST afresh: drop the filesystems fsspec keeps.
    s3fs keeps every listing it makes in its filesystem for the life of the process, so
    a process that lives on from run to run (a Dask cluster's worker, the flow's, one
    forked from it) saw them as it had first listed them."""
    classes: list[type[AbstractFileSystem]] = [AbstractFileSystem]
    while classes:
        cls = classes.pop()
        cls.clear_instance_cache()
        classes.extend(cls.__subclasses__())


def url_on_local_disk(url: str) -> bool:
    """Whether the URL (for a chain, its last part) is a path on the local disk."""
    return on_local_disk(url_fs(url)[0])


# fsspec's cat(list) and rm() take a path holding `*`, `?` or `[` for a glob pattern and
# act on what it matches (rm("x/a[1].txt") deletes x/a1.txt): paths under DEST are read
# and removed by these instead, which take each path as it is spelled.


def read_files(fs: AbstractFileSystem, paths: list[str]) -> dict[str, bytes]:
    """The bytes of each of `paths` (as given) that could be read; one missing or
    unreadable is left out. Concurrent on an async filesystem (S3), as fs.cat is."""
    if not paths:
        return {}
    found = fs.cat_ranges(list(paths), None, None, on_error="return")
    return {
        path: data for path, data in zip(paths, found, strict=True)
        if not isinstance(data, BaseException)
    }


def remove_path(fs: AbstractFileSystem, path: str, recursive: bool = False) -> None:
    """fs.rm(path, recursive) without the glob: a path without glob characters goes to
    fs.rm as it is (one request per 1,000 keys on S3), as does any path on the local
    disk (whose rm does not glob); one with them elsewhere, key by key."""
    if not has_magic(path) or on_local_disk(fs):
        fs.rm(path, recursive=recursive)
        return
    path = fs._strip_protocol(path)
    found = fs.find(path, withdirs=True, detail=True) if recursive else {}
    if not found and (not recursive or fs.exists(path)):
        found = {path: {"type": "file"}}
    if not found:
        raise FileNotFoundError(path)
    for name, info in sorted(found.items(), reverse=True):  # what is in a folder first
        if info.get("type") != "directory":
            fs.rm_file(name)
        elif not object_store(fs):  # an object store has no folders to remove
            with suppress(FileNotFoundError):  # gone with its files (memory://)
                fs.rmdir(name)


def remove_files(fs: AbstractFileSystem, paths: list[str]) -> None:
    """Delete the files `paths`: those without glob characters in one fs.rm (a request
    per 1,000 on S3), the others one by one."""
    plain = [path for path in paths if not has_magic(path)]
    if plain:
        fs.rm(plain)
    for path in paths:
        if has_magic(path):
            remove_path(fs, path)
