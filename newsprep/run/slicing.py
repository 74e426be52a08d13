"""Cutting a large JSONL file into slices, each a shard of its own, in a worker.

A JSONL file that is not compressed and holds more than `slice_bytes` is cut at the first
line start past every `slice_bytes` (so the same bytes are cut the same way, and a file
that grows at its end keeps its slices). One pass over the file finds what a slice's
worker cannot see by itself: the number of its first line (a record without an id is
named `line-N`), and the lines whose id, output or sidecar an earlier line of the file
had taken (renamed and rejected as the whole file's reading would). The cut is kept in
DEST (`_ledger/<the file's part name>.slices`) with the file's signature: while the file
and the settings are those, a run reads the cut, not the file.

A file that is mostly not JSON lines, or that cannot be read to its end, is not cut: its
shard reads it whole and says why.

A slice's key names its file, its first byte and a digest of what it held when it was
first cut (its bytes, first line, renamed lines): a slice keeps its part from run to run
while it is the same, and so does the last slice of a file grown at its end (every slice
before it the same: no article can have moved out of it). Any other change gives a slice
a new key, and the parts of the slices the file no longer has are read like a
migration's (sharded.py): their records are looked up by id by whichever slice now holds
the article, and the articles no slice took are gone once every shard is done, so no
article is lost, or processed again, wherever it moved in the file, even when the run is
killed part way.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import asdict, dataclass, field, replace

import fsspec
from fsspec.utils import infer_compression

from newsprep.config import PipelineConfig
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.parts import PartPaths, slice_digest
from newsprep.tasks.io.jsonl import JsonlSlice, jsonl_articles, line_number
from newsprep.tasks.io.listing import claim_in_file, signature_of
from newsprep.tasks.io.paths import detect_format
from newsprep.tasks.io.refs import STREAM_CUT, SourceFile
from newsprep.tasks.io.sinks import write_atomic


def can_slice(relative: str, config: PipelineConfig) -> bool:
    """Whether a file is JSONL that can be read from the middle (not compressed)."""
    return detect_format(relative, config.input) == "jsonl" and infer_compression(relative) is None


@dataclass(frozen=True)
class SliceCut:
    """How a file was cut: stored in DEST beside where its part would be."""

    path: str  # relative to the source's folder
    signature: str  # of the file when it was cut
    settings: str  # what the cut depends on: the pipeline's fingerprint, slice_bytes
    slices: tuple[JsonlSlice, ...]

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SliceCut | None:
        try:
            fields = json.loads(data)
            slices = tuple(
                JsonlSlice(**{**part, "renamed": tuple(tuple(r) for r in part["renamed"])})
                for part in fields.pop("slices")
            )
            return cls(slices=slices, **fields)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def cut_path(dest_root: str, relative: str) -> str:
    """Where a file's cut is kept in DEST."""
    return posixpath.join(dest_root, PartPaths.of(f"file:{relative}").cut)


