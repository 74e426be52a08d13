"""A run's working index, in SQLite on local disk, so the flow's memory stays flat.

It holds what would otherwise grow with the corpus: the source listing, the previous
manifest, the files already in DEST, the ids seen so far and this run's records. Every
read pages through a table by key, so no query holds a cursor open across writes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.footprint import RECORD_PATH_FIELDS

_SCHEMA = """
CREATE TABLE files (relative TEXT, path TEXT, format TEXT, size INTEGER, signature TEXT,
                    PRIMARY KEY (relative, path));
CREATE TABLE previous (id TEXT PRIMARY KEY, record TEXT);
CREATE TABLE outputs (path TEXT PRIMARY KEY);
CREATE TABLE seen (id TEXT PRIMARY KEY, source TEXT);
CREATE TABLE claimed (path TEXT PRIMARY KEY, is_folder INTEGER, source TEXT);
CREATE TABLE records (id TEXT PRIMARY KEY, record TEXT);
"""
_PAGE = 2000
_COMMIT_EVERY = 5000


def _chunks(rows: Iterable[Any], size: int = _PAGE) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


INDEX_PREFIX = "newsprep-index-"
_OWNER = "owner.lock"  # flocked by the run that uses the folder, for as long as it lives
_UNOWNED_GRACE_SECONDS = 3600  # a folder without an owner file: older ones are leftovers


def remove_stale_indexes(directory: str | None = None) -> int:
    """Delete the index folders of runs killed before they could clean up (no process
    holds their owner lock any more); returns how many."""
    removed = 0
    for folder in Path(directory or tempfile.gettempdir()).glob(f"{INDEX_PREFIX}*"):
        try:
            fd = os.open(folder / _OWNER, os.O_RDWR)
        except FileNotFoundError:  # being created, or made before owner files existed
            try:
                stale = time.time() - folder.stat().st_mtime > _UNOWNED_GRACE_SECONDS
            except OSError:
                continue
        except OSError:
            continue
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                stale = True  # nobody holds it: its run is gone
            except OSError:
                stale = False
            finally:
                os.close(fd)
        if stale and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _remove(directory: Path, owner: int) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    os.close(owner)


_FOLDERS_CACHED = 100_000  # folders claimed as folders, remembered in memory


def _folders_of(path: str) -> list[str]:
    """The folders above a relative path: a/b/c -> a, a/b."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


