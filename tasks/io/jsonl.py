"""The JSONL reader: one article per line of a `.jsonl` (or compressed) file, streamed.

Fields `input.id_field`, `input.text_fields` and `input.highlights_field`, as in the public
CNN/DailyMail exports. A malformed line is one rejected article that names the line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import IO

from fsspec import AbstractFileSystem

from newsprep.config import InputOptions, PipelineConfig
from newsprep.errors import Problem, Rejected
from newsprep.tasks.io.paths import (
    JSONL_SUFFIXES,
    escape_surrogates,
    safe_id_component,
    strip_suffix,
)
from newsprep.tasks.io.refs import CORRUPT, ArticleRef, SourceFile, broken_container, verdict_ref
from newsprep.tasks.io.stream import Retry, open_container


@dataclass(frozen=True)
class JsonlSlice:
    """A slice of a large JSONL file, read by a shard of its own: the bytes from `start`
    to `end` (not), whole lines, the first of them line number `line`. Cut and checked by
    one pass over the file (newsprep/run/slicing.py): `renamed` holds the lines whose id
    an earlier line of the file had taken, as (line, id, reason, detail)."""

    start: int
    end: int
    line: int
    sha256: str  # of the slice's bytes
    articles: int  # its lines that are not blank
    renamed: tuple[tuple[int, str, str, str], ...] = ()
    name: str = ""  # the end of its shard's key: which slice of the file it is


@dataclass(frozen=True)
class JsonlArticle:
    id: str
    text: str
    highlights: tuple[str, ...] | None
    typed_id: bool = False  # the id is a JSON number (or other value), not a string


def parse_jsonl_line(line: bytes, number: int, options: InputOptions) -> JsonlArticle:
    """One JSONL line to an article. A line that is not a JSON object is
    `Rejected('malformed-jsonl')`; an object without a string text `no-text`, one whose
    highlights are not a string or a list of strings `bad-highlights`; each names the line.

    Whatever a line makes the parser raise (a syntax error, nesting too deep for the
    recursion limit, an integer over Python's 4,300 digits) is that line's problem only."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise Rejected("malformed-jsonl", f"line {number}: {_error(exc)}") from None
    if not isinstance(record, dict):
        raise Rejected("malformed-jsonl", f"line {number}: not a JSON object")
    # a field that is null counts as absent: `"text": null` falls back to `article`
    field = next((f for f in options.text_fields if record.get(f) is not None), None)
    if field is None:
        wanted = " or ".join(options.text_fields)
        detail = f"no text in {wanted} (input.text_fields); its fields: {_fields(record)}"
        raise Rejected("no-text", f"line {number}: {detail}")
    if not isinstance(record[field], str):  # not passed over for the next field
        detail = f"{field} is {_kind(record[field])}, not a string (input.text_fields)"
        raise Rejected("no-text", f"line {number}: {detail}")
    raw_id = record.get(options.id_field)
    if raw_id in (None, ""):
        article_id = f"line-{number}"
    else:  # a number (or anything but a string) as JSON spells it: 7, 1.5, true
        article_id = raw_id if isinstance(raw_id, str) else json.dumps(raw_id)
    highlights = record.get(options.highlights_field)
    if isinstance(highlights, str):
        highlights = tuple(h for h in highlights.split("\n") if h.strip())
    elif isinstance(highlights, list):
        for h in highlights:
            if not isinstance(h, str | None):
                detail = f"line {number}: a highlight is {_kind(h)}, not a string"
                raise Rejected("bad-highlights", detail)
        highlights = tuple(h for h in highlights if h is not None and h.strip())
    elif highlights is not None:
        kind = _kind(highlights)
        detail = f"{options.highlights_field} is {kind}, not a string or a list of strings"
        raise Rejected("bad-highlights", f"line {number}: {detail}")
    typed = raw_id not in (None, "") and not isinstance(raw_id, str)
    return JsonlArticle(article_id, record[field], highlights, typed)


def _kind(value: object) -> str:
    """What a JSON value that is not a string (or null) is, in words."""
    if isinstance(value, bool):
        return json.dumps(value)  # true, false
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


def _fields(record: dict) -> str:
    """An object's field names for a detail, nulls marked, in about 200 characters."""
    names = ", ".join(f"{key} (null)" if value is None else key for key, value in record.items())
    if len(names) > 200:
        names = f"{names[:200].rpartition(', ')[0] or names[:200]}, ... ({len(record)} fields)"
    return escape_surrogates(names) or "none"


def _error(exc: BaseException) -> str:
    """An error in a few words: a RecursionError's message says nothing of the line."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to parse"
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:300]


def iter_jsonl_lines(
    stream: IO[bytes], chunk_size: int = 1024 * 1024, max_bytes: int | None = None,
    before: int = 0,
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for every non-blank line, read as a stream of chunks; the
    stream starts after `before` lines of its file.

    A line longer than `max_bytes` comes as (number, None): its bytes are read past, never
    held. Not the file's own readline: fsspec's reads (and copies) a whole block per line.
    """
    number, pending, held = before, [], 0  # pending: the pieces of a line not ended yet
    too_long = False  # the line being read is over max_bytes: its bytes are dropped
    while chunk := stream.read(chunk_size):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if too_long:
                yield number, None
            else:
                line = b"".join([*pending, chunk[start : end + 1]])
                if max_bytes is not None and len(line) > max_bytes:
                    yield number, None
                elif line.strip():
                    yield number, line
            pending, held, start, too_long = [], 0, end + 1, False
        if start < len(chunk) and not too_long:
            pending.append(chunk[start:])
            held += len(chunk) - start
            if max_bytes is not None and held > max_bytes:
                pending, held, too_long = [], 0, True
    if too_long:
        yield number + 1, None
        return
    line = b"".join(pending)
    if max_bytes is not None and len(line) > max_bytes:
        yield number + 1, None
    elif line.strip():
        yield number + 1, line


# A file is judged on its first lines: when most of them are not JSON objects it is not
# JSONL (random bytes, a binary file so named) and is one rejected record, not a record
# per "line". Past them, a window of lines mostly malformed ends the file the same way.
# Only `malformed-jsonl` counts: an object without a text (`no-text`) is a JSONL line.
SAMPLE_LINES = 20
WINDOW_LINES = 100
NOT_JSONL = "not-jsonl"


def jsonl_articles(
    fs: AbstractFileSystem,
    file: SourceFile,
    config: PipelineConfig,
    retry: Retry | None = None,
    part: JsonlSlice | None = None,
    tap: Callable[[bytes], None] | None = None,
) -> Iterator[ArticleRef]:
    """The articles of one JSONL file, line by line; every line is an article or a record
    of why it is not (malformed, too large, text that is not Unicode). A file that is
    mostly not JSON lines is one record `<file>#unreadable`, `not-jsonl`, from where that
    was seen. With `part`, the lines of that slice only (the file was judged whole when
    it was cut). `tap` is given every block of the file's bytes as it is read."""
    url = fs.unstrip_protocol(file.path)
    prefix = strip_suffix(file.relative, JSONL_SUFFIXES)
    max_bytes = config.fetch.max_bytes
    number = before = 0 if part is None else part.line - 1
    held: list[ArticleRef] | None = [] if part is None else None  # until the file is judged
    held_bytes = 0
    window = [0, 0]  # lines, and malformed lines, judged together
    span = None if part is None else (part.start, part.end)
    try:
        raw, stream = open_container(fs, file.path, "infer", retry, file.depth, span)
        if tap is not None:
            stream = _Tapped(stream, tap)
        with raw, stream:
            for number, line in iter_jsonl_lines(stream, max_bytes=max_bytes, before=before):
                ref, not_object = _record_article(
                    line, number, url, prefix, config.input, max_bytes
                )
                if part is not None:
                    yield ref
                    continue
                window[0] += 1
                window[1] += not_object
                if held is None:
                    yield ref
                    if window[0] == WINDOW_LINES:
                        if _mostly_malformed(*window):
                            yield _not_jsonl(file, url, window, f"up to line {number}, of the last")
                            return
                        window = [0, 0]
                    continue
                held.append(ref)
                held_bytes += len(ref.data or b"")
                if len(held) < SAMPLE_LINES and held_bytes < max_bytes:
                    continue
                if len(held) == SAMPLE_LINES and _mostly_malformed(*window):
                    yield _not_jsonl(file, url, window, "of the first")
                    return
                yield from held
                held, window = None, [0, 0]
            yield from held or ()  # a file of fewer lines than the sample: judged by line
    except CORRUPT as exc:
        yield from held or ()
        where = f"after line {number}" if number else "before its first whole line"
        broken = broken_container(file, url, exc, "corrupt-jsonl", where)
        if part is not None:  # each slice's own
            broken = replace(broken, id=f"{broken.id}@{part.start}")
        yield broken


class _Tapped:
    """A stream whose blocks are also handed to `tap`."""

    def __init__(self, stream: IO[bytes], tap: Callable[[bytes], None]) -> None:
        self.stream, self.tap = stream, tap

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.tap(data)
        return data

    def __enter__(self) -> _Tapped:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def line_number(ref: ArticleRef) -> int | None:
    """The line of its file a JSONL article comes from (its source ends `:<line>`)."""
    if ref.format != "jsonl":
        return None
    number = ref.source.rpartition(":")[2]
    return int(number) if number.isdigit() else None


def _mostly_malformed(lines: int, malformed: int) -> bool:
    return malformed * 2 > lines


def _not_jsonl(file: SourceFile, url: str, window: list[int], where: str) -> ArticleRef:
    detail = (
        f"{window[1]} {where} {window[0]} lines are not JSON objects: not a JSONL file "
        "(the rest of it is not read)"
    )
    return verdict_ref(file, url, Problem("rejected", NOT_JSONL, detail))


def _record_article(
    line: bytes | None, number: int, url: str, prefix: str, options: InputOptions,
    max_bytes: int,
) -> tuple[ArticleRef, bool]:
    """The line's article (or why it is none), and whether the line is not a JSON object:
    what counts toward judging the file not JSONL."""
    source = f"{url}:{number}"
    if line is None:
        detail = f"line {number}: more than max_bytes={max_bytes} bytes"
        return ArticleRef(
            id=f"{prefix}/line-{number}", source=source, format="jsonl",
            signature=f"line-{number}-too-large", problem=Problem("rejected", "too-large", detail),
        ), False
    signature = hashlib.sha1(line).hexdigest()
    parsed = False
    try:
        article = parse_jsonl_line(line, number, options)
        parsed = True
        text = _utf8(article.text)
        if text is None or any(_utf8(h) is None for h in article.highlights or ()):
            detail = f"line {number}: a lone surrogate (\\ud800-\\udfff) in the text"
            raise Rejected("malformed-jsonl", detail)
        record_id = escape_surrogates(article.id)
        name = safe_id_component(record_id, article.id, typed=article.typed_id)
    except Rejected as exc:
        problem = exc.problem
    except Exception as exc:  # anything else a line makes the parser raise: that line's
        problem = Problem("rejected", "malformed-jsonl", f"line {number}: {_error(exc)}")
    else:
        return ArticleRef(
            id=f"{prefix}/{name or f'line-{number}'}.txt", source=source, format="jsonl",
            data=text, highlights=article.highlights, record_id=record_id, signature=signature,
        ), False
    not_object = not parsed and problem.reason == "malformed-jsonl"
    return ArticleRef(
        id=f"{prefix}/line-{number}", source=source, format="jsonl",
        data=line, signature=signature, problem=problem,
    ), not_object


def _utf8(text: str) -> bytes | None:
    """The text in UTF-8, or None when it holds a lone surrogate (JSON allows `\\ud800`)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None
