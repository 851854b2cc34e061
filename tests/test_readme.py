"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_quickstart_is_two_lines_demo_then_tests() -> None:
    block = re.search(r"## Quickstart\n+```sh\n(.*?)```", README.read_text(), flags=re.S)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("-m otel_lambda_processor demo")
    assert lines[1].endswith("-m pytest")


@pytest.mark.skipif(sys.platform != "linux", reason="awslambdaric ships Linux only")
def test_the_emulator_example_runs_a_function_and_sees_its_spans(tmp_path: Path) -> None:
    (example,) = [b for b in python_blocks() if "LambdaEmulator" in b]
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(
        textwrap.dedent(
            """
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from otel_lambda_processor import LambdaSpanProcessor

            provider = TracerProvider()
            provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))
            tracer = provider.get_tracer("app")

            def handler(event, context):
                with tracer.start_as_current_span("handler"):
                    return {"got": event}
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "['handler']" in result.stdout


def test_the_usage_example_exports_at_handler_done(tmp_path: Path) -> None:
    (usage,) = [
        b
        for b in python_blocks()
        if "add_span_processor" in b
        and "def handler" in b
        and "LambdaMetricReader" not in b
        and "@traced_handler" not in b
    ]
    from otel_lambda_processor.testing import OTLPReceiver

    with OTLPReceiver() as receiver:
        script = usage + "\nprint(handler({}, None))\n"
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                "PATH": "/usr/bin:/bin",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
                "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
                "PYTHONPATH": ":".join(sys.path),
            },
        )
        assert result.returncode == 0, result.stderr
        assert receiver.span_names() == ["handler"]


def test_the_logs_and_metrics_example_exports_all_three_signals() -> None:
    (usage,) = [b for b in python_blocks() if "LambdaMetricReader(" in b and "def handler" in b]
    from otel_lambda_processor.testing import OTLPReceiver

    with OTLPReceiver() as receiver:
        script = usage + "\nprint(handler({}, None))\n"
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                "PATH": "/usr/bin:/bin",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_endpoint,
                "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
                "PYTHONPATH": ":".join(sys.path),
            },
        )
        assert result.returncode == 0, result.stderr
        assert receiver.span_names() == ["handler"]
        (record,) = receiver.logs()
        assert record.body == "order received"
        assert record.trace_id == receiver.spans[0].span.trace_id
        assert {p.value for p in receiver.metric_points("orders")} == {1}  # and again at exit


def test_every_python_block_runs_as_the_readme_shows_it(tmp_path: Path) -> None:
    """Each block, as pasted, in a fresh interpreter; a block that defines a Lambda handler is
    then invoked once, and its spans must reach the collector its environment names."""
    from otel_lambda_processor.testing import OTLPReceiver

    blocks = [b for b in python_blocks() if "LambdaEmulator" not in b]  # runs in its own test
    assert len(blocks) >= 5
    for index, block in enumerate(blocks):
        script = tmp_path / f"block{index}.py"
        invoke = "\nif 'handler' in globals():\n    print('RESULT', handler({'id': 7}, None))\n"
        script.write_text(block + invoke)
        with OTLPReceiver() as receiver:
            result = subprocess.run(
                [sys.executable, str(script)],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
                env={
                    "PATH": "/usr/bin:/bin",
                    "PYTHONPATH": ":".join(sys.path),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_endpoint,
                    "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync",
                },
            )
            assert result.returncode == 0, f"block {index}:\n{block}\n{result.stderr}"
            if "RESULT" in result.stdout:
                assert receiver.span_count > 0, f"block {index} exported nothing:\n{block}"
            assert "no span is exported" not in result.stderr, block
