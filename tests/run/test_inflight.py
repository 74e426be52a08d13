"""Reads ahead and writes behind (newsprep/run/engine/inflight.py), and a batch on a filesystem
with latency: real threads, real files, no Prefect. Nothing here is timed: order and
counts only."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import fsspec
import pytest
from run_helpers import file_refs, make_job

from newsprep.run.engine import inflight
from newsprep.run.engine.batch import process_batch
from newsprep.run.engine.inflight import IORequests, WriteBehind, read_ahead


def test_a_slow_read_holds_up_no_other() -> None:
    release = threading.Event()

    def read(item: int) -> int:
        if item == 0:
            release.wait(10)  # the first article's read is in a long back-off
        return item * 10

    seen = []
    with IORequests(overlap=True) as requests:
        for item, value in read_ahead(range(8), read, lambda _: 1, requests, in_order=False):
            seen.append((item, value))
            if len(seen) == 7:
                release.set()
    assert [item for item, _ in seen[:7]] == [1, 2, 3, 4, 5, 6, 7]
    assert seen[7] == (0, 0)


def test_in_order_reads_come_in_the_items_order() -> None:
    def read(item: int) -> int:
        time.sleep(0.02 if item % 2 == 0 else 0)
        return item

    with IORequests(overlap=True) as requests:
        got = [item for item, _ in read_ahead(range(10), read, lambda _: 1, requests, True)]
    assert got == list(range(10))


def test_reads_ahead_stay_within_the_count_and_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inflight, "BYTES_IN_FLIGHT", 5_000)
    started, lock = [], threading.Lock()

    def read(item: int) -> int:
        with lock:
            started.append(item)
        return item

    with IORequests(overlap=True) as requests:
        for item, _ in read_ahead(range(40), read, lambda _: 1000, requests, in_order=True):
            time.sleep(0.002)
            with lock:
                # at most 5 items of 1,000 bytes read and not yet handed over
                assert max(started) - item < 5 + 1
    assert sorted(started) == list(range(40))


def test_inline_reads_one_at_a_time() -> None:
    started = []
    with IORequests(overlap=False) as requests:
        for item, _ in read_ahead(range(5), started.append, lambda _: 1, requests, False):
            assert started[-1] == item  # nothing read before it is needed
    assert started == list(range(5))


def test_writes_behind_are_bounded_and_all_reported() -> None:
    running, peak, lock = [0], [0], threading.Lock()
    done: list[int] = []

    def write(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return item

    with IORequests(overlap=True) as requests:
        writes = WriteBehind(requests, lambda item, result: done.append(result))
        for item in range(3 * inflight.WRITES_BEHIND):
            writes.submit(item, lambda item=item: write(item), 10)
            assert len(writes.pending) <= inflight.WRITES_BEHIND
        writes.drain()
    assert sorted(done) == list(range(3 * inflight.WRITES_BEHIND))
    assert 1 < peak[0] <= inflight.WRITES_BEHIND


def test_a_batch_through_latency_makes_one_read_and_one_write_per_article(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "requests.log"
    monkeypatch.setitem(
        fsspec.config.conf, "flaky", {"latency": 0.01, "request_log": str(log)}
    )
    dest = tmp_path / "out"
    job = make_job(f"flaky://{source}", f"flaky://{dest}")
    refs = file_refs(source)

    records = process_batch(refs, 0, job)

    assert [r.id for r in records] == [ref.id for ref in refs], "records in batch order"
    lines = log.read_text().splitlines()
    assert sorted(line for line in lines if line.startswith("read ")) == sorted(
        f"read {ref.path}" for ref in refs
    )
    ok = [r for r in records if r.status == "ok"]
    assert ok and len(ok) < len(records)  # the sample's binary file is rejected
    writes = [line for line in lines if line.startswith("write ")]
    expected = [f"write {dest}/{r.output}" for r in ok]
    for r in records:
        if r.status != "ok":  # the quarantine copy and its reason
            expected += [f"write {dest}/{r.quarantine}", f"write {dest}/{r.quarantine}.reason.json"]
    assert sorted(writes) == sorted(expected)
    for record in ok:
        assert (dest / record.output).read_bytes().decode().endswith("\n")
