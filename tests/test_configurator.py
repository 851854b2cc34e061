"""Zero-code setup: opentelemetry-instrument with our configurator builds a provider that exports
through a LambdaSpanProcessor, with every other OTEL_* setting still applied."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_lambda_processor.testing import OTLPReceiver

SCRIPT = textwrap.dedent(
    """
    from opentelemetry import trace
    from otel_lambda_processor import handler_done

    provider = trace.get_tracer_provider()
    kinds = [type(p).__name__ for p in provider._active_span_processor._span_processors]
    print("processors:", kinds)
    exporter = provider._active_span_processor._span_processors[0].span_exporter
    print("exporter:", type(exporter).__module__, exporter.uses_fast_encoder)
    print("sampler:", type(provider.sampler).__name__)
    print("service:", provider.resource.attributes.get("service.name"))
    print("memory:", provider.resource.attributes.get("faas.max_memory"))
    trace.get_tracer("zero-code").start_span("configured").end()
    handler_done()
    """
)


def instrument() -> str:
    found = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("opentelemetry-instrument is not installed (it comes with the test extra)")
    return found


@pytest.mark.parametrize("service_name", [None, "checkout"])
def test_opentelemetry_instrument_uses_the_lambda_span_processor(
    receiver: OTLPReceiver, tmp_path: Path, service_name: str | None
) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    env.update(
        {
            "OTEL_PYTHON_CONFIGURATOR": "otel_lambda_processor",
            "OTEL_TRACES_EXPORTER": "otlp_proto_http",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "1.0",
            "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
            "AWS_LAMBDA_FUNCTION_NAME": "orders",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        }
    )
    if service_name:
        env["OTEL_SERVICE_NAME"] = service_name
    result = subprocess.run(
        [instrument(), sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "processors: ['LambdaSpanProcessor']" in result.stdout, result.stdout + result.stderr
    assert "exporter: otel_lambda_processor.otlp.exporter True" in result.stdout
    assert "sampler: TraceIdRatioBased" in result.stdout, "OTEL_TRACES_SAMPLER still applies"
    assert f"service: {service_name or 'orders'}" in result.stdout
    assert f"memory: {128 * 1024 * 1024}" in result.stdout
    assert receiver.span_names() == ["configured"]
    assert receiver.requests[0].headers["content-encoding"] == "gzip"
