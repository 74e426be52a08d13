"""tasks/io/stores.py: the one place newsprep tells the local disk, object stores and
other filesystems apart."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from newsprep.tasks.io.stores import object_store, on_local_disk, store_kind, url_on_local_disk


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
