"""The `.story` format's text (CNN/DailyMail): body paragraphs, then `@highlight` blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HIGHLIGHT = re.compile(r"^@highlight[ \t]*$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Story:
    body: str  # one paragraph per line
    highlights: tuple[str, ...]


def parse_story(text: str) -> Story:
    """Split a CNN/DailyMail `.story` into its body paragraphs and its highlights."""
    body, *highlights = _HIGHLIGHT.split(text)
    paragraphs = (" ".join(p.split("\n")).strip() for p in _BLANK_LINES.split(body))
    return Story(
        body="\n".join(p for p in paragraphs if p),
        highlights=tuple(h for h in (" ".join(h.split()) for h in highlights) if h),
    )
