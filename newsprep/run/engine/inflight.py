"""Requests in flight while the CPU works: a batch's reads ahead and writes behind.

On an object store every read and write is a round trip (~25 ms on S3) against ~3 ms of
text work per article: a batch that waited for each in turn would spend most of its time
waiting. So each batch keeps up to READS_AHEAD reads ahead of the article it normalizes
and up to WRITES_BEHIND writes behind it, in a small pool of I/O threads (a thread waiting
on the network costs no CPU; s3fs runs them all on its one event loop), with at most
BYTES_IN_FLIGHT bytes of read-ahead and at most as many of write-behind, so memory stays
flat. An article's retries and their back-off run in its own I/O thread: a back-off holds
up that article, no other.

On a local disk a request costs microseconds and threads would only add overhead: there
every call runs inline, one article at a time, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

READS_AHEAD = 32  # per batch: at 25 ms a request ~1,300 reads/s; with 0.5 s back-offs, ~200
WRITES_BEHIND = 32
BYTES_IN_FLIGHT = 16 * 2**20  # read-ahead bytes, and again write-behind bytes, per batch


class IORequests:
    """Where a batch's I/O calls run: a pool of I/O threads, or inline (local disks)."""

    def __init__(self, overlap: bool) -> None:
        self.overlap = overlap
        self._threads = (
            ThreadPoolExecutor(READS_AHEAD + WRITES_BEHIND, thread_name_prefix="newsprep-io")
            if overlap else None
        )

    def submit(self, call: Callable[[], R]) -> Future[R]:
        if self._threads is not None:
            return self._threads.submit(call)
        future: Future[R] = Future()
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)

    def __enter__(self) -> IORequests:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_ahead(
    items: Iterable[T],
    read: Callable[[T], R],
    size: Callable[[T], int],
    requests: IORequests,
    in_order: bool,
) -> Iterator[tuple[T, R]]:
    """(item, read(item)) for every item, with reads started ahead; in the order the
    reads finish (one slow or retried read holds up no other), or the items' order when
    `in_order`. `read` must not raise. Inline, one item is read at a time."""
    if not requests.overlap:  # inline: read, hand over, read the next
        for item in items:
            yield item, read(item)
        return
    window = READS_AHEAD
    pending: dict[Future[R], T] = {}  # in submission order
    stream = iter(items)
    held = 0
    exhausted = False
    while True:
        while not exhausted and len(pending) < window and (held < BYTES_IN_FLIGHT or not pending):
            item = next(stream, _END)
            if item is _END:
                exhausted = True
                break
            pending[requests.submit(lambda item=item: read(item))] = item
            held += size(item)
        if not pending:
            return
        first = next(iter(pending))
        if in_order or first.done():
            chosen = first
        else:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            chosen = next(f for f in pending if f in done)  # the earliest submitted of them
        item = pending.pop(chosen)
        held -= size(item)
        yield item, chosen.result()


class WriteBehind(Generic[T, R]):
    """Writes that run while the next articles are normalized: at most WRITES_BEHIND and
    BYTES_IN_FLIGHT bytes pending; `on_done(item, result)` is called in the caller's thread,
    by `submit` or `drain`, as each finishes. A write must not raise."""

    def __init__(self, requests: IORequests, on_done: Callable[[T, R], None]) -> None:
        self.requests, self.on_done = requests, on_done
        self.pending: dict[Future[R], tuple[T, int]] = {}
        self.held = 0

    def submit(self, item: T, write: Callable[[], R], nbytes: int) -> None:
        if not self.requests.overlap:  # inline: the write is done when this returns
            self.on_done(item, write())
            return
        while self.pending and (
            len(self.pending) >= WRITES_BEHIND or self.held + nbytes > BYTES_IN_FLIGHT
        ):
            self._finish(wait(self.pending, return_when=FIRST_COMPLETED)[0])
        self.pending[self.requests.submit(write)] = (item, nbytes)
        self.held += nbytes
        self._finish([f for f in self.pending if f.done()])

    def drain(self) -> None:
        """Wait for every pending write."""
        self._finish(wait(self.pending)[0])

    def _finish(self, done: Iterable[Future[R]]) -> None:
        done = set(done)
        for future in [f for f in self.pending if f in done]:
            item, nbytes = self.pending.pop(future)
            self.held -= nbytes
            self.on_done(item, future.result())


_END = object()
