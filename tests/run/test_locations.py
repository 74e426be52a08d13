"""SOURCE and DEST before a run (issue 13): credentials out of URLs (class 12), the two
places apart (class 11), one run per DEST (class 15)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from newsprep.config import ConfigError
from newsprep.run import lock as dest_lock
from newsprep.run.locations import check_apart, split_credentials, strip_credentials


def test_credentials_in_urls_become_storage_options() -> None:
    assert split_credentials("s3://AKIA1:se%2Fcret@bucket/raw") == (
        "s3://bucket/raw", {"s3": {"key": "AKIA1", "secret": "se/cret"}}
    )
    url, options = split_credentials("tar://*.story::ftp://ann:pw@host/x.tgz")
    assert url == "tar://*.story::ftp://host/x.tgz"
    assert options == {"ftp": {"username": "ann", "password": "pw"}}
    assert split_credentials("/data/raw") == ("/data/raw", {})
    with pytest.raises(ConfigError) as refused:
        split_credentials("https://user:hunter2@example.org/feed.jsonl")
    assert "hunter2" not in str(refused.value) and "--storage-option" in str(refused.value)
    with pytest.raises(ConfigError, match="different s3:// credentials"):
        strip_credentials("s3://A:B@raw/x", "s3://C:D@clean/y")


def test_a_presigned_url_is_refused_without_its_signature() -> None:
    """Class 12: a presigned URL carries its credential in the query string; it reached
    the flow run's name and parameters, the logs and _run.json (and, its name ending in
    `?...`, no article was read)."""
    for url in (
        "https://bucket.s3.amazonaws.com/a.txt?X-Amz-Credential=AKIA1&X-Amz-Signature=s1gn",
        "tar://*::HTTP://host/x.tgz?sig=s1gn",
        "https://host/feed.jsonl#sig=s1gn",
    ):
        with pytest.raises(ConfigError, match="query string") as refused:
            split_credentials(url)
        assert "s1gn" not in str(refused.value) and "AKIA1" not in str(refused.value)
    versioned = "s3://bucket/a.txt?versionId=3"  # s3fs's, no secret: kept
    assert split_credentials(versioned) == (versioned, {})


def test_dest_inside_source_same_place_or_source_inside_dest_is_refused(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to(src / "deep")  # DEST inside SOURCE, through a link
    for source, dest, message in [
        (src, tmp_path / "link" / "out", "DEST is inside SOURCE"),
        (src, src, "the same place"),
        (src, tmp_path / "link" / "..", "the same place"),
        (src / "deep", tmp_path / "link", "the same place"),
        (src / "deep", src, "SOURCE is inside DEST"),
        ("s3://b/news/", "s3://b/news/clean", "DEST is inside SOURCE"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_apart(str(source), str(dest))
    check_apart(str(src), str(tmp_path / "srcx"))  # a shared prefix is not a folder
    check_apart("s3://b/news", "s3://b/news-clean")
    check_apart(str(src), "s3://b" + str(src))


def test_a_second_run_into_a_dest_in_use_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    first = dest_lock.acquire(str(dest))
    again = dest_lock.acquire(str(dest))  # the flow inside the CLI's process: shared
    assert again is first
    # another process: a separate lock on the same file
    other = dest_lock.DestLock(first.fs, first.root, str(dest))
    with pytest.raises(dest_lock.DestBusy) as busy:
        other.take()
    assert f"pid {os.getpid()}" in str(busy.value)
    dest_lock.release(again)
    with pytest.raises(dest_lock.DestBusy):
        other.take()  # still held once
    dest_lock.release(first)
    assert not (dest / "_newsprep.lock").exists()
    other.take()  # free now
    other.give_up()


def test_a_killed_runs_local_lock_does_not_block(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    killed = dest_lock.acquire(str(dest))
    os.close(killed._fd)  # what the kernel does when the process dies
    dest_lock._held.clear()
    assert json.loads((dest / "_newsprep.lock").read_text())["pid"] == os.getpid()
    later = dest_lock.acquire(str(dest))
    dest_lock.release(later)
    assert not (dest / "_newsprep.lock").exists()


def test_dest_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        dest_lock.acquire(str(tmp_path / "out"))
