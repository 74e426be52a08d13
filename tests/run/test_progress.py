"""Progress lines: done/total, rate, ETA; the progress bar's percentage."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from newsprep.run import progress as progress_module
from newsprep.run.progress import ETA_AFTER_SECONDS, Progress, _duration


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


def test_no_eta_in_the_first_seconds(monkeypatch, caplog) -> None:
    """The first 100 of 20,000 articles counted 2.4 s after the start (the command's
    imports, the workers' start): 41.7 articles/s would say 8 minutes, so no ETA yet; from
    ETA_AFTER_SECONDS on, the rate since the start gives one (3,100 in 12 s: 258.3
    articles/s, 16,900 left: 65.4 s)."""
    assert ETA_AFTER_SECONDS == 10
    now = [0.0]
    # the progress module's clock only, not the process's time.monotonic
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    progress = Progress(20000, logging.getLogger("t"), every_seconds=1)
    with caplog.at_level(logging.INFO, logger="t"):
        now[0] = 2.4
        progress.advance(100)
        now[0] = 12.0
        progress.advance(3000)
    assert caplog.messages == [
        "100/20000 articles (0%), 41.7 articles/s, ETA ?",
        "3100/20000 articles (16%), 258.3 articles/s, ETA 1m05s",
    ]


def test_streaming_has_no_total() -> None:
    progress = Progress(None, logging.getLogger("t"))
    progress.advance(5)
    assert progress.line().startswith("5 articles so far, ") and "ETA" not in progress.line()


def test_streaming_moves_and_ends_full(caplog) -> None:
    """No total up front (archives, JSONL): each update says done and rate with the bar at
    0; the end says the total, at 100%, even for a run shorter than the interval."""
    updates: list[tuple[float, str]] = []
    progress = Progress(None, logging.getLogger("t"), every_seconds=0,
                        on_update=lambda percent, line: updates.append((percent, line)))
    with caplog.at_level(logging.INFO, logger="t"):
        progress.advance(2)
        progress.advance(1)
        progress.finish()
    assert [percent for percent, _ in updates] == [0.0, 0.0, 100.0]
    assert updates[1][1].startswith("3 articles so far, ")
    assert updates[2][1].startswith("3/3 articles (100%), ") and updates[2][1].endswith("ETA 0s")
    assert caplog.messages == [line for _, line in updates]


def test_short_run_says_its_end_once(caplog) -> None:
    updates: list[float] = []
    for total in (None, 4):
        progress = Progress(total, logging.getLogger("t"), every_seconds=3600,
                            on_update=lambda percent, line: updates.append(percent))
        with caplog.at_level(logging.INFO, logger="t"):
            progress.advance(4)
            progress.finish()
    assert updates == [100.0, 100.0]
    assert [m.split(",")[0] for m in caplog.messages] == ["4/4 articles (100%)"] * 2


def test_empty_run_is_full() -> None:
    updates: list[float] = []
    progress = Progress(0, logging.getLogger("t"),
                        on_update=lambda percent, line: updates.append(percent))
    progress.finish()
    assert updates == [100.0]


def test_durations() -> None:
    assert [_duration(s) for s in (0, 59.4, 61, 3725, float("nan"))] == [
        "0s", "59s", "1m01s", "1h02m", "?"
    ]
