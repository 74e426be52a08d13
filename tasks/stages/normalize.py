"""The stage chain for one article: bytes in, output text out (pure; no I/O).

fetch (decode) -> unicode fix -> [punctuation, non-printing] -> tokenize -> lowercase ->
layout -> validate; a problem with the article raises `Rejected`. `parity` compares an
output with the reference tokenizer engine's.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsprep.config import PipelineConfig
from newsprep.errors import Rejected
from newsprep.tasks.stages.fetch import check_line_length, decode
from newsprep.tasks.stages.layout import layout
from newsprep.tasks.stages.lowercase import lowercase
from newsprep.tasks.stages.non_printing import REMOVE_NON_PRINTING, remove_non_printing
from newsprep.tasks.stages.punctuation import NORMALIZE_PUNCTUATION, normalize_punctuation
from newsprep.tasks.stages.story import parse_story
from newsprep.tasks.stages.tokenize import tokenize
from newsprep.tasks.stages.unicode_fix import (
    REMOVE_BIDI_CONTROLS,
    REMOVE_INVISIBLE,
    fix_unicode,
    remove_bidi_controls,
    remove_invisible,
)
from newsprep.tasks.stages.validate import validate


@dataclass(frozen=True)
class Normalized:
    text: str  # the output file's content, final newline included
    tokens: int
    fixes: tuple[str, ...]
    highlights: str | None = None  # one tokenized highlight per line, final newline


def normalize_text(
    raw: bytes,
    config: PipelineConfig,
    fmt: str = "txt",
    highlights: tuple[str, ...] | None = None,
) -> Normalized:
    """fetch (decode) -> unicode fix -> [punctuation, non-printing] -> tokenize ->
    lowercase -> layout -> validate.

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
    body, changes = _clean(body, config)
    if highlights:
        cleaned = [_clean(h, config) for h in highlights]
        highlights = tuple(h for h, _ in cleaned)
        changes = changes.union(*(c for _, c in cleaned))
    fixes += tuple(step for step in _CLEANING if step in changes)  # none for clean text
    if config.input.require_highlights and not highlights:
        raise Rejected("no-highlights", "require_highlights is set and there are none")
    # the lines the tokenizer sees: the unicode fix can join or lengthen lines
    check_line_length([*body.split("\n"), *(highlights or ())], config.fetch)
    text = layout(_tokenized_lines(body, config), config.layout)
    tokens = len(text.split())
    validate(text, body, config, tokens)
    summary = None
    if highlights:
        lines = [line for h in highlights for line in _tokenized_lines(h, config)]
        summary = "\n".join(lines) + "\n" if lines else None
    return Normalized(text + "\n", tokens, fixes, summary)


_CLEANING = (
    NORMALIZE_PUNCTUATION, REMOVE_NON_PRINTING, REMOVE_BIDI_CONTROLS, REMOVE_INVISIBLE,
)


def _clean(text: str, config: PipelineConfig) -> tuple[str, set[str]]:
    """The stages between the unicode fix and the tokenizer; the names of those that
    changed the text."""
    changes: set[str] = set()
    if config.normalize_punctuation:
        text, changed = normalize_punctuation(text, config.tokenize.lang)
        if changed:
            changes.add(NORMALIZE_PUNCTUATION)
    if config.remove_non_printing:
        text, changed = remove_non_printing(text)
        if changed:
            changes.add(REMOVE_NON_PRINTING)
    for remove, name in ((remove_bidi_controls, REMOVE_BIDI_CONTROLS),
                         (remove_invisible, REMOVE_INVISIBLE)):
        text, changed = remove(text)
        if changed:  # a no-op, and not in fixes, for text without them
            changes.add(name)
    return text, changes


def _tokenized_lines(text: str, config: PipelineConfig) -> list[str]:
    lines = tokenize(text, config.tokenize)
    if not config.lowercase:
        return lines
    return [lowercase(line, config.lowercase_final_sigma) for line in lines]


def parity(
    raw: bytes,
    result: Normalized,
    reference: PipelineConfig,
    fmt: str = "txt",
    highlights: tuple[str, ...] | None = None,
) -> str:
    """'same', or where the reference pipeline's output first differs from `result`."""
    try:
        expected = normalize_text(raw, reference, fmt, highlights)
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
