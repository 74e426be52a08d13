"""DEST/_manifest.jsonl: one final record per article.

During a run, each finished batch's records are appended to a journal; at the end the
journal is compacted into the manifest: one record per article id, sorted by id. A
record is serialized once, to its manifest line (`ArticleRecord.to_line`); the lines pass
through the run's on-disk index (newsprep/run/ledger/index.py), never all in memory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from fsspec import AbstractFileSystem

from newsprep.errors import STATUSES
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.retry import JOURNAL_WRITES
from newsprep.tasks.io.footprint import QUARANTINE_DIR, with_companions
from newsprep.tasks.io.paths import (
    MANIFEST_UNREADABLE,
    RESERVED_TOP_LEVEL,
)
from newsprep.tasks.io.sinks import TEMP_NAME, write_atomic_stream
from newsprep.tasks.io.stores import on_local_disk, remove_files, remove_path

MANIFEST = "_manifest.jsonl"
JOURNAL = "_manifest.journal"
# Skipped records need no haste: the previous manifest holds them until this run's is
# written. 10,000 a journal object (~5 MB): a million unchanged articles make 100 PUTs.
SKIPPED_PER_JOURNAL = 10_000


class ManifestWriter:
    """Append-only journal of this run's records; `compact()` turns it into the manifest."""

    def __init__(
        self,
        fs: AbstractFileSystem,
        dest_root: str,
        index: RunIndex,
        files: tuple[str, str, str] = (MANIFEST, JOURNAL, MANIFEST_UNREADABLE),
        present: tuple[bool, bool] | None = None,
        additions: tuple[str, ...] = (),
    ) -> None:
        """`files`: the manifest, its journal and its unreadable lines' copy, relative to
        DEST: the whole run's, or a shard's part of the ledger (ledger/parts.py).
        `present`: whether the manifest and the journal exist, when the caller knows (a
        listing of DEST/_ledger/ made once, instead of two requests a shard on S3).
        `additions`: a part's additions in order, relative to DEST (read after it)."""
        self.fs, self.root, self.index = fs, dest_root, index
        self.local = on_local_disk(fs)
        manifest, journal, unreadable = files
        self.journal = posixpath.join(dest_root, journal)
        self.manifest = posixpath.join(dest_root, manifest)
        self.unreadable_copy = posixpath.join(dest_root, unreadable)
        self.additions = [posixpath.join(dest_root, path) for path in additions]
        self._parts = 0
        self._appended: dict[str, str] = {}  # this run's records, by id
        self.sha256 = ""  # of the manifest compact() wrote
        self.unreadable: list[UnreadableLine] = []  # lines of the files load_previous read
        if self.local:  # an object store has no folders to make
            self.fs.makedirs(posixpath.dirname(self.journal), exist_ok=True)
        self.present = present
        # a killed run's journal
        self.leftover = present[1] if present else self.fs.exists(self.journal)
        if self.local:
            self._handle = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115

    def load_previous(self) -> None:
        """Put the last manifest into the index, with what a killed run had journaled on
        top of it; that is rewritten as the manifest at once, so it is never lost.

        A line that cannot be read (not UTF-8, not JSON, a record without its fields) is
        left out: its article counts as not done and is processed again. The line is kept
        in DEST/_manifest.unreadable, and `unreadable_report` says where it was."""
        if self.present is None or self.present[0]:
            self.index.add_previous_lines(
                manifest_lines(self.fs, self.manifest, self.unreadable)
            )
        for addition in self.additions:
            self.index.add_previous_lines(manifest_lines(self.fs, addition, self.unreadable))
        if not self.leftover:
            self._keep_unreadable()
            return
        self.index.add_previous_lines(self._read_journal())
        self._keep_unreadable()
        lines = (line.encode("utf-8") for line in self.index.previous_lines())
        write_atomic_stream(self.fs, self.manifest, lines)
        self._remove_additions()
        if self.local:
            self._handle.truncate(0)
        else:
            remove_path(self.fs, self.journal, recursive=True)

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
        self._appended.update(rows)

    def note(self, records: Iterable[ArticleRecord]) -> None:
        """Records the manifest already holds as they are (unchanged articles, when the
        run ends with an addition): in the index only, not journaled."""
        self.index.add_record_lines((record.id, record.to_line()) for record in records)

    def compact(self) -> None:
        """Write the manifest (last record per id wins, sorted by id), drop the journal."""
        if self.local:
            self._handle.close()
        digest = hashlib.sha256()

        def lines() -> Iterator[bytes]:
            for line in self.index.record_lines():
                data = line.encode("utf-8")
                digest.update(data)
                yield data

        write_atomic_stream(self.fs, self.manifest, lines())
        self.sha256 = digest.hexdigest()  # of the manifest's bytes, as written
        self._remove_additions()
        self._drop_journal()

    def add(self, addition: str) -> tuple[str, int] | None:
        """Write this run's records (all of new articles) to `addition` (relative to
        DEST), sorted by id, and drop the journal; (sha256 of its bytes, records), or
        None when there were none (nothing written)."""
        if self.local:
            self._handle.close()
        added = None
        if self._appended:
            lines = (self._appended[key] for key in sorted(self._appended))
            data = "".join(lines).encode("utf-8")
            write_atomic_stream(self.fs, posixpath.join(self.root, addition), iter([data]))
            added = hashlib.sha256(data).hexdigest(), len(self._appended)
        self._drop_journal()
        return added

    def _drop_journal(self) -> None:
        if self.local or self._parts or self.leftover:
            with contextlib.suppress(FileNotFoundError):
                remove_path(self.fs, self.journal, recursive=not self.local)

    def _remove_additions(self) -> None:
        """Once the manifest holds their records."""
        for addition in self.additions:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(addition)
        self.additions = []

    def _read_journal(self) -> Iterator[tuple[str, str]]:
        if not self.fs.exists(self.journal):
            return
        for path in journal_files(self.fs, self.journal):
            yield from manifest_lines(self.fs, path, self.unreadable)

    def _keep_unreadable(self) -> None:
        keep_unreadable(self.fs, self.unreadable_copy, self.unreadable)

    def unreadable_report(self) -> list[str]:
        return unreadable_report(self.unreadable, self.unreadable_copy)


