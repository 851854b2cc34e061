"""The per-invocation sampler as a plain state machine: every rule and event with plain values,
no threads, no clock, no processor; then its reader on the SDK's real spans."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from otel_lambda_processor.sampling import (
    SDK_SPANS,
    InvocationSampler,
    Root,
    Settled,
    Verdict,
)

MS = 1_000_000


class Item(NamedTuple):
    """A span as the machine sees it."""

    name: str
    trace: int | None
    root: Root | None = None
    error: bool = False


class Reader:
    def trace_ids(self, batch: Sequence[Item]) -> list[int | None]:
        return [item.trace for item in batch]

    def roots(self, batch: Sequence[Item]) -> list[tuple[int, Root]]:
        return [(i, item.root) for i, item in enumerate(batch) if item.root is not None]

    def any_error(self, batch: Sequence[Item], of: Sequence[bool]) -> bool:
        return any(item.error for item, mine in zip(batch, of, strict=True) if mine)


class Coins:
    """A scripted random source that fails the test if asked more often than scripted."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        assert self.values, "the machine tossed a coin it did not need"
        return self.values.pop(0)


def machine(
    ratio: float = 0.0, slower_ms: float | None = None, coins: Coins | None = None
) -> InvocationSampler[Item]:
    slower = None if slower_ms is None else int(slower_ms * MS)
    return InvocationSampler(ratio, slower, Reader(), coins or Coins(), now_ns=0)


def end_invocation(
    m: InvocationSampler[Item],
    trace_id: int,
    *,
    request: str | None = "r",
    start_ms: int = 10,
    end_ms: int = 20,
    children: int = 2,
    error: bool = False,
    upstream_sampled: bool = False,
    root_error: bool = False,
) -> list[Item]:
    """Append an invocation's children, then its root (the invocation span ends last)."""
    items = [Item(f"child{i}", trace_id, error=error and i == 0) for i in range(children)]
    root = Root(upstream_sampled, start_ms * MS, end_ms * MS, request)
    items.append(Item("root", trace_id, root, error=root_error))
    for item in items:
        m.append(item)
    return items


def names(settled: Settled[Item]) -> tuple[list[str], list[str]]:
    return [i.name for i in settled.keep], [i.name for i in settled.out]


# -- the verdict -------------------------------------------------------------------------------
def test_an_ordinary_invocation_at_ratio_zero_is_sampled_out_whole_at_handler_done() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1)
    settled = m.handler_done("r", 30 * MS, decide=True)
    assert settled.keep == [] and settled.out == items
    assert m.window is None and m.pending == 0


def test_at_ratio_one_every_invocation_is_kept_without_tossing_a_coin() -> None:
    m = machine(1.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(items, [])


@pytest.mark.parametrize("where", ["child", "root"])
def test_an_error_anywhere_in_the_invocation_keeps_it_whole(where: str) -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1, error=where == "child", root_error=where == "root")
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(items, [])


def test_an_error_in_another_trace_does_not_keep_the_invocation() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    m.append(Item("background", 9, error=True))
    items = end_invocation(m, 1)
    settled = m.handler_done("r", 30 * MS, decide=True)
    assert names(settled) == (["background"], [i.name for i in items])


def test_an_invocation_span_longer_than_the_threshold_keeps_it_and_one_as_long_does_not() -> None:
    m = machine(0.0, slower_ms=10)
    m.started("a", 0)
    slow = end_invocation(m, 1, request="a", start_ms=10, end_ms=21)
    assert m.handler_done("a", 30 * MS, decide=True) == Settled(slow, [])
    m.started("b", 40 * MS)
    exactly = end_invocation(m, 2, request="b", start_ms=50, end_ms=60)
    assert m.handler_done("b", 70 * MS, decide=True) == Settled([], exactly)


def test_a_sampled_remote_parent_keeps_it_an_unsampled_one_does_not() -> None:
    m = machine(0.0)
    m.started("a", 0)
    upstream = end_invocation(m, 1, request="a", upstream_sampled=True)
    assert m.handler_done("a", 30 * MS, decide=True) == Settled(upstream, [])
    m.started("b", 40 * MS)
    ordinary = end_invocation(m, 2, request="b", start_ms=50, end_ms=60)
    assert m.handler_done("b", 70 * MS, decide=True) == Settled([], ordinary)


def test_an_ordinary_invocation_is_kept_when_the_coin_falls_below_the_ratio() -> None:
    m = machine(0.25, coins=Coins(0.2, 0.25, 0.9))
    outcomes = []
    for n, request in enumerate("abc"):
        m.started(request, n * 100 * MS)
        end_invocation(m, n + 1, request=request, start_ms=n * 100 + 10, end_ms=n * 100 + 20)
        settled = m.handler_done(request, (n * 100 + 30) * MS, decide=True)
        outcomes.append(bool(settled.keep))
    assert outcomes == [True, False, False]


