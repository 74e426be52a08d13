"""One article from source bytes to output file and manifest record.

`normalize_text` chains the five stages (pure: bytes in, text out); `process_article`
adds the I/O around it, retrying transient errors with backoff and jitter, and turns every
outcome into exactly one `ArticleRecord`. It never raises for a bad article.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, TypeVar

import fsspec
from fsspec import AbstractFileSystem

from newsprep.config import PipelineConfig
from newsprep.errors import Rejected, is_transient
from newsprep.tasks.fetch import decode, read_bytes
from newsprep.tasks.layout import layout
from newsprep.tasks.lowercase import lowercase
from newsprep.tasks.tokenize import tokenize
from newsprep.tasks.unicode_fix import fix_unicode
from newsprep.tasks.validate import validate
from newsprep.tasks.write import quarantine, write_atomic

logger = logging.getLogger("newsprep")
T = TypeVar("T")
Status = Literal["ok", "rejected", "failed", "skipped"]


@dataclass(frozen=True)
class ArticleRef:
    """An article found in the source: its id (relative path) and where to read it."""

    id: str
    path: str  # path on the source filesystem
    size: int | None = None


@dataclass
class ArticleRecord:
    """The final word on one article: one line of DEST/_manifest.jsonl."""

    id: str
    source: str
    status: Status
    reason: str | None = None
    detail: str | None = None
    attempts: int = 1  # 1 + retries of transient I/O errors
    output: str | None = None  # relative to DEST
    sha256: str | None = None
    tokens: int | None = None
    fixes: list[str] = field(default_factory=list)
    quarantine: str | None = None  # relative to DEST

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Normalized:
    text: str  # the output file's content, final newline included
    tokens: int
    fixes: tuple[str, ...]


@dataclass(frozen=True)
class Job:
    """What every batch needs to process its articles; small and picklable."""

    source_root: str  # fsspec URL of the source folder
    dest_root: str  # fsspec URL of DEST
    pipeline: PipelineConfig
    max_attempts: int = 3
    retry_delay_seconds: float = 0.5
    storage_options: dict = field(default_factory=dict)

    def source_fs(self) -> AbstractFileSystem:
        return fsspec.url_to_fs(self.source_root, **self.storage_options)[0]

    def dest_fs(self) -> tuple[AbstractFileSystem, str]:
        return fsspec.url_to_fs(self.dest_root, **self.storage_options)


def normalize_text(raw: bytes, config: PipelineConfig) -> Normalized:
    """fetch (decode) -> unicode fix -> tokenize -> lowercase -> layout -> validate."""
    decoded = decode(raw, config.fetch)
    fixed = fix_unicode(decoded.text, config.unicode_fix)
    lines = tokenize(fixed.text, config.tokenize)
    if config.lowercase:
        lines = [lowercase(line) for line in lines]
    text = layout(lines, config.layout)
    validate(text, fixed.text, config)
    return Normalized(text + "\n", len(text.split()), decoded.fixes + fixed.fixes)


def process_article(ref: ArticleRef, job: Job) -> ArticleRecord:
    """Read, normalize and write one article; the record says how it ended."""
    source_fs = job.source_fs()
    dest_fs, dest_root = job.dest_fs()
    record = ArticleRecord(id=ref.id, source=source_fs.unstrip_protocol(ref.path), status="ok")
    raw: bytes | None = None
    step = "read"
    try:
        raw = _retrying(
            lambda: read_bytes(source_fs, ref.path, job.pipeline.fetch.max_bytes), job, record
        )
        step = "normalize"
        result = normalize_text(raw, job.pipeline)
        step = "write"
        output = posixpath.join(dest_root, ref.id)
        data = result.text.encode("utf-8")
        _retrying(lambda: write_atomic(dest_fs, output, data), job, record)
    except Rejected as exc:
        record.status, record.reason, record.detail = "rejected", exc.reason, exc.detail
    except Exception as exc:  # noqa: BLE001 - every article must end with a record
        record.status, record.reason = "failed", f"{step}-error"
        record.detail = f"{type(exc).__name__}: {exc}"
    else:
        record.output, record.tokens, record.fixes = ref.id, result.tokens, list(result.fixes)
        record.sha256 = hashlib.sha256(data).hexdigest()
        return record
    if raw is not None:
        _quarantine(dest_fs, dest_root, ref, raw, record)
    return record


def _retrying(call: Callable[[], T], job: Job, record: ArticleRecord) -> T:
    """Run an I/O call; retry transient errors with exponential backoff and full jitter."""
    while True:
        try:
            return call()
        except Exception as exc:
            if record.attempts >= job.max_attempts or not is_transient(exc):
                raise
            delay = job.retry_delay_seconds * 2 ** (record.attempts - 1)
            logger.info("retrying %s after %s: %s", record.id, type(exc).__name__, exc)
            record.attempts += 1
            time.sleep(random.uniform(delay / 2, delay))


def _quarantine(
    fs: AbstractFileSystem, dest_root: str, ref: ArticleRef, raw: bytes, record: ArticleRecord
) -> None:
    try:
        record.quarantine = quarantine(fs, dest_root, ref.id, raw, record.to_dict())
    except Exception as exc:  # noqa: BLE001 - the record matters more than the copy
        logger.warning("could not quarantine %s: %s", ref.id, exc)