class RunIndex:
    def __init__(self, directory: str | None = None) -> None:
        remove_stale_indexes(directory)
        self.directory = Path(tempfile.mkdtemp(prefix=INDEX_PREFIX, dir=directory))
        # held until the index is closed, or the process ends however it ends
        # locked before it takes its name: another run's remove_stale_indexes must never
        # find it unlocked (it would take the folder for a dead run's and remove it)
        unnamed = self.directory / f"{_OWNER}.new"
        self._owner = os.open(unnamed, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._owner, fcntl.LOCK_EX)
        os.rename(unnamed, self.directory / _OWNER)
        self._cleanup = weakref.finalize(self, _remove, self.directory, self._owner)
        # used by one thread at a time, but Prefect may run the discovery task in another
        self.db = sqlite3.connect(self.directory / "index.sqlite", check_same_thread=False)
        # a scratch database: losing it loses nothing, so skip the journal and fsyncs
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        self._pending = 0
        self._claimed_folders: set[str] = set()

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
    def add_files(self, rows: Iterable[tuple[str, str | bytes, str, int | None, str]]) -> None:
        """(relative, path, format, size, signature); a path that is not UTF-8 as bytes."""
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)

    def file_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    def only_single_article_files(self) -> bool:
        sql = "SELECT COUNT(*) FROM files WHERE format NOT IN ('txt', 'story', 'unreadable')"
        return self.db.execute(sql).fetchone()[0] == 0

    def files(self) -> Iterator[tuple[str, str, str, int | None, str]]:
        """(relative, path, format, size, signature), ordered by relative path. Two files
        can share a relative path once escaped (a name with byte 0x80, one spelled `\\x80`):
        both are listed (then ordered by path), so the second is a record, not lost."""
        columns = "SELECT relative, path, format, size, signature FROM files"
        rows = self.db.execute(f"{columns} ORDER BY relative, path LIMIT ?", (_PAGE,))
        while page := rows.fetchall():
            yield from page
            last = page[-1][:2]
            rows = self.db.execute(
                f"{columns} WHERE (relative, path) > (?, ?) ORDER BY relative, path LIMIT ?",
                (*last, _PAGE),
            )

    # the previous run's manifest
    def add_previous_lines(self, rows: Iterable[tuple[str, str]]) -> None:
        """(id, manifest line) of a previous manifest or journal; a later line for an id
        replaces it."""
        self._write("INSERT OR REPLACE INTO previous VALUES (?, ?)", rows)
        self._previous_paths = False  # previous_in_the_way's table is out of date

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

    def previous_in_the_way(self, paths: list[str]) -> list[str]:
        """Files that previous records name (outputs, highlights, quarantine copies) and
        that stand where `paths` need a folder (one of their folders is such a file) or a
        file (such files lie under one of them): an article that became a folder, or the
        reverse. The caller's paths are claimed by this run, so no article of it writes
        these any more."""
        if not getattr(self, "_previous_paths", False):
            self.db.execute("DROP TABLE IF EXISTS previous_paths")
            self.db.execute("CREATE TEMP TABLE previous_paths (path TEXT PRIMARY KEY)")
            for kind in RECORD_PATH_FIELDS:
                path = f"json_extract(record, '$.{kind}')"
                self.db.execute(
                    f"INSERT OR IGNORE INTO previous_paths SELECT {path} FROM previous "
                    f"WHERE {path} IS NOT NULL"
                )
            self._previous_paths = True
        found = []
        for path in paths:
            parts = path.split("/")
            folders = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
            rows = self.db.execute(
                f"SELECT path FROM previous_paths WHERE path IN ({','.join('?' * len(folders))})"
                " OR (path > ? AND path < ?)",
                (*folders, path + "/", path + "0"),  # '0' follows '/'
            ).fetchall()
            found += [row[0] for row in rows]
        return sorted(set(found))

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

    def claim_paths(self, paths: list[str], source: str) -> str | None:
        """Reserve the paths an article may write under DEST (its output, its sidecars);
        None when none of them is taken, else what is in the way, naming the article that
        holds it. A path is taken when another article writes it, writes into a folder of
        that name, or writes a file where this path needs a folder."""
        folders = {f for path in paths for f in _folders_of(path)} - self._claimed_folders
        wanted = [*paths, *sorted(folders)]  # one query for the paths and their folders
        taken = {
            path: (is_folder, holder) for path, is_folder, holder in self.db.execute(
                f"SELECT path, is_folder, source FROM claimed WHERE path IN "
                f"({','.join('?' * len(wanted))})", wanted,
            )
        }
        for path in paths:
            if path in taken:
                is_folder, holder = taken[path]
                kind = "a folder of" if is_folder else "the output of"
                return f"{path!r} is {kind} {holder}"
            for folder in _folders_of(path):
                if folder in taken and not taken[folder][0]:
                    return f"{folder!r} is a file, the output of {taken[folder][1]}"
        rows = [(path, 0, source) for path in paths]
        rows += [(folder, 1, source) for folder in sorted(folders)]
        self.db.executemany("INSERT OR IGNORE INTO claimed VALUES (?, ?, ?)", rows)
        if len(self._claimed_folders) > _FOLDERS_CACHED:
            self._claimed_folders.clear()  # a cache of the table: correct when empty too
        self._claimed_folders |= folders - set(paths)  # a path that is both stays a file
        self._tick()
        return None

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

    def keep_unlisted(self) -> int:
        """Previous records of the articles under folders this run could not list
        (`unreadable-folder`) become this run's, files and all: not seeing an article is
        not its being gone. How many were kept."""
        rows = self.db.execute(
            "SELECT id FROM records WHERE json_extract(record, '$.reason') = 'unreadable-folder'"
        ).fetchall()
        kept = 0
        for (record_id,) in rows:
            prefix = record_id.removesuffix("#unreadable").strip("/") + "/"
            if prefix == "/":
                prefix = ""  # the source's own top folder: every article
            kept += self.db.execute(
                "INSERT OR IGNORE INTO records SELECT id, record FROM previous "
                "WHERE substr(id, 1, ?) = ?", (len(prefix), prefix),
            ).rowcount
        self.db.commit()
        return kept

    # what the previous run wrote that this run's records no longer account for
    def stale_paths(self) -> Iterator[str]:
        """Files (relative to DEST) that previous records name and no record of this run
        does: the outputs, highlights and quarantine copies of articles that are gone from
        the source or did not end as they did before. Ordered, paged."""
        for table, records, only in (
            ("kept", "records", ""),
            ("stale", "previous", "AND {path} NOT IN (SELECT path FROM kept)"),
        ):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
            self.db.execute(f"CREATE TEMP TABLE {table} (path TEXT PRIMARY KEY)")
            for kind in RECORD_PATH_FIELDS:
                path = f"json_extract(record, '$.{kind}')"
                self.db.execute(
                    f"INSERT OR IGNORE INTO {table} SELECT {path} FROM {records} "
                    f"WHERE {path} IS NOT NULL {only.format(path=path)}"
                )
        self.db.commit()
        for path, _ in self._page("stale", "path", "1"):
            yield path

    def keep_gone(self) -> int:
        """Previous records of the articles this run did not see become this run's, files
        and all (a removal refused); how many."""
        kept = self.db.execute(
            "INSERT OR IGNORE INTO records SELECT id, record FROM previous "
            "WHERE id NOT IN (SELECT id FROM records)"
        ).rowcount
        self.db.commit()
        return kept

    def previous_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM previous").fetchone()[0]

    def gone_count(self) -> int:
        """Articles of the previous manifest that this run did not see at all."""
        sql = "SELECT COUNT(*) FROM previous WHERE id NOT IN (SELECT id FROM records)"
        return self.db.execute(sql).fetchone()[0]
