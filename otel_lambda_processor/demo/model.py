"""The demo's orders and setups, and what a run of one found: the rows its report prints.

Owns the demo's numbers (orders, setups, the collector's latency) and the shapes of its results
with their checks (lost, extra, sampling's promises); must not run anything nor print.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..export.config import KEEP_SLOWER_THAN_ENV, SAMPLE_RATIO_ENV
from ..testing import ReceivedLogRecord, ReceivedSpan

ORDER_VALUES = (24.5, 12.0, 99.9, 5.25, 42.0, 18.35)  # one order per invocation, in USD
INVOCATIONS = len(ORDER_VALUES)
SPANS_PER_INVOCATION = 7  # the invocation span and six inside it
INIT_SPANS = 1  # the first invocation's trace also holds the cold start's init span
LOGS_PER_INVOCATION = 3
METRICS = ("orders", "order.value")  # a counter and a histogram: one point each per collection
COLLECTOR_LATENCY = 0.03  # seconds; a collector one region hop away
PLOT_FORMATS = ("png", "svg", "pdf")
#: Which signal an export request carried, as the plot names it.
SIGNALS = ("spans", "log records", "metric points")
#: The span processor's counters, as ``demo_function.COUNTERS`` reports them (with sampling).
COUNTERS = ("spans.sampled_out", "spans.dropped")
SAMPLE_RATIO = 0.2  # async + sampling keeps about one ordinary invocation in five
KEEP_SLOWER_THAN_MS = 100  # and every invocation slower than this
SLOW_ORDER, FAILING_ORDER = 1003, 1005  # in async + sampling only
SLOW_QUERY_MS = 150  # how long the slow order's last query takes


class Order(NamedTuple):
    """One invocation's event."""

    number: int
    amount: float  # USD
    slow_ms: int = 0  # its last query takes this long
    fails: bool = False  # rendering its receipt raises, after it was counted: the invocation fails

    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = {"order": self.number, "amount": self.amount}
        if self.slow_ms:
            event["slow_ms"] = self.slow_ms
        if self.fails:
            event["fails"] = True
        return event


ORDERS = tuple(Order(number, value) for number, value in enumerate(ORDER_VALUES, 1001))
#: The same orders, one slow and one failing: what sampling must keep whatever the ratio.
SAMPLED_ORDERS = tuple(
    order._replace(slow_ms=SLOW_QUERY_MS)
    if order.number == SLOW_ORDER
    else order._replace(fails=True)
    if order.number == FAILING_ORDER
    else order
    for order in ORDERS
)


class Setup(NamedTuple):
    name: str
    demo_setup: str
    handler: str
    collections: int  # how often its metric reader collects in the run
    orders: tuple[Order, ...] = ORDERS
    #: Per-invocation sampling (LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO); ``None``: off.
    sample_ratio: float | None = None
    keep_slower_than_ms: float | None = None  # LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics its function reports: with sampling, the processor's counters too."""
        return METRICS if self.sample_ratio is None else METRICS + COUNTERS

    def environment(self) -> dict[str, str]:
        """Its sampling configuration, as Lambda gives a function its own; pinned off in the
        other setups, so that the variables of the shell the demo runs in change nothing."""
        ratio, slower = self.sample_ratio, self.keep_slower_than_ms
        return {
            SAMPLE_RATIO_ENV: "1" if ratio is None else f"{ratio:g}",
            KEEP_SLOWER_THAN_ENV: "" if slower is None else f"{slower:g}",
        }


SETUPS = (
    # Before each response; sync registers no extension, so there is no SIGTERM.
    Setup("sync", "sync", "otel_lambda_processor.demo_function.handler", INVOCATIONS),
    # After each response, and at SIGTERM.
    Setup("async", "async", "otel_lambda_processor.demo_function.handler", INVOCATIONS + 1),
    # At SIGTERM only.
    Setup(
        "finalize + BatchSpanProcessor",
        "finalize+batch",
        "otel_lambda_processor.demo_function.handler",
        1,
    ),
    # At each force_flush of the meter provider; the periodic timer never comes due.
    Setup(
        "BatchSpanProcessor + force_flush",
        "batch+flush",
        "otel_lambda_processor.demo_function.batch_handler",
        INVOCATIONS,
    ),
    # async, sampled per invocation: an export after each response, and at SIGTERM.
    Setup(
        "async + sampling",
        "async+sampling",
        "otel_lambda_processor.demo_function.handler",
        INVOCATIONS + 1,
        SAMPLED_ORDERS,
        SAMPLE_RATIO,
        KEEP_SLOWER_THAN_MS,
    ),
)


