"""The ring buffer: oldest overwritten, every drop counted exactly, failed batches back once."""

from __future__ import annotations

import threading
from collections import deque

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from otel_lambda_processor.buffer import SpanRing


def push(ring: SpanRing[int], *items: int) -> None:
    for item in items:
        ring.append(item)
        ring.tick()


def test_a_full_ring_overwrites_the_oldest_and_counts_each_overwrite() -> None:
    ring: SpanRing[int] = SpanRing(3)
    push(ring, 1, 2, 3, 4, 5)
    assert ring.evicted() == 2
    assert ring.take(10) == ([3, 4, 5], 0)


def test_take_returns_the_oldest_first_and_at_most_the_limit() -> None:
    ring: SpanRing[int] = SpanRing(10)
    push(ring, 1, 2, 3, 4)
    assert ring.take(3) == ([1, 2, 3], 0)
    assert ring.take(3) == ([4], 0)
    assert ring.take(3) == ([], 0)
    assert ring.evicted() == 0


def test_put_back_goes_in_front_as_the_oldest_and_is_marked_retried() -> None:
    ring: SpanRing[int] = SpanRing(10)
    push(ring, 1, 2, 3)
    batch, _ = ring.take(2)
    push(ring, 4)
    assert ring.put_back(batch) == 2
    assert ring.take(10) == ([1, 2, 3, 4], 2)


def test_put_back_uses_free_slots_only_and_keeps_the_newest_of_the_batch() -> None:
    ring: SpanRing[int] = SpanRing(4)
    push(ring, 1, 2, 3, 4)
    batch, _ = ring.take(3)  # [1, 2, 3]
    push(ring, 5, 6)  # ring: 4 5 6, one free slot
    assert ring.put_back(batch) == 1
    assert ring.take(10) == ([3, 4, 5, 6], 1)
    assert ring.evicted() == 0, "not kept by put_back is the caller's drop, not an eviction"


def test_put_back_into_a_full_ring_keeps_nothing_and_evicts_nothing() -> None:
    ring: SpanRing[int] = SpanRing(2)
    push(ring, 1, 2)
    batch, _ = ring.take(2)
    push(ring, 3, 4)
    assert ring.put_back(batch) == 0
    assert ring.take(10) == ([3, 4], 0)


def test_retried_items_evicted_later_are_no_longer_marked() -> None:
    ring: SpanRing[int] = SpanRing(3)
    push(ring, 1, 2)
    batch, _ = ring.take(2)
    ring.put_back(batch)  # 1 2 (retried), one free slot
    push(ring, 3, 4, 5)  # evicts 1 and 2
    assert ring.evicted() == 2
    assert ring.take(10) == ([3, 4, 5], 0)


class _AppendsWhileRead(list[int]):
    """A batch whose reading lets producers fill the ring: the interleaving a thread switch in
    the middle of ``put_back`` would give."""

    def __init__(self, items: list[int], ring: SpanRing[int], *new: int) -> None:
        super().__init__(items)
        self._ring, self._new = ring, list(new)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        push(self._ring, *self._new)
        self._new = []
        return super().__getitem__(index)


def test_put_back_racing_producers_never_loses_the_newest_spans() -> None:
    ring: SpanRing[int] = SpanRing(4)
    push(ring, 1, 2, 3, 4)
    batch, _ = ring.take(2)  # [1, 2]; two slots free
    kept = ring.put_back(_AppendsWhileRead(batch, ring, 5, 6))  # 5 and 6 arrive meanwhile
    assert kept == 2
    assert ring.take(10) == ([3, 4, 5, 6], 0), "the oldest (put back) go, never the newest"
    assert ring.evicted() == 2


def test_a_put_back_excess_is_dropped_before_anything_is_counted_or_taken() -> None:
    ring: SpanRing[int] = SpanRing(3)
    push(ring, 1, 2, 3)
    batch, _ = ring.take(2)  # [1, 2]
    assert ring.put_back(batch) == 2
    push(ring, 4, 5)  # ring full of new spans (3 4 5): both put-back items are now surplus
    assert len(ring) == 3
    assert ring.evicted() == 2
    assert ring.take(10) == ([3, 4, 5], 0)


