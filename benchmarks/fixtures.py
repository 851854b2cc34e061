"""Owns what several questions set up alike: a null span exporter, the deque floor, lite's processor
and the receiver in its own process. Must not time anything or make rows.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class NullExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DequeProcessor(SpanProcessor):
    """The floor: an on_end that only appends to a bounded deque."""

    def __init__(self, maxlen: int = 2048) -> None:
        self.queue: collections.deque[ReadableSpan] = collections.deque(maxlen=maxlen)

    def on_end(self, span: ReadableSpan) -> None:
        self.queue.append(span)


def lambda_otel_lite(maxlen: int) -> SpanProcessor | None:
    """lambda-otel-lite's processor, where it is installed (it needs Python 3.12+)."""
    try:
        from lambda_otel_lite.processor import LambdaSpanProcessor as LiteProcessor
    except ImportError:
        return None
    return LiteProcessor(NullExporter(), max_queue_size=maxlen)  # type: ignore[no-any-return]


def one_span() -> ReadableSpan:
    """An ended span with one attribute, to hand to ``on_end`` again and again."""
    provider = TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer("bench").start_span("span", attributes={"k": "v"})
    span.end()
    return span  # type: ignore[return-value]


RECEIVER_PROCESS = """
import sys
from otel_lambda_processor.testing import OTLPReceiver

with OTLPReceiver() as receiver:
    print(receiver.endpoint, flush=True)
    for line in sys.stdin:
        count = int(line)
        print(receiver.wait_for_spans(count, timeout=60), flush=True)
        receiver.reset()
"""


class ReceiverProcess:
    """The local receiver in a process of its own, as a collector is: its decoding does not
    compete with the exporter under measurement for this process's GIL."""

    def __enter__(self) -> ReceiverProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER_PROCESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.process.stdin and self.process.stdout
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.endpoint = self.stdout.readline().strip()
        return self

    def received(self, count: int) -> bool:
        """Whether ``count`` spans arrived since the last call (waits up to a minute)."""
        self.stdin.write(f"{count}\n")
        self.stdin.flush()
        return self.stdout.readline().strip() == "True"

    def __exit__(self, *exc: object) -> None:
        self.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
