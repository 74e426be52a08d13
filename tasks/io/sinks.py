"""The sinks: writing under DEST, atomically: output files, JSONL shards, the quarantine.

`output_rules` says, in one place, what an output format means for a run beyond how it
writes: whether its articles stand alone (and can be skipped or kept one by one), and
whether it fixes the batch size."""

from __future__ import annotations

import gzip
import io
import json
import os
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fsspec import AbstractFileSystem

from newsprep.config import OutputOptions
from newsprep.tasks.io.footprint import Footprint
from newsprep.tasks.io.stores import on_local_disk

if TYPE_CHECKING:
    from newsprep.tasks.io.refs import ArticleRef
    from newsprep.tasks.stages.normalize import Normalized

TEMP_MARKER = ".newsprep-tmp-"
# the name of a temp file (write_atomic_stream; earlier versions put the target's name
# first): only such names are removed as a killed run's, not an article whose name merely
# contains the marker (an article's name has its extension last)
TEMP_NAME = re.compile(".*" + re.escape(TEMP_MARKER) + "[0-9a-f]+")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC  # as open(path, "wb")


def write_atomic(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write all of `data` or nothing (see `write_atomic_stream`)."""
    if not on_local_disk(fs):
        fs.pipe_file(path, data)  # one PUT
        return
    _write_renamed(fs, path, lambda fd: _write_all(fd, data))


def write_atomic_stream(fs: AbstractFileSystem, path: str, chunks: Iterable[bytes]) -> None:
    """Write the chunks as one file, all or nothing: a temp file renamed into place on
    local disks. Object stores (S3 and the like) publish an object only when its upload
    completes, so there the write itself is atomic."""
    if not on_local_disk(fs):
        with fs.open(path, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        return

    def fill(fd: int) -> None:
        with open(fd, "wb", closefd=False) as handle:  # buffered: chunks may be lines
            for chunk in chunks:
                handle.write(chunk)

    _write_renamed(fs, path, fill)


def _write_renamed(fs: AbstractFileSystem, path: str, fill: Callable[[int], None]) -> None:
    """`fill` the descriptor of a new temp file beside `path`, then rename it to `path`;
    on any error the temp file is removed."""
    parent = posixpath.dirname(path)
    # not named after the file: a name of 255 bytes is legal, with anything added it is not;
    # 16 random bytes, as a uuid4's, without building one
    temp = posixpath.join(parent, f"{TEMP_MARKER}{os.urandom(16).hex()}")
    try:
        fd = os.open(temp, _CREATE, 0o666)
    except FileNotFoundError:  # the folder is missing: made then, not looked for every file
        fs.makedirs(parent, exist_ok=True)
        fd = os.open(temp, _CREATE, 0o666)
    try:
        try:
            fill(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    """All of `data` with plain writes: no buffered file object for one write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Sink(Protocol):
    def put(self, ref: ArticleRef, result: Normalized) -> tuple[str, str | None]:
        """Store one article; returns (output, highlights output), relative to DEST."""

    def close(self) -> None:
        """Make everything put so far durable."""


class FilesSink:
    """One file per article at DEST/<id>; highlights beside it at DEST/<id>.highlights."""

    def __init__(self, fs: AbstractFileSystem, root: str) -> None:
        self.fs, self.root = fs, root

    def put(self, ref: ArticleRef, result: Normalized) -> tuple[str, str | None]:
        write_atomic(self.fs, posixpath.join(self.root, ref.id), result.text.encode("utf-8"))
        if result.highlights is None:
            return ref.id, None
        highlights = Footprint(ref.id).highlights
        write_atomic(
            self.fs, posixpath.join(self.root, highlights), result.highlights.encode("utf-8")
        )
        return ref.id, highlights

    def close(self) -> None:
        pass


class JsonlShardSink:
    """One gzip-compressed JSONL shard per batch: DEST/part-<batch>.jsonl.gz.

    Rows carry id, text, highlights (when present) and source; loadable as is with
    `datasets.load_dataset("json", data_files=...)`. gzip's header time is fixed so
    the same input gives the same bytes.
    """

    def __init__(self, fs: AbstractFileSystem, root: str, index: int) -> None:
        self.fs, self.root = fs, root
        self.name = f"part-{index:05d}.jsonl.gz"
        self.rows: list[str] = []

    def put(self, ref: ArticleRef, result: Normalized) -> tuple[str, str | None]:
        row = {"id": ref.record_id or ref.id, "text": result.text.rstrip("\n")}
        if result.highlights is not None:
            row["highlights"] = result.highlights.rstrip("\n")
        row["source"] = ref.source
        self.rows.append(json.dumps(row, ensure_ascii=False) + "\n")
        return self.name, None

    def close(self) -> None:
        if not self.rows:
            return
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
            handle.write("".join(self.rows).encode("utf-8"))
        write_atomic(self.fs, posixpath.join(self.root, self.name), buffer.getvalue())


@dataclass(frozen=True)
class OutputRules:
    """What an output format means for the run around its sink."""

    # One output per article: a rerun skips unchanged articles, and a batch run again
    # after a crash keeps the articles it finished (its checkpoint). A JSONL shard holds
    # a whole batch's texts, so it is rewritten whole: no skipping, no checkpoint.
    per_article: bool
    batch_size: int | None = None  # fixed by the format (one shard a batch); None: free


def output_rules(options: OutputOptions) -> OutputRules:
    if options.format == "jsonl":
        return OutputRules(per_article=False, batch_size=options.shard_size)
    return OutputRules(per_article=True)


def open_sink(options: OutputOptions, fs: AbstractFileSystem, root: str, index: int) -> Sink:
    if options.format == "jsonl":
        return JsonlShardSink(fs, root, index)
    return FilesSink(fs, root)


def quarantine(
    fs: AbstractFileSystem, dest_root: str, article_id: str, raw: bytes, record: dict
) -> str:
    """Keep the original bytes of a rejected article and why, under DEST/_quarantine/.

    Returns the quarantine path relative to DEST.
    """
    footprint = Footprint(article_id)
    write_atomic(fs, posixpath.join(dest_root, footprint.quarantine), raw)
    reason = json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1) + "\n"
    write_atomic(fs, posixpath.join(dest_root, footprint.quarantine_reason), reason.encode())
    return footprint.quarantine
