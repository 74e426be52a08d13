"""Resume and incremental runs: what a run must do, given what the last one wrote."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from newsprep.index import RunIndex
from newsprep.tasks.article import ArticleRef


def unchanged(
    previous: dict | None, ref_signature: str, fingerprint: str, index: RunIndex
) -> bool:
    """True when a previous run already wrote this article from the same bytes and config."""
    return (
        previous is not None
        and previous["status"] in ("ok", "skipped")
        and previous.get("fingerprint") == fingerprint
        and previous.get("signature") == ref_signature
        and index.has_output(previous.get("output"))
        and (previous.get("highlights") is None or index.has_output(previous["highlights"]))
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
        on_skip: Callable[[dict], None],
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
                self.on_skip({**before, "status": "skipped", "attempts": 0})
            elif before is None:
                self.changes["new"] += 1
                yield ref
            elif (before.get("signature"), before.get("fingerprint")) == (
                ref.signature, self.fingerprint
            ):
                self.changes["retried"] += 1
                yield ref
            else:
                self.changes["changed"] += 1
                yield ref
