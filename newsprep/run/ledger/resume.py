"""Resume and incremental runs: what a run must do, given what the last one wrote."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.footprint import with_companions
from newsprep.tasks.io.refs import ArticleRef

# Rejections that depend on other articles (which one came first, what is in the way),
# not on the article's bytes and the config alone: a rerun looks again.
CONTEXT_REASONS = frozenset({"output-conflict", "duplicate-id"})


def unchanged(
    previous: ArticleRecord | None,
    ref_signature: str,
    fingerprint: str,
    index: RunIndex | MemoryIndex,
) -> bool:
    """True when a previous run already wrote this article from the same bytes and config,
    or rejected it (a deterministic outcome) and its quarantine copy and record are still
    there."""
    if (
        previous is None
        or previous.fingerprint != fingerprint
        or previous.signature != ref_signature
    ):
        return False
    if previous.status == "rejected":
        return previous.reason not in CONTEXT_REASONS and (
            previous.quarantine is None
            or all(index.has_output(path) for path in with_companions(previous.quarantine))
        )
    return (
        previous.status in ("ok", "skipped")
        and index.has_output(previous.output)
        and (previous.highlights is None or index.has_output(previous.highlights))
    )


class Resume:
    """Passes on the articles that need work and reports the rest as skipped.

    Counts, against the previous manifest: new (not in it), changed (its bytes or the
    settings differ), retried (same bytes and settings, but it failed, or its output is
    gone) and skipped (unchanged: written, or rejected, and its files are still there;
    its record names where it is now, a JSONL line that moved its new line).
    """

    def __init__(
        self,
        index: RunIndex | MemoryIndex,
        fingerprint: str,
        may_skip: bool,
        on_skip: Callable[[ArticleRecord], None],
    ) -> None:
        self.index, self.fingerprint, self.may_skip = index, fingerprint, may_skip
        self.on_skip = on_skip
        self.changes = {"new": 0, "changed": 0, "retried": 0, "skipped": 0}
        self.moved = 0  # skipped articles whose source is not their record's any more

    def plan(self, refs: Iterable[ArticleRef]) -> Iterator[ArticleRef]:
        first_run = not self.index.has_previous()  # no lookup per article then
        for ref in refs:
            before = None if first_run else self.index.previous(ref.id)
            if self.may_skip and unchanged(before, ref.signature, self.fingerprint, self.index):
                self.changes["skipped"] += 1
                record = before.skipped()
                if record.source != ref.source:  # same bytes, elsewhere: a line moved
                    record.source = ref.source
                    self.moved += 1
                self.on_skip(record)
            elif before is None:
                self.changes["new"] += 1
                yield ref
            elif (before.signature, before.fingerprint) == (ref.signature, self.fingerprint):
                self.changes["retried"] += 1
                yield ref
            else:
                self.changes["changed"] += 1
                yield ref
