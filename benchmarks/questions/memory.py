"""Owns the memory question: bytes per buffered span beyond the span; peak RSS with the buffer full.
Must not time anything: tracemalloc here, the RSS in a fresh interpreter.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tracemalloc

from fixtures import NullExporter, one_span
from harness import Answer, Counts, Goal, Question, Rounds, Row

from otel_lambda_processor import LambdaSpanProcessor

GOAL = Goal(16, " B")
COUNT = 2048  # the default buffer

RSS_SCRIPT = """
import resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult, SpanExporter
from otel_lambda_processor import LambdaSpanProcessor

def rss_mib(field):
    try:  # Linux: this process's own figures (ru_maxrss can carry the parent's over exec)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

class Null(SpanExporter):
    def export(self, spans): return SpanExportResult.SUCCESS
tp = TracerProvider(shutdown_on_exit=False)
tp.add_span_processor(LambdaSpanProcessor(Null(), mode="finalize"))
t = tp.get_tracer("rss")
t.start_span("warm-up").end()
empty = rss_mib("VmRSS")
for i in range(2048):
    t.start_span("span", attributes={"i": i, "route": "/items/{id}"}).end()
print(empty, rss_mib("VmHWM"))
"""


def _bytes_per_span() -> float:
    """Bytes traced while the same span is buffered COUNT times, per span."""
    span = one_span()
    processor = LambdaSpanProcessor(NullExporter(), mode="finalize", max_queue_size=COUNT)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(COUNT):
        processor.on_end(span)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    processor.shutdown()
    return (after - before) / COUNT


def run(rounds: Rounds, quick: bool) -> Answer:
    per_span = _bytes_per_span()
    empty, peak = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    return Answer(
        [
            Row(
                "memory per buffered span (beyond the span)",
                f"{per_span:.1f} B",
                goal=GOAL,
                value=per_span,
            ),
            Row(
                "peak RSS, full default buffer (2048 spans)",
                f"{float(peak):.1f} MiB",
                f"RSS with it empty {float(empty):.1f} MiB",
            ),
        ]
    )


QUESTION = Question(
    name="memory",
    measures="bytes per buffered span beyond the span; peak RSS with the default buffer full",
    goals=(GOAL,),
    rounds=Counts(quick=1, full=1),
    run=run,
)
