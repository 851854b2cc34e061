"""Per-invocation sampling as a plain state machine: no threads, no clock, no randomness of its own.

The processor appends every ended span to :attr:`InvocationSampler.inbox` (its hot path), feeds
the machine what it hears (an invocation started, its handler is done, a flush, the inbox
outgrew its bound) with the time, and gets back the spans to keep and the spans sampled out.
Nothing leaves the inbox any other way, so every span is kept, sampled out, or still waiting.
Spans are read through a :class:`SpanReader`, a batch at a time (:class:`SdkSpanReader` for the
SDK's spans): about a microsecond per span at a decision, nothing on the hot path.

The rules (the README says the same for users):

- **When.** An invocation is decided once, when its handler is done. A flush (``force_flush``,
  the deadline, SIGTERM) before that decides it only if its invocation span, found by request id,
  has ended already (the AWS Lambda instrumentation flushes right after ending it); otherwise the
  invocation is kept whole. So is one whose spans reach the inbox's bound before it is decided.
- **Its spans.** Its invocation spans are the spans without a local parent (no parent, or a
  remote one) whose ``faas.invocation_id`` is its request id (``traced_handler`` and the
  OpenTelemetry AWS Lambda instrumentation set it); if none is, the one that started after the
  invocation began (when the processor heard of it, else when the previous one was decided) and
  ended last by its handler done. Its spans are every span of those spans' traces. Spans of
  other traces (init, background threads) are kept.
- **The verdict.** Keep the invocation whole if any of its spans has status ERROR, an invocation
  span lasted longer than the threshold, or its parent is a sampled remote one (the caller's
  trace would break); otherwise keep it with probability ``ratio``.
- **Never a partial trace.** A trace some span of which was kept before its invocation was
  decided is kept; spans of a sampled-out trace that end later are sampled out too (both for the
  last :data:`TRACE_MEMORY` traces).

Owns the sampling decision and the spans waiting for it; must not touch a thread, the clock,
randomness, the ring buffer or an exporter: the span processor feeds it and moves what it releases.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.trace import StatusCode

from ..signals import Record, field

# Imported only by a processor that samples (``processor.py`` imports it then): its classes cost
# nothing to a cold start without sampling.

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

#: The attribute that names the invocation a span was made for (FaaS semantic conventions).
INVOCATION_ID = "faas.invocation_id"
#: How many traces the machine remembers as sampled out, and as kept before their decision.
TRACE_MEMORY = 4096
#: How many decided request ids it remembers (a second "handler done" for one is ignored).
REQUEST_MEMORY = 64


class Verdict(enum.Enum):
    KEEP = "keep"
    OUT = "out"


class Root(Record):
    """What the verdict needs of a span without a local parent."""

    __slots__ = ()
    _fields = ("upstream_sampled", "start_ns", "end_ns", "invocation_id")

    #: Its parent is remote and sampled: the trace was started upstream and is being recorded.
    upstream_sampled: bool = field(0)
    start_ns: int = field(1)
    end_ns: int = field(2)
    invocation_id: str | None = field(3)

    def __new__(
        cls, upstream_sampled: bool, start_ns: int, end_ns: int, invocation_id: str | None = None
    ) -> Root:
        return tuple.__new__(cls, (upstream_sampled, start_ns, end_ns, invocation_id))


class SpanReader(Protocol[T_contra]):
    """What the machine needs to know of spans, asked a batch at a time. A span that cannot be
    read has trace id ``None`` (it is kept), no root and no error."""

    def trace_ids(self, batch: Sequence[T_contra]) -> list[int | None]:
        """The trace id of each span, in order."""
        ...

    def roots(self, batch: Sequence[T_contra]) -> list[tuple[int, Root]]:
        """``(index, Root)`` of each span without a local parent (no parent, or a remote one)."""
        ...

    def any_error(self, batch: Sequence[T_contra], of: Sequence[bool]) -> bool:
        """Whether a span ``batch[i]`` with ``of[i]`` true has status ERROR."""
        ...


def _each(read: Callable[[Any], Any], batch: Sequence[Any], default: Any) -> list[Any]:
    """``read`` over ``batch``, one span at a time, ``default`` where it raises (the slow path
    after a batch read failed)."""
    out = []
    for item in batch:
        try:
            out.append(read(item))
        except Exception:
            out.append(default)
    return out


def _root_of(span: Any) -> Root | None:
    parent = span.parent
    if parent is not None and not parent.is_remote:
        return None
    attributes = span.attributes
    invocation = attributes.get(INVOCATION_ID) if attributes else None
    return Root(
        parent is not None and bool(parent.trace_flags.sampled),
        int(span.start_time or 0),
        int(span.end_time or 0),
        invocation if isinstance(invocation, str) else None,
    )


class SdkSpanReader:
    """Reads the SDK's ``ReadableSpan`` through its public properties only."""

    def trace_ids(self, batch: Sequence[Any]) -> list[int | None]:
        try:
            return [span.context.trace_id for span in batch]
        except Exception:
            return _each(lambda span: int(span.context.trace_id), batch, None)

    def roots(self, batch: Sequence[Any]) -> list[tuple[int, Root]]:
        try:
            found = [
                index
                for index, span in enumerate(batch)
                if span.parent is None or span.parent.is_remote
            ]
        except Exception:
            found = list(range(len(batch)))
        roots = []
        for index in found:
            try:
                root = _root_of(batch[index])
            except Exception:
                continue
            if root is not None:
                roots.append((index, root))
        return roots

    def any_error(self, batch: Sequence[Any], of: Sequence[bool]) -> bool:
        error = StatusCode.ERROR
        try:
            return any(
                span.status.status_code is error
                for span, mine in zip(batch, of, strict=True)
                if mine
            )
        except Exception:
            codes = _each(lambda span: span.status.status_code, batch, None)
            return any(code is error for code, mine in zip(codes, of, strict=True) if mine)


