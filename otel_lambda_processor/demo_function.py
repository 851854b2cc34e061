"""The example function the demo runs under the emulator; DEMO_SETUP picks its telemetry.

It traces, logs through ``logging`` (the SDK's ``LoggingHandler``: records carry the span they
were emitted in) and counts orders. ``sync``/``async``: our span and log record processors and
metric reader in that mode. ``async+sampling``: async, with per-invocation sampling configured
in the environment as on Lambda (``LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO`` and
``LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS``), and the span processor's ``sampled_out_spans``
and ``dropped_spans`` reported as two more metrics (:data:`COUNTERS`): the caller checks its
accounting with them. ``finalize+batch``: finalize mode, beside a BatchSpanProcessor (to
DEMO_BATCH_ENDPOINT). These export through our OTLP/HTTP exporters. ``batch+flush``: the usual
setup, the SDK's batch processors and periodic reader with the official exporters, and a flush
of every provider at the end of the handler.

An event is an order: ``{"order": 1001, "amount": 24.5}``; ``"slow_ms"`` makes its last query
take that long, ``"fails": true`` makes rendering its receipt raise (the invocation fails after
the order was counted). Either way an invocation makes as many spans and log records.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
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
#: The metrics that report the span processor's counters in ``async+sampling``.
COUNTERS = ("spans.sampled_out", "spans.dropped")

resource = lambda_resource()
provider = TracerProvider(resource=resource)
logger_provider = LoggerProvider(resource=resource)
reader: MetricReader
spans: LambdaSpanProcessor | None = None
if SETUP in ("sync", "async", "async+sampling", "finalize+batch"):
    mode = {"finalize+batch": "finalize", "async+sampling": "async"}.get(SETUP, SETUP)
    # Sampling comes from the environment, as a function's configuration sets it on Lambda.
    spans = LambdaSpanProcessor(OTLPSpanExporter(endpoint=f"{ENDPOINT}/v1/traces"), mode=mode)
    provider.add_span_processor(spans)
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


def _report_counters(processor: LambdaSpanProcessor) -> None:
    """The span processor's counters as two observable counters, collected with the other
    metrics: how the demo, in another process, learns what the processor sampled out."""

    def sampled_out(options: CallbackOptions) -> list[Observation]:
        return [Observation(processor.sampled_out_spans)]

    def dropped(options: CallbackOptions) -> list[Observation]:
        return [Observation(processor.dropped_spans)]

    meter.create_observable_counter(
        COUNTERS[0], [sampled_out], unit="{span}", description="spans not kept by the sampler"
    )
    meter.create_observable_counter(
        COUNTERS[1], [dropped], unit="{span}", description="spans overwritten or failed to export"
    )


if SETUP == "async+sampling" and spans is not None:
    _report_counters(spans)


@traced_handler(tracer_provider=provider)
def handler(event: Any, context: Any) -> dict[str, Any]:
    order, amount = event.get("order", 0), float(event.get("amount", 0.0))
    slow = float(event.get("slow_ms", 0)) / 1000
    with tracer.start_as_current_span("validate order"):
        log.info("order %s validated: %.2f USD", order, amount)
        time.sleep(0.001)
    with tracer.start_as_current_span("load customer"):
        log.warning("customer cache cold: reading 3 tables")
        for table in ("customers", "addresses", "orders"):
            with tracer.start_as_current_span(f"SELECT {table}"):
                time.sleep(slow if slow and table == "orders" else 0.002)
    with tracer.start_as_current_span("render"):
        time.sleep(0.001)
        orders.add(1)
        order_value.record(amount)
        if event.get("fails"):
            log.error("order %s: the receipt could not be rendered", order)
            raise RuntimeError(f"order {order}: the receipt could not be rendered")
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
