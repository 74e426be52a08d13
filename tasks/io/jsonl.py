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
from newsprep.errors import Rejected
from newsprep.tasks.io.paths import JSONL_SUFFIXES, safe_id_component, strip_suffix
from newsprep.tasks.io.refs import (
    CORRUPT,
    STREAM_BLOCK_SIZE,
    ArticleRef,
    SourceFile,
    broken_container,
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


def jsonl_articles(
    fs: AbstractFileSystem, file: SourceFile, config: PipelineConfig
) -> Iterator[ArticleRef]:
    url = fs.unstrip_protocol(file.path)
    prefix = strip_suffix(file.relative, JSONL_SUFFIXES)
    number = 0
    try:
        with fs.open(
            file.path, "rb", compression="infer", block_size=STREAM_BLOCK_SIZE
        ) as stream:
            for number, line in iter_jsonl_lines(stream):
                signature = hashlib.sha1(line).hexdigest()
                try:
                    article = parse_jsonl_line(line, number, config.input)
                except Rejected as exc:
                    yield ArticleRef(
                        id=f"{prefix}/line-{number}", source=f"{url}:{number}", format="jsonl",
                        data=line, signature=signature, problem=exc.problem,
                    )
                    continue
                name = safe_id_component(article.id) or f"line-{number}"
                yield ArticleRef(
                    id=f"{prefix}/{name}.txt", source=f"{url}:{number}", format="jsonl",
                    data=article.text.encode("utf-8"), highlights=article.highlights,
                    record_id=article.id, signature=signature,
                )
    except CORRUPT as exc:
        yield broken_container(file, url, exc, "corrupt-jsonl", f"after line {number}")
