"""The local demo: where an invocation's time goes in each mode, against the usual setup.

An example function (``demo_function``) that traces, logs and records metrics runs under the
package's Lambda emulator with AWS's runtime client (where awslambdaric is missing, our minimal
runtime loop with the same hooks, and a line that says so), exporting through real OTLP/HTTP
exporters to the embedded receiver, which answers after a simulated network delay. For each
setup it prints the response latency the caller saw, how long the invocation stayed open after
the response, and the accounting of spans, log records and metric points; then one invocation's
span tree with its log records, the metrics, the first invocation's trace with the init span of
its cold start (each environment starts when its setup runs, as Lambda starts one for a
request), and which invocations per-invocation sampling kept and why (``async + sampling``: one
slow order, one failing order, the rest ordinary; its accounting adds the processor's
``sampled_out_spans`` and ``dropped_spans``, which the function reports as metrics).
``--plot FILE`` draws the last invocation of each setup but ``async + sampling`` (its timing is
async's): when the response left and when each export request went out.

Its parts: :mod:`.model` (the orders, the setups, the rows), :mod:`.run` (the environments),
:mod:`.report` (the text) and :mod:`.plot` (the picture); :func:`main` here prints them in turn.
"""

from __future__ import annotations

import statistics
import sys

from ..instrumentation.cold_start import INIT_SPAN
from .model import (
    COLLECTOR_LATENCY,
    COUNTERS,
    FAILING_ORDER,
    INIT_SPANS,
    INVOCATIONS,
    KEEP_SLOWER_THAN_MS,
    LOGS_PER_INVOCATION,
    METRICS,
    ORDER_VALUES,
    ORDERS,
    PLOT_FORMATS,
    SAMPLE_RATIO,
    SAMPLED_ORDERS,
    SETUPS,
    SIGNALS,
    SLOW_ORDER,
    SLOW_QUERY_MS,
    SPANS_PER_INVOCATION,
    Count,
    Export,
    Order,
    Outcome,
    Row,
    Sampling,
    Setup,
    Timeline,
    Totals,
)
from .plot import _plot, _plot_problem
from .report import _metrics_lines, _p, _sampling_lines, _spans_accounting, _tree
from .run import Runtime, _invocation_spans, _runtime, run_setups

__all__ = [
    "COLLECTOR_LATENCY",
    "COUNTERS",
    "FAILING_ORDER",
    "INIT_SPANS",
    "INVOCATIONS",
    "KEEP_SLOWER_THAN_MS",
    "LOGS_PER_INVOCATION",
    "METRICS",
    "ORDERS",
    "ORDER_VALUES",
    "PLOT_FORMATS",
    "SAMPLED_ORDERS",
    "SAMPLE_RATIO",
    "SETUPS",
    "SIGNALS",
    "SLOW_ORDER",
    "SLOW_QUERY_MS",
    "SPANS_PER_INVOCATION",
    "Count",
    "Export",
    "Order",
    "Outcome",
    "Row",
    "Runtime",
    "Sampling",
    "Setup",
    "Timeline",
    "Totals",
    "main",
    "run_setups",
]


def main(plot: str | None = None) -> int:
    """Run the demo and print the table; returns a process exit code: 0, 1 if telemetry was
    lost, sampling broke its rules or the picture could not be written, 2 if ``plot`` names a
    file that cannot be."""
    problem = _plot_problem(plot) if plot else None
    if problem:
        print(f"otel-lambda-processor demo: {problem}", file=sys.stderr)
        return 2
    runtime, command, fallback = _runtime()
    if fallback:
        print(fallback)
    print(
        f"otel-lambda-processor demo: {INVOCATIONS} invocations per setup, each with "
        f"{SPANS_PER_INVOCATION} spans, {LOGS_PER_INVOCATION} log records and an\norder counted "
        f"(a counter and a histogram), collector latency {COLLECTOR_LATENCY * 1000:.0f} ms; "
        f"the function run by\n{runtime} under the local Lambda emulator,\nexporting with "
        "otel_lambda_processor.otlp's OTLP/HTTP exporters (the usual setup: the official ones)\n"
    )
    rows = run_setups(SETUPS, command)
    header = (
        f"{'setup':<32} {'response p50':>12} {'p95':>8} {'post-response p50':>17} "
        f"{'spans':>7} {'logs':>7} {'points':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        post = (
            f"{statistics.median(r.post_response_ms):14.1f} ms"
            if r.post_response_ms
            else f"{'—':>17}"
        )
        print(
            f"{r.setup:<32} {statistics.median(r.response_ms):9.1f} ms "
            f"{_p(r.response_ms, 0.95):5.1f} ms {post} {r.spans!s:>7} {r.logs!s:>7} "
            f"{r.points!s:>7}"
        )
        if r.sampling is not None:
            print("  " + _spans_accounting(r.spans, r.sampling))
    print(
        "\nresponse: what the caller waited; post-response: how long the invocation stayed open "
        "after it\n(billed, but nobody waits). sync and the usual setup make every caller wait "
        "for the export;\nasync exports after the response; finalize exports only on force_flush "
        "or at shutdown\n(SIGTERM), beside the BatchSpanProcessor. The usual setup flushes the "
        "tracer, meter and logger\nproviders in turn (the AWS Lambda instrumentation flushes the "
        "first two only, which would leave\nthe log records in memory, waiting for a timer that "
        "a frozen environment does not run).\nspans, logs (log records), points (metric "
        "points): exported/produced. A metric reader makes a\npoint per metric at each "
        "collection: after every invocation (sync, async, the usual flush) and\nat SIGTERM "
        "(async, finalize). Each environment's first invocation also has the init span\nof "
        "its cold start. async + sampling: async with per-invocation sampling (below); the line "
        "under\nits row accounts for its spans by the processor's counters, which its function "
        "reports as two\nmore metrics (two more points per collection)."
    )
    print(
        "\nthe span tree of one invocation (async) with its log records (matched by span id),\n"
        "as the receiver decoded it:"
    )
    invocations = _invocation_spans(rows[1].received_spans)
    if invocations:
        for line in _tree(rows[1].received_spans, rows[1].received_logs, invocations[-1]):
            print("  " + line)
    for line in _metrics_lines(rows[1].totals):
        print("  " + line)
    if invocations:
        print(
            "\nthe first invocation of that environment was a cold start: its trace also holds "
            f"the init span\n({INIT_SPAN}: from the process start, its imports and set-up, to "
            "the invocation's start):"
        )
        for line in _tree(rows[1].received_spans, [], invocations[0]):
            print("  " + line)
    broken = []
    for r in rows:
        if r.sampling is not None:
            print("\n" + "\n".join(_sampling_lines(r, r.sampling)))
            problems = r.sampling.problems(r.spans)
            if problems:
                broken.append(f"{r.setup}: {'; '.join(problems)}")
    # The picture is about when each mode exports: sampling exports when async does.
    plotted = [r for r in rows if r.sampling is None]
    failed = _plot(plotted, plot, runtime) if plot else None
    if failed:
        print(f"otel-lambda-processor demo: {failed}", file=sys.stderr)
    elif plot:
        print(f"\ntimeline written to {plot}")
    extra = [f"{r.setup} ({', '.join(r.extra())})" for r in rows if r.extra()]
    if extra:
        print(f"\nmore arrived than was produced in: {'; '.join(extra)}")
    lost = [r.setup for r in rows if r.lost()]
    if lost:
        print(f"\ntelemetry was lost in: {', '.join(lost)}")
    if broken:
        print(f"\nsampling did not keep its promises in {'; '.join(broken)}")
    return 1 if lost or failed or broken else 0
