"""The function the response-latency benchmark invokes; BENCH_SETUP picks the telemetry setup.

none: a TracerProvider with no processor (the baseline); deque: a processor that only keeps
the spans until the next invocation (what buffering alone costs the handler); lambda: a
LambdaSpanProcessor in the mode of LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE; batch-flush: the usual
BatchSpanProcessor with provider.force_flush() at the end of the handler. BENCH_CALL_DONE=1:
the handler calls handler_done().
"""

import collections
import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_lambda_processor import LambdaSpanProcessor, handler_done

SETUP = os.environ["BENCH_SETUP"]


class DequeProcessor(SpanProcessor):
    """The floor: keep the invocation's spans until the next one starts, export nothing."""

    def __init__(self):
        self.queue = collections.deque()

    def on_end(self, span):
        self.queue.append(span)


provider = TracerProvider()
floor = DequeProcessor()
exporter = OTLPSpanExporter(endpoint=os.environ["BENCH_OTLP_ENDPOINT"], timeout=30)
if SETUP == "lambda":
    provider.add_span_processor(LambdaSpanProcessor(exporter))
elif SETUP == "deque":
    provider.add_span_processor(floor)
elif SETUP == "batch-flush":
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=16384))
tracer = provider.get_tracer("bench")


def handler(event, context):
    floor.queue.clear()
    with tracer.start_as_current_span("handler"):
        for _ in range(int(event["spans"]) - 1):
            tracer.start_span("work").end()
    if SETUP == "batch-flush":
        provider.force_flush()
    if os.environ.get("BENCH_CALL_DONE") == "1":
        handler_done(context.aws_request_id)
    return {"ok": True}
