"""What can go wrong with one article: its outcome, its problem, and which errors are
transient (worth another attempt; how many is the retry policy's, newsprep/run/retry.py)."""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass
from typing import Literal, get_args

Status = Literal["ok", "rejected", "failed", "skipped"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True)
class Problem:
    """Why an article did not end ok: `reason` a short stable code, `detail` what was found."""

    status: Status
    reason: str
    detail: str = ""


class Rejected(Exception):
    """A deterministic problem with an article: never retried, quarantined.

    `reason` is a short stable code (counted per run); `detail` says what was found.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def problem(self) -> Problem:
        return Problem("rejected", self.reason, self.detail)


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


def is_transient(exc: BaseException) -> bool:
    """True for errors a later attempt may not meet: timeouts, resets, throttling, 5xx."""
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError):
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
