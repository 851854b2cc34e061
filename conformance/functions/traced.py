"""A function that builds its tracer provider at import time with a LambdaSpanProcessor.

The test sets the mode (LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE) and the receiver
(TEST_OTLP_ENDPOINT); with TEST_BATCH_PROCESSOR=1 a BatchSpanProcessor sends to the same
receiver too, and with TEST_SET_GLOBAL=1 the provider becomes the global one. The event says how
many spans to end, whether to sleep, raise, or call handler_done().
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

provider = TracerProvider(resource=Resource.create({"service.name": "traced"}))
processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT, timeout=5))
provider.add_span_processor(processor)
if os.environ.get("TEST_BATCH_PROCESSOR") == "1":
    batch = OTLPSpanExporter(endpoint=ENDPOINT, timeout=5)
    provider.add_span_processor(BatchSpanProcessor(batch, schedule_delay_millis=60_000))
trace.set_tracer_provider(provider)
tracer = provider.get_tracer("conformance")


def handler(event, context):
    event = event or {}
    with tracer.start_as_current_span("handler", attributes={"request": context.aws_request_id}):
        for i in range(int(event.get("spans", 1)) - 1):
            tracer.start_span(f"child-{i}").end()
        if event.get("sleep"):
            time.sleep(float(event["sleep"]))
        if event.get("raise"):
            raise RuntimeError("the handler failed")
    if event.get("done"):
        handler_done(context.aws_request_id)
    return {"request_id": context.aws_request_id, "dropped": processor.dropped_spans}