def slice_file(
    url: str, relative: str, dest: str, config: PipelineConfig, slice_bytes: int
) -> SliceCut | None:
    """The slices of the file `relative` under the source folder `url`: its cut in DEST
    when the file and settings are the same, else a pass over it (the cut is then kept in
    DEST). None when it is not to be cut: small or gone; a cut of no slices when it is
    not read whole as JSON lines (kept too: the file is not read again to find out)."""
    fs, root = fsspec.url_to_fs(url)
    path = posixpath.join(root.rstrip("/") or "/", relative)
    dest_fs, dest_root = fsspec.url_to_fs(dest)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return None
    size = info.get("size") or 0
    if size <= slice_bytes or info.get("type") != "file":
        return None
    signature = signature_of(info)
    settings = f"{config.fingerprint()}-{slice_bytes}"
    stored = cut_path(dest_root.rstrip("/"), relative)
    try:
        before = SliceCut.from_bytes(dest_fs.cat_file(stored))
    except FileNotFoundError:
        before = None
    if before is not None and (before.signature, before.settings) == (signature, settings):
        return before
    file = SourceFile(relative, path, "jsonl", size, signature)
    cutter = _Cutter(slice_bytes, before.slices[-1].end if before and before.slices else None)
    index = MemoryIndex()
    counts: dict[int, int] = {}  # articles by slice number
    renamed: dict[int, list[tuple[int, str, str, str]]] = {}
    whole = True
    try:
        for ref in jsonl_articles(fs, file, config, retry=None, tap=cutter.feed):
            if ref.problem is not None and ref.problem.reason == STREAM_CUT:
                raise ConnectionError(ref.problem.detail)  # transient: the planning is retried
            number = line_number(ref)
            if number is None:  # the file is not read whole as JSON lines
                whole = False
                break
            at = cutter.slice_of(number)
            counts[at] = counts.get(at, 0) + 1
            claimed, changed = claim_in_file(ref, index)
            if changed:
                assert claimed.problem is not None  # a claim renames with a reason
                renamed.setdefault(at, []).append(
                    (number, claimed.id, claimed.problem.reason, claimed.problem.detail)
                )
    finally:
        index.close()
    slices = tuple(
        JsonlSlice(start, end, line, sha256, counts.get(at, 0), tuple(renamed.get(at, ())))
        for at, (start, end, line, sha256) in enumerate(cutter.finish())
    ) if whole else ()
    if len(slices) == 1:  # no line start past slice_bytes: read whole
        slices = ()
    cut = SliceCut(relative, signature, settings, _named(before, slices, cutter.grown_sha256))
    write_atomic(dest_fs, stored, cut.to_bytes())
    return cut


def _named(
    before: SliceCut | None, slices: tuple[JsonlSlice, ...], grown_sha256: str | None
) -> tuple[JsonlSlice, ...]:
    """The slices with their names (the end of their keys): an old slice's name when it is
    the same, and the old last slice's when it grew at its end with every slice before it
    the same; else a digest of what the slice holds."""
    old = {part.start: part for part in before.slices} if before is not None else {}
    named = [
        was if (was := old.get(part.start)) is not None and replace(part, name=was.name) == was
        else replace(part, name=slice_digest(part)[:12])
        for part in slices
    ]
    if before is not None and before.slices and grown_sha256 == before.slices[-1].sha256:
        last, at = before.slices[-1], len(before.slices) - 1
        if (
            len(named) > at and tuple(named[:at]) == before.slices[:-1]
            and (named[at].start, named[at].line) == (last.start, last.line)
            and named[at].renamed[: len(last.renamed)] == last.renamed
        ):
            named[at] = replace(named[at], name=last.name)
    return tuple(named)


@dataclass
class _Cutter:
    """Finds the slices' bounds, first lines and digests in the bytes as they are read."""

    slice_bytes: int
    old_end: int | None = None  # where the file ended when it was cut before
    offset: int = 0  # bytes seen
    lines: int = 0  # line ends seen
    start: int = 0
    line: int = 1
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    slices: list[tuple[int, int, int, str]] = field(default_factory=list)
    firsts: list[int] = field(default_factory=lambda: [1])  # first line of every slice
    grown_sha256: str | None = None  # of the slice being read, up to old_end

    def feed(self, data: bytes) -> None:
        view, at = memoryview(data), 0
        while at < len(data):
            target = self.start + self.slice_bytes  # cut at the first line start from here
            cut = -1
            if self.offset + len(data) - at >= target:
                cut = data.find(b"\n", at + max(0, target - 1 - self.offset))
            end = len(data) if cut < 0 else cut + 1
            if self.old_end is not None and self.offset < self.old_end <= self.offset + end - at:
                head = self.digest.copy()
                head.update(view[at : at + self.old_end - self.offset])
                self.grown_sha256 = head.hexdigest()
            self.digest.update(view[at:end])
            self.lines += data.count(b"\n", at, end)
            self.offset += end - at
            at = end
            if cut >= 0:
                self._close()

    def _close(self) -> None:
        self.slices.append((self.start, self.offset, self.line, self.digest.hexdigest()))
        self.start, self.line, self.digest = self.offset, self.lines + 1, hashlib.sha256()
        self.firsts.append(self.line)

    def slice_of(self, line: int) -> int:
        """The slice a line (already read) lies in."""
        at = len(self.firsts) - 1
        while self.firsts[at] > line:
            at -= 1
        return at

    def finish(self) -> list[tuple[int, int, int, str]]:
        if self.offset > self.start or not self.slices:
            self._close()
        return self.slices
