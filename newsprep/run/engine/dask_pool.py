"""A Dask cluster as the run's workers, with the stage pool's interface (pool.py); it
needs distributed (the `dask` extra), imported only by a run on Dask.

The run's Prefect task runs stay in the flow's threads, as with the stage pool; each
hands its shards (or batch) to the cluster and waits for the outcome. So a Dask worker
runs only newsprep's engine, never Prefect: no Prefect context travels with a task and
none is built again in the worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import dask
import fsspec
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from newsprep.config import ConfigError
from newsprep.run.engine.batch import Job, process_batch
from newsprep.run.engine.shard import ShardGroup, ShardJob, ShardOutcome, run_group
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef
from newsprep.tasks.io.stores import forget_listings

T = TypeVar("T")
CONNECT_SECONDS = 30  # a cluster's scheduler answers in this time, or the run stops


def connect(address: str) -> Client:
    """A client of the Dask scheduler at `address`; ConfigError when it does not answer."""
    try:
        return Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        message = f"the Dask scheduler at {address} cannot be reached: {exc}"
        raise ConfigError(message) from None


def cluster_threads(address: str) -> int:
    """The threads of the workers of the Dask cluster at `address`."""
    with connect(address) as client:
        return sum(client.nthreads().values())


class DaskPool:
    """The Dask cluster at `address`, or a local one of `workers` single-threaded worker
    processes (the stages hold the GIL), forked from the run's fork server, which the CLI
    starts with the stage code and distributed imported."""

    def __init__(self, workers: int, address: str = "") -> None:
        self.workers, self.address = workers, address
        self._client: Any = None
        self._cluster: Any = None
        self._plugin = ""  # the name of the storage options' plugin on a remote cluster
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.address:
            self._client = connect(self.address)
            self._client.run(forget_listings)  # its workers live on from run to run
            if fsspec.config.conf:  # the command's storage options, for this run only
                self._plugin = f"newsprep-storage-{uuid.uuid4().hex}"
                self._client.register_plugin(
                    _StorageOptions(dict(fsspec.config.conf)), name=self._plugin
                )
            return
        settings: dict[str, Any] = {
            # a worker that died fails its task at once: the executor's crash policy
            # (run again, then give up) applies, as with the stage pool
            "distributed.scheduler.allowed-failures": 0,
            # the statistical profiler samples the working thread every 10 ms, holding
            # the GIL, for a profile nobody looks at in a batch run
            "distributed.worker.profile.enabled": False,
        }
        if "forkserver" in multiprocessing.get_all_start_methods():
            settings["distributed.worker.multiprocessing-method"] = "forkserver"
        with dask.config.set(settings):
            self._cluster = LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True,
                dashboard_address=None,
            )
            self._client = Client(self._cluster)
        self._client.register_plugin(_Environment(dict(os.environ), dict(fsspec.config.conf)))

    def run(self, refs: Iterable[ArticleRef], index: int, job: Job) -> list[ArticleRecord]:
        return self.call(process_batch, tuple(refs), index, job)

    def run_group(self, group: ShardGroup, sjob: ShardJob) -> list[ShardOutcome]:
        return self.call(run_group, group, sjob)

    def call(self, function: Callable[..., T], *args: object) -> T:
        return self._client.submit(function, *args, pure=False).result()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                if self._plugin:  # the workers get their own settings back
                    with contextlib.suppress(Exception):
                        self._client.unregister_worker_plugin(self._plugin)
                self._client.close()
                self._client = None
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None


class _Environment(WorkerPlugin):
    """A local worker sees the command's environment and fsspec settings (credentials,
    --storage-option) as the stage pool's workers do; also one that replaces a worker
    that died."""

    name = "newsprep-environment"

    def __init__(self, environ: dict[str, str], fsspec_conf: dict) -> None:
        self.environ, self.fsspec_conf = environ, fsspec_conf

    def setup(self, worker: Any) -> None:
        os.environ.update(self.environ)
        fsspec.config.conf.clear()
        fsspec.config.conf.update(self.fsspec_conf)


class _StorageOptions(WorkerPlugin):
    """A remote cluster's worker gets the command's fsspec settings (`--storage-option`,
    credentials from SOURCE's and DEST's URLs) on top of its own, for as long as the run
    lasts; its environment stays its own. One worker serves one such run at a time: the
    settings are its process's."""

    def __init__(self, fsspec_conf: dict) -> None:
        self.fsspec_conf = fsspec_conf
        self.before: dict = {}

    def setup(self, worker: Any) -> None:
        conf = fsspec.config.conf
        self.before = {protocol: dict(conf.get(protocol, {})) for protocol in self.fsspec_conf}
        for protocol, options in self.fsspec_conf.items():
            conf[protocol] = {**conf.get(protocol, {}), **options}

    def teardown(self, worker: Any) -> None:
        conf = fsspec.config.conf
        for protocol, options in self.before.items():
            if options:
                conf[protocol] = options
            else:
                conf.pop(protocol, None)