def test_the_coin_is_not_tossed_for_invocations_kept_by_a_rule() -> None:
    m = machine(0.5, slower_ms=1, coins=Coins())  # any toss fails the test
    m.started("a", 0)
    end_invocation(m, 1, request="a", start_ms=10, end_ms=20)
    assert m.handler_done("a", 30 * MS, decide=True).out == []


def test_a_seeded_random_source_keeps_about_the_ratio() -> None:
    source = random.Random(1234)
    m = InvocationSampler(0.3, None, Reader(), source.random, now_ns=0)
    kept = 0
    for n in range(2000):
        request = f"r{n}"
        m.started(request, n * 100 * MS)
        end_invocation(m, n + 1, request=request, start_ms=n * 100 + 10, end_ms=n * 100 + 20)
        kept += bool(m.handler_done(request, (n * 100 + 30) * MS, decide=True).keep)
    assert 540 <= kept <= 660  # 600 expected; a seeded source gives the same count every run


# -- which spans are the invocation's -----------------------------------------------------------
def test_spans_ended_before_the_invocation_started_are_kept_when_it_starts() -> None:
    m = machine(0.0)
    init = [Item("init-child", 7), Item("init", 7, Root(False, 1 * MS, 2 * MS, None))]
    for item in init:
        m.append(item)
    assert m.started("r", 5 * MS) == Settled(init, [])


def test_spans_of_other_traces_during_the_invocation_are_kept() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    background_root = Item("background", 8, Root(False, 12 * MS, 13 * MS, None))
    m.append(Item("background-child", 8))
    m.append(background_root)
    items = end_invocation(m, 1)
    settled = m.handler_done("r", 30 * MS, decide=True)
    assert names(settled) == (["background-child", "background"], [i.name for i in items])


def test_the_invocation_span_is_found_by_request_id_before_anything_else() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    # A span without a parent that started in the window and ended after the handler's own:
    # by time alone it would pass for the invocation span; the request id says otherwise.
    items = end_invocation(m, 1, request="r", start_ms=10, end_ms=20)
    m.append(Item("late background", 8, Root(False, 11 * MS, 25 * MS, None)))
    settled = m.handler_done("r", 30 * MS, decide=True)
    assert names(settled) == (["late background"], [i.name for i in items])


def test_without_a_request_id_the_last_root_ended_in_the_window_is_the_invocation_span() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    before = Item("started before", 7, Root(False, 1 * MS, 12 * MS, None))
    m.append(before)
    m.append(Item("background", 8, Root(False, 11 * MS, 12 * MS, None)))
    items = end_invocation(m, 1, request=None, start_ms=10, end_ms=20)
    after = Item("ended after done", 9, Root(False, 21 * MS, 35 * MS, None))
    m.append(after)
    settled = m.handler_done("r", 30 * MS, decide=True)
    assert names(settled) == (
        ["started before", "background", "ended after done"],
        [i.name for i in items],
    )


def test_with_no_start_signal_an_invocation_begins_where_the_previous_was_decided() -> None:
    m = machine(0.0)  # created at 0: the first invocation's window starts there
    first = end_invocation(m, 1, request=None, start_ms=10, end_ms=20)
    assert m.handler_done(None, 30 * MS, decide=True) == Settled([], first)
    m.append(Item("between", 5, Root(False, 25 * MS, 26 * MS, None)))  # began before 30 ms
    second = end_invocation(m, 2, request=None, start_ms=40, end_ms=50)
    settled = m.handler_done(None, 60 * MS, decide=True)
    assert names(settled) == (["between"], [i.name for i in second])


def test_an_invocation_without_an_invocation_span_has_nothing_to_sample() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    orphans = [Item("child of an init span", 7), Item("another", 7)]
    for item in orphans:
        m.append(item)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(orphans, [])


def test_unreadable_spans_are_kept() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    m.append(Item("unreadable", None))
    items = end_invocation(m, 1)
    assert names(m.handler_done("r", 30 * MS, decide=True)) == (
        ["unreadable"],
        [i.name for i in items],
    )


# -- when it is decided -------------------------------------------------------------------------
def test_a_deferred_decision_waits_for_the_flush_that_follows_the_response() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1)
    assert m.handler_done("r", 30 * MS, decide=False) == Settled([], [])
    assert m.pending == len(items) and m.window is not None and m.window.done_ns == 30 * MS
    assert m.flush(35 * MS, "r") == Settled([], items)
    assert m.window is None


def test_a_flush_in_the_middle_keeps_the_undecided_invocation_whole() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    m.append(Item("early child", 1))
    assert names(m.flush(15 * MS)) == (["early child"], [])
    assert m.window is not None and m.window.verdict is Verdict.KEEP and m.passes_through
    items = end_invocation(m, 1)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(items, [])