class Export(NamedTuple):
    """One export request that carried the invocation's telemetry, in seconds from its start."""

    signal: str  # one of SIGNALS
    start: float  # when it reached the collector
    end: float  # when the collector answered


class Timeline(NamedTuple):
    """One invocation, in seconds from its start."""

    response: float
    exports: list[Export]
    ended: float  # the runtime, and every extension subscribed to INVOKE, called next again
    sigterm: float | None  # when the environment was shut down with SIGTERM, if it was


class Count(NamedTuple):
    exported: int
    produced: int

    def __str__(self) -> str:
        return f"{self.exported}/{self.produced}"


class Totals(NamedTuple):
    """The metrics as the collector last heard them (cumulative)."""

    orders: float | None  # the counter
    value_count: int | None  # the order.value histogram
    value_sum: float | None


class Outcome(NamedTuple):
    """What the collector got of one invocation in a setup that samples."""

    order: Order
    ended: int  # the spans it made
    arrived: int  # the spans of its trace at the receiver
    error: bool  # one of those has status ERROR
    duration_ms: float | None  # its invocation span's, if that arrived

    @property
    def kept(self) -> bool:
        return self.arrived > 0


class Sampling(NamedTuple):
    """What a sampling setup did: its settings, the processor's counters as their last metric
    points said (``None``: none arrived), each invocation's outcome, and the spans that arrived
    in the trace of none of its invocations."""

    ratio: float
    keep_slower_than_ms: float | None
    sampled_out: int | None
    dropped: int | None
    outcomes: list[Outcome]
    strays: int

    def why(self, outcome: Outcome) -> str:
        """Why a kept invocation was kept, as far as the collector can tell."""
        slower, ms = self.keep_slower_than_ms, outcome.duration_ms
        if outcome.error:
            return "error"
        if slower is not None and ms is not None and ms > slower:
            return f"slow: {ms:.0f} ms"
        return "ordinary, by chance" if self.ratio < 1 else "ordinary"

    def problems(self, spans: Count) -> list[str]:
        """Where the run breaks sampling's promises: exported + dropped + sampled out ==
        ended; the processor's count matches the invocations missing at the collector; each
        invocation whole or not at all; failed and slow ones kept."""
        found = []
        if self.sampled_out is None or self.dropped is None:
            found.append("the processor's counters did not arrive")
        else:
            total = spans.exported + self.dropped + self.sampled_out
            if total != spans.produced:
                found.append(
                    f"exported + dropped + sampled out = {total}, but {spans.produced} ended"
                )
            missing = sum(v.ended for v in self.outcomes if not v.kept)
            if missing != self.sampled_out:
                found.append(
                    f"{missing} spans of invocations that did not arrive, "
                    f"but {self.sampled_out} counted as sampled out"
                )
        for v in self.outcomes:
            if v.kept and v.arrived != v.ended:
                found.append(f"order {v.order.number}: {v.arrived} of its {v.ended} spans arrived")
            if not v.kept and (v.order.fails or v.order.slow_ms):
                what = "failed" if v.order.fails else "slow"
                found.append(f"order {v.order.number} ({what}) was sampled out")
        if self.strays:
            found.append(f"{self.strays} spans arrived outside the trace of any invocation")
        return found


class Row(NamedTuple):
    setup: str
    response_ms: list[float]
    post_response_ms: list[float]
    spans: Count
    logs: Count
    points: Count
    totals: Totals
    timeline: Timeline | None
    received_spans: list[ReceivedSpan]
    received_logs: list[ReceivedLogRecord]
    extensions: list[tuple[str, list[str]]]  # (name, events) of each extension that registered
    key: str  # the setup's DEMO_SETUP
    sampling: Sampling | None = None  # where the setup samples per invocation

    def spans_accounted(self) -> int:
        """Spans exported, or sampled out by the processor's count: never lost."""
        sampled_out = self.sampling.sampled_out if self.sampling else None
        return self.spans.exported + (sampled_out or 0)

    def lost(self) -> bool:
        """Fewer items arrived (or were sampled out) than were produced, or the last metrics
        miss an order."""
        short = self.spans_accounted() < self.spans.produced or any(
            c.exported < c.produced for c in (self.logs, self.points)
        )
        orders, count, total = self.totals
        every_order = (
            orders == count == INVOCATIONS
            and total is not None
            and round(total, 2) == round(sum(ORDER_VALUES), 2)
        )
        return short or not every_order

    def extra(self) -> list[str]:
        """The signals of which more arrived than was produced."""
        extra = ["spans"] if self.spans_accounted() > self.spans.produced else []
        counts = {"log records": self.logs, "metric points": self.points}
        return extra + [name for name, c in counts.items() if c.exported > c.produced]
