"""One article from source bytes to output file and manifest record.

`normalize_text` chains the five stages (pure: bytes in, text out); `process_article`
adds the I/O around it, retrying transient errors with backoff and jitter, and turns every
outcome into exactly one `ArticleRecord`. It never raises for a bad article.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Literal, TypeVar

import fsspec
from fsspec import AbstractFileSystem

from newsprep.config import PipelineConfig
from newsprep.errors import Rejected, retry_transient
from newsprep.tasks.fetch import decode, read_bytes
from newsprep.tasks.formats import parse_story
from newsprep.tasks.layout import layout
from newsprep.tasks.lowercase import lowercase
from newsprep.tasks.tokenize import tokenize
from newsprep.tasks.unicode_fix import fix_unicode
from newsprep.tasks.validate import validate
from newsprep.tasks.write import Sink, open_sink, quarantine

logger = logging.getLogger("newsprep")
T = TypeVar("T")
Status = Literal["ok", "rejected", "failed", "skipped"]


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
    # (status, reason, detail) of a problem found while discovering: nothing to process
    problem: tuple[Status, str, str] | None = None


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
    highlights: str | None = None  # relative to DEST (files output of .story / JSONL)
    signature: str = ""
    fingerprint: str = ""
    # parity_sample: "same" or "differs ..." against the sacremoses engine; None: not sampled
    parity: str | None = None

    def to_dict(self) -> dict:
        data = dict(self.__dict__)  # dataclasses.asdict recurses and deep-copies every field
        data["fixes"] = list(self.fixes)
        return data


@dataclass(frozen=True)
class Normalized:
    text: str  # the output file's content, final newline included
    tokens: int
    fixes: tuple[str, ...]
    highlights: str | None = None  # one tokenized highlight per line, final newline


@dataclass(frozen=True)
class Job:
    """What every batch needs to process its articles; small and picklable."""

    source_root: str  # fsspec URL of the source folder
    dest_root: str  # fsspec URL of DEST
    pipeline: PipelineConfig
    max_attempts: int = 3
    retry_delay_seconds: float = 0.5
    checkpoint_dir: str | None = None  # local folder where batches note finished articles
    parity_sample: float = 0.0  # share of articles tokenized again with sacremoses
    storage_options: dict = field(default_factory=dict)

    @cached_property
    def fingerprint(self) -> str:
        return self.pipeline.fingerprint()

    @cached_property
    def reference_pipeline(self) -> PipelineConfig:
        """The pipeline with the reference tokenizer, for the parity sample."""
        tokenize = self.pipeline.tokenize.model_copy(update={"engine": "sacremoses"})
        return self.pipeline.model_copy(update={"tokenize": tokenize})

    def source_fs(self) -> AbstractFileSystem:
        return self._filesystems[0][0]

    def dest_fs(self) -> tuple[AbstractFileSystem, str]:
        return self._filesystems[1]

    @cached_property
    def _filesystems(self) -> tuple[tuple[AbstractFileSystem, str], tuple[AbstractFileSystem, str]]:
        """Resolved once per process that uses this job, not once per article."""
        return (
            fsspec.url_to_fs(self.source_root, **self.storage_options),
            fsspec.url_to_fs(self.dest_root, **self.storage_options),
        )

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_filesystems"}


def normalize_text(
    raw: bytes,
    config: PipelineConfig,
    fmt: str = "txt",
    highlights: tuple[str, ...] | None = None,
) -> Normalized:
    """fetch (decode) -> unicode fix -> tokenize -> lowercase -> layout -> validate.

    A `.story` is split into body and highlights after the unicode fix; highlights (from
    the story or given, as JSONL's) go through the same stages, one per output line.
    """
    decoded = decode(raw, config.fetch)
    fixed = fix_unicode(decoded.text, config.unicode_fix)
    body, fixes = fixed.text, decoded.fixes + fixed.fixes
    if fmt == "story":
        story = parse_story(body)
        if not story.body:
            raise Rejected("no-body", "the .story file has no article text before @highlight")
        body, highlights = story.body, story.highlights
    elif highlights:
        highlights = tuple(fix_unicode(h, config.unicode_fix).text for h in highlights)
    if config.input.require_highlights and not highlights:
        raise Rejected("no-highlights", "require_highlights is set and there are none")
    text = layout(_tokenized_lines(body, config), config.layout)
    validate(text, body, config)
    summary = None
    if highlights:
        lines = [line for h in highlights for line in _tokenized_lines(h, config)]
        summary = "\n".join(lines) + "\n" if lines else None
    return Normalized(text + "\n", len(text.split()), fixes, summary)


def _tokenized_lines(text: str, config: PipelineConfig) -> list[str]:
    lines = tokenize(text, config.tokenize)
    if not config.lowercase:
        return lines
    return [lowercase(line, config.lowercase_final_sigma) for line in lines]


def process_batch(refs: Iterable[ArticleRef], index: int, job: Job) -> list[ArticleRecord]:
    """Process articles in order into one sink (files, or one JSONL shard).

    With files output each finished article is noted in the job's checkpoint folder at
    once, so running the batch again after its worker died does not redo it.
    """
    dest_fs, dest_root = job.dest_fs()
    sink = open_sink(job.pipeline.output, dest_fs, dest_root, index)
    checkpoint = _checkpoint_path(job, index)
    done = _read_checkpoint(checkpoint)
    records = []
    with _open_checkpoint(checkpoint) as noted:
        for ref in refs:
            if ref.id in done:
                records.append(done[ref.id])
                continue
            record = process_article(ref, job, sink)
            noted.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            noted.flush()  # a worker that dies next must not take this note with it
            records.append(record)
    written = [r for r in records if r.status == "ok"]
    try:
        _retrying(sink.close, job)
    except Exception as exc:
        for record in written:
            record.status, record.reason = "failed", "write-error"
            record.detail = f"{type(exc).__name__}: {exc}"
            record.output = record.sha256 = record.highlights = None
    return records


def crashed_batch_records(
    refs: Iterable[ArticleRef], index: int, job: Job, error: str
) -> list[ArticleRecord]:
    """Records for a batch that kept crashing: what it finished stands, the rest failed."""
    done = _read_checkpoint(_checkpoint_path(job, index))
    return [
        done.get(ref.id)
        or ArticleRecord(
            id=ref.id, source=ref.source, status="failed", reason="worker-crash",
            detail=error, signature=ref.signature, fingerprint=job.fingerprint,
        )
        for ref in refs
    ]


def _checkpoint_path(job: Job, index: int) -> Path | None:
    if not job.checkpoint_dir or job.pipeline.output.format != "files":
        return None  # a JSONL shard holds texts: a retried batch must rebuild it whole
    return Path(job.checkpoint_dir) / f"batch-{index:06d}.jsonl"


def _read_checkpoint(path: Path | None) -> dict[str, ArticleRecord]:
    if path is None or not path.exists():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut short by the crash is not a record
            record = ArticleRecord(**json.loads(line))
            done[record.id] = record
    return done


def _open_checkpoint(path: Path | None) -> IO[str]:
    if path is None:
        return open(os.devnull, "w", encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", encoding="utf-8")


def process_article(ref: ArticleRef, job: Job, sink: Sink) -> ArticleRecord:
    """Read, normalize and hand one article to the sink; the record says how it ended."""
    record = ArticleRecord(
        id=ref.id, source=ref.source, status="ok", signature=ref.signature,
        fingerprint=job.fingerprint,
    )
    raw = ref.data
    if ref.problem is not None:  # found while discovering: nothing to process
        record.status, record.reason, record.detail = ref.problem
        return _quarantine(job, ref, raw, record)
    step = "read"
    try:
        if raw is None:
            source_fs = job.source_fs()
            max_bytes = job.pipeline.fetch.max_bytes
            raw = _retrying(lambda: read_bytes(source_fs, ref.path, max_bytes), job, record)
        step = "normalize"
        result = normalize_text(raw, job.pipeline, ref.format, ref.highlights)
        step = "write"
        written = _retrying(lambda: sink.put(ref, result), job, record)
    except Rejected as exc:
        record.status, record.reason, record.detail = "rejected", exc.reason, exc.detail
    except Exception as exc:
        record.status, record.reason = "failed", f"{step}-error"
        record.detail = f"{type(exc).__name__}: {exc}"
        if step == "normalize":
            logger.exception("unexpected error normalizing %s", ref.id)
    else:
        record.output, record.highlights = written
        record.tokens, record.fixes = result.tokens, list(result.fixes)
        record.sha256 = hashlib.sha256(result.text.encode("utf-8")).hexdigest()
        if job.parity_sample and in_sample(ref.id, job.parity_sample):
            record.parity = parity(raw, ref, result, job.reference_pipeline)
        return record
    return _quarantine(job, ref, raw, record)


def in_sample(article_id: str, fraction: float) -> bool:
    """The same articles every run: a hash of the id, not a random draw."""
    digest = hashlib.sha256(article_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def parity(raw: bytes, ref: ArticleRef, result: Normalized, reference: PipelineConfig) -> str:
    """'same', or where the reference pipeline's output first differs from `result`."""
    try:
        expected = normalize_text(raw, reference, ref.format, ref.highlights)
    except Rejected as exc:
        return f"differs: the reference rejects it ({exc.reason})"
    for part, ours, theirs in (
        ("text", result.text, expected.text),
        ("highlights", result.highlights or "", expected.highlights or ""),
    ):
        if ours != theirs:
            return f"differs: {part} {_first_difference(ours, theirs)}"
    return "same"


def _first_difference(ours: str, theirs: str) -> str:
    ours_lines, their_lines = ours.split("\n"), theirs.split("\n")
    n = next(
        (i for i, (a, b) in enumerate(zip(ours_lines, their_lines, strict=False)) if a != b),
        min(len(ours_lines), len(their_lines)),
    )

    def shown(lines: list[str]) -> str:
        return repr(lines[n][:120]) if n < len(lines) else "(no line)"

    return f"line {n + 1}: {shown(ours_lines)} here, {shown(their_lines)} from sacremoses"


def _retrying(call: Callable[[], T], job: Job, record: ArticleRecord | None = None) -> T:
    """An I/O call with the article's retry budget; attempts are counted on its record."""

    def count(attempt: int, error: BaseException) -> None:
        what = record.id if record is not None else "batch output"
        logger.info("retrying %s after %s: %s", what, type(error).__name__, error)
        if record is not None:
            record.attempts = attempt

    first = record.attempts if record is not None else 1
    return retry_transient(call, job.max_attempts, job.retry_delay_seconds, first, count)


def _quarantine(
    job: Job, ref: ArticleRef, raw: bytes | None, record: ArticleRecord
) -> ArticleRecord:
    """Copy the bytes of an article that did not end ok to DEST/_quarantine/ (best effort)."""
    if raw is None:
        return record
    dest_fs, dest_root = job.dest_fs()
    try:
        record.quarantine = quarantine(dest_fs, dest_root, ref.id, raw, record.to_dict())
    except Exception as exc:
        logger.warning("could not quarantine %s: %s", ref.id, exc)
    return record