def test_a_flush_after_the_invocation_span_ended_decides_it_then() -> None:
    # The AWS Lambda instrumentation ends its span, then flushes, before "handler done".
    m = machine(0.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1)
    assert m.flush(25 * MS) == Settled([], items)
    straggler = Item("ended after the flush", 1)
    other = Item("other trace", 2)
    m.append(straggler)
    m.append(other)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled([other], [straggler])


def test_a_flush_without_a_request_id_keeps_an_open_invocation_it_cannot_recognise() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1, request=None)  # no faas.invocation_id
    assert m.flush(25 * MS) == Settled(items, [])


def test_a_flush_for_another_request_leaves_the_open_invocation_alone() -> None:
    m = machine(0.0)
    m.started("next", 5 * MS)
    m.append(Item("child of next", 1))
    assert m.flush(6 * MS, "previous") == Settled([], [])
    assert m.pending == 1 and m.window is not None and m.window.verdict is None


def test_overflow_keeps_the_open_invocation_whole_and_lets_it_pass_through() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    m.append(Item("c0", 1))
    m.append(Item("c1", 1))
    assert names(m.overflow(12 * MS)) == (["c0", "c1"], [])
    assert m.passes_through
    m.append(Item("c2", 1))
    assert names(m.overflow(13 * MS)) == (["c2"], [])
    items = end_invocation(m, 1, children=0)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(items, [])
    assert not m.passes_through


def test_overflow_with_no_invocation_announced_keeps_the_one_running() -> None:
    m = machine(0.0)
    m.append(Item("c0", 1))
    assert names(m.overflow(12 * MS)) == (["c0"], [])
    assert m.passes_through
    items = end_invocation(m, 1, request=None, children=0)
    assert m.handler_done(None, 30 * MS, decide=True) == Settled(items, [])


def test_overflow_of_a_done_invocation_decides_it() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1)
    m.handler_done("r", 30 * MS, decide=False)
    assert m.overflow(31 * MS) == Settled([], items)
    assert not m.passes_through


def test_an_empty_overflow_outside_any_invocation_changes_nothing() -> None:
    m = machine(0.0)
    assert m.overflow(1 * MS) == Settled([], []) and m.window is None


# -- signals out of order -----------------------------------------------------------------------
def test_a_second_handler_done_for_a_decided_invocation_is_ignored() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    end_invocation(m, 1)
    m.handler_done("r", 30 * MS, decide=True)
    m.append(Item("runtime span", 3, Root(False, 31 * MS, 32 * MS, None)))
    assert m.handler_done("r", 33 * MS, decide=True) == Settled([], [])
    assert m.window is None and m.pending == 1


def test_a_second_start_and_a_start_after_done_open_nothing_new() -> None:
    m = machine(0.0)
    m.started("r", 5 * MS)
    window = m.window
    assert m.started("r", 6 * MS) == Settled([], []) and m.window is window
    end_invocation(m, 1)
    m.handler_done("r", 30 * MS, decide=True)
    assert m.started("r", 31 * MS) == Settled([], []) and m.window is None


def test_an_invocation_whose_handler_never_said_done_is_decided_when_the_next_starts() -> None:
    m = machine(0.0)
    m.started("a", 5 * MS)
    items = end_invocation(m, 1, request="a")
    assert m.started("b", 40 * MS) == Settled([], items)
    assert m.window is not None and m.window.ids == ("b",)


def test_a_deferred_decision_is_made_when_the_next_invocation_starts_first() -> None:
    m = machine(0.0)
    m.started("a", 5 * MS)
    items = end_invocation(m, 1, request="a")
    m.handler_done("a", 30 * MS, decide=False)
    assert m.started("b", 40 * MS) == Settled([], items)


def test_handler_done_for_an_unknown_request_closes_whatever_is_open() -> None:
    # One process serves one invocation at a time: "done" for b means a's window is over too.
    m = machine(0.0)
    m.started("a", 5 * MS)
    items = end_invocation(m, 1, request="b")
    assert m.handler_done("b", 30 * MS, decide=True) == Settled([], items)
    assert m.window is None
    assert m.handler_done("a", 31 * MS, decide=True) == Settled([], [])


def test_a_done_for_another_request_after_a_deferred_one_decides_both_apart() -> None:
    m = machine(0.0)
    first = end_invocation(m, 1, request="a", start_ms=1, end_ms=2)
    m.handler_done("a", 3 * MS, decide=False)
    second = end_invocation(m, 2, request="b", start_ms=4, end_ms=5)
    settled = m.handler_done("b", 6 * MS, decide=True)
    # a's decision comes first; b's spans, in its batch, were kept then, so b is kept too.
    assert settled == Settled(second, first)


