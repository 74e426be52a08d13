"""The Prefect server newsprep starts (`newsprep server start`, a run's temporary server):
Prefect's own, with its SQLite write transactions begun IMMEDIATE.

Prefect begins them DEFERRED: a transaction that reads first (a worker's heartbeat reads
its work pool, then writes) takes the write lock only at its first write, and when another
connection has committed since its read, SQLite refuses at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT), which no busy timeout covers. Begun IMMEDIATE it waits for the
lock (up to PREFECT_SERVER_DATABASE_TIMEOUT) and then proceeds. PostgreSQL is unchanged.

    python -m newsprep.prefect_server start --host H --port P   # `prefect server start`
    uvicorn --factory newsprep.prefect_server:create_app        # the API app
"""

from __future__ import annotations

import sys
from typing import Any


def begin_immediately() -> None:
    """Make every SQLite transaction of Prefect's server take the write lock up front."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    deferred = AioSqliteConfiguration.begin_transaction
    if getattr(deferred, "newsprep_immediate", False):
        return

    def begin_transaction(self: Any, session: Any, with_for_update: bool = False) -> Any:
        return deferred(self, session, with_for_update=True)

    begin_transaction.newsprep_immediate = True  # type: ignore[attr-defined]
    AioSqliteConfiguration.begin_transaction = begin_transaction  # type: ignore[method-assign]


def create_app() -> Any:
    """Prefect's API app (uvicorn's factory)."""
    begin_immediately()
    from prefect.server.api.server import create_app as prefect_app

    return prefect_app()


def main(argv: list[str]) -> None:
    """`prefect server ARGS...`, in this process."""
    begin_immediately()
    from prefect.cli import app

    sys.argv = ["prefect", "server", *argv]
    app()


if __name__ == "__main__":
    main(sys.argv[1:])
