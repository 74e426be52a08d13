"""The fork server that the stage pool's workers (and a local Dask cluster's) are forked
from. A module of its own, light to import: the command starts the fork server first of
all, because its imports (the stages, sacremoses, the fast engine) are the longest wait
before a run's first article."""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import Connection

_BIND_MODULE = "newsprep.run.engine.forkserver_bind"
_BIND_VARIABLE = "NEWSPREP_FORKSERVER_PARENT"  # forkserver_bind.PARENT_VARIABLE
# what the workers run: the fork server imports it; the flow process, which imports the
# pool to start it, never imports the stages (sacremoses alone is ~0.25 s)
_POOL_MODULE = "newsprep.run.engine.pool"
_STAGES_MODULE = "newsprep.tasks.stages.normalize"


def fork_context(preload: tuple[str, ...] = ()) -> multiprocessing.context.BaseContext:
    """A fork server when the platform has one (Linux, macOS): forking its clean,
    single-threaded process is safe, unlike forking the flow process with its threads."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # each worker starts with the stages imported; the fork server binds to its parent
    context.set_forkserver_preload([_BIND_MODULE, _POOL_MODULE, _STAGES_MODULE, *preload])
    return context


def start_fork_server(preload: tuple[str, ...] = ()) -> None:
    """Start the fork server now, so that it has imported the stage code (and the
    modules of `preload`) by the time the run forks its workers: the stage pool's, or a
    local Dask cluster's. The command calls this before anything else of a run."""
    context = fork_context(preload)
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        # called from the command's main thread: the fork server may bind to it (a
        # binding to another thread would end the fork server when that thread ends)
        os.environ[_BIND_VARIABLE] = str(os.getpid())
        try:
            forkserver.ensure_running()
        finally:
            os.environ.pop(_BIND_VARIABLE, None)


def stop_fork_server() -> None:
    """Stop the fork server and wait for it, so that nothing outlives the command and the
    CPU time of the server and its workers is this process's children's. For the end of
    a process: multiprocessing cannot start another fork server in it afterwards.

    The fork server is found as the parent of a process it forks."""
    context = fork_context()
    if context.get_start_method() != "forkserver":
        return
    reader, writer = context.Pipe(duplex=False)
    probe = context.Process(target=_send_parent_pid, args=(writer,))
    probe.start()
    writer.close()
    server = reader.recv()
    probe.join()
    os.kill(server, signal.SIGTERM)
    os.waitpid(server, 0)


def _send_parent_pid(connection: Connection) -> None:
    connection.send(os.getppid())
