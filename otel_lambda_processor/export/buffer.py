"""A bounded ring buffer with exact drop accounting and no lock on the append path.

Producers call :attr:`SpanRing.append` and then :attr:`SpanRing.tick`, two C-level calls that the
GIL makes atomic each: a full ring overwrites its *oldest* item (the root span of an invocation
ends last and must survive). The single consumer (the export thread) takes from the old end and
may put a failed batch back once. Evictions are never counted per item: they are derived,
``appended - (taken - put back) - buffered``, reading the append count before the length so the
result can lag the truth for an append in progress but never exceeds it.

A put-back batch waits beside the producers' deque, never in it: putting back can then never
push out a span a producer is appending at the same moment. It is older than everything in the
deque, so when the two together hold more than the capacity, the consumer's next call drops the
excess from its old end: the ring keeps exactly the newest ``capacity`` items, as if the batch
had been in front all along. Between a put-back and that next call the two may hold up to one
batch more than the capacity.

Owns the ring and its counts; must not import OpenTelemetry or anything of the package, take
a lock on the append path, or log.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class SpanRing(Generic[T]):
    """Fixed-capacity FIFO of ended spans; the oldest is overwritten when full."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self._items: deque[T] = deque(maxlen=capacity)
        # Items put back once after a failed export, oldest first; they are never put back again.
        self._retry: deque[T] = deque()
        # Advanced once per append (by producers) and once per read (under the lock): reading
        # the count is ``next()`` minus the number of earlier reads, with no lock on the producers.
        self._ticks = itertools.count()
        self._reads = 0
        self._taken = 0
        self._put_back = 0
        self._max_evicted = 0
        self._lock = threading.Lock()
        #: Producer path, step 1: add one item (overwrites the oldest when full).
        self.append: Callable[[T], None] = self._items.append
        #: Producer path, step 2: count it. Returns a running number for cheap periodic checks.
        self.tick: Callable[[], int] = self._ticks.__next__

    def extend(self, items: Sequence[T]) -> None:
        """Add several items at once, oldest first, and count them: what ``append`` and ``tick``
        do for each (a full ring overwrites its oldest, the earliest of ``items`` included)."""
        self._items.extend(items)
        deque(itertools.islice(self._ticks, len(items)), maxlen=0)  # tick once per item, in C

    def __len__(self) -> int:
        """Items buffered (a put-back excess not yet dropped is not counted)."""
        return min(self.capacity, len(self._items) + len(self._retry))

    def _appended_locked(self) -> int:
        value = next(self._ticks) - self._reads
        self._reads += 1
        return value

    def _evicted_locked(self) -> int:
        appended = self._appended_locked()  # before the length: see the module docstring
        # Put-back items are the oldest of all: what does not fit beside the deque goes first.
        excess = len(self._retry) + len(self._items) - self.capacity
        for _ in range(min(excess, len(self._retry))):
            self._retry.popleft()
        evicted = appended - (self._taken - self._put_back) - len(self._items) - len(self._retry)
        # Appends in progress can make the raw figure lag; never let it go backwards.
        if evicted > self._max_evicted:
            self._max_evicted = evicted
        return self._max_evicted

    def appended(self) -> int:
        """How many items producers have added and counted so far."""
        with self._lock:
            return self._appended_locked()

    def evicted(self) -> int:
        """How many items were overwritten before anyone took them (monotonic, never over)."""
        with self._lock:
            return self._evicted_locked()

    def take(self, limit: int) -> tuple[list[T], int]:
        """Remove up to ``limit`` of the oldest items.

        Returns the items, oldest first, and how many of the leading ones were already put back
        once (they must not be put back again).
        """
        with self._lock:
            self._evicted_locked()
            retry = self._retry
            retried = min(limit, len(retry))
            items = [retry.popleft() for _ in range(retried)]
            popleft = self._items.popleft
            for _ in range(min(limit - retried, len(self._items))):
                try:
                    items.append(popleft())
                except IndexError:  # only this consumer removes; kept for safety
                    break
            self._taken += len(items)
            return items, retried

    def put_back(self, items: Sequence[T]) -> int:
        """Return a failed batch as the oldest items, into the space free at this moment.

        The newest of ``items`` are kept when not all fit; a kept item is marked as retried.
        Returns how many were kept; the caller counts the rest as dropped.
        """
        with self._lock:
            self._evicted_locked()
            free = self.capacity - len(self._items) - len(self._retry)
            keep = list(items[max(0, len(items) - free) :]) if free > 0 else []
            self._retry.extendleft(reversed(keep))
            self._put_back += len(keep)
            return len(keep)

    def drain_all(self) -> list[T]:
        """Remove and return everything buffered (used at shutdown to account for leftovers)."""
        items, _ = self.take(self.capacity + len(self._retry))
        return items
