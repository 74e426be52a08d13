"""The environment newsprep hands the Prefect servers it starts (lasting or temporary)."""

from __future__ import annotations

import pytest

from newsprep.local_server import _server_environment


def test_servers_send_no_analytics_unless_the_user_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/deployment.md: DO_NOT_TRACK=1 and PREFECT_SERVER_ANALYTICS_ENABLED=false,
    unless they are set already; and never the client's PREFECT_API_URL."""
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    env = _server_environment()
    assert (env["DO_NOT_TRACK"], env["PREFECT_SERVER_ANALYTICS_ENABLED"]) == ("1", "false")
    assert "PREFECT_API_URL" not in env

    monkeypatch.setenv("DO_NOT_TRACK", "0")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    env = _server_environment()
    assert (env["DO_NOT_TRACK"], env["PREFECT_SERVER_ANALYTICS_ENABLED"]) == ("0", "true")
