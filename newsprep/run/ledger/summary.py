"""What a run adds up to: the tally of its records and the typed run summary, written to
DEST/_run.json and printed by the CLI."""

from __future__ import annotations

import heapq
import json
import platform
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from fsspec import AbstractFileSystem

from newsprep.errors import STATUSES
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import STREAM_CUT
from newsprep.tasks.io.sinks import write_atomic

RUN_SUMMARY = "_run.json"
MAX_PROBLEMS = 500  # rejected/failed records kept for the table artifact


def library_versions() -> dict[str, str]:
    """The versions `_run.json` records."""
    names = ("newsprep", "prefect", "ftfy", "sacremoses", "fsspec", "s3fs", "pydantic")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    return found


@dataclass
class Tally:
    """Counts per status and per rejection/failure reason, added up record by record."""

    statuses: Counter = field(default_factory=lambda: Counter({s: 0 for s in STATUSES}))
    reasons: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> smallest article id
    problem_count: int = 0
    total: int = 0
    quarantined: int = 0  # records with a copy of their bytes under DEST/_quarantine/
    parity: Counter = field(default_factory=Counter)  # same / differs, of the sampled
    keep_problems: int = MAX_PROBLEMS
    _problems: list[tuple[str, Any, ArticleRecord]] = field(default_factory=list, repr=False)

    def add(self, record: ArticleRecord) -> None:
        self.total += 1
        self.statuses[record.status] += 1
        if record.quarantine:
            self.quarantined += 1
        if record.parity:
            self.parity[record.parity.split(":")[0]] += 1
        reason = record.reason
        if not reason or record.status not in ("rejected", "failed"):
            return
        self.reasons[reason] += 1
        if reason not in self.examples or record.id < self.examples[reason]:
            self.examples[reason] = record.id
        self._keep_problem(record)

    def add_skipped(self, count: int) -> None:
        """Count `count` articles skipped, with no parity and no problem to note."""
        self.total += count
        self.statuses["skipped"] += count

    def _keep_problem(self, record: ArticleRecord) -> None:
        """Count a problem record; keep it if its id is among the keep_problems smallest
        (a heap of negated keys keeps the largest on top)."""
        self.problem_count += 1
        entry = (_Descending(record.id), self.problem_count, record)
        if len(self._problems) < self.keep_problems:
            heapq.heappush(self._problems, entry)
        elif self.keep_problems and record.id < self._problems[0][0].key:
            heapq.heapreplace(self._problems, entry)

    def merge(self, other: Tally) -> None:
        """Add another tally's counts (a shard's) to this one."""
        self.total += other.total
        self.quarantined += other.quarantined
        self.statuses.update(other.statuses)
        self.reasons.update(other.reasons)
        self.parity.update(other.parity)
        for reason, article_id in other.examples.items():
            if reason not in self.examples or article_id < self.examples[reason]:
                self.examples[reason] = article_id
        for _, _, record in other._problems:
            self._keep_problem(record)
        self.problem_count += other.problem_count - len(other._problems)

    @property
    def problems(self) -> list[ArticleRecord]:
        """Rejected and failed records, the first `keep_problems` by id."""
        return [record for _, _, record in sorted(self._problems, key=lambda e: e[2].id)]

    def top_reasons(self) -> dict[str, int]:
        """Reasons by count, most first; ties in the order of their first article id."""
        ranked = sorted(self.reasons.items(), key=lambda kv: (-kv[1], self.examples[kv[0]]))
        return dict(ranked)


