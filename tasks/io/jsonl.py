"""The JSONL reader: one article per line of a `.jsonl` (or compressed) file, streamed.

Fields `input.id_field`, `input.text_fields` and `input.highlights_field`, as in the public
CNN/DailyMail exports. A malformed line is one rejected article that names the line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
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
from newsprep.tasks.io.refs import CORRUPT, ArticleRef, SourceFile, broken_container
from newsprep.tasks.io.stream import Retry, open_container


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
    stream: IO[bytes], chunk_size: int = 1024 * 1024, max_bytes: int | None = None
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for every non-blank line, read as a stream of chunks.

    A line longer than `max_bytes` comes as (number, None): its bytes are read past, never
    held. Not the file's own readline: fsspec's reads (and copies) a whole block per line.
    """
    number, pending, held = 0, [], 0  # pending: the pieces of a line not ended yet
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


def jsonl_articles(
    fs: AbstractFileSystem,
    file: SourceFile,
    config: PipelineConfig,
    retry: Retry | None = None,
) -> Iterator[ArticleRef]:
    """The articles of one JSONL file, line by line; every line is an article or a record
    of why it is not (malformed, too large, text that is not Unicode)."""
    url = fs.unstrip_protocol(file.path)
    prefix = strip_suffix(file.relative, JSONL_SUFFIXES)
    max_bytes = config.fetch.max_bytes
    number = 0
    try:
        raw, stream = open_container(fs, file.path, "infer", retry)
        with raw, stream:
            for number, line in iter_jsonl_lines(stream, max_bytes=max_bytes):
                yield _record_article(line, number, url, prefix, config.input, max_bytes)
    except CORRUPT as exc:
        yield broken_container(file, url, exc, "corrupt-jsonl", f"after line {number}")


def _record_article(
    line: bytes | None, number: int, url: str, prefix: str, options: InputOptions,
    max_bytes: int,
) -> ArticleRef:
    source = f"{url}:{number}"
    if line is None:
        detail = f"line {number}: more than max_bytes={max_bytes} bytes"
        return ArticleRef(
            id=f"{prefix}/line-{number}", source=source, format="jsonl",
            signature=f"line-{number}-too-large", problem=Problem("rejected", "too-large", detail),
        )
    signature = hashlib.sha1(line).hexdigest()
    try:
        article = parse_jsonl_line(line, number, options)
        text = _utf8(article.text)
        if text is None or any(_utf8(h) is None for h in article.highlights or ()):
            detail = f"line {number}: a lone surrogate (\\ud800-\\udfff) in the text"
            raise Rejected("malformed-jsonl", detail)
    except Rejected as exc:
        return ArticleRef(
            id=f"{prefix}/line-{number}", source=source, format="jsonl",
            data=line, signature=signature, problem=exc.problem,
        )
    record_id = escape_surrogates(article.id)
    name = safe_id_component(record_id, article.id) or f"line-{number}"
    return ArticleRef(
        id=f"{prefix}/{name}.txt", source=source, format="jsonl", data=text,
        highlights=article.highlights, record_id=record_id, signature=signature,
    )


def _utf8(text: str) -> bytes | None:
    """The text in UTF-8, or None when it holds a lone surrogate (JSON allows `\\ud800`)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None
