"""Stage 5, validate: named checks on the output; the first that fails rejects the article.

Modelled on datatrove's filters: a check passes (returns None) or says what is wrong, and
its name is the rejection reason that the manifest and the run summary count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ftfy.badness import is_bad

from newsprep.config import PipelineConfig
from newsprep.errors import Rejected

# Any C0/C1 control character but the line feed, and lone surrogates.
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class Checked:
    """What a check looks at: the output text, the fixed input text, the configuration."""

    output: str
    source: str
    config: PipelineConfig
    tokens: int | None = None  # the output's token count, when the caller has it


def _empty_output(c: Checked) -> str | None:
    return None if c.output.strip() else "no tokens left after tokenizing"


def _too_few_tokens(c: Checked) -> str | None:
    count = len(c.output.split()) if c.tokens is None else c.tokens
    minimum = c.config.validation.min_tokens
    return f"{count} tokens, min_tokens={minimum}" if count < minimum else None


def _control_characters(c: Checked) -> str | None:
    found = _CONTROL_RE.search(c.output)
    return None if found is None else f"U+{ord(found.group()):04X} at offset {found.start()}"


def _uppercase_left(c: Checked) -> str | None:
    if not c.config.lowercase or c.output.islower():
        return None
    upper = next((ch for ch in c.output if ch.isupper() or ch.istitle()), None)
    return None if upper is None else f"{upper!r} (U+{ord(upper):04X}) has no lowercase form"


def _mojibake_left(c: Checked) -> str | None:
    # every pattern of ftfy's heuristic needs a non-ASCII character (a test checks this)
    if c.output.isascii() or not is_bad(c.output):
        return None
    return "ftfy's badness heuristic still finds mojibake"


def _length_ratio(c: Checked) -> str | None:
    if not c.source:
        return None
    ratio = len(c.output) / len(c.source)
    low, high = c.config.validation.min_length_ratio, c.config.validation.max_length_ratio
    return None if low <= ratio <= high else f"output/input = {ratio:.2f}, allowed {low}..{high}"


CHECKS: dict[str, Callable[[Checked], str | None]] = {
    "empty-output": _empty_output,
    "too-few-tokens": _too_few_tokens,
    "control-characters": _control_characters,
    "uppercase-left": _uppercase_left,
    "mojibake-left": _mojibake_left,
    "length-ratio": _length_ratio,
}


def validate(
    output: str, source: str, config: PipelineConfig, tokens: int | None = None
) -> None:
    """Raise `Rejected(<check name>, <what it found>)` for the first failing check."""
    checked = Checked(output, source, config, tokens)
    for reason, check in CHECKS.items():
        detail = check(checked)
        if detail is not None:
            raise Rejected(reason, detail)
