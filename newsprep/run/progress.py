"""Progress of a run: articles done / total, rate and ETA, logged every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


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
            self._last = now
            line = self.line()
            self.logger.info("%s", line)
            if self.on_update is not None and self.total:
                self.on_update(min(100.0, 100.0 * self.done / self.total), line)

    def line(self) -> str:
        rate = self.rate
        if self.total is None:  # streaming from archives or JSONL: no total up front
            return f"{self.done} articles, {rate:.1f} articles/s"
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (
            f"{self.done}/{self.total} articles ({percent:.0f}%), "
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
