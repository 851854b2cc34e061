"""Owns the sampling question: ns per ``on_end`` with per-invocation sampling on, against the same
processor without it and the deque floor, and ns per span of the decision at handler done.
Must not build the spans (workloads.py) nor time a decision that was not made as expected.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable

from fixtures import DequeProcessor, NullExporter, one_span
from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, median_spread, ratio, timed
from hotpath import HotPath, TimeFunc, loop
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from workloads import WORKLOADS, lambda_invocation

from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.pipeline import HIGH_WATER_FRACTION
from otel_lambda_processor.signals import HandlerDone, InvocationStarted

HOT_PATH = Goal(1.1)
DECISION = Goal(1, " µs per span")
RATIO = 0.1
REQUEST = "8f3e0c1a-5b2d-4e6f-9a7b-c0d1e2f3a4b5"

# -- the hot path -------------------------------------------------------------------------------
CAPACITY = 2048  # the default buffer
#: Calls timed between two emptyings: below the sampler's bound (and the ring's high-water mark),
#: three quarters of the capacity, so no setup ever settles, exports or evicts while timed.
CHUNK = CAPACITY // 2
assert CHUNK < CAPACITY * HIGH_WATER_FRACTION
DEQUE, PLAIN, SAMPLING = "deque", "LambdaSpanProcessor", f"LambdaSpanProcessor, ratio {RATIO}"
#: A setup: the processor, how to empty its buffer, whether it stayed on the steady hot path.
Hot = tuple[SpanProcessor, Callable[[], object], Callable[[], bool]]


def _deque() -> Hot:
    processor = DequeProcessor(CAPACITY)
    return processor, processor.queue.clear, lambda: len(processor.queue) == 0


def _plain() -> Hot:
    processor = LambdaSpanProcessor(NullExporter(), mode="async", max_queue_size=CAPACITY)
    ring = processor._ring  # emptied as the export thread would, without the thread
    return processor, ring.drain_all, lambda: processor.dropped_spans == 0


def _sampling() -> Hot:
    """Inside an open invocation every span waits in the sampler's inbox until it is decided;
    emptying the inbox (as a decision does) keeps it below the bound past which the invocation
    would be kept whole and its spans pass straight through."""
    processor = LambdaSpanProcessor(
        NullExporter(), mode="async", max_queue_size=CAPACITY, sample_ratio=RATIO
    )
    processor.on_signal(InvocationStarted(REQUEST))
    shell = processor._sampling
    assert shell is not None, "sampling is off"
    sampler = shell.sampler

    def steady() -> bool:  # the invocation is still open and undecided: nothing passed through
        window = sampler.window
        return window is not None and window.verdict is None and processor.sampled_out_spans == 0

    return processor, sampler.drain, steady


HOT: dict[str, Callable[[], Hot]] = {
    DEQUE: _deque,
    PLAIN: _plain,
    SAMPLING: _sampling,
}


def timer(setup: str) -> TimeFunc:
    """Worker side: a fresh processor per value, of the default capacity, its first span handed
    over untimed (the hot path is installed then); calls timed :data:`CHUNK` at a time, the buffer
    emptied untimed after each, as every setup's would be after an invocation."""
    span = one_span()

    def time_func(loops: int) -> float:
        processor, empty, steady = HOT[setup]()
        processor.on_end(span)
        empty()
        chunk = loop(processor.on_end, span)  # the steady hot path, as the SDK finds it
        elapsed = 0.0
        while loops > 0:
            count = min(loops, CHUNK)
            elapsed += chunk(count)
            empty()
            loops -= count
        assert steady(), f"{setup}: the timed calls did not stay on the steady hot path"
        processor.shutdown()
        return elapsed

    return time_func


# -- the decision -------------------------------------------------------------------------------
SPANS = 10_000
#: A buffer whose bound (three quarters of it) holds the whole invocation until it is decided.
DECISION_CAPACITY = 16_384
assert SPANS < DECISION_CAPACITY * HIGH_WATER_FRACTION
#: What each decision is: the invocation's shape (failed, one trace), then how many of its spans
#: the decision samples out. Ratio 0: an ordinary invocation is sampled out, a failed one kept;
#: either way every span is read (the failed span ends last).
VERDICTS = {
    "sampled out": (False, True, SPANS),
    "kept (its invocation span failed)": (True, True, 0),
}
#: The costliest shape: every other span continues a trace of its own (a batch's records), so
#: every span is read as a possible invocation span and its trace remembered as kept.
MANY_TRACES = (
    "repeated values, 9,999 of its spans each continuing a trace of its own (a batch's records)"
)


