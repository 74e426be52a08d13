"""DEST/_ledger/: the ledger in parts, one per shard of the source.

A shard is a piece of the source a worker takes end to end (newsprep/run/planning.py):
a folder's direct files, one JSONL file or archive, a whole folder tree (when names in it
would collide across shards), or a folder that could not be listed. Its part is
`_ledger/<name>.jsonl`, the records of its articles sorted by id (the lines of the old
single `_manifest.jsonl`), and `_ledger/<name>.done.json`, written after the part: the
shard's key, the digest of its listing, the settings fingerprint and its counts. A shard
whose listing and settings match its `.done.json` (and whose files are all in DEST) is
not processed again.

A shard whose only change is new articles gets an addition beside its part instead of a
new part: `_ledger/<name>+<n>.jsonl`, the new articles' records sorted by id, named in
the marker with its digest. The part and its additions hold each article once, so a
reader takes them all. When the additions would outgrow the part, or on any other change
(an article changed, gone, or to retry), the shard's records are written as one part
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import quote, unquote

from fsspec import AbstractFileSystem

from newsprep.run.ledger.manifest import JOURNAL, MANIFEST, journal_files, manifest_lines
from newsprep.tasks.io.jsonl import JsonlSlice
from newsprep.tasks.io.paths import escape_surrogates
from newsprep.tasks.io.sinks import write_atomic
from newsprep.tasks.io.stores import remove_path

LEDGER_DIR = "_ledger"
PART_SUFFIX = ".jsonl"
DONE_SUFFIX = ".done.json"
# A part's file name is its key, %-quoted; a longer one is a hash of it (the key is in the
# .done.json either way).
_MAX_QUOTED = 200

# `<name>+<n>.jsonl`: quote() escapes "+", so no part's own name holds one
ADDITION_MARK = "+"
# A shard's part and additions are written as one part again when its additions would
# hold more records than the part, or be more than MAX_ADDITIONS: with a share p of new
# articles a run, a run writes about 2p of the ledger's bytes on average (p, and the
# whole ledger, grown to twice its size, every ~1/p runs), and an unchanged shard reads
# a bounded number of files.
MAX_ADDITIONS = 64
_ADDITION = re.compile(r"(.+)\+([1-9][0-9]*)\.jsonl")

# The part of a run by batches (task_unit batch): all its records in one part.
RUN_PART_KEY = "run:"

ShardKind = Literal["folder", "range", "file", "slice", "tree", "unreadable"]
RANGE_MARK = "//"  # between a range shard's folder and its first name, in its key
# A JSONL file cut into slices: the cut, beside where the file's own part would be
SLICES_SUFFIX = ".slices"


def key_region(key: str) -> tuple[str, str]:
    """(kind, path) of a shard key: a range's path is its folder's, a slice's its file's."""
    kind, _, path = key.partition(":")
    if kind == "range":  # the first name follows the mark
        path = path.partition(RANGE_MARK)[0]
    elif kind == "slice":  # the first byte and name follow the last mark
        path = path.rpartition(RANGE_MARK)[0]
    return kind, path


def range_first(key: str) -> str:
    """The first name of a range shard's key."""
    return key.partition(":")[2].partition(RANGE_MARK)[2]


def part_name(key: str) -> str:
    """`folder:a/b` -> `folder=a%2Fb`; a hash of the key when that is too long."""
    kind, _, path = key.partition(":")
    quoted = f"{kind}={quote(path, safe='')}"
    if len(quoted) <= _MAX_QUOTED:
        return quoted
    return "h-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def key_of_name(name: str) -> str | None:
    """The key a part's file name spells; None for a hashed name (read its .done.json)."""
    kind, equals, quoted = name.partition("=")
    if name.startswith("h-") or not equals:
        return None
    return f"{kind}:{unquote(quoted)}"


