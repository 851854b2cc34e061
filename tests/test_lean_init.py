"""Init costs nothing heavy: the recommended setup imports neither protobuf nor ``requests``,
before or after exporting through our exporter to the local receiver (a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from otel_lambda_processor.testing import OTLPReceiver

HEAVY = (
    "google.protobuf",
    "requests",
    "opentelemetry.proto",
    "otel_lambda_processor.otlp.encoder",
    "otel_lambda_processor.otlp.wire",
    "otel_lambda_processor.otlp.span_fields",
)

SCRIPT = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.otlp import OTLPSpanExporter

def loaded():
    return sorted(m for m in sys.modules if m.startswith(tuple(json.loads(sys.argv[2]))))

provider = TracerProvider(shutdown_on_exit=False)
processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1]), mode="finalize")
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
with trace.get_tracer("lean").start_as_current_span("root", attributes={"a": (1, 2)}):
    pass
at_init = loaded()
flushed = processor.force_flush(10000)
ours = ("otel_lambda_processor.otlp.encoder", "otel_lambda_processor.otlp.wire",
        "otel_lambda_processor.otlp.span_fields")
after_export = [m for m in loaded() if m not in ours]
print(json.dumps({"init": at_init, "export": after_export, "flushed": flushed}))
"""


def run(receiver: OTLPReceiver, **env: str) -> dict[str, object]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, receiver.endpoint, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_neither_protobuf_nor_requests_is_imported_at_init_or_on_export(
    receiver: OTLPReceiver, compression: str
) -> None:
    seen = run(receiver, OTEL_EXPORTER_OTLP_COMPRESSION=compression)
    assert seen["init"] == [], "nothing heavy, not even our encoder, before the first export"
    assert seen["flushed"] is True and receiver.span_names() == ["root"]
    assert seen["export"] == [], "the export path itself stays lean"


# -- logs and metrics: LambdaLogRecordProcessor(OTLPLogExporter()), LambdaMetricReader(...) -------
#: Our encoders: loaded by the first export, not before.
OUR_ENCODERS = (
    "otel_lambda_processor.otlp.encoder",
    "otel_lambda_processor.otlp.wire",
    "otel_lambda_processor.otlp.span_fields",
    "otel_lambda_processor.otlp.logs_encoder",
    "otel_lambda_processor.otlp.metrics_",  # metrics_encoder and the modules it is made of
)
SIGNAL_HEAVY = (*HEAVY, *OUR_ENCODERS[1:])

LOGS_SCRIPT = """
import json, logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from otel_lambda_processor import LambdaLogRecordProcessor
from otel_lambda_processor.otlp import OTLPLogExporter

heavy, ours = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))

def loaded():
    return sorted(m for m in sys.modules if m.startswith(tuple(heavy)))

provider = LoggerProvider(shutdown_on_exit=False)
processor = LambdaLogRecordProcessor(OTLPLogExporter(), mode="finalize")
provider.add_log_record_processor(processor)
app = logging.getLogger("lean")
app.addHandler(LoggingHandler(logger_provider=provider))
app.propagate = False
app.warning("hello %s", "lean", extra={"a": (1, 2)})
provider.get_logger("lean.direct").emit(body={"k": [1, "two"]}, attributes={"n": 3})
at_init = loaded()
flushed = processor.force_flush(10000)
after_export = [m for m in loaded() if not m.startswith(ours)]
print(json.dumps({"init": at_init, "export": after_export, "flushed": flushed}))
"""

METRICS_SCRIPT = """
import json, sys
from opentelemetry.sdk.metrics import MeterProvider
from otel_lambda_processor import LambdaMetricReader
from otel_lambda_processor.otlp import OTLPMetricExporter

heavy, ours = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))

def loaded():
    return sorted(m for m in sys.modules if m.startswith(tuple(heavy)))

reader = LambdaMetricReader(OTLPMetricExporter(), mode="finalize")
provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
meter = provider.get_meter("lean")
meter.create_counter("invocations").add(1, {"cold": True})
meter.create_histogram("duration", unit="ms").record(12.5)
at_init = loaded()
flushed = reader.force_flush(10000)
after_export = [m for m in loaded() if not m.startswith(ours)]
print(json.dumps({"init": at_init, "export": after_export, "flushed": flushed}))
"""


def run_signal(script: str, receiver: OTLPReceiver, **env: str) -> dict[str, object]:
    """``script`` in a fresh interpreter exporting to ``receiver`` (set by the variables only)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
    environment.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.base_endpoint, **env)
    arguments = [json.dumps(SIGNAL_HEAVY), json.dumps(OUR_ENCODERS)]
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_the_log_processor_and_exporter_import_neither_protobuf_nor_requests(
    receiver: OTLPReceiver, compression: str
) -> None:
    seen = run_signal(LOGS_SCRIPT, receiver, OTEL_EXPORTER_OTLP_COMPRESSION=compression)
    assert seen["init"] == [], "nothing heavy, not even our encoder, before the first export"
    assert seen["flushed"] is True
    assert sorted(map(str, receiver.log_bodies())) == ["hello lean", "{'k': [1, 'two']}"]
    assert seen["export"] == [], "the export path itself stays lean"


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_the_metric_reader_and_exporter_import_neither_protobuf_nor_requests(
    receiver: OTLPReceiver, compression: str
) -> None:
    seen = run_signal(METRICS_SCRIPT, receiver, OTEL_EXPORTER_OTLP_COMPRESSION=compression)
    assert seen["init"] == [], "nothing heavy, not even our encoder, before the first export"
    assert seen["flushed"] is True
    assert [p.value for p in receiver.metric_points("invocations")] == [1]
    assert [p.name for p in receiver.metric_points()] == ["invocations", "duration"]
    assert seen["export"] == [], "the export path itself stays lean"
