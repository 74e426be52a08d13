"""Shared fixtures: one real Prefect server per test session, paths to the golden pair."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from semaphores import remove_unheld, semaphores

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"  # copies of the reference pair (tests/golden/README.md)
SHARED_GOLDEN = REPO.parent / "shared" / "golden"  # the originals, when beside the clone
GOLDEN_RAW = GOLDEN / "cnn-xinjiang.raw.txt"
GOLDEN_CNNDM = GOLDEN / "cnn-xinjiang.cnndm.txt"
SAMPLE = REPO / "newsprep" / "sample"


@pytest.fixture(scope="session", autouse=True)
def no_leftover_semaphores():
    """The tests that SIGKILL a run's process group kill multiprocessing's resource tracker
    with it, which would have unlinked the pool's named semaphores (5 files in /dev/shm a
    run): as when a machine dies, the files stay. After the session, the ones it made that
    no live process holds are removed, so the suite does not litter /dev/shm (those of
    another session or a run going on beside it stay)."""
    before = semaphores()
    yield
    remove_unheld(semaphores() - before)


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect API server (SQLite, on 127.0.0.1) for the whole session.

    PREFECT_API_URL is also exported, so process-pool workers report to the same server.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=60):
        url = PREFECT_API_URL.value()
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Four sample articles and the binary one, under tmp/src, as in newsprep/sample."""
    good = sorted(p for p in SAMPLE.rglob("*.txt") if "broken" not in p.parts)
    src = tmp_path / "src"
    for article in [*good[:4], SAMPLE / "broken" / "corrupted-upload.txt"]:
        target = src / article.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(article, target)
    return src


@pytest.fixture
def golden_raw() -> Path:
    if not GOLDEN_RAW.exists():
        pytest.fail(f"the golden pair is missing from the clone: expected it in {GOLDEN}")
    return GOLDEN_RAW


@pytest.fixture
def golden_cnndm(golden_raw: Path) -> Path:
    return GOLDEN_CNNDM


# Environment of the S3 tests: dummy credentials, no profile or config file of the machine.
_S3_ENV_UNSET = (
    "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3", "FSSPEC_S3",
)


def _counting_moto_server():
    """moto's threaded server, with every S3 request it answers counted: (method, path,
    query), in `server.requests`; moto's own /moto-api calls are not counted."""
    import threading

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class CountingMotoServer(ThreadedMotoServer):
        def __init__(self) -> None:
            super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
            self.requests: list[tuple[str, str, str]] = []
            self._count_lock = threading.Lock()

        def _server_entry(self) -> None:  # ThreadedMotoServer's, with the app wrapped
            app = DomainDispatcherApplication(create_backend_app)

            def counted(environ, start_response):
                path = environ.get("PATH_INFO", "")
                if not path.startswith("/moto-api"):
                    request = (environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""))
                    with self._count_lock:
                        self.requests.append(request)
                return app(environ, start_response)

            self._server = make_server(
                self._ip_address, self._port, counted, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return CountingMotoServer()


_MOTO: list = []  # the session's moto server, for s3_requests


@pytest.fixture
def s3_requests(s3) -> list[tuple[str, str, str]]:
    """The S3 requests moto answers from now on, from every process: (method, path, query)."""
    requests = _MOTO[0].requests
    requests.clear()
    return requests


@pytest.fixture(scope="session")
def s3_server():
    """A real moto S3 server over HTTP (server mode, as s3fs's own tests use) on 127.0.0.1,
    counting the requests it answers (see s3_requests).

    Its URL is exported as AWS_ENDPOINT_URL (botocore, hence aiobotocore and s3fs, read it),
    with dummy credentials, in os.environ so spawned process-pool workers and CLI
    subprocesses see it too; the environment is restored when the session ends.
    """
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = _counting_moto_server()
    server.start()
    _MOTO[:] = [server]
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    values = {
        "AWS_ACCESS_KEY_ID": "testing-key-id",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    saved = {name: os.environ.get(name) for name in (*values, *_S3_ENV_UNSET)}
    for name in _S3_ENV_UNSET:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def s3(s3_server):
    """An empty moto (reset) with buckets `raw` and `clean`; yields an s3fs filesystem."""
    import urllib.request

    import s3fs

    urllib.request.urlopen(
        urllib.request.Request(f"{s3_server}/moto-api/reset", method="POST"), timeout=10
    ).close()
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir("raw")
    fs.mkdir("clean")
    try:
        yield fs
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