@dataclass(frozen=True)
class PartPaths:
    """The files of one shard's part, relative to DEST."""

    name: str

    @classmethod
    def of(cls, key: str) -> PartPaths:
        return cls(part_name(key))

    @property
    def records(self) -> str:
        return f"{LEDGER_DIR}/{self.name}{PART_SUFFIX}"

    @property
    def done(self) -> str:
        return f"{LEDGER_DIR}/{self.name}{DONE_SUFFIX}"

    @property
    def journal(self) -> str:
        return f"{LEDGER_DIR}/{self.name}.journal"

    @property
    def unreadable(self) -> str:
        return f"{LEDGER_DIR}/{self.name}.unreadable"

    @property
    def cut(self) -> str:
        """A large JSONL file's cut into slices (its `file:` key's name; slicing.py)."""
        return f"{LEDGER_DIR}/{self.name}{SLICES_SUFFIX}"

    def addition(self, number: int) -> str:
        return f"{LEDGER_DIR}/{self.name}{ADDITION_MARK}{number}{PART_SUFFIX}"

    def additions(self, files: list[str]) -> list[str]:
        """Of `files` (its names in DEST/_ledger/), its additions in order, relative to
        DEST."""
        found = sorted(
            (int(match[2]), file) for file in files
            if (match := _ADDITION.fullmatch(file)) and match[1] == self.name
        )
        return [f"{LEDGER_DIR}/{file}" for _, file in found]

    def record_files(self, files: list[str]) -> list[str]:
        """Of `files`, those that hold its records, relative to DEST: the part, then its
        additions in order."""
        part = [self.records] if self.name + PART_SUFFIX in files else []
        return part + self.additions(files)


@dataclass(frozen=True)
class Done:
    """A shard's completion marker: what its part was made from, and its counts."""

    key: str
    listing: str  # digest of the shard's listing
    fingerprint: str  # the settings
    records: int
    settled: bool  # no failed article, no gone article kept: nothing to retry
    kept_gone: int = 0  # articles gone from SOURCE whose records were kept (removal refused)
    # what the shard's reading noted besides articles: files and members that are not
    # articles (how many, the first ones), warnings (an archive pattern that matched nothing)
    ignored_count: int = 0
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    part_sha256: str = ""  # of the part as the shard wrote it ("": not known, read it all)
    additions: tuple[tuple[str, int], ...] = ()  # (sha256, records) of each, in order

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Done | None:
        """The marker, or None when it is not one (cut short, edited): the shard is redone."""
        try:
            fields = json.loads(data)
            fields["ignored"] = tuple(fields.get("ignored", ()))
            fields["warnings"] = tuple(fields.get("warnings", ()))
            fields["additions"] = tuple(
                (str(sha256), int(count)) for sha256, count in fields.get("additions", ())
            )
            return cls(**fields)
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class Shard:
    """A piece of the source, named by paths relative to the source's folder."""

    kind: ShardKind
    path: str  # the folder ("" for the source's own), or the file
    detail: str = ""  # unreadable: why the folder could not be listed
    single: bool = False  # the source is this one file (an archive's ids are its members)
    # which of its part's files DEST has ("records", "journal", "done"), from the flow's
    # one listing of DEST/_ledger/; None: not known, the worker looks
    present: frozenset[str] | None = None
    done: Done | None = None  # its part's completion marker, when `present` says so
    # range: the folder's direct files named from `first` (inclusive) to `last` (not)
    first: str = ""
    last: str | None = None
    part: JsonlSlice | None = None  # slice: which bytes and lines of the file

    def __post_init__(self) -> None:
        if self.done is not None and self.done.key != self.key:
            raise ValueError(f"the marker of {self.done.key!r} given to shard {self.key!r}")

    @property
    def key(self) -> str:
        """Stable across runs; a name that is not UTF-8 is spelled with `\\xNN`. A range's
        key is its folder and its first name, apart by `//` (no name has a `/`)."""
        if self.kind == "range":
            folder, first = escape_surrogates(self.path), escape_surrogates(self.first)
            return f"range:{folder}{RANGE_MARK}{first}"
        if self.kind == "slice":  # the file, the first byte (15 digits: sorted), the digest
            assert self.part is not None
            start, name = self.part.start, self.part.name or slice_digest(self.part)[:12]
            return f"slice:{escape_surrogates(self.path)}{RANGE_MARK}{start:015d}~{name}"
        return f"{self.kind}:{escape_surrogates(self.path)}"


def slice_digest(part: JsonlSlice) -> str:
    """A slice shard's listing digest: its bytes and what the pass over its file found."""
    return listing_digest([("slice", part.start, part.end, part.line, part.sha256,
                            part.articles, part.renamed)])


def read_done(fs: AbstractFileSystem, dest_root: str, key: str) -> Done | None:
    return _read_done_file(fs, posixpath.join(dest_root, PartPaths.of(key).done))


def _read_done_file(fs: AbstractFileSystem, path: str) -> Done | None:
    """The marker at `path`; None when it is missing or not a marker."""
    try:
        return Done.from_bytes(fs.cat_file(path))
    except FileNotFoundError:
        return None


def write_done(fs: AbstractFileSystem, dest_root: str, done: Done) -> None:
    write_atomic(fs, posixpath.join(dest_root, PartPaths.of(done.key).done), done.to_bytes())


