"""Source formats: which files hold articles and how articles come out of them.

- `.txt`: one article per file, one paragraph per line.
- `.story` (CNN/DailyMail): paragraphs separated by blank lines, then `@highlight` blocks.
- `.jsonl` / `.jsonl.gz`: one JSON object per line (fields configurable).
- `.tar`, `.tar.gz`, `.tgz`: archives of the above, streamed member by member.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import IO

from newsprep.config import InputOptions
from newsprep.errors import Rejected

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".jsonl.xz", ".jsonl.zst")
# Names under DEST that belong to newsprep; no article may be written there.
RESERVED_TOP_LEVEL = ("_manifest.jsonl", "_manifest.journal", "_run.json", "_quarantine")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# C0 controls, DEL and C1 controls: none belongs in a path (\x85 is a line break to some).
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HIGHLIGHT = re.compile(r"^@highlight[ \t]*$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def detect_format(name: str, options: InputOptions) -> str | None:
    """The format of a file by its name ('txt', 'story', 'jsonl', 'tar'), None if not ours."""
    if options.format != "auto":
        return options.format
    lower = name.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        return "tar"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".story"):
        return "story"
    if lower.endswith(".txt"):
        return "txt"
    return None


def strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    lower = name.lower()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def safe_relative_path(name: str) -> str:
    """A member or file path usable under DEST, or `Rejected('unsafe-id')`.

    Absolute paths, `..` components, control characters and names reserved for
    newsprep's own files are refused: nothing is ever written outside DEST.
    """
    if not name or _CONTROL_CHARS.search(name):
        raise Rejected("unsafe-id", f"{name!r} has control characters or is empty")
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise Rejected("unsafe-id", f"{name!r} is an absolute path")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise Rejected("unsafe-id", f"{name!r} points outside the destination")
    if parts[0] in RESERVED_TOP_LEVEL:
        raise Rejected("unsafe-id", f"{name!r} is reserved for newsprep's own files")
    return posixpath.join(*parts)


def safe_id_component(raw: str) -> str:
    """A JSONL id turned into one safe path component ('' if nothing usable is left)."""
    cleaned = _UNSAFE_ID_CHARS.sub("_", raw).strip("._")
    return cleaned[:200]


@dataclass(frozen=True)
class Story:
    body: str  # one paragraph per line
    highlights: tuple[str, ...]


def parse_story(text: str) -> Story:
    """Split a CNN/DailyMail `.story` into its body paragraphs and its highlights."""
    body, *highlights = _HIGHLIGHT.split(text)
    paragraphs = (" ".join(p.split("\n")).strip() for p in _BLANK_LINES.split(body))
    return Story(
        body="\n".join(p for p in paragraphs if p),
        highlights=tuple(h for h in (" ".join(h.split()) for h in highlights) if h),
    )


@dataclass(frozen=True)
class JsonlArticle:
    id: str
    text: str
    highlights: tuple[str, ...] | None


def parse_jsonl_line(line: bytes, number: int, options: InputOptions) -> JsonlArticle:
    """One JSONL line to an article; `Rejected('malformed-jsonl')` names the line."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Rejected("malformed-jsonl", f"line {number}: {exc}") from None
    if not isinstance(record, dict):
        raise Rejected("malformed-jsonl", f"line {number}: not a JSON object")
    field = next((f for f in options.text_fields if f in record), None)
    if field is None or not isinstance(record[field], str):
        wanted = " or ".join(options.text_fields)
        raise Rejected("malformed-jsonl", f"line {number}: no string field {wanted}")
    raw_id = record.get(options.id_field)
    article_id = str(raw_id) if raw_id not in (None, "") else f"line-{number}"
    highlights = record.get(options.highlights_field)
    if isinstance(highlights, str):
        highlights = tuple(h for h in highlights.split("\n") if h.strip())
    elif isinstance(highlights, list):
        highlights = tuple(str(h) for h in highlights if str(h).strip())
    else:
        highlights = None
    return JsonlArticle(article_id, record[field], highlights)


def iter_jsonl_lines(
    stream: IO[bytes], chunk_size: int = 1024 * 1024
) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for every non-blank line, read as a stream of chunks.

    Not the file's own readline: fsspec's reads (and copies) a whole block per line.
    """
    number, pending = 0, []  # pending: the pieces of a line not ended yet
    while chunk := stream.read(chunk_size):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            line = b"".join([*pending, chunk[start : end + 1]])
            pending, start, number = [], end + 1, number + 1
            if line.strip():
                yield number, line
        if start < len(chunk):
            pending.append(chunk[start:])
    line = b"".join(pending)
    if line.strip():
        yield number + 1, line


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
