"""Init costs nothing heavy: the recommended setup imports neither protobuf nor ``requests``,
before or after exporting through our exporter to the local receiver (a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from otel_lambda_processor.testing import OTLPReceiver

HEAVY = ("google.protobuf", "requests", "opentelemetry.proto", "otel_lambda_processor.otlp.encoder")

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
after_export = [m for m in loaded() if m != "otel_lambda_processor.otlp.encoder"]
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
