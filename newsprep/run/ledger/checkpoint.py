"""A batch's checkpoint: the records of the articles it finished, noted as it goes in a
local file, so that running the batch again after its worker died redoes none of them."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from newsprep.run.ledger.records import ArticleRecord


def checkpoint_path(folder: str | None, index: int) -> Path | None:
    return Path(folder) / f"batch-{index:06d}.jsonl" if folder else None


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
    """Appends a record per finished article, flushed at once (a no-op without a path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.done = read_checkpoint(path)
        self._handle: IO[str] | None = None

    def __enter__(self) -> Checkpoint:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def note(self, record: ArticleRecord) -> None:
        if self._handle is not None:
            self._handle.write(record.to_line())
            self._handle.flush()  # a worker that dies next must not take this note with it


