"""The run's record types: one `ArticleRecord` per article, from the worker that made it
to its manifest line, and the batches that carry articles to the workers."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields

from newsprep.errors import Problem, Status
from newsprep.tasks.io.footprint import RECORD_PATH_FIELDS, Footprint, with_companions
from newsprep.tasks.io.refs import ArticleRef

# one encoder for every record: json.dumps with options builds a new encoder per call
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


@dataclass
class ArticleRecord:
    """The final word on one article: one line of its shard's part of the ledger (DEST/_ledger/)."""

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

    @classmethod
    def start(cls, ref: ArticleRef, fingerprint: str) -> ArticleRecord:
        """The record of an article about to be processed (ok until something fails)."""
        return cls(
            id=ref.id, source=ref.source, status="ok", signature=ref.signature,
            fingerprint=fingerprint,
        )

    def set_problem(self, problem: Problem) -> None:
        self.status, self.reason, self.detail = problem.status, problem.reason, problem.detail

    def skipped(self) -> ArticleRecord:
        """This (previous run's) record, for an article this run leaves as it is: `skipped`,
        or still `rejected` with its reason, not tried again (attempts 0)."""
        record = copy.copy(self)  # dataclasses.replace costs 5x more, once per unchanged article
        status = self.status if self.status == "rejected" else "skipped"
        record.status, record.attempts, record.fixes = status, 0, list(self.fixes)
        return record

    def files(self) -> list[str]:
        """The files under DEST it names (output, highlights, quarantine copy)."""
        return [path for name in RECORD_PATH_FIELDS if (path := getattr(self, name)) is not None]

    def unnamed(self) -> list[str]:
        """Paths of the article's footprint this record does not name, where a file would
        be an earlier run's whose record is lost (a run killed before it journaled the
        batch in hand): the output and highlights of an article not ok now, the quarantine
        copy of one ok now (only those: an ok article's highlights would cost a lookup
        each on a slice)."""
        footprint = Footprint(self.id)
        if self.status == "ok":
            paths = [footprint.quarantine, footprint.quarantine_reason]
        else:
            paths = footprint.paths()
        named = {path for recorded in self.files() for path in with_companions(recorded)}
        return [path for path in paths if path not in named]

    # not a field (no annotation): the last line serialized, and the values it was made of
    _line = None

    def to_dict(self) -> dict:
        data = dict(self.__dict__)  # dataclasses.asdict recurses and deep-copies every field
        data.pop("_line", None)
        data["fixes"] = list(self.fixes)
        return data

    def to_line(self) -> str:
        """The manifest line: the one place a record is serialized. A worker asks twice
        for an article's line (its checkpoint note, its part's journal): the second time,
        if no value changed, it gets the same line without encoding it again."""
        data = self.to_dict()
        values = tuple(data.values())
        if self._line is not None and self._line[0] == values:
            return self._line[1]
        line = _ENCODE(data) + "\n"
        self._line = (values, line)
        return line

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)  # a copy or a pickle carries no line
        state.pop("_line", None)
        return state

    @classmethod
    def from_dict(cls, data: dict) -> ArticleRecord:
        """A record read back (a manifest or checkpoint line); unknown keys are dropped."""
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})

    @classmethod
    def from_line(cls, line: str) -> ArticleRecord:
        return cls.from_dict(json.loads(line))


_FIELDS = frozenset(f.name for f in fields(ArticleRecord))


@dataclass(frozen=True)
class Batch:
    index: int
    articles: tuple[ArticleRef, ...]


@dataclass(frozen=True)
class BatchOutcome:
    index: int
    records: list[ArticleRecord]
