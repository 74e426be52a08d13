"""Discovery on real local folders: what is listed, in which order, and duplicate ids."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
from source_files import ARTICLE, jsonl, write

from newsprep.config import PROFILES, ConfigError
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.tasks.io.listing import iter_articles, list_source

CONFIG = PROFILES["default"]


@pytest.fixture(params=[RunIndex, MemoryIndex], ids=["sqlite", "memory"])
def Index(request):  # the run's index: each test on both
    return request.param




def listed(src: Path, dest: Path, index=RunIndex):
    return list_source(str(src), str(dest), CONFIG, index())


def test_list_source_folder(tmp_path: Path, Index) -> None:
    src = tmp_path / "src"
    write(src / "world" / "b.txt")
    write(src / "world" / "a.txt")
    write(src / "cnn" / "0001.story")
    write(src / "dump.jsonl.gz", gzip.compress(jsonl({"id": "x", "text": "Hello there."})))
    write(src / "notes.md", b"# not an article")
    write(src / "photo.jpg", b"\xff\xd8\xff")
    write(src / ".DS_Store", b"\x00\x00")
    write(src / "world" / ".draft.txt")
    write(src / ".git" / "config.txt")
    os.symlink(src / "world" / "a.txt", src / "world" / "alias.txt")
    outside = write(tmp_path / "elsewhere" / "secret.txt")
    os.symlink(outside.parent, src / "linked")

    listing = list_source(str(src), str(tmp_path / "out"), CONFIG, Index())

    assert [(f.relative, f.format) for f in listing.files] == [
        ("cnn/0001.story", "story"),
        ("dump.jsonl.gz", "jsonl"),
        ("world/a.txt", "txt"),
        ("world/b.txt", "txt"),
    ]
    assert sorted(listing.ignored) == ["linked", "notes.md", "photo.jpg", "world/alias.txt"]
    assert all(f.size == os.path.getsize(src / f.relative) for f in listing.files)
    assert not listing.countable  # the JSONL file's article count is not known up front


def test_dest_inside_source_is_left_out(tmp_path: Path, Index) -> None:
    src = tmp_path / "src"
    write(src / "a.txt")
    write(src / "out" / "a.txt", b"rome ( cnn ) -- already normalized .\n")
    write(src / "out" / "_manifest.jsonl", b"{}\n")
    write(src / "outline.txt")  # shares a prefix with DEST, but is not under it

    listing = list_source(str(src), str(src / "out"), CONFIG, Index())

    assert [f.relative for f in listing.files] == ["a.txt", "outline.txt"]
    assert listing.ignored == []


def test_single_file_source(tmp_path: Path, Index) -> None:
    path = write(tmp_path / "one.story")
    listing = list_source(str(path), str(tmp_path / "out"), CONFIG, Index())
    assert [(f.relative, f.format) for f in listing.files] == [("one.story", "story")]
    assert listing.countable


def test_missing_source_is_a_config_error(tmp_path: Path, Index) -> None:
    with pytest.raises(ConfigError):
        list_source(str(tmp_path / "nope"), str(tmp_path / "out"), CONFIG, Index())


def test_iter_articles_order_and_ids(tmp_path: Path, Index) -> None:
    src = tmp_path / "src"
    write(src / "b.txt")
    write(src / "a.story", b"Body.\n\n@highlight\n\nPoint\n")
    write(src / "feed.jsonl", jsonl(
        {"id": "z-last", "text": "Zed."},
        "",
        {"id": "a-first", "article": "Ay.", "highlights": "one\ntwo"},
        {"text": "No id."},
    ))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("m/2.txt", "m/1.txt"):
            info = tarfile.TarInfo(name)
            info.size = len(ARTICLE)
            archive.addfile(info, io.BytesIO(ARTICLE))
    write(src / "pack.tgz", buffer.getvalue())

    listing = list_source(str(src), str(tmp_path / "out"), CONFIG, Index())
    refs = list(iter_articles(listing, CONFIG))

    # Files sorted by path; JSONL records in line order; members in archive order.
    assert [r.id for r in refs] == [
        "a.story", "b.txt", "feed/z-last.txt", "feed/a-first.txt", "feed/line-4.txt",
        "pack/m/2.txt", "pack/m/1.txt",
    ]
    assert all(r.problem is None for r in refs)
    by_id = {r.id: r for r in refs}
    assert by_id["a.story"].format == "story"
    assert by_id["a.story"].path.endswith("/src/a.story") and by_id["a.story"].data is None
    assert by_id["feed/a-first.txt"].data == b"Ay."
    assert by_id["feed/a-first.txt"].highlights == ("one", "two")
    assert by_id["feed/a-first.txt"].record_id == "a-first"
    assert by_id["feed/a-first.txt"].source.endswith("/src/feed.jsonl:3")
    assert by_id["pack/m/1.txt"].data == ARTICLE
    assert by_id["pack/m/1.txt"].source.endswith("/src/pack.tgz!m/1.txt")


def test_duplicate_ids_are_renamed_and_rejected(tmp_path: Path, Index) -> None:
    src = tmp_path / "src"
    write(src / "wire.jsonl", jsonl(
        {"id": "ap-17", "text": "First version."},
        {"id": "ap-18", "text": "Other story."},
        {"id": "ap-17", "text": "Second version."},
        {"id": "ap-17", "text": "Third version."},
    ))
    write(src / "wire" / "ap-18.txt", b"A file that clashes with a JSONL record.\n")

    refs = list(iter_articles(listed(src, tmp_path / "out", Index), CONFIG))

    # "wire.jsonl" sorts before "wire/ap-18.txt" ('.' < '/'): the record keeps the id.
    assert [(r.id, r.problem and (r.problem.status, r.problem.reason)) for r in refs] == [
        ("wire/ap-17.txt", None),
        ("wire/ap-18.txt", None),
        ("wire/ap-17.txt~2", ("rejected", "duplicate-id")),
        ("wire/ap-17.txt~3", ("rejected", "duplicate-id")),
        ("wire/ap-18.txt~2", ("rejected", "duplicate-id")),
    ]
    assert refs[0].data == b"First version."  # the first one stands
    assert refs[2].data == b"Second version."  # kept, for the quarantine
    assert "wire.jsonl:1" in refs[2].problem.detail


def test_source_files_with_reserved_names_are_not_written_over_newsprep_files(
    tmp_path: Path, Index,
) -> None:
    # A source that is an older DEST: its _quarantine/ holds .txt files.
    src = tmp_path / "old-run"
    write(src / "kept.txt")
    write(src / "_quarantine" / "bad.txt", b"quarantined bytes\n")
    write(src / "_quarantine.jsonl", jsonl({"id": "x", "text": "A record."}))

    refs = list(iter_articles(listed(src, tmp_path / "out", Index), CONFIG))

    by_source = {r.source.rsplit("/old-run/", 1)[1]: r for r in refs}
    assert by_source["kept.txt"].problem is None
    problem = by_source["_quarantine/bad.txt"].problem
    assert problem is not None and (problem.status, problem.reason) == ("rejected", "unsafe-id")
    assert not by_source["_quarantine/bad.txt"].id.startswith("_quarantine/")
    record = by_source["_quarantine.jsonl:1"]
    assert record.problem is not None
    assert (record.problem.status, record.problem.reason) == ("rejected", "unsafe-id")
    assert not record.id.startswith("_quarantine/")


def test_the_local_listing_sees_what_fsspec_sees(tmp_path: Path) -> None:
    """The listing's own scan of a local folder gives the values fsspec's `ls` gives for
    the fields it uses (signatures stay as they were): files, folders, links, a broken
    link, a FIFO."""
    import fsspec

    from newsprep.tasks.io.listing import _local_ls

    (tmp_path / "a.txt").write_text("x" * 10)
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "a.txt", tmp_path / "link.txt")
    os.symlink(tmp_path / "gone", tmp_path / "broken.txt")
    os.mkfifo(tmp_path / "fifo.txt")
    fields = ("name", "type", "size", "mtime", "islink")
    reference = {
        info["name"]: {k: info[k] for k in fields}
        for info in fsspec.filesystem("file").ls(str(tmp_path), detail=True)
    }
    assert {info["name"]: info for info in _local_ls(str(tmp_path))} == reference
    assert len(reference) == 5
