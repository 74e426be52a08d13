"""The retry policy: attempts on transient errors only, counted from a shared budget."""

from __future__ import annotations

import errno

import pytest

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
