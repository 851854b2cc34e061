"""The function the three-signal response-latency benchmark invokes: spans, logs and metrics.

Per invocation of ``{"spans": N}``: N spans (one around the work, N - 1 inside it), max(1, N // 10)
log records emitted through the logs API inside the invocation's span, and as many counter adds
and histogram records. BENCH_SETUP picks the telemetry setup:

none: the SDK's providers with no processor and no reader (the baseline).
lambda: ours, LambdaSpanProcessor, LambdaLogRecordProcessor and LambdaMetricReader with our
    OTLP/HTTP exporters, in the mode of LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE.
instrumentation: the usual setup, BatchSpanProcessor, BatchLogRecordProcessor and
    PeriodicExportingMetricReader (default intervals) with the official OTLP/HTTP exporters, the
    handler wrapped by the OpenTelemetry AWS Lambda instrumentation (its span is the
    invocation's; after the handler it calls force_flush on the tracer provider, then on the
    meter provider, and nothing on the logger provider: its log records wait for the batch
    processor's own thread).
instrumentation+logs: the same, and the logger provider flushed after the instrumentation's
    flushes, as the ADOT instrumentation and an open contrib pull request do.
"""

import os

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

SETUP = os.environ["BENCH_SETUP"]
BASE = os.environ["BENCH_OTLP_BASE"]  # scheme://host:port; the signals' paths are added here
ATTRIBUTES = {"http.route": "/orders/{id}", "outcome": "ok"}

tracer_provider = TracerProvider()
logger_provider = LoggerProvider()
readers = []
if SETUP == "lambda":
    from otel_lambda_processor import (
        LambdaLogRecordProcessor,
        LambdaMetricReader,
        LambdaSpanProcessor,
    )
    from otel_lambda_processor.otlp import OTLPLogExporter, OTLPMetricExporter, OTLPSpanExporter

    tracer_provider.add_span_processor(
        LambdaSpanProcessor(OTLPSpanExporter(endpoint=BASE + "/v1/traces", timeout=30))
    )
    logger_provider.add_log_record_processor(
        LambdaLogRecordProcessor(OTLPLogExporter(endpoint=BASE + "/v1/logs", timeout=30))
    )
    readers.append(LambdaMetricReader(OTLPMetricExporter(endpoint=BASE + "/v1/metrics")))
elif SETUP.startswith("instrumentation"):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=BASE + "/v1/traces", timeout=30), max_queue_size=16384
        )
    )
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=BASE + "/v1/logs", timeout=30), max_queue_size=16384
        )
    )
    readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=BASE + "/v1/metrics")))
meter_provider = MeterProvider(metric_readers=readers)

tracer = tracer_provider.get_tracer("bench")
logger = logger_provider.get_logger("bench")
meter = meter_provider.get_meter("bench")
items = meter.create_counter("bench.items", unit="{item}")
durations = meter.create_histogram("bench.item.duration", unit="ms")


def work(count):
    for _ in range(count - 1):
        tracer.start_span("work").end()
    for i in range(max(1, count // 10)):
        logger.emit(
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body="item processed",
            attributes={"item.index": i, **ATTRIBUTES},
        )
        items.add(1, ATTRIBUTES)
        durations.record(i % 250, ATTRIBUTES)


def flushing_logs_too(instrumented):
    """The instrumented handler, then the logger provider's flush."""

    def flushed(event, context):
        try:
            return instrumented(event, context)
        finally:
            logger_provider.force_flush()

    return flushed


def handler(event, context):
    count = int(event["spans"])
    if SETUP.startswith("instrumentation"):  # the instrumentation's span is the invocation's
        work(count)
    else:
        with tracer.start_as_current_span("handler"):
            work(count)
    return {"ok": True}


if SETUP.startswith("instrumentation"):
    # What its auto-instrumentation does in the Lambda layer: wrap the module's handler (this
    # module, being imported by the runtime client, is in sys.modules already).
    from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

    AwsLambdaInstrumentor().instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
    )
    if SETUP == "instrumentation+logs":
        handler = flushing_logs_too(handler)
