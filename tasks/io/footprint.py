"""An article's footprint in DEST: every path it may write, in one type.

The listing claims these paths (no two articles write one), the worker writes them, a
record names the ones written, and a later run removes the ones no record accounts for
any more; all of them take the names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsprep.tasks.io.paths import HIGHLIGHTS_SUFFIX, REASON_SUFFIX, sidecar_path

QUARANTINE_DIR = "_quarantine"
# The fields of a manifest record that name a file of its footprint, relative to DEST.
RECORD_PATH_FIELDS = ("output", "highlights", "quarantine")


@dataclass(frozen=True)
class Footprint:
    """The files article `id` may write under DEST (relative paths): its output, the
    highlights beside it, and its quarantine copy with the record of why beside that."""

    id: str
    has_highlights: bool = True  # may it write a .highlights (a .story, a JSONL highlight)

    @property
    def output(self) -> str:
        return self.id

    @property
    def highlights(self) -> str:
        return sidecar_path(self.id, HIGHLIGHTS_SUFFIX)

    @property
    def quarantine(self) -> str:
        return f"{QUARANTINE_DIR}/{self.id}"

    @property
    def quarantine_reason(self) -> str:
        return f"{QUARANTINE_DIR}/{sidecar_path(self.id, REASON_SUFFIX)}"

    def claims(self) -> list[str]:
        """The names it reserves among the articles' outputs: its output, its reason
        record's name (the quarantine folder mirrors the outputs' names, so an output
        named like another article's `.reason.json` would collide there), and its
        highlights when it may have them."""
        paths = [self.output, sidecar_path(self.id, REASON_SUFFIX)]
        if self.has_highlights:
            paths.append(self.highlights)
        return paths

    def paths(self) -> list[str]:
        """Every file it may write."""
        return [self.output, self.highlights, self.quarantine, self.quarantine_reason]


def with_companions(recorded: str) -> list[str]:
    """A path a record names, with the files that go with it: a quarantine copy's
    `.reason.json` (under its shortened name when the suffix makes it too long)."""
    if recorded.startswith(QUARANTINE_DIR + "/"):
        return [recorded, sidecar_path(recorded, REASON_SUFFIX)]
    return [recorded]
