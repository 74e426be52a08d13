"""A batch's checkpoint: the records of the articles it finished, noted as it goes in a
local file, so that running the batch again after its worker died redoes none of them.

The notes are written a few at a time (every NOTES_PER_WRITE articles or
SECONDS_PER_WRITE seconds, and when the batch ends or raises), not one write per article:
a worker killed in between loses the notes not yet written, and the batch run again
redoes those articles, writing the same bytes. A batch run again after its worker died
writes each note at once, so an article that kills the worker every time costs no
article before it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO

from newsprep.run.ledger.records import ArticleRecord

NOTES_PER_WRITE = 32
SECONDS_PER_WRITE = 1.0


def checkpoint_path(folder: str | None, index: int, prefix: str = "") -> Path | None:
    """Batch `index`'s checkpoint file in `folder`; `prefix` names whose batches these are
    (a shard's: its part's name and a dot), so shards share one folder without one each."""
    return Path(folder) / f"{prefix}batch-{index:06d}.jsonl" if folder else None


def read_checkpoint(path: Path | None) -> dict[str, ArticleRecord]:
    """The records noted so far, by id; a line cut short by a crash is not a record."""
    if path is None or not path.exists():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            record = ArticleRecord.from_line(line)
            done[record.id] = record
    return done


class Checkpoint:
    """Notes a record per finished article (a no-op without a path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.done = read_checkpoint(path)
        self._handle: IO[str] | None = None
        self._lines: list[str] = []  # noted, not yet written
        self._written_at = 0.0
        self._at_once = False  # a run after a crash: each note written at once

    def __enter__(self) -> Checkpoint:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._at_once = self.path.exists()  # made by an earlier run of this batch
            self._handle = open(self.path, "a", encoding="utf-8")
            self._written_at = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            try:
                self.write()
            finally:
                self._handle.close()

    def note(self, record: ArticleRecord) -> None:
        if self._handle is None:
            return
        self._lines.append(record.to_line())
        if (
            self._at_once
            or len(self._lines) >= NOTES_PER_WRITE
            or time.monotonic() - self._written_at >= SECONDS_PER_WRITE
        ):
            self.write()

    def write(self) -> None:
        """Write the notes taken so far to the file, through to the OS."""
        if self._handle is None or not self._lines:
            return
        self._handle.write("".join(self._lines))
        self._handle.flush()  # a worker that dies next must not take these notes with it
        self._lines.clear()
        self._written_at = time.monotonic()
