"""The retry policy, in one place.

An article's I/O (reading it, writing its output) gets `max_attempts` tries in all
(`--max-attempts`, 3), on transient errors only (newsprep.errors.is_transient),
`retry_delay_seconds` apart (0.5 s, doubling, with jitter) but never more than
`max_retry_delay_seconds` (30 s), and no new try once the next wait would end past
`article_timeout_seconds` (300 s) from the first: on every runner and store, without a
timer signal. s3fs retries its own requests inside each try, as it always does. A batch
whose task crashes (its worker process died, say) runs again, on a fresh pool after a
dead worker, at most MAX_BATCH_CRASHES runs in all, without redoing the articles its
checkpoint holds; then its unfinished articles end `failed`, `worker-crash`. Prefect
retries only the listing (DISCOVER_RETRIES), which nothing else retries; it never retries
a batch task.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from newsprep.errors import is_transient

T = TypeVar("T")
logger = logging.getLogger("newsprep")

MAX_BATCH_CRASHES = 3  # runs of a batch whose task crashed, before its rest fails
DISCOVER_RETRIES, DISCOVER_RETRY_DELAYS = 2, [2, 10]  # Prefect's, on the listing task


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for transient I/O errors, capped and within a time budget."""

    max_attempts: int = 3
    delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0  # the doubling stops here
    budget_seconds: float = 300.0  # no wait that would end later than this after the start

    def delay(self, attempt: int) -> float:
        """The longest wait after failed attempt `attempt` (from 1): doubling, capped."""
        return min(self.delay_seconds * 2.0 ** min(attempt - 1, 64), self.max_delay_seconds)

    def call(
        self,
        call: Callable[[], T],
        first_attempt: int = 1,
        on_retry: Callable[[int, BaseException], None] | None = None,
    ) -> T:
        """Call; on a transient error wait (exponential backoff, jitter) and call again.

        `first_attempt` lets a caller share one attempt budget across several calls;
        `on_retry(next_attempt, error)` is told before each new attempt. Deterministic
        errors and the last transient one are raised: the last when the attempts run out,
        or when the next wait would end past `budget_seconds` after this call began.
        """
        started = time.monotonic()
        attempt = first_attempt
        while True:
            try:
                return call()
            except Exception as exc:
                if attempt >= self.max_attempts or not is_transient(exc):
                    raise
                limit = self.delay(attempt)
                wait = random.uniform(limit / 2, limit)
                spent = time.monotonic() - started
                if spent + wait > self.budget_seconds:
                    logger.warning(
                        "giving up after attempt %d of %d: %.1f s spent, another wait of "
                        "%.1f s would pass the retry budget of %g s (article_timeout_seconds)",
                        attempt, self.max_attempts, spent, wait, self.budget_seconds,
                    )
                    raise
                attempt += 1
                if on_retry is not None:
                    on_retry(attempt, exc)
                logger.debug("waiting %.3f s before attempt %d", wait, attempt)
                time.sleep(wait)


# a manifest journal part on an object store: the run's record of a finished batch
JOURNAL_WRITES = RetryPolicy(max_attempts=5, delay_seconds=1.0)
