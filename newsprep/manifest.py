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

from newsprep.tasks.write import write_atomic

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
        if self.local:
            self._handle = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115

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
            self.fs.pipe_file(f"{self.journal}/part-{self._parts:08d}.jsonl", text.encode())

    def compact(self) -> list[dict]:
        """Write the manifest (last record per id wins, sorted by id) and drop the journal."""
        if self.local:
            self._handle.close()
        records: dict[str, dict] = {}
        for record in self._read_journal():
            records[record["id"]] = record
        ordered = [records[key] for key in sorted(records)]
        manifest = "".join(_line(r) for r in ordered).encode("utf-8")
        write_atomic(self.fs, posixpath.join(self.root, MANIFEST), manifest)
        self.fs.rm(self.journal, recursive=not self.local)
        return ordered

    def _read_journal(self) -> Iterable[dict]:
        paths = [self.journal] if self.local else sorted(self.fs.find(self.journal))
        for path in paths:
            with self.fs.open(path, "r", encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        yield json.loads(line)


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