def journal_files(fs: AbstractFileSystem, journal: str) -> list[str]:
    """The files of a journal: the file itself (a local disk's), or its objects in order
    (an object store's, one a batch)."""
    return [journal] if fs.isfile(journal) else sorted(fs.find(journal))


def keep_unreadable(fs: AbstractFileSystem, copy: str, unreadable: list[UnreadableLine]) -> None:
    """Add the unreadable lines to their copy (those not there yet: a run killed before it
    rewrote the ledger file meets them again)."""
    if not unreadable:
        return
    kept = fs.cat_file(copy) if fs.exists(copy) else b""
    known = set(kept.splitlines(keepends=True))
    new = [bad.raw for bad in unreadable if bad.raw not in known]
    if new:
        write_atomic_stream(fs, copy, iter([kept, *new]))


def unreadable_report(unreadable: list[UnreadableLine], copy: str) -> list[str]:
    """One line per file with unreadable lines: which lines, why, where they are kept."""
    by_file: dict[str, list[UnreadableLine]] = {}
    for bad in unreadable:
        by_file.setdefault(bad.path, []).append(bad)
    reports = []
    for path, bad in by_file.items():
        shown = "; ".join(f"line {b.number}: {b.problem}" for b in bad[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        reports.append(
            f"{path}: {len(bad)} unreadable line(s) left out ({shown}{more}); their "
            f"articles are processed again; the lines are kept in {copy}"
        )
    return reports


@dataclass(frozen=True)
class UnreadableLine:
    path: str  # the manifest or journal file
    number: int  # from 1
    problem: str
    raw: bytes


# A record's fields and the types the run relies on (None allowed for the optional ones).
_REQUIRED = {"id": str, "source": str, "status": str}
_OPTIONAL = {
    "reason": str, "detail": str, "output": str, "sha256": str, "quarantine": str,
    "highlights": str, "signature": str, "fingerprint": str, "parity": str, "tokens": int,
    "attempts": int,
}


def _checked(line: str) -> dict:
    """The fields of a manifest line that holds a usable record; ValueError saying why
    not."""
    try:
        data = json.loads(line)
    except RecursionError:
        raise ValueError("not JSON: nested too deep") from None
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise ValueError(f"a record without {', '.join(missing)}")
    for name, kind in (*_REQUIRED.items(), *_OPTIONAL.items()):
        value = data.get(name)
        if (value is not None or name in _REQUIRED) and not isinstance(value, kind):
            raise ValueError(f"{name} is not a {kind.__name__}")
    if data["status"] not in STATUSES:
        raise ValueError(f"status {data['status']!r} is not one of {', '.join(STATUSES)}")
    fixes = data.get("fixes", [])
    if not isinstance(fixes, list) or not all(isinstance(fix, str) for fix in fixes):
        raise ValueError("fixes is not a list of strings")
    return data


def manifest_lines(
    fs: AbstractFileSystem, path: str, unreadable: list[UnreadableLine] | None = None
) -> Iterator[tuple[str, str]]:
    """(id, line) of each record of a manifest or journal file, the line as it is (a
    million-record manifest is not turned into records and back at every run's start);
    a line cut short by a crash is passed over. A line that is not a usable record is
    left out, and noted in `unreadable` when given."""
    for line, data in _usable_lines(fs, path, unreadable):
        yield data["id"], line


def manifest_records(
    fs: AbstractFileSystem, path: str, unreadable: list[UnreadableLine] | None = None,
    data: bytes | None = None,
) -> Iterator[ArticleRecord]:
    """The records of a manifest or journal file (as `manifest_lines`, each line decoded
    once); of its bytes `data` when the caller has read them."""
    for _, fields in _usable_lines(fs, path, unreadable, data):
        yield ArticleRecord.from_dict(fields)


def written_rows(data: bytes, sha256: str) -> list[dict] | None:
    """The records of a part's bytes as dicts, parsed in one go, when they are the bytes
    its shard wrote (`sha256`, from its marker): no line needs checking. None when they
    are not: read them line by line, with manifest_records."""
    if not sha256 or hashlib.sha256(data).hexdigest() != sha256:
        return None
    text = data.decode("utf-8").rstrip("\n")  # json.dumps escapes a newline in a value
    return json.loads(f"[{text.replace(chr(10), ',')}]") if text else []


def _usable_lines(
    fs: AbstractFileSystem, path: str, unreadable: list[UnreadableLine] | None,
    data: bytes | None = None,
) -> Iterator[tuple[str, dict]]:
    try:  # an object store's part is read in one request, not a HEAD and a GET
        if data is not None:
            handle = io.BytesIO(data)
        else:
            handle = fs.open(path, "rb") if on_local_disk(fs) else io.BytesIO(fs.cat_file(path))
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                break  # the last line of a journal killed mid-write
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
                yield line, _checked(line)
            except UnicodeDecodeError as exc:
                problem = f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
                _note(unreadable, path, number, problem, raw)
            except ValueError as exc:
                _note(unreadable, path, number, str(exc)[:200], raw)


def _note(
    unreadable: list[UnreadableLine] | None, path: str, number: int, problem: str, raw: bytes
) -> None:
    if unreadable is not None:
        unreadable.append(UnreadableLine(path, number, problem, raw))


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


def remove_temp_files(
    fs: AbstractFileSystem, dest_root: str, folder: str = "", recursive: bool = True
) -> int:
    """Delete temp files a killed run left on a local disk, in DEST or one of its folders
    (relative), and in its subfolders when `recursive`; returns how many."""
    if not on_local_disk(fs):
        return 0
    top = posixpath.join(dest_root, folder) if folder else dest_root
    removed = 0
    for current, folders, names in os.walk(top):
        for name in names:
            if TEMP_NAME.fullmatch(name):
                os.unlink(os.path.join(current, name))
                removed += 1
        if not recursive:
            folders.clear()
    return removed


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
                remove_files(fs, present)
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
