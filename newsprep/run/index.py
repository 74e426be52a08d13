"""A run's working index, in SQLite on local disk, so the flow's memory stays flat.

It holds what would otherwise grow with the corpus: the source listing, the previous
manifest, the files already in DEST, the ids seen so far and this run's records. Every
read pages through a table by key, so no query holds a cursor open across writes.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from newsprep.run.records import ArticleRecord

_SCHEMA = """
CREATE TABLE files (relative TEXT PRIMARY KEY, path TEXT, format TEXT, size INTEGER,
                    signature TEXT);
CREATE TABLE previous (id TEXT PRIMARY KEY, record TEXT);
CREATE TABLE outputs (path TEXT PRIMARY KEY);
CREATE TABLE seen (id TEXT PRIMARY KEY, source TEXT);
CREATE TABLE records (id TEXT PRIMARY KEY, record TEXT);
"""
_PAGE = 2000
_COMMIT_EVERY = 5000


def _chunks(rows: Iterable[Any], size: int = _PAGE) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class RunIndex:
    def __init__(self, directory: str | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="newsprep-index-", dir=directory))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        # used by one thread at a time, but Prefect may run the discovery task in another
        self.db = sqlite3.connect(self.directory / "index.sqlite", check_same_thread=False)
        # a scratch database: losing it loses nothing, so skip the journal and fsyncs
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        self._pending = 0

    def close(self) -> None:
        self.db.close()
        self._cleanup()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        for chunk in _chunks(rows):
            self.db.executemany(sql, chunk)
            self.db.commit()

    def _page(self, table: str, key: str, columns: str) -> Iterator[tuple]:
        last = ""
        while True:
            rows = self.db.execute(
                f"SELECT {key}, {columns} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?",
                (last, _PAGE),
            ).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    # the source listing
    def add_files(self, rows: Iterable[tuple[str, str, str, int | None, str]]) -> None:
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)

    def file_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    def only_single_article_files(self) -> bool:
        sql = "SELECT COUNT(*) FROM files WHERE format NOT IN ('txt', 'story')"
        return self.db.execute(sql).fetchone()[0] == 0

    def files(self) -> Iterator[tuple[str, str, str, int | None, str]]:
        """(relative, path, format, size, signature), ordered by relative path."""
        yield from self._page("files", "relative", "path, format, size, signature")

    # the previous run's manifest
    def add_previous(self, records: Iterable[ArticleRecord]) -> None:
        self._write(
            "INSERT OR REPLACE INTO previous VALUES (?, ?)", ((r.id, r.to_line()) for r in records)
        )

    def add_previous_lines(self, rows: Iterable[tuple[str, str]]) -> None:
        """(id, manifest line) of a previous manifest or journal; a later line for an id
        replaces it."""
        self._write("INSERT OR REPLACE INTO previous VALUES (?, ?)", rows)

    def previous(self, article_id: str) -> ArticleRecord | None:
        row = self.db.execute("SELECT record FROM previous WHERE id = ?", (article_id,))
        found = row.fetchone()
        return ArticleRecord.from_line(found[0]) if found else None

    def previous_lines(self) -> Iterator[str]:
        """The previous manifest's lines, ordered by id."""
        for _, line in self._page("previous", "id", "record"):
            yield line

    def has_previous(self) -> bool:
        return self.db.execute("SELECT 1 FROM previous LIMIT 1").fetchone() is not None

    # files already in DEST
    def add_outputs(self, paths: Iterable[str]) -> None:
        self._write("INSERT OR IGNORE INTO outputs VALUES (?)", ((p,) for p in paths))

    def has_output(self, path: str | None) -> bool:
        if path is None:
            return False
        row = self.db.execute("SELECT 1 FROM outputs WHERE path = ?", (path,))
        return row.fetchone() is not None

    # ids of this run
    def claim(self, article_id: str, source: str) -> str | None:
        """Record an id as used; if it already was, the source that used it first."""
        cursor = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (article_id, source))
        self._tick()
        if cursor.rowcount:
            return None
        return self.db.execute("SELECT source FROM seen WHERE id = ?", (article_id,)).fetchone()[0]

    def _tick(self) -> None:
        self._pending += 1
        if self._pending >= _COMMIT_EVERY:
            self.db.commit()
            self._pending = 0

    # this run's records
    def add_record_lines(self, rows: Iterable[tuple[str, str]]) -> None:
        """(id, the record's manifest line); a later line for an id replaces it."""
        self._write("INSERT OR REPLACE INTO records VALUES (?, ?)", rows)

    def record_lines(self) -> Iterator[str]:
        """This run's manifest lines, one per id (the last one added), ordered by id."""
        for _, line in self._page("records", "id", "record"):
            yield line
