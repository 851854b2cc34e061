"""A traced function whose LambdaSpanProcessor samples per invocation.

The environment sets the mode, LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO and
LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS, and the receiver (TEST_OTLP_ENDPOINT). The event says
how many child spans to end, whether to sleep or raise, and may carry API Gateway headers (a
traceparent from upstream). ``{"report": true}`` returns the books without tracing anything
(``"flush": true`` flushes first, as an application in ``finalize`` mode would).
"""

import os
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_lambda_processor import LambdaSpanProcessor, traced_handler
from otel_lambda_processor.otlp import OTLPSpanExporter


class Ended(SpanProcessor):
    """Counts the sampled spans that end: what the books must add up to."""

    def __init__(self):
        self.count = 0

    def on_end(self, span):
        if span.context.trace_flags.sampled:
            self.count += 1


provider = TracerProvider(resource=Resource.create({"service.name": "sampling"}))
ended = Ended()
provider.add_span_processor(ended)
processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"]))
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
tracer = provider.get_tracer("conformance")


@traced_handler
def traced(event, context):
    for i in range(int(event.get("children", 0))):
        tracer.start_span(f"child-{i}").end()
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("raise"):
        raise RuntimeError("the handler failed")
    return {"statusCode": 200, "body": context.aws_request_id}


def handler(event, context):
    if isinstance(event, dict) and event.get("report"):
        if event.get("flush"):
            provider.force_flush()
        return {
            "ended": ended.count,
            "dropped": processor.dropped_spans,
            "sampled_out": processor.sampled_out_spans,
            "pid": os.getpid(),
        }
    return traced(event, context)
