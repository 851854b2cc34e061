"""Local runs without a collector: a refused connection to an endpoint that never answered fails
the export at once with one warning naming the endpoint (not 7-14 s of retries and "raise the
queue size"); a collector that answered before, or answers 429/5xx, still gets the official
retries; and the SDK's console exporter works with the processor, as the README shows."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_lambda_processor import LambdaSpanProcessor, handler_done
from otel_lambda_processor.otlp import OTLPLogExporter, OTLPMetricExporter, OTLPSpanExporter
from otel_lambda_processor.testing import Fault, OTLPReceiver

README = Path(__file__).resolve().parent.parent / "README.md"
NO_COLLECTOR = "no OTLP collector answers at"

#: The README's example for local runs (the test prefers the README's own block once it has one).
CONSOLE_EXAMPLE = textwrap.dedent(
    """\
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    from otel_lambda_processor import LambdaSpanProcessor, handler_done

    provider = TracerProvider()
    provider.add_span_processor(LambdaSpanProcessor(ConsoleSpanExporter(), mode="sync"))
    trace.set_tracer_provider(provider)

    with trace.get_tracer(__name__).start_as_current_span("handler"):
        print("handling")
    handler_done()  # sync: the span is printed (JSON, on stdout) before this returns
    print("done")
    """
)


@pytest.fixture(autouse=True)
def outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_LAMBDA_RUNTIME_API", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens: bound (so nobody else takes it), never
    listening, so every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_no_collector_fails_at_once_with_one_warning_that_names_the_endpoint(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}/v1/traces"
    processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=endpoint), mode="sync")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("local")
    started = time.monotonic()
    for _ in range(3):
        with tracer.start_as_current_span("handler"):
            tracer.start_span("child").end()
        handler_done()  # sync outside Lambda: waits for the export
    elapsed = time.monotonic() - started
    provider.shutdown()

    # The official client retries a refused connection with backoff for up to its 10 s
    # timeout: about 7 s per export. Nothing listens here, so each export fails at once.
    assert elapsed < 2.0, f"three exports took {elapsed:.1f} s"
    said = messages(caplog)
    (line,) = [m for m in said if m.startswith(NO_COLLECTOR)]
    assert line.startswith(f"{NO_COLLECTOR} {endpoint}: connection refused; spans ")
    assert "console" in line
    assert not [m for m in said if "Transient error" in m or "QUEUE_SIZE" in m]
    assert not [m for m in said if "failed: SpanExportResult" in m], "one line, not one a batch"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    reports = [m for m in said if m.startswith("dropped ")]
    assert reports and all(f"(no OTLP collector answers at {endpoint})" in m for m in reports)
    assert processor.dropped_spans == 6, "every span counted: kept once, then dropped"


def test_at_interpreter_exit_it_ends_at_once(closed_port: int, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}/v1/traces"
    script = tmp_path / "local.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from otel_lambda_processor import LambdaSpanProcessor, handler_done
            from otel_lambda_processor.otlp import OTLPSpanExporter

            provider = TracerProvider()
            provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter({endpoint!r})))
            trace.set_tracer_provider(provider)
            for _ in range(2):
                with trace.get_tracer("local").start_as_current_span("handler"):
                    pass
                handler_done()  # async (the default): the export starts, nobody waits
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_LAMBDA"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # Before: the exit waited out the official retries (about 7 s), then said "dropped".
    assert elapsed < 4.0, f"the interpreter took {elapsed:.1f} s to exit\n{result.stderr}"
    lines = result.stderr.splitlines()
    (said,) = [line for line in lines if line.startswith(NO_COLLECTOR)]
    assert said.startswith(f"{NO_COLLECTOR} {endpoint}: connection refused")
    assert "Transient error" not in result.stderr and "Traceback" not in result.stderr
    assert re.search(r"dropped 2 spans .*no OTLP collector answers at", result.stderr)


def test_spans_are_kept_for_the_next_export_when_a_collector_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # a free port, released for the collector to take later
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=endpoint), mode="sync")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("local")
    tracer.start_span("before").end()
    handler_done()
    assert [m for m in messages(caplog) if m.startswith(NO_COLLECTOR)]
    with OTLPReceiver(port=port) as collector:  # it starts listening there now
        tracer.start_span("after").end()
        handler_done()
        assert sorted(collector.span_names()) == ["after", "before"]
    provider.shutdown()
    assert processor.dropped_spans == 0


def test_a_collector_that_answered_before_is_retried_as_officially(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with OTLPReceiver() as collector:
        endpoint = collector.endpoint
        assert OTLPSpanExporter(endpoint=endpoint).export([]) is SpanExportResult.SUCCESS
    # The collector went away (a restart): a refused connection is retried with backoff.
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=2)  # no pooled connection
    started = time.monotonic()
    assert exporter.export([]) is SpanExportResult.FAILURE
    elapsed = time.monotonic() - started
    said = messages(caplog)
    assert [m for m in said if "Transient error" in m], said
    assert elapsed >= 0.7, "the first retry waits about a second"
    assert not [m for m in said if NO_COLLECTOR in m]
    assert exporter.no_collector_at is None
    exporter.shutdown()


def test_429_and_5xx_are_still_retried(caplog: pytest.LogCaptureFixture) -> None:
    with OTLPReceiver() as collector:
        collector.inject(Fault(status=503))  # the first request of a fresh endpoint
        exporter = OTLPSpanExporter(endpoint=collector.endpoint, timeout=5)
        assert exporter.export([]) is SpanExportResult.SUCCESS
        assert [r.status for r in collector.requests] == [503, 200]
        exporter.shutdown()
    assert [m for m in messages(caplog) if "Transient error" in m]
    assert not [m for m in messages(caplog) if NO_COLLECTOR in m]


def test_log_and_metric_exporters_say_it_once_too(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"http://127.0.0.1:{closed_port}"
    logs = OTLPLogExporter(endpoint=f"{base}/v1/logs")
    metrics = OTLPMetricExporter(endpoint=f"{base}/v1/metrics")
    started = time.monotonic()
    for _ in range(2):
        assert logs.export([]).name == "FAILURE"
        assert metrics.export(MetricsData(resource_metrics=[])) is MetricExportResult.FAILURE
    assert time.monotonic() - started < 2.0
    said = [m for m in messages(caplog) if m.startswith(NO_COLLECTOR)]
    assert len(said) == 2
    assert said[0].startswith(f"{NO_COLLECTOR} {base}/v1/logs: connection refused; log records")
    assert said[1].startswith(f"{NO_COLLECTOR} {base}/v1/metrics: connection refused; metrics")
    assert logs.no_collector_at == f"{base}/v1/logs"
    logs.shutdown()
    metrics.shutdown()


# -- the console exporter, for local runs --------------------------------------------------------
def console_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if "ConsoleSpanExporter" in b]
    return found[0] if found else CONSOLE_EXAMPLE


def local_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_LAMBDA"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


def test_the_console_example_prints_each_span_before_handler_done_returns() -> None:
    result = subprocess.run(
        [sys.executable, "-c", console_example()],
        env=local_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("handling") < out.index('"name": "handler"') < out.index("done"), out
    assert "WARNING" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_zero_code_console_export(tmp_path: Path) -> None:
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if instrument is None:
        pytest.skip("opentelemetry-instrument is not installed (it comes with the test extra)")
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            from opentelemetry import trace
            from otel_lambda_processor import handler_done

            with trace.get_tracer("local").start_as_current_span("handler"):
                pass
            handler_done()
            print("done")
            """
        )
    )
    env = local_env()
    env.update(
        {
            "OTEL_PYTHON_CONFIGURATOR": "otel_lambda_processor",
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
        }
    )
    result = subprocess.run(
        [instrument, sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.index('"name": "handler"') < result.stdout.index("done"), result.stdout
