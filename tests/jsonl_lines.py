"""JSONL lines of every kind a large file may hold, for the tests of its slices."""

from __future__ import annotations

import json
import random

STORY = "Story {}: the council met on Monday and voted for the new road to the port.\n"


def hostile_lines(count: int, seed: int = 1, first: int = 0) -> list[str]:
    """JSONL lines of every kind a file may hold; ids repeat across the whole file."""
    rng = random.Random(seed)
    lines = []
    for n in range(first, first + count):
        roll = rng.random()
        if roll < 0.05:
            lines.append("")
        elif roll < 0.08:
            lines.append("{not json")
        elif roll < 0.15:
            lines.append(json.dumps({"text": STORY.format(n)}))  # named line-N
        elif roll < 0.25:  # an id an earlier line (often in another slice) has
            lines.append(json.dumps({"id": f"dup{rng.randrange(5)}", "text": STORY.format(n)}))
        else:
            lines.append(json.dumps({"id": f"a{n}", "text": STORY.format(n) * rng.randrange(1, 4)}))
    return lines
