"""The demo's printed parts: the spans' accounting under a sampling row, percentiles, one
invocation's span tree with its log records, the metrics line and what sampling kept and why.

Owns the text; must not run the setups (:mod:`.run`) nor draw (:mod:`.plot`).
"""

from __future__ import annotations

from ..export.config import KEEP_SLOWER_THAN_ENV, SAMPLE_RATIO_ENV
from ..testing import ReceivedLogRecord, ReceivedSpan
from .model import INVOCATIONS, ORDER_VALUES, Count, Row, Sampling, Totals


def _spans_accounting(spans: Count, sampling: Sampling) -> str:
    """exported + sampled out + dropped = ended, the last two by the processor's counters."""
    if sampling.sampled_out is None or sampling.dropped is None:
        return (
            f"spans: {spans.exported} exported of {spans.produced} ended; the processor's "
            "counters did not arrive"
        )
    total = spans.exported + sampling.sampled_out + sampling.dropped
    return (
        f"spans: {spans.exported} exported + {sampling.sampled_out} sampled out + "
        f"{sampling.dropped} dropped {'=' if total == spans.produced else '!='} {spans.produced} "
        "ended (the processor's counters)"
    )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tree(
    spans: list[ReceivedSpan], logs: list[ReceivedLogRecord], root: ReceivedSpan
) -> list[str]:
    """The spans of ``root``'s trace under it, each with the log records emitted in it (by span
    id), in the order they started."""
    trace_id = root.span.trace_id
    children: dict[bytes, list[tuple[int, ReceivedSpan | ReceivedLogRecord]]] = {}
    for s in spans:
        if s.span.trace_id == trace_id:
            children.setdefault(s.span.parent_span_id, []).append((s.span.start_time_unix_nano, s))
    for r in logs:
        if r.trace_id == trace_id:
            children.setdefault(r.span_id, []).append((r.time_unix_nano, r))
    lines: list[str] = []

    def walk(span: ReceivedSpan, depth: int) -> None:
        ms = (span.span.end_time_unix_nano - span.span.start_time_unix_nano) / 1e6
        early = span.span.start_time_unix_nano < root.span.start_time_unix_nano  # the init span
        until = "  (until the invocation began)" if early else ""
        lines.append(f"{'  ' * depth}{span.name}  {ms:.1f} ms{until}")
        for _, item in sorted(children.get(span.span.span_id, []), key=lambda c: c[0]):
            if isinstance(item, ReceivedSpan):
                walk(item, depth + 1)
            else:
                lines.append(f"{'  ' * (depth + 1)}[{item.severity_text}] {item.body}")

    walk(root, 0)
    attributes = ", ".join(
        f"{k}={root.attributes[k]}"
        for k in ("faas.trigger", "faas.coldstart")
        if k in root.attributes
    )
    lines.append(f"  ({attributes}; service.name={root.resource.get('service.name')})")
    return lines


def _metrics_lines(totals: Totals) -> list[str]:
    def shown(value: float | None, spec: str) -> str:
        return "—" if value is None else format(value, spec)

    return [
        f"metrics after the last invocation: orders = {shown(totals.orders, 'g')}; order.value "
        f"count {shown(totals.value_count, 'd')}, sum {shown(totals.value_sum, '.2f')} USD",
        f"  ({INVOCATIONS} orders placed, worth {sum(ORDER_VALUES):.2f} USD)",
    ]


def _listed(head: str, items: list[str], tail: str = "") -> list[str]:
    """``  head: a, b, c tail`` in lines of at most 100 columns, never splitting an item."""
    lines = [f"  {head}:"]
    indent = " " * (len(head) + 4)
    words = [f"{item}," for item in items[:-1]] + [f"{items[-1]}{tail}" if items else f"none{tail}"]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > 100:
            lines.append(indent + word)
        else:
            lines[-1] += " " + word
    return lines


def _sampling_lines(row: Row, sampling: Sampling) -> list[str]:
    """Which invocations sampling kept and why (as the collector can tell), which it sampled
    out."""
    settings = f"{SAMPLE_RATIO_ENV}={sampling.ratio:g}"
    if sampling.keep_slower_than_ms is not None:
        settings += f", {KEEP_SLOWER_THAN_ENV}={sampling.keep_slower_than_ms:g}"
    special = [
        f"order {v.order.number} waited {v.order.slow_ms} ms for a query"
        if v.order.slow_ms
        else f"order {v.order.number} failed"
        for v in sampling.outcomes
        if v.order.slow_ms or v.order.fails
    ]
    return [
        f"per-invocation sampling in {row.setup}, configured as on Lambda:",
        f"  {settings}",
        "each invocation is decided once its handler is done, and exported or sampled out whole;",
        ", ".join([*special, "the others are ordinary:"]),
        *_listed(
            "kept",
            [f"{v.order.number} ({sampling.why(v)})" for v in sampling.outcomes if v.kept],
        ),
        *_listed(
            "sampled out",
            [str(v.order.number) for v in sampling.outcomes if not v.kept],
            f" (an ordinary invocation is kept with probability {sampling.ratio:g})",
        ),
        "log records and metric points are not sampled.",
    ]
