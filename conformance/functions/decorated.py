"""A function traced with @traced_handler, its provider built with lambda_resource()."""

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider

from otel_lambda_processor import LambdaSpanProcessor, lambda_resource, traced_handler

provider = TracerProvider(resource=lambda_resource())
provider.add_span_processor(
    LambdaSpanProcessor(OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"], timeout=5))
)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")


@traced_handler
def handler(event, context):
    with tracer.start_as_current_span("load order"):
        tracer.start_span("query").end()
    return {"statusCode": "200", "body": "ok"}