def remove_done(fs: AbstractFileSystem, dest_root: str, key: str) -> None:
    """Before a shard's part changes: without its marker the shard is never skipped."""
    path = posixpath.join(dest_root, PartPaths.of(key).done)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(path)


def ledger_names(fs: AbstractFileSystem, dest_root: str) -> dict[str, list[str]]:
    """The names under DEST/_ledger/ grouped by part name: {name: [file names]}."""
    folder = posixpath.join(dest_root, LEDGER_DIR)
    fs.invalidate_cache(folder)  # other processes write it: s3fs would answer from its cache
    try:
        entries = fs.ls(folder, detail=False)
    except FileNotFoundError:
        return {}
    names: dict[str, list[str]] = {}
    for entry in entries:
        file = posixpath.basename(entry.rstrip("/"))
        if found := _file_kind(file):
            names.setdefault(found[0], []).append(file)
    return names


_KINDS = {DONE_SUFFIX: "done", PART_SUFFIX: "records", ".journal": "journal",
          ".unreadable": "unreadable", SLICES_SUFFIX: "slices"}


def _file_kind(file: str) -> tuple[str, str] | None:
    """(part name, kind) of a file name under DEST/_ledger/; None for another file."""
    if match := _ADDITION.fullmatch(file):
        return match[1], "additions"
    for suffix, kind in _KINDS.items():
        if file.endswith(suffix):
            return file[: -len(suffix)], kind
    return None


def present_files(files: list[str]) -> frozenset[str]:
    """Which of a part's files are among `files` (its names in DEST/_ledger/): "done",
    "records", "additions", "journal"."""
    kinds = {found[1] for file in files if (found := _file_kind(file))}
    return frozenset(kinds - {"unreadable", "slices"})


def part_keys(
    fs: AbstractFileSystem, dest_root: str, names: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """{key: part name} of every part or marker under DEST/_ledger/."""
    keys = {}
    names = names if names is not None else ledger_names(fs, dest_root)
    for name in names:
        key = key_of_name(name)
        if key is None:
            done = _read_done_file(fs, posixpath.join(dest_root, LEDGER_DIR, name + DONE_SUFFIX))
            key = done.key if done is not None else _cut_key(fs, dest_root, name, names[name])
            if key is None:
                continue  # a hashed part without its marker: found by its shard, if planned
        keys[key] = name
    return keys


def _cut_key(fs: AbstractFileSystem, dest_root: str, name: str, files: list[str]) -> str | None:
    """The key of a hashed name that holds a JSONL file's cut (the file's path is in it)."""
    if name + SLICES_SUFFIX not in files:
        return None
    try:
        path = json.loads(fs.cat_file(posixpath.join(dest_root, PartPaths(name).cut)))
        return f"file:{path['path']}"
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return None


def listing_digest(rows: list[tuple]) -> str:
    """A digest of a shard's listing rows (path, format, size, signature, ...), in order."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(row).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


class OtherLedger:
    """Every record file in DEST but one part's: the other parts and journals, and a
    `_manifest.jsonl` of an older newsprep. A run whose one part takes all its records
    (task_unit batch) reads them as previous records, and removes them once its own part
    is written."""

    def __init__(self, fs: AbstractFileSystem, dest_root: str, own_key: str) -> None:
        self.fs, self.root = fs, dest_root
        own = PartPaths.of(own_key).name
        folder = posixpath.join(dest_root, LEDGER_DIR)
        self.names = {
            name: files for name, files in ledger_names(fs, dest_root).items() if name != own
        }
        self.record_files = [
            posixpath.join(folder, file)
            for name, files in sorted(self.names.items())
            for file in sorted(files)
            if not file.endswith((DONE_SUFFIX, ".unreadable", SLICES_SUFFIX))
        ]
        self.legacy = [
            path for name in (MANIFEST, JOURNAL)
            if fs.exists(path := posixpath.join(dest_root, name))
        ]

    def lines(self, unreadable: list) -> Iterator[tuple[str, str]]:
        """(id, line) of every record in them, the legacy files first (parts are newer)."""
        for path in self.legacy + self.record_files:
            for file in journal_files(self.fs, path):  # a part, or a journal's files
                yield from manifest_lines(self.fs, file, unreadable)

    def remove(self) -> None:
        folder = posixpath.join(self.root, LEDGER_DIR)
        for files in self.names.values():
            for file in files:
                remove_path(self.fs, posixpath.join(folder, file), recursive=True)
        for path in self.legacy:
            remove_path(self.fs, path, recursive=True)