def test_concurrent_put_backs_keep_the_newest_span_and_account_for_every_item() -> None:
    ring: SpanRing[int] = SpanRing(16)
    total = 40_000
    out: list[int] = []
    dropped = 0
    done = threading.Event()

    def produce() -> None:
        for i in range(total):
            ring.append(i)
            ring.tick()
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    fail = True
    while not done.is_set():
        items, retried = ring.take(5)
        fail = not fail
        if fail:
            dropped += retried + len(items) - retried - ring.put_back(items[retried:])
        else:
            out.extend(items)
    producer.join()
    rest = ring.drain_all()
    assert rest and rest[-1] == total - 1, "the newest span is never pushed out by a put-back"
    assert len(out) + len(rest) + dropped + ring.evicted() == total


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SpanRing(0)


def test_concurrent_appends_are_all_accounted_for() -> None:
    ring: SpanRing[int] = SpanRing(100)
    per_thread, threads = 20_000, 4
    taken: list[int] = []
    stop = threading.Event()

    def produce(base: int) -> None:
        for i in range(per_thread):
            ring.append(base + i)
            ring.tick()

    def consume() -> None:
        while not stop.is_set():
            taken.extend(ring.take(7)[0])
            assert ring.evicted() >= 0

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=produce, args=(n * per_thread,)) for n in range(threads)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    stop.set()
    consumer.join()
    rest = ring.drain_all()
    total = per_thread * threads
    assert len(taken) + len(rest) + ring.evicted() == total
    assert len(set(taken + rest)) == len(taken) + len(rest), "no item handed out twice"
    for n in range(threads):  # per producer, items leave in the order they came
        mine = [x for x in taken + rest if n * per_thread <= x < (n + 1) * per_thread]
        assert mine == sorted(mine)


class RingModel(RuleBasedStateMachine):
    """The ring against a plain model: a list, a drop counter and a retried-prefix length."""

    def __init__(self) -> None:
        super().__init__()
        self.capacity = 0
        self.ring: SpanRing[int] = SpanRing(1)
        self.model: deque[int] = deque()
        self.evicted = 0
        self.retried: set[int] = set()
        self.next_item = 0
        self.out: list[int] = []
        self.dropped_by_caller = 0

    @precondition(lambda self: self.capacity == 0)
    @rule(capacity=st.integers(1, 12))
    def create(self, capacity: int) -> None:
        self.capacity = capacity
        self.ring = SpanRing(capacity)

    @precondition(lambda self: self.capacity > 0)
    @rule(count=st.integers(1, 20))
    def append(self, count: int) -> None:
        for _ in range(count):
            item = self.next_item
            self.next_item += 1
            push(self.ring, item)
            if len(self.model) == self.capacity:
                self.retried.discard(self.model.popleft())
                self.evicted += 1
            self.model.append(item)

    @precondition(lambda self: self.capacity > 0)
    @rule(limit=st.integers(1, 15), fail=st.booleans())
    def take_and_maybe_fail(self, limit: int, fail: bool) -> None:
        items, retried = self.ring.take(limit)
        expected = [self.model.popleft() for _ in range(min(limit, len(self.model)))]
        assert items == expected
        assert retried == sum(1 for i in items if i in self.retried)
        assert all(i in self.retried for i in items[:retried])
        if not fail:
            self.out.extend(items)
            self.retried.difference_update(items)
            return
        fresh = items[retried:]
        self.dropped_by_caller += retried
        self.retried.difference_update(items[:retried])
        kept = self.ring.put_back(fresh)
        free = self.capacity - len(self.model)
        assert kept == min(free, len(fresh))
        back = fresh[len(fresh) - kept :] if kept else []
        self.dropped_by_caller += len(fresh) - kept
        self.model.extendleft(reversed(back))
        self.retried.update(back)

    @invariant()
    def accounting_is_exact(self) -> None:
        assert len(self.ring) == len(self.model) <= max(self.capacity, 1)
        assert self.ring.evicted() == self.evicted
        total = len(self.out) + len(self.model) + self.evicted + self.dropped_by_caller
        assert total == self.next_item


TestRingModel = RingModel.TestCase
TestRingModel.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
