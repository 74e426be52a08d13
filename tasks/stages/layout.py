"""The profile's layout of output lines, applied to the tokenized (and lowercased) lines."""

from __future__ import annotations

from typing import Literal

_SENTENCE_END = " . "


def layout(lines: list[str], mode: Literal["paragraphs", "sentences"]) -> str:
    """Join tokenized lines into the output text (no final newline).

    paragraphs: one output line per source line.
    sentences: the CNN/DailyMail layout: lines are joined and every sentence-final ` . `
    becomes a line break (so a closing quote after it starts the next line).
    """
    if mode == "paragraphs":
        return "\n".join(lines)
    return " ".join(lines).replace(_SENTENCE_END, "\n")
