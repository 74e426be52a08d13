"""Stage 5, validate: named checks on the output; the first that fails rejects the article.

Modelled on datatrove's filters: a check passes (returns None) or says what is wrong, and
its name is the rejection reason that the manifest and the run summary count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from re import _constants as _sre
from re import _parser

from ftfy.badness import BADNESS_RE

from newsprep.config import PipelineConfig
from newsprep.errors import Rejected

# Any C0/C1 control character but the line feed, and lone surrogates.
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# ftfy's badness regex, read once with re's parser (as test_validate does): each of its
# branches needs one character of a small non-ASCII class, and a match is at most 7
# characters long and looks at nothing around it but `^` (the text's start). So every
# match lies within 6 characters of such a character, and searching there decides as
# searching the whole text: `has_mojibake` is ftfy's `is_bad`, on a few windows of the text.
def _class_chars(item: tuple) -> set[str] | None:
    op, arg = item
    if op is _sre.LITERAL:
        return {chr(arg)}
    if op is not _sre.IN:
        return None
    chars: set[str] = set()
    for member, value in arg:
        if member is _sre.LITERAL:
            chars.add(chr(value))
        elif member is _sre.RANGE:
            chars.update(map(chr, range(value[0], value[1] + 1)))
        else:  # a negated class, a category: not a small set
            return None
    return chars


def _mojibake_windows() -> tuple[re.Pattern[str], int] | None:
    """The class that every match holds a character of, and the longest match; None if
    ftfy's regex is not of the shape this relies on (then is_bad scans the whole text)."""
    parsed = _parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    if BADNESS_RE.flags & re.IGNORECASE or len(parsed) != 1 or parsed[0][0] is not _sre.BRANCH:
        return None
    needed: set[str] = set()
    for branch in parsed[0][1][1]:
        classes = [_class_chars(item) for item in branch]
        candidates = [c for c in classes if c and not any(ch.isascii() for ch in c)]
        if not candidates:
            return None
        needed |= min(candidates, key=len)

    def looks_around(sequence: list) -> bool:
        for op, arg in sequence:
            if op in (_sre.ASSERT, _sre.ASSERT_NOT, _sre.GROUPREF):
                return True
            if op is _sre.AT and arg is not _sre.AT_BEGINNING:
                return True
            if op is _sre.BRANCH and any(looks_around(b) for b in arg[1]):
                return True
            if op is _sre.SUBPATTERN and looks_around(arg[3]):
                return True
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and looks_around(arg[2]):
                return True
        return False

    longest = parsed.getwidth()[1]
    if looks_around(list(parsed)) or longest > 64:
        return None
    return re.compile("[" + "".join(map(re.escape, sorted(needed))) + "]"), longest


_MOJIBAKE_WINDOWS = _mojibake_windows()


def has_mojibake(text: str) -> bool:
    """`ftfy.badness.is_bad(text)`, searching only near the characters it needs."""
    if _MOJIBAKE_WINDOWS is None:
        return BADNESS_RE.search(text) is not None
    needed, longest = _MOJIBAKE_WINDOWS
    windows: list[list[int]] = []
    for found in needed.finditer(text):
        start, end = max(0, found.start() - longest + 1), found.start() + longest
        if windows and start <= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return any(BADNESS_RE.search(text, start, end) for start, end in windows)


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
    if c.output.isascii() or not has_mojibake(c.output):
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
