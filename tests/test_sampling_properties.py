"""Property tests of per-invocation sampling: random invocation shapes, signals in random orders,
flushes, overflow and shutdown in the middle. Whatever happens, every span is accounted for once,
and no invocation is split between exported and sampled out."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.sampling import InvocationSampler, Root, Settled
from otel_lambda_processor.signals import ExportDue, ExportReason, HandlerDone, InvocationStarted

from .conftest import ScriptedExporter

MS = 1_000_000


# -- the machine alone ---------------------------------------------------------------------------
class Item(NamedTuple):
    key: int
    trace: int
    root: Root | None = None
    error: bool = False


class Reader:
    def trace_ids(self, batch: Sequence[Item]) -> list[int | None]:
        return [item.trace for item in batch]

    def roots(self, batch: Sequence[Item]) -> list[tuple[int, Root]]:
        return [(i, item.root) for i, item in enumerate(batch) if item.root is not None]

    def any_error(self, batch: Sequence[Item], of: Sequence[bool]) -> bool:
        return any(item.error for item, mine in zip(batch, of, strict=True) if mine)


class Invocation:
    def __init__(self, request: str, trace_id: int, start_ns: int, *, traced: bool) -> None:
        self.request = request
        self.trace = trace_id
        self.start_ns = start_ns
        self.traced = traced
        self.keys: list[int] = []
        self.root_ended = False
        self.must_keep = False


class SamplerMachine(RuleBasedStateMachine):
    """Drives an :class:`InvocationSampler` with invocations, background spans and every event,
    in any order a process can produce them, and checks the books after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.next_key = 0
        self.next_trace = 1
        self.sampler: InvocationSampler[Item] | None = None
        self.current: Invocation | None = None
        self.invocations: list[Invocation] = []
        self.background: set[int] = set()
        self.appended: list[Item] = []
        self.kept: list[Item] = []
        self.out: list[Item] = []

    @rule(ratio=st.sampled_from([0.0, 0.3, 1.0]), seed=st.integers(0, 2**32))
    @precondition(lambda self: self.sampler is None)
    def create(self, ratio: float, seed: int) -> None:
        source = random.Random(seed)
        self.sampler = InvocationSampler(ratio, 5 * MS, Reader(), source.random, now_ns=0)

    def _tick(self, ms: int = 1) -> int:
        self.now += ms * MS
        return self.now

    def _append(self, trace_id: int, root: Root | None = None, error: bool = False) -> Item:
        assert self.sampler is not None
        item = Item(self.next_key, trace_id, root, error)
        self.next_key += 1
        self.sampler.append(item)
        self.appended.append(item)
        return item

    def _take(self, settled: Settled[Item]) -> None:
        self.kept.extend(settled.keep)
        self.out.extend(settled.out)

    @rule(announce=st.booleans(), traced=st.booleans())
    @precondition(lambda self: self.sampler is not None and self.current is None)
    def start(self, announce: bool, traced: bool) -> None:
        assert self.sampler is not None
        request = f"r{len(self.invocations)}"
        start = self._tick()
        self.current = Invocation(request, self.next_trace, start + 1, traced=traced)
        self.next_trace += 1
        self.invocations.append(self.current)
        if announce:
            self._take(self.sampler.started(request, start))

    @rule(error=st.booleans())
    @precondition(lambda self: self.current is not None and not self.current.root_ended)
    def end_child(self, error: bool) -> None:
        assert self.current is not None
        self._tick()
        self.current.keys.append(self._append(self.current.trace, error=error).key)
        self.current.must_keep |= error

    @rule(slow=st.booleans(), upstream=st.booleans(), error=st.booleans())
    @precondition(lambda self: self.current is not None and not self.current.root_ended)
    def end_root(self, slow: bool, upstream: bool, error: bool) -> None:
        current = self.current
        assert current is not None
        end = self._tick(10 if slow else 1)
        root = Root(upstream, current.start_ns, end, current.request if current.traced else None)
        current.keys.append(self._append(current.trace, root, error).key)
        current.root_ended = True
        current.must_keep |= slow or upstream or error

    @rule(decide=st.booleans(), with_id=st.booleans())
    @precondition(lambda self: self.current is not None and self.current.root_ended)
    def handler_done(self, decide: bool, with_id: bool) -> None:
        assert self.sampler is not None and self.current is not None
        request = self.current.request if with_id or self.current.traced else None
        self._take(self.sampler.handler_done(request, self._tick(), decide=decide))
        self.current = None

    @rule()
    @precondition(lambda self: self.current is not None and self.current.root_ended)
    def handler_never_says_done(self) -> None:
        self.current = None  # the next start or flush decides it

    @rule(spans=st.integers(1, 3))
    @precondition(lambda self: self.sampler is not None)
    def background(self, spans: int) -> None:
        # Only while no invocation span has ended unannounced: a handler's span ends last.
        if self.current is not None and self.current.root_ended:
            return
        trace_id = self.next_trace
        self.next_trace += 1
        start = self._tick()
        for _ in range(spans - 1):
            self.background.add(self._append(trace_id).key)
        root = Root(False, start, self._tick(), None)
        self.background.add(self._append(trace_id, root).key)

    def _waiting_in_the_middle(self) -> bool:
        """Whether an undecided invocation has spans waiting: a flush now exports them, so the
        rest of it must be kept (with none waiting, nothing of it leaves yet)."""
        if self.current is None or self.current.root_ended or self.sampler is None:
            return False
        waiting = {item.key for item in self.sampler.inbox}
        return any(key in waiting for key in self.current.keys)

    @rule()
    @precondition(lambda self: self.sampler is not None)
    def flush(self) -> None:
        assert self.sampler is not None
        if self._waiting_in_the_middle():
            self.current.must_keep = True  # in the middle of an undecided invocation
        self._take(self.sampler.flush(self._tick()))

    @rule()
    @precondition(lambda self: self.sampler is not None)
    def export_due_for_the_last_invocation(self) -> None:
        assert self.sampler is not None
        if not self.invocations:
            return
        if self._waiting_in_the_middle():
            self.current.must_keep = True  # the deadline, before the handler is done
        last = self.invocations[-1].request
        self._take(self.sampler.flush(self._tick(), last))

    @rule()
    @precondition(lambda self: self.sampler is not None)
    def overflow(self) -> None:
        assert self.sampler is not None
        if self.current is not None and not self.current.root_ended and self.sampler.pending:
            self.current.must_keep = True
        self._take(self.sampler.overflow(self._tick()))

    @invariant()
    def every_span_is_in_exactly_one_place(self) -> None:
        if self.sampler is None:
            return
        places = [i.key for i in self.kept] + [i.key for i in self.out]
        places += [i.key for i in self.sampler.inbox]
        assert sorted(places) == [i.key for i in self.appended]

    @invariant()
    def no_invocation_is_split_and_what_matters_is_kept(self) -> None:
        out = {i.key for i in self.out}
        kept = {i.key for i in self.kept}
        for invocation in self.invocations:
            keys = set(invocation.keys)
            assert not (keys & out and keys & kept), "an invocation was split"
            if invocation.must_keep:
                assert not keys & out, "an invocation that had to be kept was sampled out"
        assert not self.background & out, "a span outside any invocation was sampled out"


SamplerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_the_sampler_keeps_its_books_and_never_splits_an_invocation = SamplerMachine.TestCase


# -- the processor end to end --------------------------------------------------------------------
invocation_shapes = st.fixed_dictionaries(
    {
        "announce": st.booleans(),
        "traced": st.booleans(),
        "children": st.integers(0, 24),
        "error": st.sampled_from([None, None, "child", "root"]),
        "slow": st.booleans(),
        "parent": st.sampled_from(["none", "none", "sampled", "unsampled"]),
        "flush": st.sampled_from([None, None, "handler thread", "other thread"]),
        "flush_at": st.integers(0, 24),
        "background": st.integers(0, 3),
        "done": st.sampled_from(["decide", "follows", "missing"]),
        "done_with_id": st.booleans(),
    }
)


@contextmanager
def sampled_out_spans() -> Iterator[list[Any]]:
    """Every span the sampler released as sampled out (a spy on its one settling step)."""
    found: list[Any] = []
    original = InvocationSampler._settle

    def spy(self: InvocationSampler[Any], *args: Any, **kwargs: Any) -> Settled[Any]:
        settled = original(self, *args, **kwargs)
        found.extend(settled.out)
        return settled

    with mock.patch.object(InvocationSampler, "_settle", spy):
        yield found


