"""A function that builds its tracer provider at import time with a LambdaSpanProcessor.

The environment sets the mode (LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE), the queue and the receiver
(TEST_OTLP_ENDPOINT); TEST_BATCH_PROCESSOR=1 adds a BatchSpanProcessor that sends to
TEST_BATCH_ENDPOINT (default: the same receiver). The event says how many spans to end, and
whether to sleep, raise, call handler_done() or flush the provider (as an application using
``finalize`` mode would).
"""

import os
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_lambda_processor import LambdaSpanProcessor, handler_done

ENDPOINT = os.environ["TEST_OTLP_ENDPOINT"]
TIMEOUT = float(os.environ.get("TEST_OTLP_TIMEOUT", "5"))

provider = TracerProvider(resource=Resource.create({"service.name": "traced"}))
processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT, timeout=TIMEOUT))
provider.add_span_processor(processor)
if os.environ.get("TEST_BATCH_PROCESSOR") == "1":
    batch_endpoint = os.environ.get("TEST_BATCH_ENDPOINT", ENDPOINT)
    batch_exporter = OTLPSpanExporter(endpoint=batch_endpoint, timeout=TIMEOUT)
    provider.add_span_processor(BatchSpanProcessor(batch_exporter, schedule_delay_millis=60_000))
trace.set_tracer_provider(provider)
tracer = provider.get_tracer("conformance")


def handler(event, context):
    started = time.perf_counter()
    event = event or {}
    if event.get("report"):  # the harness asks for the books; no span of its own
        return {"dropped": processor.dropped_spans}
    request = context.aws_request_id
    with tracer.start_as_current_span("handler", attributes={"request": request}):
        for i in range(int(event.get("spans", 1)) - 1):
            tracer.start_span(f"child-{i}", attributes={"request": request}).end()
        if event.get("sleep"):
            time.sleep(float(event["sleep"]))
        if event.get("raise"):
            raise RuntimeError("the handler failed")
    if event.get("flush"):
        provider.force_flush()
    if event.get("done"):
        handler_done(request)
    return {
        "request_id": request,
        "dropped": processor.dropped_spans,
        "handler_ms": (time.perf_counter() - started) * 1000,
    }
