"""DEST/_manifest.jsonl: one final record per article.

During a run, each finished batch's records are appended to a journal; at the end the
journal is compacted into the manifest: one record per article id, sorted by id. A
record is serialized once, to its manifest line (`ArticleRecord.to_line`); the lines pass
through the run's on-disk index (newsprep/run/ledger/index.py), never all in memory.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
from collections.abc import Iterable, Iterator
from itertools import islice

from fsspec import AbstractFileSystem

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.retry import JOURNAL_WRITES
from newsprep.tasks.io.footprint import QUARANTINE_DIR, with_companions
from newsprep.tasks.io.paths import RESERVED_TOP_LEVEL
from newsprep.tasks.io.sinks import TEMP_NAME, write_atomic_stream
from newsprep.tasks.io.stores import on_local_disk

MANIFEST = "_manifest.jsonl"
JOURNAL = "_manifest.journal"
# Skipped records need no haste: the previous manifest holds them until this run's is
# written. 10,000 a journal object (~5 MB): a million unchanged articles make 100 PUTs.
SKIPPED_PER_JOURNAL = 10_000


class ManifestWriter:
    """Append-only journal of this run's records; `compact()` turns it into the manifest."""

    def __init__(self, fs: AbstractFileSystem, dest_root: str, index: RunIndex) -> None:
        self.fs, self.root, self.index = fs, dest_root, index
        self.local = on_local_disk(fs)
        self.journal = posixpath.join(dest_root, JOURNAL)
        self.manifest = posixpath.join(dest_root, MANIFEST)
        self._parts = 0
        self.fs.makedirs(dest_root, exist_ok=True)
        self.leftover = self.fs.exists(self.journal)  # a killed run's journal
        if self.local:
            self._handle = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115

    def load_previous(self) -> None:
        """Put the last manifest into the index, with what a killed run had journaled on
        top of it; that is rewritten as the manifest at once, so it is never lost."""
        self.index.add_previous_lines(manifest_lines(self.fs, self.manifest))
        if not self.leftover:
            return
        self.index.add_previous_lines(self._read_journal())
        lines = (line.encode("utf-8") for line in self.index.previous_lines())
        write_atomic_stream(self.fs, self.manifest, lines)
        if self.local:
            self._handle.truncate(0)
        else:
            self.fs.rm(self.journal, recursive=True)

    def append(self, records: Iterable[ArticleRecord]) -> None:
        """Record a finished batch durably (a local append, or one journal object), and in
        the index the manifest is written from."""
        rows = [(record.id, record.to_line()) for record in records]
        if not rows:
            return
        text = "".join(line for _, line in rows)
        if self.local:
            self._handle.write(text)
            self._handle.flush()
        else:
            self._parts += 1
            part = f"{self.journal}/part-{self._parts:08d}.jsonl"
            JOURNAL_WRITES.call(lambda: self.fs.pipe_file(part, text.encode()))
        self.index.add_record_lines(rows)

    def compact(self) -> None:
        """Write the manifest (last record per id wins, sorted by id), drop the journal."""
        if self.local:
            self._handle.close()
        lines = (line.encode("utf-8") for line in self.index.record_lines())
        write_atomic_stream(self.fs, self.manifest, lines)
        if self.fs.exists(self.journal):
            self.fs.rm(self.journal, recursive=not self.local)

    def _read_journal(self) -> Iterator[tuple[str, str]]:
        if not self.fs.exists(self.journal):
            return
        paths = [self.journal] if self.local else sorted(self.fs.find(self.journal))
        for path in paths:
            yield from manifest_lines(self.fs, path)


def manifest_lines(fs: AbstractFileSystem, path: str) -> Iterator[tuple[str, str]]:
    """(id, line) of each record of a manifest or journal file, the line as it is (a
    million-record manifest is not turned into records and back at every run's start);
    a line cut short by a crash is passed over."""
    if not fs.exists(path):
        return
    with fs.open(path, "r", encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # the last line of a journal killed mid-write
            if line.strip():
                yield json.loads(line)["id"], line


def existing_outputs(fs: AbstractFileSystem, dest_root: str) -> Iterator[str]:
    """Every file under DEST, relative to it: one listing instead of a request per
    article. On an object store one flat listing (a request per 1,000 keys), not one per
    folder."""
    root = dest_root.rstrip("/")
    if not on_local_disk(fs):
        for path in fs.find(root):
            yield posixpath.relpath(path, root)
        return
    if not fs.exists(root):
        return
    for folder, _, names in fs.walk(root):
        for name in names:
            yield posixpath.relpath(posixpath.join(folder, name), root)


def remove_temp_files(fs: AbstractFileSystem, dest_root: str) -> int:
    """Delete temp files a killed run left on a local disk; returns how many."""
    if not on_local_disk(fs) or not fs.exists(dest_root):
        return 0
    stale = [
        posixpath.join(folder, name)
        for folder, _, names in fs.walk(dest_root)
        for name in names
        if TEMP_NAME.fullmatch(name)
    ]
    for path in stale:
        fs.rm(path)
    return len(stale)


def remove_stale_outputs(fs: AbstractFileSystem, dest_root: str, paths: Iterable[str]) -> int:
    """Delete files a previous run wrote that no record of this run accounts for (see
    `RunIndex.stale_paths`), with a quarantine copy's `.reason.json` (named as the sink
    names it: shortened with a hash when the suffix makes it too long); returns how many
    paths were removed. Only plain relative paths under DEST are touched, whatever an
    old manifest says; a file already gone is no error. Folders left empty on a local
    disk are removed too, so DEST holds what a clean run would write."""
    local = on_local_disk(fs)
    removed = 0
    targets = (
        target for relative in paths if _removable(relative)
        for target in with_companions(relative)
    )
    iterator = iter(targets)
    while chunk := list(islice(iterator, 1000)):
        full = [posixpath.join(dest_root, relative) for relative in chunk]
        if local:
            for path in full:
                try:
                    os.unlink(path)
                    removed += 1
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    pass  # gone, or a folder where it was (or the reverse): not that file
                except OSError as exc:  # a name too long to exist is not there either
                    if exc.errno != errno.ENAMETOOLONG:
                        raise
                _prune_empty_parents(posixpath.dirname(path), dest_root)
        else:
            present = [path for path in full if fs.isfile(path)]  # not a prefix of others
            if present:
                fs.rm(present)
            removed += len(present)
    return removed


def _removable(relative: str) -> bool:
    parts = relative.split("/")
    return (
        bool(relative) and not relative.startswith("/") and "\\" not in relative
        and all(part not in ("", ".", "..") for part in parts)
        and (parts[0] == QUARANTINE_DIR or parts[0] not in RESERVED_TOP_LEVEL)
    )


def _prune_empty_parents(folder: str, dest_root: str) -> None:
    root = dest_root.rstrip("/")
    while folder.startswith(root + "/"):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (or gone): stop
            return
        folder = posixpath.dirname(folder)
