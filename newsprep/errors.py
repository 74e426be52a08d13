"""What can go wrong with one article, and which errors are worth retrying."""

from __future__ import annotations

import asyncio
import errno
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Rejected(Exception):
    """A deterministic problem with an article: never retried, quarantined.

    `reason` is a short stable code (counted per run); `detail` says what was found.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# OSErrors that mean "the article or path itself is wrong": retrying cannot help.
_DETERMINISTIC_OSERRORS = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    FileExistsError,
)
_TRANSIENT_ERRNOS = {
    errno.EAGAIN,
    errno.EBUSY,  # s3fs: SlowDown, ServiceUnavailable, 503
    errno.ECONNABORTED,
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.EINTR,
    errno.EIO,
    errno.ENETDOWN,
    errno.ENETRESET,
    errno.ENETUNREACH,
    errno.EPIPE,
    errno.EREMOTEIO,  # s3fs: S3 InternalError / 500
    errno.ETIMEDOUT,
}


class TransientError(OSError):
    """Raise to mark an error as worth retrying (used by storage wrappers and tests)."""


def is_transient(exc: BaseException) -> bool:
    """True for errors a later attempt may not meet: timeouts, resets, throttling, 5xx."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, _DETERMINISTIC_OSERRORS):
        return False
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    if type(exc).__name__ in _TRANSIENT_NAMES:
        return True
    return _s3_error_code(exc) in _TRANSIENT_S3_CODES


# Network-level errors of aiohttp/botocore that s3fs may let through unwrapped.
_TRANSIENT_NAMES = {
    "ClientPayloadError",
    "ServerDisconnectedError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "EndpointConnectionError",
    "ResponseStreamingError",
}
_TRANSIENT_S3_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                       "500", "502", "503", "504"}


def _s3_error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def retry_transient(
    call: Callable[[], T],
    max_attempts: int,
    delay_seconds: float,
    first_attempt: int = 1,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Call; on a transient error wait (exponential backoff, jitter) and call again.

    `first_attempt` lets a caller share one attempt budget across several calls;
    `on_retry(next_attempt, error)` is told before each new attempt. Deterministic errors
    and the last transient one are raised.
    """
    attempt = first_attempt
    while True:
        try:
            return call()
        except Exception as exc:
            if attempt >= max_attempts or not is_transient(exc):
                raise
            delay = delay_seconds * 2 ** (attempt - 1)
            attempt += 1
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(random.uniform(delay / 2, delay))
