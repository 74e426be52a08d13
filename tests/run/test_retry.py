"""The retry policy: attempts on transient errors only, counted from a shared budget."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import fsspec.config
import pytest
from run_helpers import file_refs, make_job

from newsprep.config import RunOptions
from newsprep.run.engine.batch import process_batch
from newsprep.run.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=3, delay_seconds=0.001)


class Flaky:
    """Fails with `error` the first `failures` calls, then returns 'done'."""

    def __init__(self, error: BaseException, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_transient_errors_are_retried_up_to_max_attempts() -> None:
    call = Flaky(ConnectionResetError(errno.ECONNRESET, "reset"), failures=2)
    told = []
    assert FAST.call(call, on_retry=lambda attempt, exc: told.append(attempt)) == "done"
    assert call.calls == 3 and told == [2, 3]


def test_the_last_transient_error_is_raised_when_attempts_run_out() -> None:
    call = Flaky(TimeoutError("slow"), failures=3)
    with pytest.raises(TimeoutError):
        FAST.call(call)
    assert call.calls == 3


@pytest.mark.parametrize("error", [FileNotFoundError("gone"), PermissionError("no"), ValueError()])
def test_deterministic_errors_are_not_retried(error: BaseException) -> None:
    call = Flaky(error, failures=1)
    with pytest.raises(type(error)):
        FAST.call(call)
    assert call.calls == 1


def test_a_shared_budget_starts_at_the_attempts_already_used() -> None:
    call = Flaky(ConnectionResetError(errno.ECONNRESET, "reset"), failures=2)
    with pytest.raises(ConnectionResetError):
        FAST.call(call, first_attempt=2)  # one attempt left of three
    assert call.calls == 2


# -- #19 class 8: back-off is capped, and retries stop within a time budget ---------------


def test_the_delay_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_attempts=30, delay_seconds=0.5, max_delay_seconds=30.0)
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30.0  # no overflow, however many attempts
    # 30 attempts wait at most 29 capped delays: 14.5 minutes, not the 8.5 years of 0.5 * 2**29
    assert sum(policy.delay(n) for n in range(1, 30)) == 0.5 + 1 + 2 + 4 + 8 + 16 + 23 * 30


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.args[0] for r in caplog.records if r.msg.startswith("waiting %.3f s before")]


def test_retries_stop_when_the_next_wait_would_pass_the_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="newsprep")
    policy = RetryPolicy(max_attempts=30, delay_seconds=0.02, max_delay_seconds=0.08,
                         budget_seconds=0.4)
    call = Flaky(ConnectionResetError(errno.ECONNRESET, "reset"), failures=10**6)
    with pytest.raises(ConnectionResetError):
        policy.call(call)
    waits = _waits(caplog)
    assert 2 <= call.calls < 30
    assert len(waits) == call.calls - 1
    assert all(wait <= 0.08 for wait in waits) and sum(waits) <= 0.4
    assert any("would pass the retry budget of 0.4 s" in r.getMessage() for r in caplog.records)


def test_thirty_attempts_on_an_always_failing_object_end_in_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`--max-attempts 30` on a read that always fails transiently (flaky://): the article
    ends failed after waits that are each capped and add up to at most the budget."""
    caplog.set_level(logging.DEBUG, logger="newsprep")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("The council met on Tuesday to approve the city budget.\n")
    monkeypatch.setitem(fsspec.config.conf, "flaky", {"always_fail": "*a.txt"})
    options = RunOptions(max_attempts=30, retry_delay_seconds=0.02,
                         max_retry_delay_seconds=0.08, article_timeout_seconds=0.5)
    retry = RetryPolicy(options.max_attempts, options.retry_delay_seconds,
                        options.max_retry_delay_seconds, options.article_timeout_seconds)
    job = make_job(f"flaky://{src}", tmp_path / "out", retry=retry)
    (record,) = process_batch(file_refs(src), 0, job)
    assert (record.status, record.reason) == ("failed", "read-error")
    assert 2 <= record.attempts < 30
    waits = _waits(caplog)
    assert len(waits) == record.attempts - 1
    assert all(wait <= 0.08 for wait in waits) and sum(waits) <= 0.5
