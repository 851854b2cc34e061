"""The example function the demo runs under the emulator; DEMO_SETUP picks its telemetry.

It traces, logs through ``logging`` (the SDK's ``LoggingHandler``: records carry the span they
were emitted in) and counts orders. ``sync``/``async``: our span and log record processors and
metric reader in that mode. ``finalize+batch``: the same in finalize mode, beside a
BatchSpanProcessor (to DEMO_BATCH_ENDPOINT). These export through our OTLP/HTTP exporters.
``batch+flush``: the usual setup, the SDK's batch processors and periodic reader with the
official exporters, and a flush of every provider at the end of the handler.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import (
    LambdaLogRecordProcessor,
    LambdaMetricReader,
    LambdaSpanProcessor,
    lambda_resource,
    traced_handler,
)
from .otlp import OTLPLogExporter, OTLPMetricExporter, OTLPSpanExporter

SETUP = os.environ.get("DEMO_SETUP", "async")
ENDPOINT = os.environ.get("DEMO_OTLP_ENDPOINT", "http://127.0.0.1:4318")  # the collector's base

resource = lambda_resource()
provider = TracerProvider(resource=resource)
logger_provider = LoggerProvider(resource=resource)
reader: MetricReader
if SETUP in ("sync", "async", "finalize+batch"):
    mode = "finalize" if SETUP == "finalize+batch" else SETUP
    provider.add_span_processor(
        LambdaSpanProcessor(OTLPSpanExporter(endpoint=f"{ENDPOINT}/v1/traces"), mode=mode)
    )
    logger_provider.add_log_record_processor(
        LambdaLogRecordProcessor(OTLPLogExporter(endpoint=f"{ENDPOINT}/v1/logs"), mode=mode)
    )
    reader = LambdaMetricReader(OTLPMetricExporter(endpoint=f"{ENDPOINT}/v1/metrics"), mode=mode)
    if SETUP == "finalize+batch":
        batch = OTLPSpanExporter(endpoint=os.environ.get("DEMO_BATCH_ENDPOINT"))
        provider.add_span_processor(BatchSpanProcessor(batch))
else:
    from opentelemetry.exporter.otlp.proto.http import _log_exporter, metric_exporter
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as official

    provider.add_span_processor(
        BatchSpanProcessor(official.OTLPSpanExporter(endpoint=f"{ENDPOINT}/v1/traces"))
    )
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(_log_exporter.OTLPLogExporter(endpoint=f"{ENDPOINT}/v1/logs"))
    )
    reader = PeriodicExportingMetricReader(
        metric_exporter.OTLPMetricExporter(endpoint=f"{ENDPOINT}/v1/metrics")
    )
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
trace.set_tracer_provider(provider)
_logs.set_logger_provider(logger_provider)
metrics.set_meter_provider(meter_provider)
tracer = provider.get_tracer("demo")

log = logging.getLogger("demo.orders")
log.setLevel(logging.INFO)
with warnings.catch_warnings():  # deprecated in favour of opentelemetry-instrumentation-logging
    warnings.simplefilter("ignore", DeprecationWarning)
    log.addHandler(LoggingHandler(logger_provider=logger_provider))

meter = meter_provider.get_meter("demo")
orders = meter.create_counter("orders", unit="{order}", description="orders placed")
order_value = meter.create_histogram("order.value", unit="USD", description="value per order")


@traced_handler(tracer_provider=provider)
def handler(event: Any, context: Any) -> dict[str, Any]:
    order, amount = event.get("order", 0), float(event.get("amount", 0.0))
    with tracer.start_as_current_span("validate order"):
        log.info("order %s validated: %.2f USD", order, amount)
        time.sleep(0.001)
    with tracer.start_as_current_span("load customer"):
        log.warning("customer cache cold: reading 3 tables")
        for table in ("customers", "addresses", "orders"):
            with tracer.start_as_current_span(f"SELECT {table}"):
                time.sleep(0.002)
    with tracer.start_as_current_span("render"):
        time.sleep(0.001)
        orders.add(1)
        order_value.record(amount)
        log.info("order %s rendered", order)
    return {"statusCode": 200, "body": "ok"}


def batch_handler(event: Any, context: Any) -> dict[str, Any]:
    """The usual setup: the same handler, then a synchronous flush before the response.

    The AWS Lambda instrumentation flushes the tracer and meter providers; the logger provider
    is flushed too, or its records would wait in memory for a timer that a frozen environment
    does not run.
    """
    try:
        return handler(event, context)
    finally:
        provider.force_flush()
        meter_provider.force_flush()
        logger_provider.force_flush()
