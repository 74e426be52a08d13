"""The retry policy, in one place.

An article's I/O (reading it, writing its output) gets `max_attempts` tries in all
(`--max-attempts`, 3), on transient errors only (newsprep.errors.is_transient),
`retry_delay_seconds` apart (0.5 s, doubling, with jitter); s3fs retries its own
requests inside each try, as it always does. A batch whose task crashes (its worker
process died, say) runs again, on a fresh pool after a dead worker, at most
MAX_BATCH_CRASHES runs in all, without redoing the articles its checkpoint holds; then its
unfinished articles end `failed`, `worker-crash`. Prefect retries only the listing
(DISCOVER_RETRIES), which nothing else retries; it never retries a batch task.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from newsprep.errors import is_transient

T = TypeVar("T")

MAX_BATCH_CRASHES = 3  # runs of a batch whose task crashed, before its rest fails
DISCOVER_RETRIES, DISCOVER_RETRY_DELAYS = 2, [2, 10]  # Prefect's, on the listing task


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for transient I/O errors."""

    max_attempts: int = 3
    delay_seconds: float = 0.5

    def call(
        self,
        call: Callable[[], T],
        first_attempt: int = 1,
        on_retry: Callable[[int, BaseException], None] | None = None,
    ) -> T:
        """Call; on a transient error wait (exponential backoff, jitter) and call again.

        `first_attempt` lets a caller share one attempt budget across several calls;
        `on_retry(next_attempt, error)` is told before each new attempt. Deterministic
        errors and the last transient one are raised.
        """
        attempt = first_attempt
        while True:
            try:
                return call()
            except Exception as exc:
                if attempt >= self.max_attempts or not is_transient(exc):
                    raise
                delay = self.delay_seconds * 2 ** (attempt - 1)
                attempt += 1
                if on_retry is not None:
                    on_retry(attempt, exc)
                time.sleep(random.uniform(delay / 2, delay))


# a manifest journal part on an object store: the run's record of a finished batch
JOURNAL_WRITES = RetryPolicy(max_attempts=5, delay_seconds=1.0)