class _Descending:
    """Orders strings backwards, for a max-heap on heapq's min-heap."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return self.key > other.key


@dataclass(frozen=True)
class RunSummary:
    """The run summary: DEST/_run.json, the markdown artifact and the CLI's report."""

    source: str
    dest: str
    profile: str
    overrides: dict[str, Any]
    config_fingerprint: str
    pipeline: dict[str, Any]
    options: dict[str, Any]
    discovered: int
    ignored_files: int
    counts: dict[str, int]
    changes: dict[str, int]
    reasons: dict[str, int]  # most first
    examples: dict[str, str]  # reason -> an article id (not in _run.json)
    parity: dict[str, int] | None  # with parity_sample only
    batches: int
    batch_size: int
    workers: int
    started_at: str
    seconds: float
    articles_per_second: float | None
    versions: dict[str, str]
    # articles of the previous manifest that are gone from the source, and the files of
    # earlier runs removed from DEST: outputs of articles gone or no longer ok, quarantine
    # copies of articles now ok
    removed_articles: int = 0
    removed_files: int = 0
    # why the articles gone from SOURCE were kept (max_removal_fraction), or None; how many
    kept_gone: int = 0
    removal_refused: str | None = None
    # records with a quarantine copy (DEST/_quarantine/ holds one per such record)
    quarantined: int = 0
    # what ignored_files counts, the first 100 named (archive members: archive!member (what))
    ignored: list[str] = field(default_factory=list)
    # what the run found wrong with the source as a whole: a member pattern that matched
    # nothing in an archive
    warnings: list[str] = field(default_factory=list)
    # shard task runs (0: a run of batches mapped by the flow, task_unit batch)
    shards: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The fields of _run.json."""
        data = dict(self.__dict__)
        del data["examples"]
        if data["parity"] is None:
            del data["parity"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    def write(self, fs: AbstractFileSystem, dest_root: str) -> None:
        write_atomic(fs, posixpath.join(dest_root, RUN_SUMMARY), self.to_json().encode("utf-8"))

    @classmethod
    def read(cls, dest: str) -> RunSummary | None:
        """DEST/_run.json as written (without `examples`), or None when there is none."""
        import fsspec

        fs, root = fsspec.url_to_fs(dest)
        path = posixpath.join(root, RUN_SUMMARY)
        if not fs.exists(path):
            return None
        data = json.loads(fs.cat_file(path))
        return cls(**{"parity": None, **data, "examples": {}})


class FailureBudgetExceeded(RuntimeError):
    """More articles failed than `max_failure_rate` allows; everything else was written."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


class RemovalRefused(RuntimeError):
    """The run kept the articles gone from SOURCE: too many were gone (see RunSummary)."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


def shrinks_too_much(previous: int, now: int, max_removal_fraction: float) -> bool:
    """The removal guard's rule: of `previous` articles, `now` are left, and more than
    `max_removal_fraction` of them would go."""
    return previous - now > max_removal_fraction * previous


# the reason of a shard whose worker kept dying: its articles unaccounted for this run
SHARD_CRASH = "shard-crash"


def check_failure_budget(summary: RunSummary, max_failure_rate: float) -> None:
    """Fail the run past the budget, or when a file broke off (transiently) mid-stream:
    the articles after the break have no record, so none can say the run is complete."""
    crashed = summary.reasons.get(SHARD_CRASH, 0)
    if crashed:
        raise FailureBudgetExceeded(
            f"{crashed} shards kept crashing their worker ({SHARD_CRASH}): their articles are "
            "not accounted for (their part of the ledger is as it was); run again to finish "
            "them",
            summary,
        )
    cut = summary.reasons.get(STREAM_CUT, 0)
    if cut:
        raise FailureBudgetExceeded(
            f"{cut} JSONL or archive files could not be read to the end ({STREAM_CUT}): the "
            f"articles after the break are not accounted for; run again to finish them",
            summary,
        )
    failed = summary.counts["failed"]
    if summary.discovered and failed / summary.discovered > max_failure_rate:
        raise FailureBudgetExceeded(
            f"{failed} of {summary.discovered} articles failed, more than max_failure_rate="
            f"{max_failure_rate}; see the ledger, {summary.dest}/_ledger/",
            summary,
        )


def redact(url: str) -> str:
    """Drop user:password@ from a URL so credentials never reach the summary or artifacts."""
    return re.sub(r"(?<=://)[^/@]+@", "", url)
