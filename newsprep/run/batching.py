"""Cutting the stream of articles that need work into batches: how many articles and how
many inline bytes a batch holds. The flow process does this; no Prefect here."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator

from newsprep.config import PipelineConfig
from newsprep.run.ledger.records import Batch
from newsprep.tasks.io.refs import ArticleRef

# A task run costs ~50-100 ms of CPU in the flow process and the server against ~2.5 ms
# of text work per article; past this size a batch only delays progress and retries.
MAX_BATCH_SIZE = 1000
BATCHES_PER_WORKER = 8  # enough batches that no worker idles long at the end


def cpu_count() -> int:
    """Cores this process may use (its affinity), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def auto_batch_size(articles: int, workers: int) -> int:
    """Large enough that orchestration is noise next to the text work, small enough that
    every worker gets several batches."""
    spread = math.ceil(articles / (workers * BATCHES_PER_WORKER))
    per_worker = math.ceil(articles / workers) if articles else 1
    return max(1, min(MAX_BATCH_SIZE, max(spread, min(50, per_worker))))


# Inline bytes (archive members, JSONL records) one batch carries at most, beyond one
# article: with two batches per worker in flight, memory does not grow with what an
# archive holds (300 members of 4 MiB in one batch took 3.3 GB).
BATCH_BYTES = 16 * 1024 * 1024


def batch_bytes(pipeline: PipelineConfig) -> int:
    """The byte budget of a batch: BATCH_BYTES, or one article at the size limit."""
    return max(BATCH_BYTES, pipeline.fetch.max_bytes)


def _inline_size(ref: ArticleRef) -> int:
    size = len(ref.data) if ref.data is not None else 0
    return size + sum(len(h) for h in ref.highlights or ())


def batches(
    refs: Iterable[ArticleRef], size: int, max_bytes: int | None = None
) -> Iterator[Batch]:
    """Consecutive batches of up to `size` articles (and `max_bytes` of inline bytes, but
    at least one article), numbered from 0."""
    chunk: list[ArticleRef] = []
    number, held = 0, 0
    for ref in refs:
        ref_size = _inline_size(ref)
        if chunk and max_bytes is not None and held + ref_size > max_bytes:
            yield Batch(number, tuple(chunk))
            chunk, number, held = [], number + 1, 0
        chunk.append(ref)
        held += ref_size
        if len(chunk) == size:
            yield Batch(number, tuple(chunk))
            chunk, number, held = [], number + 1, 0
    if chunk:
        yield Batch(number, tuple(chunk))
