"""Resume and incremental runs: what a run must do, given what the last one wrote."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef


def unchanged(
    previous: ArticleRecord | None, ref_signature: str, fingerprint: str, index: RunIndex
) -> bool:
    """True when a previous run already wrote this article from the same bytes and config."""
    return (
        previous is not None
        and previous.status in ("ok", "skipped")
        and previous.fingerprint == fingerprint
        and previous.signature == ref_signature
        and index.has_output(previous.output)
        and (previous.highlights is None or index.has_output(previous.highlights))
    )


class Resume:
    """Passes on the articles that need work and reports the rest as skipped.

    Counts, against the previous manifest: new (not in it), changed (its bytes or the
    settings differ), retried (same bytes and settings, but it did not end ok) and skipped
    (unchanged and its output is still there).
    """

    def __init__(
        self,
        index: RunIndex,
        fingerprint: str,
        may_skip: bool,
        on_skip: Callable[[ArticleRecord], None],
    ) -> None:
        self.index, self.fingerprint, self.may_skip = index, fingerprint, may_skip
        self.on_skip = on_skip
        self.changes = {"new": 0, "changed": 0, "retried": 0, "skipped": 0}

    def plan(self, refs: Iterable[ArticleRef]) -> Iterator[ArticleRef]:
        first_run = not self.index.has_previous()  # no lookup per article then
        for ref in refs:
            before = None if first_run else self.index.previous(ref.id)
            if self.may_skip and unchanged(before, ref.signature, self.fingerprint, self.index):
                self.changes["skipped"] += 1
                self.on_skip(before.skipped())
            elif before is None:
                self.changes["new"] += 1
                yield ref
            elif (before.signature, before.fingerprint) == (ref.signature, self.fingerprint):
                self.changes["retried"] += 1
                yield ref
            else:
                self.changes["changed"] += 1
                yield ref