SDK_SPANS = SdkSpanReader()


class Settled(Record, Generic[T]):
    """What one event released from the inbox: spans to keep (in end order), spans sampled out."""

    __slots__ = ()
    _fields = ("keep", "out")

    keep: list[T] = field(0)
    out: list[T] = field(1)

    def __new__(cls, keep: list[T], out: list[T]) -> Settled[T]:
        return tuple.__new__(cls, (keep, out))


class Window:
    """The invocation the machine is following: from its start to its decision."""

    __slots__ = ("done_ns", "explicit", "ids", "start_ns", "verdict")

    def __init__(self, ids: tuple[str, ...], start_ns: int, *, explicit: bool) -> None:
        #: Its request ids (more than one when a "handler done" came for a request never seen
        #: to start: one process serves one invocation at a time, so the two are one window).
        self.ids = ids
        #: When it began: its InvocationStarted, else when the previous window was decided.
        self.start_ns = start_ns
        #: Begun by an InvocationStarted (rather than inferred from a "handler done").
        self.explicit = explicit
        self.done_ns: int | None = None
        self.verdict: Verdict | None = None

    def __repr__(self) -> str:
        return (
            f"Window(ids={self.ids!r}, start_ns={self.start_ns}, explicit={self.explicit}, "
            f"done_ns={self.done_ns}, verdict={self.verdict})"
        )


def _remember(memory: dict[Any, None], keys: Iterable[Any], limit: int) -> None:
    for key in keys:
        memory[key] = None
    excess = len(memory) - limit
    if excess > 0:  # the oldest first, in one pass (one at a time rescans what was deleted)
        for key in list(islice(memory, excess)):
            del memory[key]


