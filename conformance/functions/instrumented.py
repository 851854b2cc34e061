"""A handler wrapped by the OpenTelemetry AWS Lambda instrumentation, exporting through a
LambdaSpanProcessor in async mode. The instrumentation calls the provider's force_flush() at the
end of every handler; in async mode that must count as "handler done", not make the caller wait.
"""

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from otel_lambda_processor import LambdaSpanProcessor

provider = TracerProvider()
provider.add_span_processor(
    LambdaSpanProcessor(OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"], timeout=5))
)
trace.set_tracer_provider(provider)
tracer = provider.get_tracer("app")


def handler(event, context):
    for i in range(int(event.get("spans", 1))):
        tracer.start_span(f"work-{i}", attributes={"request": context.aws_request_id}).end()
    return {"ok": True}


AwsLambdaInstrumentor().instrument(
    tracer_provider=provider, meter_provider=MeterProvider(), skip_dep_check=True
)