def _wait(completion: Any) -> None:
    if completion is not None:
        completion.wait(10)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(["sync", "async", "finalize"]),
    ratio=st.sampled_from([0.0, 0.5]),
    capacity=st.sampled_from([8, 32, 2048]),
    invocations=st.lists(invocation_shapes, min_size=1, max_size=5),
    script=st.lists(st.sampled_from(["ok", "ok", "ok", "fail"]), max_size=6),
    ending=st.sampled_from(["shutdown", "flush", "sigterm"]),
    sigterm_in=st.none() | st.integers(0, 4),
    seed=st.integers(0, 2**32),
)
def test_every_span_is_exported_dropped_or_sampled_out_and_no_invocation_is_split(
    mode: str,
    ratio: float,
    capacity: int,
    invocations: list[dict[str, Any]],
    script: list[str],
    ending: str,
    sigterm_in: int | None,
    seed: int,
) -> None:
    random.seed(seed)  # the SDK's ids (the coins come from the operating system)
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = ScriptedExporter(script)
    processor = LambdaSpanProcessor(
        exporter,
        mode=mode,
        max_queue_size=capacity,
        max_export_batch_size=min(capacity, 16),
        export_timeout_millis=5000,
        sample_ratio=ratio,
        keep_slower_than_millis=5,
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("property")
    ended: list[ReadableSpan] = []  # sampled spans only: the others never reach on_end
    groups: list[tuple[list[ReadableSpan], bool]] = []  # (an invocation's spans, must keep)
    background: list[ReadableSpan] = []
    me = threading.get_ident()

    def end(span: Any, into: list[ReadableSpan]) -> None:
        span.end()
        if span.get_span_context().trace_flags.sampled:
            ended.append(span)
            into.append(span)

    def background_spans(count: int) -> None:
        for _ in range(count):
            end(tracer.start_span("background", context=Context()), background)

    with sampled_out_spans() as out:
        interrupted = False
        for index, shape in enumerate(invocations):
            request = f"request-{index}"
            mine: list[ReadableSpan] = []
            must_keep = shape["error"] is not None or shape["slow"] or shape["parent"] == "sampled"
            if shape["announce"]:
                thread = me if shape["flush"] != "other thread" else -1
                processor.on_signal(InvocationStarted(request, None, None, thread))
            parent = Context()
            if shape["parent"] != "none":
                flags = TraceFlags(1 if shape["parent"] == "sampled" else 0)
                upstream = SpanContext(
                    random.getrandbits(128), 1, is_remote=True, trace_flags=flags
                )
                parent = trace.set_span_in_context(NonRecordingSpan(upstream))
            attributes = {"faas.invocation_id": request} if shape["traced"] else {}
            root = tracer.start_span("invocation", context=parent, attributes=attributes)
            inside = trace.set_span_in_context(root)
            for child in range(shape["children"]):
                span = tracer.start_span(f"child-{child}", context=inside)
                if shape["error"] == "child" and child == 0:
                    span.set_status(Status(StatusCode.ERROR))
                end(span, mine)
                if shape["flush"] and child == shape["flush_at"]:
                    must_keep = True  # a flush in the middle: the undecided invocation is kept
                    processor.force_flush(5000)
                if sigterm_in == index and child == shape["flush_at"] // 2:
                    interrupted = True
                    break
            if interrupted:  # SIGTERM in the middle: the root never ends, the process dies
                groups.append((mine, True))
                _wait(processor.on_signal(ExportDue(ExportReason.SHUTDOWN, None, None)))
                break
            background_spans(shape["background"])
            if shape["error"] == "root":
                root.set_status(Status(StatusCode.ERROR))
            if shape["slow"]:
                time.sleep(0.006)
            end(root, mine)
            groups.append((mine, must_keep))
            done_id = request if shape["done_with_id"] else None
            if shape["done"] == "decide":
                _wait(processor.on_signal(HandlerDone(done_id, None, False, True)))
            elif shape["done"] == "follows":
                _wait(processor.on_signal(HandlerDone(done_id, None, mode == "async", True)))
                _wait(processor.on_signal(ExportDue(ExportReason.RESPONSE_SENT, None, request)))
            background_spans(shape["background"] if shape["done"] != "missing" else 0)

        exporter.script.clear()
        if ending == "sigterm" and not interrupted:
            _wait(processor.on_signal(ExportDue(ExportReason.SHUTDOWN, None, None)))
        if ending == "flush" and not interrupted:
            # From another thread: on the handler's, during an open invocation, an async
            # processor takes force_flush() for "handler done" and exports in the background.
            def flush() -> None:
                for _ in range(3):  # a batch put back after a failure goes out at the next one
                    if processor.force_flush(5000):
                        break

            flusher = threading.Thread(target=flush)
            flusher.start()
            flusher.join()
        else:
            processor.shutdown()

    exported = {id(span) for span in exporter.delivered()}
    sampled_out = {id(span) for span in out}
    assert len(exporter.delivered()) == len(exported), "a span was exported twice"
    assert not exported & sampled_out
    assert len(out) == processor.sampled_out_spans
    assert len(exported) + processor.dropped_spans + processor.sampled_out_spans == len(ended)
    for spans, must_keep in groups:
        ids = {id(span) for span in spans}
        if ids & sampled_out:
            assert ids <= sampled_out, "an invocation was split between kept and sampled out"
            assert not must_keep, "an invocation that had to be kept was sampled out"
    assert not {id(span) for span in background} & sampled_out
    processor.shutdown()
    provider.shutdown()