def _decide(spans: list[ReadableSpan], out: int) -> float:
    """Seconds per span of one decision at handler done (``finalize``: nothing exported then),
    the invocation's spans waiting for it; checks that it sampled out ``out`` of them."""
    processor = LambdaSpanProcessor(
        NullExporter(), mode="finalize", max_queue_size=DECISION_CAPACITY, sample_ratio=0.0
    )
    processor.on_signal(InvocationStarted(REQUEST))
    for span in spans:
        processor.on_end(span)
    gc.collect()  # a collection would land on whichever decision happened to trigger it
    gc.disable()
    try:
        seconds = timed(lambda: processor.on_signal(HandlerDone(REQUEST)))
    finally:
        gc.enable()
    assert processor.sampled_out_spans == out, (processor.sampled_out_spans, out)
    processor.shutdown()
    assert processor.dropped_spans == 0
    return seconds / len(spans)


def _decisions(rounds: Rounds) -> dict[str, list[float]]:
    setups: dict[str, Callable[[], float]] = {}
    for workload, distinct in WORKLOADS.items():
        for verdict, (failed, one_trace, out) in VERDICTS.items():
            spans = lambda_invocation(SPANS, distinct, REQUEST, failed=failed, one_trace=one_trace)
            setups[f"{workload}, {verdict}"] = functools.partial(_decide, spans, out)
    spans = lambda_invocation(SPANS, False, REQUEST, one_trace=False)
    setups[MANY_TRACES] = functools.partial(_decide, spans, 1)
    return rounds.interleave(setups, warmups=1, label="decision")


def _decision_row(name: str, seconds: list[float]) -> Row:
    return Row(
        f"decision at handler done (ratio 0), invocation of 10,000 spans, {name}",
        fmt(seconds, "ns per span", 1e9),
        f"whole invocation {fmt(seconds, 'ms', 1e3 * SPANS)}",
        "—",
        DECISION,
        median_spread(seconds)[0] * 1e6,
    )


def run(rounds: Rounds, quick: bool) -> Answer:
    ns = HotPath("sampling", quick).measure(rounds, list(HOT))
    ours = ns[SAMPLING]
    measurement = f"`on_end`, per-invocation sampling on (ratio {RATIO}, inside an open invocation)"
    rows = [
        Row(
            measurement,
            fmt(ours, "ns"),
            f"`on_end` without sampling {fmt(ns[PLAIN], 'ns')}",
            f"{ratio(ours, ns[PLAIN]):.2f}×",
            HOT_PATH,
            ratio(ours, ns[PLAIN]),
        ),
        Row(
            measurement,
            fmt(ours, "ns"),
            f"deque {fmt(ns[DEQUE], 'ns')}",
            f"{ratio(ours, ns[DEQUE]):.2f}×",
        ),
    ]
    seconds = _decisions(rounds)
    rows += [_decision_row(name, samples) for name, samples in seconds.items()]
    section = [
        f"Sampling rows: `on_end` of `LambdaSpanProcessor` in `async` mode with the default buffer "
        f"({CAPACITY:,} spans), with `sample_ratio={RATIO}` after `InvocationStarted` (every span "
        "waits for its invocation's decision) and without sampling, against a processor that only "
        f"appends to a deque of the same size; {CHUNK:,} calls timed at a time, each buffer "
        "emptied untimed in between (as after an invocation), so none settles, exports or "
        "evicts while timed. Decision: `HandlerDone` for an invocation whose 10,000 spans wait "
        "undecided (its invocation span, named by `faas.invocation_id`, ended last; "
        f"`finalize` mode and a buffer of {DECISION_CAPACITY:,} so that nothing is exported or "
        "kept whole early), garbage collection off while timed, the number sampled out checked."
    ]
    return Answer(rows, [section])


QUESTION = Question(
    name="sampling",
    measures="ns per on_end with per-invocation sampling on; ns per span of the decision",
    goals=(HOT_PATH, DECISION),
    rounds=Counts(quick=3, full=15),
    run=run,
)
