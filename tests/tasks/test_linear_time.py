"""Every stage takes time linear in its input: the chain of stages on pathological lines
(long runs without spaces, runs of one punctuation character) with both tokenizer engines.

Not a timing test: the same input 10x longer must take at most LINEAR_RATIO times longer
(linear work gives ~10x, quadratic ~100x). Each size is timed in CPU time of this process,
the best of several runs, so other processes' load on the machine does not decide it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from newsprep.config import PROFILES, PipelineConfig, resolve_pipeline
from newsprep.tasks.stages.fast_tokenize import fast_differs
from newsprep.tasks.stages.normalize import normalize_text

SMALL = 2_000  # characters; the large input is 10x this
LINEAR_RATIO = 35

# Runs without spaces that made the fast engine's guard quadratic (#19 class 6), and the
# other constructs its patterns look around
RUNS = (
    "apple,pear,",
    "a.b.",
    "1.2.",
    "a.,",
    "x1,y",
    "a'1.",
    "U.S.A",
    "a-b-",
    "it's ",
    "don't's ",
    "H... ",
    "--a",
)


def _best_seconds(call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.thread_time()
        call()
        best = min(best, time.thread_time() - started)
    return best


def _ratio(call_with: Callable[[int], object]) -> float:
    small = _best_seconds(lambda: call_with(SMALL), repeat=9)
    large = _best_seconds(lambda: call_with(10 * SMALL), repeat=5)
    return large / max(small, 1e-6)


def _line(run: str, size: int) -> str:
    return (run * (size // len(run) + 1))[:size]


@pytest.mark.parametrize("run", RUNS)
def test_the_fast_engines_guard_is_linear(run: str) -> None:
    ratio = _ratio(lambda size: fast_differs(_line(run, size)))
    assert ratio < LINEAR_RATIO, f"{run!r}: 10x the input took {ratio:.0f}x the time"


@pytest.mark.parametrize("engine", ["sacremoses", "fast"])
@pytest.mark.parametrize("profile", ["default", "moses"])
@pytest.mark.parametrize("run", ["apple,pear,", "a.b.", "a'1.", "x1,y"])
def test_the_stages_are_linear(run: str, profile: str, engine: str) -> None:
    config: PipelineConfig = resolve_pipeline(
        profile, {"tokenize.engine": engine, "validation.max_length_ratio": 100.0}
    )
    assert PROFILES[profile].tokenize.engine == "sacremoses"

    def normalize(size: int) -> None:
        raw = f"Words before it.\n{_line(run, size)}\nWords after it.\n".encode()
        normalize_text(raw, config)

    ratio = _ratio(normalize)
    assert ratio < LINEAR_RATIO, f"{run!r}: 10x the input took {ratio:.0f}x the time"