# -- never a partial trace ----------------------------------------------------------------------
def test_spans_of_a_sampled_out_trace_that_end_later_are_sampled_out() -> None:
    m = machine(0.0)
    m.started("a", 5 * MS)
    end_invocation(m, 1, request="a")
    m.handler_done("a", 30 * MS, decide=True)
    late = Item("late child", 1)
    background = Item("background", 2)
    m.append(late)
    m.append(background)
    assert m.started("b", 40 * MS) == Settled([background], [late])


def test_a_trace_partly_kept_before_its_decision_is_kept_whole() -> None:
    # The start signal arrives late (the INVOKE event after the handler began): what ended
    # before it was kept as outside any invocation, so the invocation cannot be sampled out.
    m = machine(0.0)
    early = Item("early child", 1)
    m.append(early)
    m.flush(8 * MS)
    m.started("r", 9 * MS)
    items = end_invocation(m, 1, start_ms=7)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(items, [])


def test_the_newest_decision_of_a_trace_wins() -> None:
    # Two invocations in one upstream trace: each is decided on its own.
    m = machine(0.5, coins=Coins(0.9, 0.1))
    m.started("a", 5 * MS)
    first = end_invocation(m, 1, request="a")
    assert m.handler_done("a", 30 * MS, decide=True) == Settled([], first)
    m.started("b", 40 * MS)
    second = end_invocation(m, 1, request="b", start_ms=50, end_ms=60)
    assert m.handler_done("b", 70 * MS, decide=True) == Settled(second, [])
    straggler = Item("straggler", 1)
    m.append(straggler)
    assert m.flush(80 * MS) == Settled([straggler], [])


def test_the_memories_are_bounded() -> None:
    m = InvocationSampler(0.0, None, Reader(), Coins(), now_ns=0, trace_memory=3)
    for n in range(10):
        request = f"r{n}"
        m.started(request, n * 100 * MS)
        end_invocation(m, n + 1, request=request, start_ms=n * 100 + 10, end_ms=n * 100 + 20)
        m.handler_done(request, (n * 100 + 30) * MS, decide=True)
    assert list(m._out_traces) == [8, 9, 10]
    assert len(m._decided) == 10


def test_appends_made_while_an_event_runs_wait_for_the_next() -> None:
    class Appending(Reader):
        def __init__(self) -> None:
            self.machine: InvocationSampler[Item] | None = None

        def trace_ids(self, batch: Sequence[Item]) -> list[int | None]:
            assert self.machine is not None
            self.machine.append(Item("meanwhile", 5))  # another thread's on_end, mid-event
            return super().trace_ids(batch)

    reader = Appending()
    m = InvocationSampler(0.0, None, reader, Coins(), now_ns=0)
    reader.machine = m
    m.append(Item("first", 4))
    assert names(m.flush(1 * MS)) == (["first"], [])
    assert [i.name for i in m.inbox] == ["meanwhile"]
    assert [i.name for i in m.drain()] == ["meanwhile"] and m.pending == 0


def test_a_ratio_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.5"):
        InvocationSampler(1.5, None, Reader(), Coins())


# -- the reader of the SDK's spans --------------------------------------------------------------
def test_the_sdk_reader_finds_roots_remote_parents_invocation_ids_and_errors() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    tracer = provider.get_tracer("test")
    upstream = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    parent = trace.set_span_in_context(NonRecordingSpan(upstream))
    root = tracer.start_span("root", context=parent, attributes={"faas.invocation_id": "r1"})
    child = tracer.start_span("child", context=trace.set_span_in_context(root))
    child.set_status(Status(StatusCode.ERROR))
    child.end()
    root.end()
    local = tracer.start_span("local root", attributes={"faas.invocation_id": 42})
    local.end()
    batch = [child, root, local, object()]
    assert SDK_SPANS.trace_ids(batch) == [0xABC, 0xABC, local.context.trace_id, None]
    roots = SDK_SPANS.roots(batch)
    assert [(i, r.upstream_sampled, r.invocation_id) for i, r in roots] == [
        (1, True, "r1"),
        (2, False, None),  # not a string: no invocation id
    ]
    assert roots[0][1].end_ns - roots[0][1].start_ns == root.end_time - root.start_time  # type: ignore[operator]
    assert SDK_SPANS.any_error(batch, [True, False, False, False])
    assert not SDK_SPANS.any_error(batch, [False, True, True, True])
    provider.shutdown()


def test_a_reader_that_fails_keeps_every_span_it_could_not_judge() -> None:
    class Broken(Reader):
        def roots(self, batch: Sequence[Item]) -> list[tuple[int, Root]]:
            raise RuntimeError("cannot read")

    m = InvocationSampler(0.0, None, Broken(), Coins(), now_ns=0)
    m.started("r", 5 * MS)
    items = end_invocation(m, 1)
    assert m.handler_done("r", 30 * MS, decide=True) == Settled(items, [])
    assert m.pending == 0 and m.window is None
