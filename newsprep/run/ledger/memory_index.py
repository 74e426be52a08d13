"""A run's working index in memory, for one shard: `RunIndex`'s methods and answers on
dicts, sets and sorted lists, without SQLite's cost per article.

A shard is at most ~10^5 articles, so its listing, previous records, claims and records
fit in a worker's memory; `RunIndex` stays for what must keep the memory flat.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from pathlib import Path

from newsprep.run.ledger.index import _folders_of
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.footprint import RECORD_PATH_FIELDS

MEMORY_INDEX_PREFIX = "newsprep-shard-"  # not RunIndex's: its sweep would remove ours
_SINGLE_ARTICLE_FORMATS = frozenset({"txt", "story", "unreadable"})
_UNREADABLE_FOLDER = "unreadable-folder"


def _record_paths(line: str) -> list[str]:
    """The files under DEST a manifest line names (its output, highlights, quarantine)."""
    record = json.loads(line)
    return [path for kind in RECORD_PATH_FIELDS if (path := record.get(kind)) is not None]


def _file_order(key: tuple[str, str | bytes]) -> tuple[str, bool, str | bytes]:
    relative, path = key
    return relative, isinstance(path, bytes), path  # as SQLite: text sorts before bytes


def _is_unlisted(line: str) -> bool:
    # a letter in JSON is itself or a \u escape, so other lines cannot have the reason
    if _UNREADABLE_FOLDER not in line and "\\u" not in line:
        return False
    return json.loads(line).get("reason") == _UNREADABLE_FOLDER


def _by_id(lines: dict[str, str]) -> Iterator[str]:
    for article_id in sorted(lines):
        if article_id:  # as RunIndex, whose pages start after ''
            yield lines[article_id]


class MemoryIndex:
    """`RunIndex` in memory. `directory` (checkpoints, the quarantine budget) is the one
    given, left as it is, or a temporary folder removed on close."""

    def __init__(self, directory: str | None = None) -> None:
        if directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix=MEMORY_INDEX_PREFIX))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        else:
            self.directory = Path(directory)
            self._cleanup = None
        self._files: dict[tuple[str, str | bytes], tuple[str, int | None, str]] = {}
        self._multi_article_files = 0  # files of a format that holds several articles
        self._sorted_files: list[tuple[str, str | bytes]] | None = None
        self._previous: dict[str, str] = {}
        self._previous_paths: dict[str, list[str]] | None = None  # id -> paths, when asked
        self._sorted_previous_paths: list[str] | None = None
        self._outputs: set[str] = set()
        self._seen: dict[str, str] = {}
        self._claimed: dict[str, tuple[bool, str]] = {}  # path -> (is a folder, source)
        self._records: dict[str, str] = {}

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> MemoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the source listing
    def add_files(self, rows: Iterable[tuple[str, str | bytes, str, int | None, str]]) -> None:
        """(relative, path, format, size, signature); a path that is not UTF-8 as bytes.
        A row for a (relative, path) already listed replaces it."""
        files = self._files
        for relative, path, fmt, size, signature in rows:
            key = (relative, path)
            before = files.get(key)
            if before is not None:
                self._multi_article_files -= before[0] not in _SINGLE_ARTICLE_FORMATS
            else:
                self._sorted_files = None
            files[key] = (fmt, size, signature)
            self._multi_article_files += fmt not in _SINGLE_ARTICLE_FORMATS

    def file_count(self) -> int:
        return len(self._files)

    def only_single_article_files(self) -> bool:
        return self._multi_article_files == 0

    def files(self) -> Iterator[tuple[str, str | bytes, str, int | None, str]]:
        """(relative, path, format, size, signature), ordered by relative path, then path
        (two files can share an escaped relative path: both are listed)."""
        if self._sorted_files is None:
            self._sorted_files = sorted(self._files, key=_file_order)
        for key in self._sorted_files:
            found = self._files.get(key)
            if found is not None:
                yield (*key, *found)

    # the previous run's manifest
    def add_previous_lines(self, rows: Iterable[tuple[str, str]]) -> None:
        """(id, manifest line) of a previous manifest or journal; a later line for an id
        replaces it."""
        self._previous.update(rows)
        self._previous_paths = self._sorted_previous_paths = None

    def previous(self, article_id: str) -> ArticleRecord | None:
        line = self._previous.get(article_id)
        return None if line is None else ArticleRecord.from_line(line)

    def previous_lines(self) -> Iterator[str]:
        """The previous manifest's lines, ordered by id."""
        return _by_id(self._previous)

    def has_previous(self) -> bool:
        return bool(self._previous)

    def _paths_of_previous(self) -> dict[str, list[str]]:
        if self._previous_paths is None:
            self._previous_paths = {
                article_id: _record_paths(line) for article_id, line in self._previous.items()
            }
        return self._previous_paths

    def previous_in_the_way(self, paths: list[str]) -> list[str]:
        """Files that previous records name and that stand where `paths` need a folder
        (one of their folders is such a file) or a file (such files lie under one of
        them); see `RunIndex.previous_in_the_way`."""
        if self._sorted_previous_paths is None:
            named = {path for found in self._paths_of_previous().values() for path in found}
            self._sorted_previous_paths = sorted(named)
        known = self._sorted_previous_paths
        found: set[str] = set()
        for path in paths:
            for folder in _folders_of(path):
                at = bisect_left(known, folder)
                if at < len(known) and known[at] == folder:
                    found.add(folder)
            # under path/: after 'path/' itself, before 'path0' ('0' follows '/')
            found.update(known[bisect_right(known, path + "/"):bisect_left(known, path + "0")])
        return sorted(found)

    # files already in DEST
    def add_outputs(self, paths: Iterable[str]) -> None:
        self._outputs.update(paths)

    def has_output(self, path: str | None) -> bool:
        return path is not None and path in self._outputs

    # ids of this run
    def claim(self, article_id: str, source: str) -> str | None:
        """Record an id as used; if it already was, the source that used it first."""
        first = self._seen.get(article_id)
        if first is None:
            self._seen[article_id] = source
        return first

    def claim_paths(self, paths: list[str], source: str) -> str | None:
        """Reserve the paths an article may write under DEST; None when none of them is
        taken, else what is in the way (see `RunIndex.claim_paths`)."""
        claimed = self._claimed
        folders: set[str] = set()
        for path in paths:
            held = claimed.get(path)
            if held is not None:
                kind = "a folder of" if held[0] else "the output of"
                return f"{path!r} is {kind} {held[1]}"
            if "/" in path:
                for folder in _folders_of(path):
                    held = claimed.get(folder)
                    if held is not None and not held[0]:
                        return f"{folder!r} is a file, the output of {held[1]}"
                    folders.add(folder)
        for path in paths:  # the files first: a path that is both stays a file
            claimed.setdefault(path, (False, source))
        for folder in folders:
            claimed.setdefault(folder, (True, source))
        return None

    # this run's records
    def add_record_lines(self, rows: Iterable[tuple[str, str]]) -> None:
        """(id, the record's manifest line); a later line for an id replaces it."""
        self._records.update(rows)

    def record_lines(self) -> Iterator[str]:
        """This run's manifest lines, one per id (the last one added), ordered by id."""
        return _by_id(self._records)

    def keep_unlisted(self) -> int:
        """Previous records of the articles under folders this run could not list
        become this run's, files and all; how many were kept."""
        records = self._records
        unlisted = [article_id for article_id, line in records.items() if _is_unlisted(line)]
        if not unlisted:
            return 0
        ids = sorted(self._previous)
        kept = 0
        for record_id in unlisted:
            prefix = record_id.removesuffix("#unreadable").strip("/") + "/"
            if prefix == "/":
                prefix = ""  # the source's own top folder: every article
            for at in range(bisect_left(ids, prefix), len(ids)):
                article_id = ids[at]
                if not article_id.startswith(prefix):
                    break
                if article_id not in records:
                    records[article_id] = self._previous[article_id]
                    kept += 1
        return kept

    # what the previous run wrote that this run's records no longer account for
    def stale_paths(self) -> Iterator[str]:
        """Files (relative to DEST) that previous records name and no record of this run
        does, ordered; see `RunIndex.stale_paths`."""
        previous, by_id = self._previous, self._paths_of_previous()
        if not any(by_id.values()):  # no previous record names a file: none is stale
            return
        kept: set[str] = set()
        for article_id, line in self._records.items():
            if previous.get(article_id) == line:
                kept.update(by_id[article_id])  # a kept record: its paths are known
            else:
                kept.update(_record_paths(line))
        stale = {path for paths in by_id.values() for path in paths} - kept
        stale.discard("")  # as RunIndex, whose pages start after ''
        yield from sorted(stale)

    def keep_gone(self) -> int:
        """Previous records of the articles this run did not see become this run's, files
        and all (a removal refused); how many."""
        records = self._records
        kept = 0
        for article_id, line in self._previous.items():
            if article_id not in records:
                records[article_id] = line
                kept += 1
        return kept

    def previous_count(self) -> int:
        return len(self._previous)

    def gone_count(self) -> int:
        """Articles of the previous manifest that this run did not see at all."""
        records = self._records
        return sum(1 for article_id in self._previous if article_id not in records)
