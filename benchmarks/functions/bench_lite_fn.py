"""The response-latency benchmark's function for lambda-otel-lite (it needs Python 3.12+).

Set up as its README shows: ``init_telemetry()`` at import, the handler wrapped by
``create_traced_handler`` (whose ``complete()`` is lite's "handler done"), the mode from
LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE (async: its internal extension exports after the handler;
sync: ``complete()`` flushes before the response). Its own LambdaSpanProcessor, with the same
OTLP/HTTP exporter as the other setups in place of its default stdout exporter.
"""

import os

from lambda_otel_lite import create_traced_handler, init_telemetry
from lambda_otel_lite.processor import LambdaSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

exporter = OTLPSpanExporter(endpoint=os.environ["BENCH_OTLP_ENDPOINT"], timeout=30)
queue_size = int(os.environ.get("LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE", "2048"))
tracer, completion_handler = init_telemetry(
    span_processors=[LambdaSpanProcessor(exporter, max_queue_size=queue_size)]
)


@create_traced_handler("handler", completion_handler)
def handler(event, context):
    for _ in range(int(event["spans"]) - 1):
        tracer.start_span("work").end()
    return {"ok": True}
