"""Progress of a run: articles done (of the total when it is known), rate and ETA, logged
every few seconds and at the end, and handed to the progress bar."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# No ETA in a run's first seconds: the rate counts from the command's start, and its
# start-up (imports, the workers' start; articles are counted as batches end) made the
# first ETA of a 10 s run 8 minutes
ETA_AFTER_SECONDS = 10.0


class Progress:
    def __init__(
        self,
        total: int | None,
        logger: logging.Logger | logging.LoggerAdapter,
        every_seconds: float = 2.0,
        on_update: Callable[[float, str], None] | None = None,
    ) -> None:
        self.total, self.done, self.logger = total, 0, logger
        self.every, self.on_update = every_seconds, on_update
        self.started = self._last = time.monotonic()
        self._reported: tuple[int, int | None] | None = None  # what the last line said

    def report_to(
        self, logger: logging.Logger | logging.LoggerAdapter,
        on_update: Callable[[float, str], None] | None,
    ) -> None:
        """Say the next lines to `logger` and `on_update` (a run begun before its flow),
        the first one `every` seconds from now: the rate still counts from the start."""
        self.logger, self.on_update, self._last = logger, on_update, time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if now - self._last >= self.every or finished:
            self._report(now)

    def finish(self) -> None:
        """Every article is accounted for: the total is known now, whatever the source, and
        the last line is said even when the run was shorter than the interval."""
        self.total = self.done
        if self._reported != (self.done, self.total):
            self._report(time.monotonic())

    def _report(self, now: float) -> None:
        self._last, self._reported = now, (self.done, self.total)
        line = self.line()
        self.logger.info("%s", line)
        if self.on_update is not None:
            self.on_update(self.percent(), line)

    def percent(self) -> float:
        """The bar: done of the total; 0 until the end when the total is not known."""
        if self.total is None:
            return 0.0
        return min(100.0, 100.0 * self.done / self.total) if self.total else 100.0

    def line(self) -> str:
        rate = self.rate
        if self.total is None:  # streaming from archives or JSONL: no total up front
            return f"{self.done} articles so far, {rate:.1f} articles/s"
        if self.done >= self.total:
            eta = 0.0
        elif rate > 0 and self.elapsed >= ETA_AFTER_SECONDS:
            eta = (self.total - self.done) / rate
        else:  # no rate yet, or the start-up would weigh too much in it
            eta = float("nan")
        return (
            f"{self.done}/{self.total} articles ({self.percent():.0f}%), "
            f"{rate:.1f} articles/s, ETA {_duration(eta)}"
        )


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
