"""Whether a Prefect API answers: a plain HTTP request, without importing Prefect, so the
command can ask a configured server before it begins anything."""

from __future__ import annotations

import urllib.error
import urllib.request


def does_not_answer(api_url: str, timeout: float) -> str | None:
    """Why the Prefect API at `api_url` does not answer its health check, or None when it
    answers (an HTTP error is an answer: a server in front may refuse /health)."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except Exception as exc:  # refused, reset, timed out, not HTTP: not there
        return str(getattr(exc, "reason", exc))  # a URLError's own