class InvocationSampler(Generic[T]):
    """Decides per invocation which ended spans are kept; see the module docstring for the rules.

    ``ratio``: the probability of keeping an ordinary invocation (0 to 1). ``keep_slower_than_ns``:
    keep every invocation whose invocation span lasted longer (``None``: no threshold).
    ``reader``: reads spans (:data:`SDK_SPANS` for the SDK's). ``random``: a float in [0, 1),
    called once per ordinary invocation. ``now_ns``: the time the machine starts (the lower bound
    of the first invocation when none is announced). Every event returns a :class:`Settled`.
    """

    def __init__(
        self,
        ratio: float,
        keep_slower_than_ns: int | None,
        reader: SpanReader[T],
        random: Callable[[], float],
        *,
        now_ns: int = 0,
        trace_memory: int = TRACE_MEMORY,
    ) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be from 0 to 1, got {ratio!r}")
        self.ratio = ratio
        self.keep_slower_than_ns = keep_slower_than_ns
        self._reader = reader
        self._random = random
        self._trace_memory = trace_memory
        #: Ended spans not yet settled, in end order. Producers call :attr:`append` only.
        self.inbox: list[T] = []
        self.append: Callable[[T], None] = self.inbox.append
        self.window: Window | None = None
        self._since_ns = now_ns
        self._decided: dict[str, None] = {}
        self._out_traces: dict[int, None] = {}
        self._kept_traces: dict[int, None] = {}

    # -- questions ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Spans in the inbox."""
        return len(self.inbox)

    @property
    def passes_through(self) -> bool:
        """The open invocation is kept already: its spans may leave the inbox as they come."""
        window = self.window
        return window is not None and window.verdict is Verdict.KEEP

    # -- events -------------------------------------------------------------------------------
    def started(self, request_id: str, now_ns: int) -> Settled[T]:
        """An invocation started: whatever the inbox holds belongs to what came before it."""
        window = self.window
        if request_id in self._decided or (
            window is not None and window.explicit and request_id in window.ids
        ):
            return Settled([], [])  # heard twice, or after its handler was done: no new window
        settled = self._settle(now_ns, close=True)
        self.window = Window((request_id,), now_ns, explicit=True)
        return settled

    def handler_done(self, request_id: str | None, now_ns: int, *, decide: bool) -> Settled[T]:
        """The handler of ``request_id`` is done. ``decide``: decide now; else at the next
        :meth:`flush` (an export follows the response) or the next event that needs it."""
        if request_id is not None and request_id in self._decided:
            return Settled([], [])  # a second "handler done" for an invocation decided already
        window = self.window
        earlier: Settled[T] | None = None
        if (
            window is not None
            and window.done_ns is not None
            and request_id is not None
            and request_id not in window.ids
        ):
            earlier = self._settle(now_ns, close=True)  # the previous one was never decided
            window = None
        if window is None:
            window = self.window = Window((), self._since_ns, explicit=False)
        if request_id is not None and request_id not in window.ids:
            window.ids = (*window.ids, request_id)
        if window.done_ns is None:
            window.done_ns = now_ns
        settled = self._settle(now_ns) if decide else Settled([], [])
        if earlier is not None:
            return Settled(earlier.keep + settled.keep, earlier.out + settled.out)
        return settled

    def flush(self, now_ns: int, request_id: str | None = None) -> Settled[T]:
        """Everything buffered is about to be exported (force_flush, an export due, shutdown).

        ``request_id``: the export is for that invocation; an open invocation of another request
        is then left alone (its export follows its own handler done).
        """
        window = self.window
        if (
            request_id is not None
            and window is not None
            and window.explicit
            and window.done_ns is None
            and request_id not in window.ids
        ):
            return Settled([], [])
        return self._settle(now_ns)

    def overflow(self, now_ns: int) -> Settled[T]:
        """The inbox reached its bound (or the open invocation passes through): settle now.

        An undecided invocation is kept whole from here on (:attr:`passes_through`).
        """
        return self._settle(now_ns, overflow=True)

    def drain(self) -> list[T]:
        """Remove and return every span still waiting, undecided (the processor has stopped)."""
        return self._take()

    # -- internals ----------------------------------------------------------------------------
    def _take(self) -> list[T]:
        inbox = self.inbox
        count = len(inbox)
        batch = inbox[:count]
        del inbox[:count]  # appends made meanwhile stay: only the first ``count`` go
        return batch

    def _settle(self, now_ns: int, *, close: bool = False, overflow: bool = False) -> Settled[T]:
        batch = self._take()
        try:
            return self._release(batch, now_ns, close=close, overflow=overflow)
        except Exception:  # a reader that fails: every span it could not judge is kept
            window = self.window
            if window is not None and window.verdict is None:
                window.verdict = Verdict.KEEP
                if window.done_ns is not None or close:
                    self.window = None
                    _remember(self._decided, window.ids, REQUEST_MEMORY)
            return Settled(batch, [])

    def _release(self, batch: list[T], now_ns: int, *, close: bool, overflow: bool) -> Settled[T]:
        traces = self._reader.trace_ids(batch) if batch else []
        window = self.window
        decided: frozenset[int] = frozenset()
        verdict = Verdict.KEEP
        if window is not None and window.verdict is None:
            done = window.done_ns is not None
            upper = window.done_ns if window.done_ns is not None else now_ns
            roots = self._roots(window, batch, upper, by_time=done or close) if batch else []
            if roots:
                decided = frozenset(t for i, _ in roots if (t := traces[i]) is not None)
                verdict = self._verdict(roots, batch, traces, decided)
            window.verdict = verdict  # no invocation span found: nothing to sample, keep
            if verdict is Verdict.OUT:
                _remember(self._out_traces, decided, self._trace_memory)
            else:
                for decided_trace in decided:  # the newest decision of a trace wins
                    self._out_traces.pop(decided_trace, None)
        elif window is None and overflow and batch:
            # No invocation announced, but spans pile up: one is running. Keep it whole.
            window = self.window = Window((), self._since_ns, explicit=False)
            window.verdict = Verdict.KEEP
        keep: list[T] = []
        out: list[T] = []
        kept_early: set[int] = set()
        out_traces = self._out_traces
        for item, trace in zip(batch, traces, strict=True):
            if trace is None:
                keep.append(item)
            elif trace in decided:
                (keep if verdict is Verdict.KEEP else out).append(item)
            elif trace in out_traces:
                out.append(item)
            else:
                keep.append(item)
                kept_early.add(trace)
        if kept_early:
            _remember(self._kept_traces, kept_early, self._trace_memory)
        if window is not None and (window.done_ns is not None or close):
            self.window = None
            _remember(self._decided, window.ids, REQUEST_MEMORY)
            self._since_ns = window.done_ns if window.done_ns is not None else now_ns
        return Settled(keep, out)

    def _roots(
        self, window: Window, batch: list[T], upper_ns: int, *, by_time: bool
    ) -> list[tuple[int, Root]]:
        """The window's invocation spans in ``batch``: by request id, else (``by_time``) the
        span without a local parent that started in the window and ended last by ``upper_ns``
        (a handler's span ends last, right before its "handler done")."""
        candidates = self._reader.roots(batch)
        ids = window.ids
        roots = [(i, root) for i, root in candidates if root.invocation_id in ids]
        if roots or not by_time:
            return roots
        start = window.start_ns
        inside = [
            (i, root)
            for i, root in candidates
            if root.start_ns >= start and root.end_ns <= upper_ns
        ]
        return [max(inside, key=lambda found: found[1].end_ns)] if inside else []

    def _verdict(
        self,
        roots: list[tuple[int, Root]],
        batch: list[T],
        traces: list[int | None],
        decided: frozenset[int],
    ) -> Verdict:
        if any(trace in self._kept_traces for trace in decided):
            return Verdict.KEEP  # some of it is on its way out already: never half a trace
        threshold = self.keep_slower_than_ns
        for _, root in roots:
            if root.upstream_sampled:
                return Verdict.KEEP
            if threshold is not None and root.end_ns - root.start_ns > threshold:
                return Verdict.KEEP
        if self._reader.any_error(batch, [trace in decided for trace in traces]):
            return Verdict.KEEP
        if self.ratio >= 1.0:
            return Verdict.KEEP
        if self.ratio <= 0.0:
            return Verdict.OUT
        return Verdict.KEEP if self._random() < self.ratio else Verdict.OUT
