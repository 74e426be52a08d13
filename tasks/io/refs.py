"""What the readers hand to the run: one `ArticleRef` per article found in the source."""

from __future__ import annotations

import tarfile
import zlib
from dataclasses import dataclass
from typing import Literal

import zstandard

from newsprep.errors import Problem, is_transient

# errors that mean a container (archive, JSONL file) cannot be read on
CORRUPT = (tarfile.TarError, EOFError, zlib.error, OSError, zstandard.ZstdError)
# JSONL files and archives are read in blocks of this size: with s3fs's default read-ahead
# block (50 MiB) a 50 MiB object was held in memory whole, twice over.
STREAM_BLOCK_SIZE = 1024 * 1024
# the reason of a container whose reading broke off after its retries: articles unaccounted
STREAM_CUT = "stream-cut"


@dataclass(frozen=True)
class SourceFile:
    relative: str  # path relative to the source folder
    path: str  # path on the source filesystem
    format: str  # txt, story, jsonl, tar
    size: int | None
    signature: str

    @property
    def depth(self) -> int:
        """Components of the path below SOURCE's folder (links among them are not followed)."""
        return self.relative.count("/") + 1


@dataclass(frozen=True)
class ArticleRef:
    """An article found in the source: its id, where it came from, how to read it.

    File articles are read by the worker (`path`); archive members and JSONL records
    arrive inline (`data`), read once from their container by the discovery stream.
    """

    id: str  # unique within a run, a safe relative path: the output path under DEST
    source: str  # where it came from, for people: a URL, URL!member or URL:line
    format: Literal["txt", "story", "jsonl"] = "txt"
    path: str | None = None  # a file on the source filesystem
    data: bytes | None = None  # inline bytes
    highlights: tuple[str, ...] | None = None  # JSONL highlights
    record_id: str | None = None  # JSONL: the record's own id
    signature: str = ""  # changes when the source changes (size + mtime/ETag, or a hash)
    size: int | None = None  # a file's listed size: what reading it ahead will hold
    problem: Problem | None = None  # found while discovering: nothing to process


# A container's verdict on how far it reads (one record `<file>#unreadable`): a newer
# reader may read further, so a shard holding one is read again, never skipped whole.
CONTAINER_VERDICTS = frozenset({"corrupt-jsonl", "corrupt-archive", "not-jsonl", "unreadable"})


def broken_container(
    file: SourceFile, url: str, exc: BaseException, reason: str, where: str
) -> ArticleRef:
    """One record for the unreadable rest of a container; what was read before stands.

    A transient error (network, throttling) fails it, so the next run tries again.
    """
    detail = f"{where}: {type(exc).__name__}: {exc}"
    problem = (
        Problem("failed", STREAM_CUT, detail + "; the rest of the file is not read")
        if is_transient(exc)
        else Problem("rejected", reason, detail)
    )
    return verdict_ref(file, url, problem)


def verdict_ref(file: SourceFile, url: str, problem: Problem) -> ArticleRef:
    """The record-to-be of a container's verdict: the file's path and size go with it, for
    the quarantine copy a rejection gets (a transient failure's file is not read again)."""
    whole = problem.status == "rejected"
    return ArticleRef(
        id=f"{file.relative}#unreadable", source=url, signature=file.signature,
        path=file.path if whole else None, size=file.size if whole else None, problem=problem,
    )
