"""A function that exports all three signals through the package: spans from @traced_handler,
log records from the stdlib ``logging`` module (the SDK's ``LoggingHandler``), and a counter and
a histogram read by a LambdaMetricReader; each through our lean OTLP exporter.

The environment sets the receiver (TEST_OTLP_ENDPOINT for traces, TEST_OTLP_LOGS_ENDPOINT,
TEST_OTLP_METRICS_ENDPOINT), the exporters' timeout (TEST_OTLP_TIMEOUT, seconds) and the modes,
queues, timeouts and intervals through the package's own variables. TEST_EXPORT_STARTS=1 notes
the monotonic time at which each ``export()`` call starts, per signal.

The event says how many spans (the invocation span included) and log records to make. Each
invocation adds 1 to the counter ``invocations`` and records its span count in the histogram
``work.items``. ``{"report": true}`` makes nothing (no span, no record, no measurement) and
returns the books. The books are also printed, as one ``BOOKS_PREFIX`` line, whenever the tracer
provider is flushed: the coordinator does that at SIGTERM, after our processors' exports.
"""

import inspect
import json
import logging
import os
import threading
import time

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_lambda_processor import (
    LambdaLogRecordProcessor,
    LambdaMetricReader,
    LambdaSpanProcessor,
    traced_handler,
)
from otel_lambda_processor.otlp import OTLPLogExporter, OTLPMetricExporter, OTLPSpanExporter

BOOKS_PREFIX = "three-signals books: "
TIMEOUT = float(os.environ.get("TEST_OTLP_TIMEOUT", "5"))
EXPORT_STARTS: dict[str, list[float]] = {"spans": [], "logs": [], "metrics": []}


def noted(signal, exporter):
    """``exporter``, its ``export()`` calls noted in EXPORT_STARTS when TEST_EXPORT_STARTS=1."""
    if os.environ.get("TEST_EXPORT_STARTS") != "1":
        return exporter
    export, starts = exporter.export, EXPORT_STARTS[signal]

    def export_noted(*args, **kwargs):
        starts.append(time.monotonic())
        return export(*args, **kwargs)

    exporter.export = export_noted
    return exporter


class Books(SpanProcessor):
    """Counts the spans that end (what was produced) and prints the books when flushed."""

    def __init__(self):
        self.ended = 0
        self._lock = threading.Lock()

    def on_end(self, span):
        with self._lock:
            self.ended += 1

    def force_flush(self, timeout_millis=30000):
        print(BOOKS_PREFIX + json.dumps(books()), flush=True)
        return True


resource = Resource.create({"service.name": "three-signals"})

# Spans first: the first processor built starts the extension coordinator for its mode.
# The books count the function's own metric points: the SDK's own span metrics (always on from
# OpenTelemetry 1.40 to 1.44, behind OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED since) stay out.
own_metrics_only = (
    {"meter_provider": metrics.NoOpMeterProvider()}
    if "meter_provider" in inspect.signature(TracerProvider).parameters
    else {}
)
tracer_provider = TracerProvider(resource=resource, **own_metrics_only)
span_processor = LambdaSpanProcessor(
    noted("spans", OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"], timeout=TIMEOUT))
)
tracer_provider.add_span_processor(span_processor)
counted = Books()
tracer_provider.add_span_processor(counted)
trace.set_tracer_provider(tracer_provider)
tracer = tracer_provider.get_tracer("three-signals")

logger_provider = LoggerProvider(resource=resource)
log_processor = LambdaLogRecordProcessor(
    noted("logs", OTLPLogExporter(endpoint=os.environ["TEST_OTLP_LOGS_ENDPOINT"], timeout=TIMEOUT))
)
logger_provider.add_log_record_processor(log_processor)
_logs.set_logger_provider(logger_provider)
log = logging.getLogger("three_signals.app")
log.setLevel(logging.INFO)
log.propagate = False  # to the receiver only, not to the runtime's stdout as well
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))

metric_reader = LambdaMetricReader(
    noted(
        "metrics",
        OTLPMetricExporter(endpoint=os.environ["TEST_OTLP_METRICS_ENDPOINT"], timeout=TIMEOUT),
    )
)
meter_provider = MeterProvider(metric_readers=[metric_reader], resource=resource)
metrics.set_meter_provider(meter_provider)
meter = meter_provider.get_meter("three-signals")
invocations = meter.create_counter("invocations")
work_items = meter.create_histogram("work.items")

logs_emitted = 0
increments = 0


def books():
    return {
        "spans_ended": counted.ended,
        "dropped_spans": span_processor.dropped_spans,
        "dropped": span_processor.dropped_spans,  # what FunctionRun.dropped() reads
        "logs_emitted": logs_emitted,
        "dropped_records": log_processor.dropped_records,
        "increments": increments,
        "collected_points": metric_reader.collected_points,
        "dropped_points": metric_reader.dropped_points,
        "export_started": EXPORT_STARTS,
        "modes": {
            "spans": span_processor.mode.value,
            "logs": log_processor.mode.value,
            "metrics": metric_reader.mode.value,
        },
    }


@traced_handler
def traced(event, context):
    global logs_emitted, increments
    started = time.perf_counter()
    request = context.aws_request_id
    for i in range(int(event.get("logs", 1))):
        # In the invocation span: the record carries its trace and span ids.
        log.info("record %d of %s", i, request, extra={"request": request})
        logs_emitted += 1
    for i in range(int(event.get("spans", 1)) - 1):
        tracer.start_span(f"child-{i}", attributes={"request": request}).end()
    invocations.add(1)
    work_items.record(int(event.get("spans", 1)))
    increments += 1
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    return {
        "request_id": request,
        "trace_id": f"{trace.get_current_span().get_span_context().trace_id:032x}",
        "handler_ms": (time.perf_counter() - started) * 1000,
    }


def handler(event, context):
    event = event or {}
    if event.get("report"):  # the harness asks for the books: nothing of its own
        return books()
    return traced(event, context)
