"""DEST/_manifest.jsonl (one final record per article) and DEST/_run.json (the run summary).

During a run, records are appended to a journal, flushed after every batch; at the end
the journal is compacted into the manifest: one record per article id, sorted by id.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from collections.abc import Iterable

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from newsprep.errors import retry_transient
from newsprep.tasks.write import TEMP_MARKER, write_atomic

MANIFEST = "_manifest.jsonl"
JOURNAL = "_manifest.journal"
RUN_SUMMARY = "_run.json"
STATUSES = ("ok", "rejected", "failed", "skipped")


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


class ManifestWriter:
    """Append-only journal of records; `compact()` turns it into the manifest."""

    def __init__(self, fs: AbstractFileSystem, dest_root: str) -> None:
        self.fs, self.root = fs, dest_root
        self.local = isinstance(fs, LocalFileSystem)
        self.journal = posixpath.join(dest_root, JOURNAL)
        self._parts = 0
        self.fs.makedirs(dest_root, exist_ok=True)
        self.leftover = self.fs.exists(self.journal)  # a killed run's journal
        if self.local:
            self._handle = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115

    def recover(self) -> None:
        """Fold the journal a killed run left behind into the manifest, so a rerun can
        skip what that run finished."""
        if not self.leftover:
            return
        manifest = posixpath.join(self.root, MANIFEST)
        records = {r["id"]: r for r in read_manifest(self.fs, manifest)}
        records.update((r["id"], r) for r in self._read_journal())
        self._write_manifest(records)
        if self.local:
            self._handle.truncate(0)
        else:
            self.fs.rm(self.journal, recursive=True)

    def append(self, records: Iterable[dict]) -> None:
        """Record a finished batch durably (a local append, or one journal object)."""
        text = "".join(_line(r) for r in records)
        if not text:
            return
        if self.local:
            self._handle.write(text)
            self._handle.flush()
        else:
            self._parts += 1
            part = f"{self.journal}/part-{self._parts:08d}.jsonl"
            retry_transient(lambda: self.fs.pipe_file(part, text.encode()), 5, 1.0)

    def compact(self) -> list[dict]:
        """Write the manifest (last record per id wins, sorted by id) and drop the journal."""
        if self.local:
            self._handle.close()
        records = {record["id"]: record for record in self._read_journal()}
        ordered = self._write_manifest(records)
        if self.fs.exists(self.journal):
            self.fs.rm(self.journal, recursive=not self.local)
        return ordered

    def _write_manifest(self, records: dict[str, dict]) -> list[dict]:
        ordered = [records[key] for key in sorted(records)]
        manifest = "".join(_line(r) for r in ordered).encode("utf-8")
        write_atomic(self.fs, posixpath.join(self.root, MANIFEST), manifest)
        return ordered

    def _read_journal(self) -> Iterable[dict]:
        if not self.fs.exists(self.journal):
            return
        paths = [self.journal] if self.local else sorted(self.fs.find(self.journal))
        for path in paths:
            yield from read_manifest(self.fs, path)


def read_manifest(fs: AbstractFileSystem, path: str) -> Iterable[dict]:
    """Records of a manifest or journal file; a line cut short by a crash is passed over."""
    if not fs.exists(path):
        return
    with fs.open(path, "r", encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # the last line of a journal killed mid-write
            if line.strip():
                yield json.loads(line)


def unchanged(previous: dict | None, ref_signature: str, fingerprint: str, outputs: set) -> bool:
    """True when a previous run already wrote this article from the same bytes and config."""
    return (
        previous is not None
        and previous["status"] in ("ok", "skipped")
        and previous.get("fingerprint") == fingerprint
        and previous.get("signature") == ref_signature
        and previous.get("output") in outputs
        and (previous.get("highlights") is None or previous["highlights"] in outputs)
    )


def summarize(records: Iterable[dict]) -> tuple[Counter, Counter]:
    """Counts per status and per rejection/failure reason."""
    statuses: Counter = Counter({status: 0 for status in STATUSES})
    reasons: Counter = Counter()
    for record in records:
        statuses[record["status"]] += 1
        if record["reason"]:
            reasons[record["reason"]] += 1
    return statuses, reasons


def write_run_summary(fs: AbstractFileSystem, dest_root: str, summary: dict) -> None:
    text = json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    write_atomic(fs, posixpath.join(dest_root, RUN_SUMMARY), text.encode("utf-8"))


def load_previous(fs: AbstractFileSystem, dest_root: str) -> dict[str, dict]:
    """The last manifest's records by id (after `ManifestWriter.recover`)."""
    return {r["id"]: r for r in read_manifest(fs, posixpath.join(dest_root, MANIFEST))}


def existing_outputs(fs: AbstractFileSystem, dest_root: str) -> set[str]:
    """Every file under DEST, relative to it: one listing instead of one request each."""
    root = dest_root.rstrip("/")
    return {posixpath.relpath(path, root) for path in fs.find(root)}


def remove_temp_files(fs: AbstractFileSystem, dest_root: str) -> int:
    """Delete temp files a killed run left on a local disk; returns how many."""
    if not isinstance(fs, LocalFileSystem) or not fs.exists(dest_root):
        return 0
    stale = [path for path in fs.find(dest_root) if TEMP_MARKER in posixpath.basename(path)]
    for path in stale:
        fs.rm(path)
    return len(stale)
