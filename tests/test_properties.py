"""Property tests: random interleavings of span ends, flushes, failures and hangs lose nothing."""

from __future__ import annotations

import threading
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from otel_lambda_processor import LambdaSpanProcessor, handler_done

from .conftest import SUCCEEDS, ScriptedExporter

thread_ops = st.lists(
    st.one_of(
        st.tuples(st.just("end"), st.integers(1, 40)),
        st.tuples(st.just("flush"), st.integers(0, 30)),
        st.tuples(st.just("done"), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    capacity=st.integers(1, 48),
    batch_ratio=st.floats(0.05, 1.0),
    mode=st.sampled_from(["sync", "async", "finalize"]),
    plans=st.lists(thread_ops, min_size=1, max_size=3),
    script=st.lists(st.sampled_from(["ok", "ok", "slow", "fail", "raise", "hang"]), max_size=12),
    finish_with_shutdown=st.booleans(),
)
def test_every_ended_span_is_exported_or_counted_as_dropped(
    capacity: int,
    batch_ratio: float,
    mode: str,
    plans: list[list[tuple[str, int]]],
    script: list[str],
    finish_with_shutdown: bool,
) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = ScriptedExporter(script)
    batch = max(1, int(capacity * batch_ratio))
    processor = LambdaSpanProcessor(
        exporter,
        mode=mode,
        max_queue_size=capacity,
        max_export_batch_size=batch,
        export_timeout_millis=2000,
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("property")
    ended: dict[int, list[int]] = defaultdict(list)  # thread -> span ids in end order
    start = threading.Barrier(len(plans))

    def run(index: int, plan: list[tuple[str, int]]) -> None:
        start.wait()
        for op, arg in plan:
            if op == "end":
                for _ in range(arg):
                    span = tracer.start_span("s")
                    span.end()
                    ended[index].append(span.get_span_context().span_id)
            elif op == "flush":
                processor.force_flush(arg)
            else:
                handler_done()

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    exporter.script.clear()
    exporter.release.set()
    if finish_with_shutdown:
        processor.shutdown()
    else:
        for _ in range(3):  # a batch put back after a failure goes out at the next flush
            if processor.force_flush(10_000):
                break
        assert len(processor._ring) == 0

    total = sum(len(ids) for ids in ended.values())
    delivered = [s.get_span_context().span_id for s in exporter.delivered()]
    assert len(delivered) == len(set(delivered)), "a span was exported successfully twice"
    assert len(delivered) + processor.dropped_spans == total

    attempts: dict[int, list[str]] = defaultdict(list)
    for spans, action in exporter.calls:
        for span in spans:
            attempts[span.get_span_context().span_id].append(action)
        assert len(spans) <= batch
    for actions in attempts.values():
        assert len(actions) <= 2, "handed to export() more than twice"
        if len(actions) == 2:
            assert actions[0] not in SUCCEEDS, "handed to export() again after it succeeded"

    first_seen: dict[int, int] = {}
    for position, span in enumerate(s for spans, _ in exporter.calls for s in spans):
        first_seen.setdefault(span.get_span_context().span_id, position)
    for ids in ended.values():
        order = [first_seen[i] for i in ids if i in first_seen]
        assert order == sorted(order), "spans of one thread left out of order"
    if not finish_with_shutdown:
        processor.shutdown()
    provider.shutdown()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    capacity=st.integers(1, 48),
    mode=st.sampled_from(["sync", "async", "finalize"]),
    ratio=st.sampled_from([0.0, 0.5]),
    plans=st.lists(thread_ops, min_size=1, max_size=3),
    script=st.lists(st.sampled_from(["ok", "ok", "fail", "hang"]), max_size=8),
    finish_with_shutdown=st.booleans(),
)
def test_with_sampling_every_ended_span_is_exported_dropped_or_sampled_out(
    capacity: int,
    mode: str,
    ratio: float,
    plans: list[list[tuple[str, int]]],
    script: list[str],
    finish_with_shutdown: bool,
) -> None:
    # Threads ending traces, flushing and saying "handler done" at once: sampling steps race
    # the hot path, flushes and the export thread, and still every span is accounted once.
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = ScriptedExporter(script)
    processor = LambdaSpanProcessor(
        exporter,
        mode=mode,
        max_queue_size=capacity,
        max_export_batch_size=max(1, capacity // 2),
        export_timeout_millis=2000,
        sample_ratio=ratio,
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("property")
    ended: dict[int, int] = defaultdict(int)
    start = threading.Barrier(len(plans))

    def run(index: int, plan: list[tuple[str, int]]) -> None:
        start.wait()
        for op, arg in plan:
            if op == "end":
                with tracer.start_as_current_span("root"):
                    for _ in range(arg - 1):
                        tracer.start_span("s").end()
                ended[index] += arg
            elif op == "flush":
                processor.force_flush(arg)
            else:
                handler_done()

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    exporter.script.clear()
    exporter.release.set()
    if finish_with_shutdown:
        processor.shutdown()
    else:
        for _ in range(3):
            if processor.force_flush(10_000):
                break
    delivered = [s.get_span_context().span_id for s in exporter.delivered()]
    assert len(delivered) == len(set(delivered)), "a span was exported successfully twice"
    total = sum(ended.values())
    assert len(delivered) + processor.dropped_spans + processor.sampled_out_spans == total
    processor.shutdown()
    provider.shutdown()
