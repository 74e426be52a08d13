"""The archive reader: `.txt`/`.story` members of a tar archive (plain, gzip, bz2, xz),
streamed member by member, never unpacked to disk or read whole into memory."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import IO

from fsspec import AbstractFileSystem

from newsprep.config import PipelineConfig
from newsprep.errors import Problem, Rejected
from newsprep.tasks.io.paths import (
    ARCHIVE_SUFFIXES,
    detect_format,
    safe_id_component,
    safe_relative_path,
    strip_suffix,
)
from newsprep.tasks.io.refs import (
    CORRUPT,
    STREAM_BLOCK_SIZE,
    ArticleRef,
    SourceFile,
    broken_container,
)


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes | None  # None when the member is over the size limit
    size: int
    mtime: int


def archive_compression(name: str) -> str | None:
    """fsspec compression of an archive by name; None for a plain .tar or an unknown name."""
    lower = name.lower()
    if lower.endswith((".tgz", ".tar.gz")):
        return "gzip"
    return {".tar.bz2": "bz2", ".tar.xz": "xz"}.get(lower[lower.rfind(".tar") :])


def iter_tar(
    stream: IO[bytes], pattern: str, max_bytes: int, mode: str = "r|*"
) -> Iterator[Member]:
    """Regular-file members matching `pattern`, streamed: never unpacked, never seeked.

    With mode "r|*" tarfile detects compression from the bytes; callers that decompress
    the stream themselves (fsspec's gzip checks the trailer, so a cut shows) pass "r|".
    Links and devices are skipped.
    A truncated or corrupt archive raises `tarfile.TarError` or `EOFError` after the
    members that could be read.
    """
    with tarfile.open(fileobj=stream, mode=mode) as archive:
        for info in archive:
            if not info.isfile() or not fnmatch(info.name, pattern):
                continue
            if info.size > max_bytes:
                yield Member(info.name, None, info.size, int(info.mtime))
                continue
            handle = archive.extractfile(info)
            data = handle.read() if handle is not None else b""
            if len(data) != info.size:
                raise EOFError(f"member {info.name!r} is truncated")
            yield Member(info.name, data, info.size, int(info.mtime))


def archive_articles(
    fs: AbstractFileSystem,
    file: SourceFile,
    config: PipelineConfig,
    member_pattern: str | None,
    single: bool,
) -> Iterator[ArticleRef]:
    url = fs.unstrip_protocol(file.path)
    prefix = "" if single else strip_suffix(file.relative, ARCHIVE_SUFFIXES) + "/"
    pattern = member_pattern or config.input.member_pattern
    max_bytes = config.fetch.max_bytes
    name = ""
    try:
        compression = archive_compression(file.path)
        mode = "r|" if compression or file.path.lower().endswith(".tar") else "r|*"
        with fs.open(
            file.path, "rb", compression=compression, block_size=STREAM_BLOCK_SIZE
        ) as stream:
            for member in iter_tar(stream, pattern, max_bytes, mode):
                name = member.name
                source = f"{url}!{member.name}"
                signature = f"{member.size}-{member.mtime}"
                fmt = detect_format(member.name, config.input)
                fmt = fmt if fmt in ("txt", "story") else "txt"
                try:
                    article_id = prefix + safe_relative_path(member.name)
                except Rejected as exc:
                    unsafe_id = prefix + "_unsafe/" + safe_id_component(member.name)
                    yield ArticleRef(
                        id=unsafe_id, source=source, data=member.data, signature=signature,
                        problem=exc.problem,
                    )
                    continue
                problem = None
                if member.data is None:
                    detail = f"{member.size} bytes, max_bytes={max_bytes}"
                    problem = Problem("rejected", "too-large", detail)
                yield ArticleRef(
                    id=article_id, source=source, format=fmt, data=member.data,
                    signature=signature, problem=problem,
                )
    except CORRUPT as exc:
        after = f"after member {name!r}" if name else "before any member"
        yield broken_container(file, url, exc, "corrupt-archive", after)
