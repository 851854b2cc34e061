"""The example function the demo runs under the emulator; DEMO_SETUP picks its telemetry.

``sync``/``async``: a LambdaSpanProcessor in that mode. ``finalize+batch``: a LambdaSpanProcessor
in finalize mode beside a BatchSpanProcessor (to DEMO_BATCH_ENDPOINT); these export through our
OTLP/HTTP exporter. ``batch+flush``: the usual setup, a BatchSpanProcessor with the official
OTLP/HTTP exporter and ``force_flush()`` at the end of the handler.
"""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import trace_exporter as official
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import LambdaSpanProcessor, lambda_resource, traced_handler
from .otlp import OTLPSpanExporter

SETUP = os.environ.get("DEMO_SETUP", "async")
ENDPOINT = os.environ.get("DEMO_OTLP_ENDPOINT", "http://127.0.0.1:4318/v1/traces")

provider = TracerProvider(resource=lambda_resource())
if SETUP in ("sync", "async"):
    processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT), mode=SETUP)
    provider.add_span_processor(processor)
elif SETUP == "finalize+batch":
    processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT), mode="finalize")
    provider.add_span_processor(processor)
    batch = OTLPSpanExporter(endpoint=os.environ.get("DEMO_BATCH_ENDPOINT", ENDPOINT))
    provider.add_span_processor(BatchSpanProcessor(batch))
else:
    usual = official.OTLPSpanExporter(endpoint=ENDPOINT)
    provider.add_span_processor(BatchSpanProcessor(usual))
trace.set_tracer_provider(provider)
tracer = provider.get_tracer("demo")


@traced_handler(tracer_provider=provider)
def handler(event: Any, context: Any) -> dict[str, Any]:
    with tracer.start_as_current_span("validate order"):
        time.sleep(0.001)
    with tracer.start_as_current_span("load customer"):
        for table in ("customers", "addresses", "orders"):
            with tracer.start_as_current_span(f"SELECT {table}"):
                time.sleep(0.002)
    with tracer.start_as_current_span("render"):
        time.sleep(0.001)
    return {"statusCode": 200, "body": "ok"}


def batch_handler(event: Any, context: Any) -> dict[str, Any]:
    """The usual setup: the same handler, then a synchronous flush before the response."""
    try:
        return handler(event, context)
    finally:
        provider.force_flush()
