"""tasks/io/stores.py: the one place newsprep tells the local disk, object stores and
other filesystems apart."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

from newsprep.tasks.io.stores import (
    object_store,
    on_local_disk,
    read_files,
    remove_files,
    remove_path,
    store_kind,
    url_on_local_disk,
)


@pytest.mark.parametrize(
    ("url", "options", "kind"),
    [
        ("/tmp", {}, "local"),
        ("file:///tmp", {}, "local"),
        ("memory://x", {}, "other"),  # not the disk, but no flat key listing either
        ("flaky:///tmp", {}, "other"),  # flaky:// over the disk: listed folder by folder
        ("flaky:///tmp", {"latency": 0.001}, "object-store"),  # with a latency it stands in for S3
    ],
)
def test_store_kind(url: str, options: dict, kind: str) -> None:
    fs = fsspec.url_to_fs(url, **options)[0]
    assert store_kind(fs) == kind
    assert on_local_disk(fs) == (kind == "local")
    assert object_store(fs) == (kind == "object-store")


def test_s3_is_an_object_store() -> None:
    fs = fsspec.filesystem("s3", anon=True, skip_instance_cache=True)  # no request made
    assert store_kind(fs) == "object-store"


def test_a_chained_url_is_where_its_last_part_is(tmp_path: Path) -> None:
    assert url_on_local_disk(f"tar://*.story::{tmp_path}/x.tgz")
    assert not url_on_local_disk("tar://*.story::memory://x.tgz")
    assert not url_on_local_disk("s3://bucket/prefix")


# names that are glob patterns to fsspec: d[1] matches d1, b*.txt matches bx.txt
GLOB_TREE = ("d[1]/a[1].txt", "d[1]/a1.txt", "d[1]/sub/b*.txt", "d[1]/sub/bx.txt", "d1/a1.txt")


@pytest.fixture(params=["local", "memory"])  # memory: fs.rm globs there as on S3
def tree(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        fs, root = LocalFileSystem(auto_mkdir=True), tmp_path.as_posix()
    else:
        fs, root = fsspec.filesystem("memory"), f"/{tmp_path.name}"
    for name in GLOB_TREE:
        fs.pipe_file(f"{root}/{name}", name.encode())
    yield fs, root
    if request.param == "memory":
        fs.rm(root, recursive=True)


def left(fs, root: str) -> list[str]:
    return sorted(path[len(root) + 1 :] for path in fs.find(root))


def test_read_files_reads_each_path_as_named(tree) -> None:
    fs, root = tree
    paths = [f"{root}/d[1]/a[1].txt", f"{root}/d[1]/sub/b*.txt", f"{root}/d[1]/missing"]
    assert read_files(fs, paths) == {paths[0]: b"d[1]/a[1].txt", paths[1]: b"d[1]/sub/b*.txt"}
    assert read_files(fs, []) == {}


def test_remove_files_and_remove_path_remove_what_they_name(tree) -> None:
    fs, root = tree
    remove_files(fs, [f"{root}/d[1]/a[1].txt", f"{root}/d[1]/sub/b*.txt"])
    assert left(fs, root) == ["d1/a1.txt", "d[1]/a1.txt", "d[1]/sub/bx.txt"]
    remove_path(fs, f"{root}/d[1]/a1.txt")
    remove_path(fs, f"{root}/d[1]", recursive=True)
    assert left(fs, root) == ["d1/a1.txt"]
    assert not fs.exists(f"{root}/d[1]")
    with pytest.raises(FileNotFoundError):
        remove_path(fs, f"{root}/d[1]", recursive=True)
