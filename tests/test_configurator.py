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

from .otel_releases import LEAN_EXPORT

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
    lean = "True" if LEAN_EXPORT else "False"  # before 1.45 ours hands over to the official one
    assert f"exporter: otel_lambda_processor.otlp.exporter {lean}" in result.stdout
    assert "sampler: TraceIdRatioBased" in result.stdout, "OTEL_TRACES_SAMPLER still applies"
    assert f"service: {service_name or 'orders'}" in result.stdout
    assert f"memory: {128 * 1024 * 1024}" in result.stdout
    assert receiver.span_names() == ["configured"]
    assert receiver.requests[0].headers["content-encoding"] == "gzip"


THREE_SIGNALS = textwrap.dedent(
    """
    import logging

    from opentelemetry import _logs, metrics, trace
    from otel_lambda_processor import handler_done

    logs = _logs.get_logger_provider()._multi_log_record_processor._log_record_processors
    print("log processors:", [(type(p).__name__, type(p.exporter).__module__) for p in logs])
    readers = list(metrics.get_meter_provider()._all_metric_readers)
    print("readers:", [type(r).__mro__[1].__name__ for r in readers])
    print("metric exporter:", type(readers[0].exporter).__module__)
    with trace.get_tracer("zero-code").start_as_current_span("configured"):
        logging.getLogger("app").warning("from the root logger's handler")
        metrics.get_meter("zero-code").create_counter("calls").add(1)
    handler_done()
    """
)


def test_opentelemetry_instrument_sets_up_logs_and_metrics_on_the_same_lifecycle(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(THREE_SIGNALS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "LAMBDA_"))}
    env.update(
        {
            "OTEL_PYTHON_CONFIGURATOR": "otel_lambda_processor",
            "OTEL_TRACES_EXPORTER": "otlp_proto_http",
            "OTEL_LOGS_EXPORTER": "otlp_proto_http",
            "OTEL_METRICS_EXPORTER": "otlp_proto_http",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_endpoint,
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
        }
    )
    result = subprocess.run(
        [instrument(), sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        "log processors: [('LambdaLogRecordProcessor', 'otel_lambda_processor.otlp.log_exporter')]"
        in out
    ), out + result.stderr
    assert "readers: ['LambdaMetricReader']" in out
    assert "metric exporter: otel_lambda_processor.otlp.metric_exporter" in out
    # sync mode: all three were exported when handler_done() returned, before the exit flush
    assert receiver.span_names() == ["configured"]
    (record,) = [r for r in receiver.logs() if r.body == "from the root logger's handler"]
    assert record.trace_id == receiver.spans[0].span.trace_id
    assert [p.value for p in receiver.metric_points("calls")][:1] == [1]


def test_otlp_without_a_protocol_means_otlp_http_when_grpc_is_not_installed(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    try:
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401

        pytest.skip("the gRPC exporter is installed here: the SDK's own choice stands")
    except ImportError:
        pass
    script = tmp_path / "app.py"
    script.write_text(THREE_SIGNALS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "LAMBDA_"))}
    env.update(
        {
            "OTEL_PYTHON_CONFIGURATOR": "otel_lambda_processor",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_endpoint,
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
        }
    )
    result = subprocess.run(
        [instrument(), sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "metric exporter: otel_lambda_processor.otlp.metric_exporter" in result.stdout
    assert receiver.span_names() == ["configured"]
    assert receiver.log_count() >= 1 and receiver.metric_points("calls")
