"""Progress lines: done/total, rate, ETA; the progress bar's percentage."""

from __future__ import annotations

import logging

from newsprep.run.progress import Progress, _duration


def test_lines_every_interval_and_at_the_end(caplog) -> None:
    percents: list[float] = []
    progress = Progress(10, logging.getLogger("t"), every_seconds=3600,
                        on_update=lambda percent, line: percents.append(percent))
    with caplog.at_level(logging.INFO, logger="t"):
        progress.advance(4)  # within the interval: quiet
        assert caplog.messages == [] and percents == []
        progress.advance(6)  # done: always said
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith("10/10 articles (100%), ")
    assert caplog.messages[0].endswith("ETA 0s")
    assert percents == [100.0]


def test_streaming_has_no_total() -> None:
    progress = Progress(None, logging.getLogger("t"))
    progress.advance(5)
    assert progress.line().startswith("5 articles, ") and "ETA" not in progress.line()


def test_durations() -> None:
    assert [_duration(s) for s in (0, 59.4, 61, 3725, float("nan"))] == [
        "0s", "59s", "1m01s", "1h02m", "?"
    ]
