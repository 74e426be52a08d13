"""Run the `normalize-corpus` flow from a test: source, dest and RunConfig's other fields."""

from __future__ import annotations

from typing import Any

from newsprep.config import RunConfig
from newsprep.flows.normalize_corpus import normalize_corpus


def run_flow(source: str, dest: str, *, return_state: bool = False, **fields: Any) -> Any:
    """`normalize_corpus(RunConfig(source=..., dest=..., **fields))`; the summary, or the
    final state with return_state=True."""
    config = RunConfig(source=source, dest=dest, **fields)
    return normalize_corpus(config, return_state=return_state)
