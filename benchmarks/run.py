"""Benchmarks for otel-lambda-processor: every figure a median of rounds, every comparison a
ratio taken in the same run. Writes benchmarks/RESULTS.md and prints the same table. Logs and
metrics (hot paths, encoders, latency with all three signals on) are in signals.py.

    python benchmarks/run.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import gc
import importlib.util
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import signals
from common import HERE, fmt, median_spread, per_call_ns, ratio
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.testing import OTLPReceiver


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
    provider = TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer("bench").start_span("span", attributes={"k": "v"})
    span.end()
    return span  # type: ignore[return-value]


# -- 1. on_end ----------------------------------------------------------------------------------
def bench_on_end(rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    span = one_span()
    results: dict[str, dict[str, list[float]]] = {}

    def measure(name: str, make: Callable[[], SpanProcessor], fill: bool) -> None:
        samples = []
        for _ in range(rounds):
            processor = make()
            on_end = processor.on_end
            if fill:
                for _ in range(4096):
                    on_end(span)
            samples.append(per_call_ns(on_end, span, calls))
            processor.shutdown()
        results.setdefault(name, {})["full" if fill else "not full"] = samples

    big = max(calls * 2, 4096)
    for fill in (False, True):
        cap = 2048 if fill else big
        measure("deque", lambda cap=cap: DequeProcessor(cap), fill)
        measure(
            "LambdaSpanProcessor",
            lambda cap=cap: LambdaSpanProcessor(
                NullExporter(), mode="finalize", max_queue_size=cap
            ),
            fill,
        )
        if lambda_otel_lite(1) is not None:
            measure("lambda-otel-lite", lambda cap=cap: lambda_otel_lite(cap), fill)  # type: ignore[arg-type, return-value]
        measure(
            "BatchSpanProcessor",
            lambda cap=cap: BatchSpanProcessor(
                NullExporter(),
                max_queue_size=cap,
                schedule_delay_millis=3_600_000,
                max_export_batch_size=cap,
            ),
            fill,
        )
    return results


# -- 2. whole-span overhead ---------------------------------------------------------------------
def bench_whole_span(rounds: int, spans: int) -> dict[str, list[float]]:
    """Per round, each setup in turn: ns per ``start_as_current_span`` block, minus no processor.

    Buffers have the default size, so they run full and evict as they would in a long handler:
    spans are freed at the same rate with every setup, and memory does not grow with the count.
    """
    cap = 2048
    setups: dict[str, Callable[[], SpanProcessor | None]] = {
        "none": lambda: None,
        "deque": lambda: DequeProcessor(cap),
        "LambdaSpanProcessor": lambda: LambdaSpanProcessor(
            NullExporter(), mode="finalize", max_queue_size=cap
        ),
        "BatchSpanProcessor": lambda: BatchSpanProcessor(NullExporter(), max_queue_size=cap),
    }
    if lambda_otel_lite(1) is not None:
        setups["lambda-otel-lite"] = lambda: lambda_otel_lite(cap)

    def one(tracer: Any) -> None:
        with tracer.start_as_current_span("s"):
            pass

    providers = {}
    for name, make in setups.items():
        provider = TracerProvider(shutdown_on_exit=False)
        processor = make()
        if processor is not None:
            provider.add_span_processor(processor)
        providers[name] = provider
    overhead: dict[str, list[float]] = {name: [] for name in setups if name != "none"}
    names = list(setups)
    for round_ in range(rounds):
        timings = {}
        # Short runs, order rotated each round: drift on a shared machine hits every setup alike.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            timings[name] = per_call_ns(one, providers[name].get_tracer("bench"), spans)
        for name in overhead:
            overhead[name].append(timings[name] - timings["none"])
    for provider in providers.values():
        provider.shutdown()
    return overhead


# -- 3. flush throughput, the encoder, compression ---------------------------------------------
def _lambda_spans(count: int, attributes: Callable[[int], dict[str, Any]]) -> list[ReadableSpan]:
    """A Lambda function's spans: one resource, three scopes interleaved (span ``i`` from scope
    ``i % 3``, with ``attributes(i)``), an event on some, an error status on a few."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.trace import StatusCode

    from otel_lambda_processor import lambda_resource

    resource = lambda_resource().merge(Resource({"service.version": "2.3.1"}))
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracers = [
        provider.get_tracer("opentelemetry.instrumentation.botocore", "0.66b1"),
        provider.get_tracer("opentelemetry.instrumentation.urllib3", "0.66b1"),
        provider.get_tracer("orders", "2.3.1"),
    ]
    spans: list[ReadableSpan] = []
    for i in range(count):
        tracer = tracers[i % 3]
        with tracer.start_as_current_span(f"step {i % 20}", attributes=attributes(i)) as span:
            if i % 10 == 0:
                span.add_event("retry", {"attempt": 1 + i % 3})
            if i % 50 == 0:
                span.set_status(StatusCode.ERROR, "upstream unavailable")
        spans.append(span)  # type: ignore[arg-type]
    return spans


def _repeated_attributes(i: int) -> dict[str, Any]:
    """HTTP, DB and queue attributes, most values shared between spans, a few distinct."""
    if i % 3 == 0:
        return {
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": "GetItem",
            "aws.region": "eu-west-1",
            "aws.dynamodb.table_names": ("orders",),
            "aws.request_id": f"{i:08X}-ABCD-4C2E-9F3A-1B2C3D4E5F60",
        }
    if i % 3 == 1:
        return {
            "http.request.method": "POST",
            "url.full": f"https://api.example.com/v1/items/{i % 500}",
            "server.address": "api.example.com",
            "http.response.status_code": 200 if i % 50 else 503,
            "http.request.body.size": 512 + i % 97,
        }
    return {
        "order.id": f"ord-{i}",
        "order.items": i % 12,
        "order.total": (i % 1000) / 7,
        "customer.tier": ("free", "pro", "enterprise")[i % 3],
    }


def _distinct_attributes(i: int) -> dict[str, Any]:
    """The same keys, types and counts, but every string value unique to its span (request
    ids, SQL with ids, full URLs with query strings, user agents) and ints and floats varied."""
    uid = f"{i * 2654435761 % 2**32:08x}-{i % 65536:04x}-4c2e-9f3a-{i * 40503 % 2**48:012x}"
    if i % 3 == 0:
        return {
            "rpc.system": f"aws-api/{uid}",
            "rpc.service": f"DynamoDB.{uid[:8]}",
            "rpc.method": f"GetItem#{i}",
            "db.query.text": (
                f"SELECT id, status, total FROM orders WHERE customer_id = {i * 7919} "
                f"AND created_at > '2024-{1 + i % 12:02d}-{1 + i % 28:02d}' LIMIT {1 + i % 100}"
            ),
            "aws.dynamodb.table_names": (f"orders-{uid[:8]}",),
            "aws.request_id": uid.upper(),
        }
    if i % 3 == 1:
        return {
            "http.request.method": f"POST {uid}",
            "url.full": (
                f"https://api.example.com/v1/items/{i}?customer={i * 7919}&session={uid}"
                f"&page={i % 40}&sort=created_at"
            ),
            "user_agent.original": (
                f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{100 + i % 30}.0.{i}.{i % 200} Safari/537.36"
            ),
            "http.response.status_code": 100 + i * 7 % 500,
            "http.request.body.size": i * 2654435761 % 2**31,
        }
    return {
        "order.id": f"ord-{uid}",
        "order.items": i * 40503 % 100_000,
        "order.total": i * 1.37 + (i % 97) / 7,
        "customer.tier": f"tier-{i}-{uid[-6:]}",
    }


def realistic_spans(count: int) -> list[ReadableSpan]:
    """Spans whose attribute values mostly repeat (the "repeated values" workload)."""
    return _lambda_spans(count, _repeated_attributes)


def distinct_spans(count: int) -> list[ReadableSpan]:
    """The same spans with every string attribute value unique (the "distinct values"
    workload): real traces carry request ids, SQL, URLs and user agents that never repeat."""
    return _lambda_spans(count, _distinct_attributes)


WORKLOADS = {"repeated values": realistic_spans, "distinct values": distinct_spans}


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


def bench_flush(rounds: int, spans: list[ReadableSpan]) -> dict[str, list[float]]:
    """Export ``spans`` in 512-span batches to the local receiver: the official exporter, ours
    (without compression, and with gzip at the official exporter's fixed level 9), and ours
    through LambdaSpanProcessor.force_flush."""
    from opentelemetry.exporter.otlp.proto.http import Compression

    from otel_lambda_processor.otlp import OTLPSpanExporter as FastExporter

    count = len(spans)
    exporters = {
        "official exporter": lambda: OTLPSpanExporter(endpoint=endpoint, timeout=30),
        "our exporter": lambda: FastExporter(endpoint=endpoint, timeout=30),
        "official exporter, gzip": lambda: OTLPSpanExporter(
            endpoint=endpoint, timeout=30, compression=Compression.Gzip
        ),
        "our exporter, gzip": lambda: FastExporter(  # the official level: not settable there
            endpoint=endpoint, timeout=30, compression=Compression.Gzip, compression_level=9
        ),
    }
    out: dict[str, list[float]] = {name: [] for name in [*exporters, "force_flush"]}
    with ReceiverProcess() as receiver:
        endpoint = receiver.endpoint
        for _ in range(rounds):
            for name, make in exporters.items():
                exporter = make()
                start = time.perf_counter()
                for i in range(0, count, 512):
                    assert exporter.export(spans[i : i + 512]) == SpanExportResult.SUCCESS
                out[name].append(time.perf_counter() - start)
                exporter.shutdown()
                assert receiver.received(count), name
            processor = LambdaSpanProcessor(
                FastExporter(endpoint=endpoint, timeout=30), mode="finalize", max_queue_size=count
            )
            for s in spans:
                processor.on_end(s)
            start = time.perf_counter()
            ok = processor.force_flush(60_000)
            out["force_flush"].append(time.perf_counter() - start)
            assert ok and processor.dropped_spans == 0
            processor.shutdown()
            assert receiver.received(count), "force_flush"
    return out


def bench_encoder(spans: list[ReadableSpan], rounds: int) -> dict[str, list[float]]:
    """Encode the same spans with the official encoder and with ours (byte-identical), alone
    and followed by the same ``gzip.compress`` at our default level 1."""
    import gzip

    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official

    from otel_lambda_processor.otlp import encode_spans

    out: dict[str, list[float]] = {
        name: []
        for name in ("official encoder", "our encoder", "official + gzip 1", "ours + gzip 1")
    }
    for _ in range(rounds):
        start = time.perf_counter()
        expected = official(spans).SerializeToString()
        out["official encoder"].append(time.perf_counter() - start)
        start = time.perf_counter()
        mine = encode_spans(spans)
        out["our encoder"].append(time.perf_counter() - start)
        assert mine == expected
        start = time.perf_counter()
        gzip.compress(official(spans).SerializeToString(), compresslevel=1)
        out["official + gzip 1"].append(time.perf_counter() - start)
        start = time.perf_counter()
        gzip.compress(encode_spans(spans), compresslevel=1)
        out["ours + gzip 1"].append(time.perf_counter() - start)
    return out


GZIP_LEVELS = (1, 6, 9)  # ours by default, zlib's default, the official exporter's


def bench_gzip(spans: list[ReadableSpan], rounds: int) -> dict[int, tuple[list[float], int]]:
    """gzip of the encoded spans per level: seconds per round and compressed bytes."""
    import gzip

    from otel_lambda_processor.otlp import encode_spans

    data = encode_spans(spans)
    out: dict[int, tuple[list[float], int]] = {}
    for level in GZIP_LEVELS:
        times, size = [], 0
        for _ in range(rounds):
            start = time.perf_counter()
            size = len(gzip.compress(data, compresslevel=level))
            times.append(time.perf_counter() - start)
        out[level] = (times, size)
    out[0] = ([0.0], len(data))  # uncompressed size
    return out


# -- 4. import time -----------------------------------------------------------------------------
def bench_import(rounds: int) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def timed(code: str) -> float:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return float(out.stdout.strip())

    timed("import otel_lambda_processor")  # writes the bytecode caches, as an install does
    base, ours = [], []
    for _ in range(rounds):
        base.append(timed("import opentelemetry.sdk.trace"))
        ours.append(timed("import opentelemetry.sdk.trace; import otel_lambda_processor"))
    return {"opentelemetry.sdk.trace": base, "+ otel_lambda_processor": ours}


#: Our setup inside Lambda: the first processor registers with the (local) Extensions API,
#: which imports urllib3 during init.
LAMBDA_INIT = "+ LambdaSpanProcessor(our OTLPSpanExporter), in Lambda: registers (emulator)"

INIT_SETUPS = {
    # name: what is added to "TracerProvider(), set global" before the one span
    "SDK alone": "",
    "+ LambdaSpanProcessor(our OTLPSpanExporter)": (
        "from otel_lambda_processor import LambdaSpanProcessor\n"
        "from otel_lambda_processor.otlp import OTLPSpanExporter\n"
        "processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT))\n"
        "provider.add_span_processor(processor)\n"
    ),
    "+ BatchSpanProcessor(official OTLPSpanExporter)": (
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
        "processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT))\n"
        "provider.add_span_processor(processor)\n"
    ),
    LAMBDA_INIT: (
        "from otel_lambda_processor import LambdaSpanProcessor\n"
        "from otel_lambda_processor.otlp import OTLPSpanExporter\n"
        "processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT))\n"
        "provider.add_span_processor(processor)\n"
    ),
    "+ LambdaSpanProcessor(exporter that imports nothing)": (
        "from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult\n"
        "from otel_lambda_processor import LambdaSpanProcessor\n"
        "class Null(SpanExporter):\n"
        "    def export(self, spans): return SpanExportResult.SUCCESS\n"
        "processor = LambdaSpanProcessor(Null())\n"
        "provider.add_span_processor(processor)\n"
    ),
}

OURS_INIT = "+ LambdaSpanProcessor(our OTLPSpanExporter)"
OFFICIAL_INIT = "+ BatchSpanProcessor(official OTLPSpanExporter)"

_INIT_SCRIPT = """
import sys, time
ENDPOINT = sys.argv[1]
started = time.perf_counter()
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
provider = TracerProvider(shutdown_on_exit=False)
trace.set_tracer_provider(provider)
{setup}
trace.get_tracer("init").start_span("first").end()
init = time.perf_counter() - started
flushed = time.perf_counter()
ok = provider.force_flush(30000)
print(init, time.perf_counter() - flushed, ok)
"""


def bench_init(rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Init (imports, construction, the first span) of each setup in fresh interpreters,
    interleaved; and, apart, the first export after it (a cold start's first flush)."""
    from otel_lambda_processor.testing.emulator import LambdaEmulator

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_", "LAMBDA_"))}
    env["LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE"] = "finalize"  # the flush below is the export
    results: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in INIT_SETUPS}
    with ReceiverProcess() as receiver:
        for round_ in range(rounds + 1):  # the first round writes bytecode caches: not counted
            for name, setup in INIT_SETUPS.items():
                with contextlib.ExitStack() as stack:
                    run_env = env
                    if name == LAMBDA_INIT:  # a fresh environment: registration is open
                        emulator = stack.enter_context(LambdaEmulator())
                        run_env = {**env, "AWS_LAMBDA_RUNTIME_API": emulator.runtime_api}
                    out = subprocess.run(
                        [sys.executable, "-c", _INIT_SCRIPT.format(setup=setup), receiver.endpoint],
                        capture_output=True,
                        text=True,
                        check=True,
                        env=run_env,
                    ).stdout.split()
                assert out[2] == "True", f"{name}: the first export failed"
                if round_:
                    results[name][0].append(float(out[0]))
                    results[name][1].append(float(out[1]))
    return results


# -- 5. memory ----------------------------------------------------------------------------------
def bench_memory(count: int = 2048) -> dict[str, float]:
    span = one_span()
    processor = LambdaSpanProcessor(NullExporter(), mode="finalize", max_queue_size=count)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(count):
        processor.on_end(span)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    processor.shutdown()
    rss = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        "bytes per buffered span": (after - before) / count,
        "RSS, empty buffer (MiB)": float(rss[0]),
        "peak RSS, full default buffer (MiB)": float(rss[1]),
    }


_RSS_SCRIPT = """
import resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult, SpanExporter
from otel_lambda_processor import LambdaSpanProcessor

def rss_mib(field):
    try:  # Linux: this process's own figures (ru_maxrss can carry the parent's over exec)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

class Null(SpanExporter):
    def export(self, spans): return SpanExportResult.SUCCESS
tp = TracerProvider(shutdown_on_exit=False)
tp.add_span_processor(LambdaSpanProcessor(Null(), mode="finalize"))
t = tp.get_tracer("rss")
t.start_span("warm-up").end()
empty = rss_mib("VmRSS")
for i in range(2048):
    t.start_span("span", attributes={"i": i, "route": "/items/{id}"}).end()
print(empty, rss_mib("VmHWM"))
"""


# -- 6. registration --------------------------------------------------------------------------
def bench_registration(rounds: int) -> list[float]:
    """Coordinator construction plus registration against the emulator, urllib3 imported."""
    import urllib3  # noqa: F401 - the figure is defined with urllib3 already imported

    from otel_lambda_processor.config import LambdaEnvironment
    from otel_lambda_processor.coordinator import Coordinator
    from otel_lambda_processor.signals import SignalHub
    from otel_lambda_processor.testing.emulator import LambdaEmulator

    samples = []
    for _ in range(rounds):
        with LambdaEmulator() as emulator:
            environment = LambdaEnvironment(emulator.runtime_api, "on-demand", None, False)
            start = time.perf_counter()
            coordinator = Coordinator(
                environment, events=["INVOKE"], hub=SignalHub(), handle_sigterm=False
            )
            coordinator.start()
            samples.append(time.perf_counter() - start)
            assert coordinator.registered
            coordinator.close()
    return samples


# -- 7. response latency per setup ---------------------------------------------------------------
LATENCY_SETUPS = {
    # name: (BENCH_SETUP, mode, runtime, the handler calls handler_done())
    "no telemetry (baseline)": ("none", "async", "awslambdaric", False),
    "deque, buffer only (floor)": ("deque", "async", "awslambdaric", False),
    "async, response-sent hook": ("lambda", "async", "awslambdaric", False),
    "async, handler_done() (runtime without hook)": ("lambda", "async", "minimal", True),
    "sync": ("lambda", "sync", "awslambdaric", False),
    "BatchSpanProcessor + force_flush": ("batch-flush", "async", "awslambdaric", False),
    # Measured only where lambda-otel-lite is installed (Python 3.12+): functions/bench_lite_fn.py.
    "lambda-otel-lite, async (its extension)": ("lite", "async", "awslambdaric", False),
    "lambda-otel-lite, sync": ("lite", "sync", "awslambdaric", False),
}


def bench_response_latency(
    invocations: int, span_counts: tuple[int, ...]
) -> dict[str, dict[int, tuple[list[float], list[float]]]]:
    """Per setup and span count: caller latencies and post-response durations, in seconds.

    Every invocation of an exporting setup must have delivered all its spans to the receiver
    by the time it ended: a setup that silently exports nothing (or late) stops the run.
    """
    from otel_lambda_processor.testing.emulator import (
        LambdaEmulator,
        awslambdaric_command,
        minimal_runtime_command,
    )

    exporting = ("lambda", "batch-flush", "lite")  # setups whose spans must reach the receiver
    lite = importlib.util.find_spec("lambda_otel_lite") is not None
    out: dict[str, dict[int, tuple[list[float], list[float]]]] = {}
    with OTLPReceiver() as receiver:
        for name, (setup, mode, runtime, call_done) in LATENCY_SETUPS.items():
            if setup == "lite" and not lite:
                continue
            command = awslambdaric_command if runtime == "awslambdaric" else minimal_runtime_command
            handler = "bench_lite_fn.handler" if setup == "lite" else "bench_fn.handler"
            expected = 0
            with LambdaEmulator(handler=handler, timeout=30) as emulator:
                emulator.launch(
                    command(handler),
                    cwd=str(HERE / "functions"),
                    env={
                        "BENCH_SETUP": setup,
                        "BENCH_CALL_DONE": "1" if call_done else "0",
                        "BENCH_OTLP_ENDPOINT": receiver.endpoint,
                        "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": mode,
                        "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE": "16384",
                        "PYTHONPATH": os.pathsep.join(sys.path),
                    },
                )
                if not emulator.wait_ready(30):
                    raise RuntimeError(f"{name}: the function did not start\n{emulator.output}")
                out[name] = {}
                for count in span_counts:
                    latencies, post = [], []
                    for _ in range(invocations + 1):  # the first is a warm-up
                        result = emulator.invoke({"spans": count}, timeout=60)
                        assert result.status == "ok", emulator.output
                        emulator.wait_idle(60)
                        latencies.append(result.latency)
                        record = [
                            r for r in emulator.invocations() if r.request_id == result.request_id
                        ]
                        post.append(record[0].post_response or 0.0)
                        expected += count if setup in exporting else 0
                        received = receiver.span_count
                        if received != expected:
                            raise RuntimeError(
                                f"{name}: {received} spans at the receiver after an invocation "
                                f"of {count} spans ended, {expected} expected\n{emulator.output}"
                            )
                    out[name][count] = (latencies[1:], post[1:])
                emulator.shutdown()
            receiver.reset()
    return out


# -- 8. the traced handler's wrapper ------------------------------------------------------------
API_V2_EVENT = {
    "version": "2.0",
    "routeKey": "GET /items/{id}",
    "rawPath": "/items/7",
    "rawQueryString": "a=1",
    "headers": {
        "host": "api.example.com",
        "user-agent": "bench",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    },
    "requestContext": {
        "accountId": "123456789012",
        "http": {
            "method": "GET",
            "path": "/items/7",
            "protocol": "HTTP/1.1",
            "sourceIp": "1.2.3.4",
        },
        "routeKey": "GET /items/{id}",
        "stage": "$default",
    },
    "isBase64Encoded": False,
}


class BenchContext:
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = "128"


def bench_wrapper(rounds: int, calls: int) -> dict[str, list[float]] | None:
    """Per invocation: wrapped call minus the bare handler, ours and the OTel instrumentation's.

    Both wrappers export through a LambdaSpanProcessor (finalize mode, null exporter) on the
    same provider; the instrumentation also calls ``force_flush()`` at the end, as it does.
    """
    try:
        from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
    except ImportError:
        return None
    from otel_lambda_processor import traced_handler

    sys.path.insert(0, str(HERE / "functions"))
    import bench_handler

    bare = bench_handler.handler
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(LambdaSpanProcessor(NullExporter(), mode="finalize"))
    ours = traced_handler(tracer_provider=provider)(bare)
    saved = {k: os.environ.get(k) for k in ("_HANDLER", "AWS_LAMBDA_FUNCTION_NAME")}
    os.environ.update({"_HANDLER": "bench_handler.handler", "AWS_LAMBDA_FUNCTION_NAME": "bench"})
    from opentelemetry.sdk.metrics import MeterProvider

    AwsLambdaInstrumentor().instrument(
        tracer_provider=provider, meter_provider=MeterProvider(), skip_dep_check=True
    )
    theirs = bench_handler.handler
    context = BenchContext()

    def timed(handler: Callable[[Any, Any], Any]) -> float:
        def call(event: Any) -> None:
            handler(event, context)

        return per_call_ns(call, API_V2_EVENT, calls)

    out: dict[str, list[float]] = {"ours": [], "instrumentation": []}
    for _ in range(rounds):
        base = timed(bare)
        out["ours"].append(timed(ours) - base)
        out["instrumentation"].append(timed(theirs) - base)
    AwsLambdaInstrumentor().uninstrument()
    provider.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return out


# -- report -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    # Full buffers are the point of some runs here: their drop warnings are not news.
    logging.getLogger("otel_lambda_processor").setLevel(logging.ERROR)
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)  # BSP drops
    rounds = 3 if args.quick else 15
    calls = 20_000 if args.quick else 200_000

    on_end = bench_on_end(rounds, calls)
    whole = bench_whole_span(rounds * 8, 2000)
    flush_rounds = 3 if args.quick else 7
    flushes: dict[str, dict[str, list[float]]] = {}
    for workload, make in WORKLOADS.items():
        spans = make(10_000)
        flushes[workload] = {
            **bench_flush(flush_rounds, spans),
            **bench_encoder(spans, flush_rounds),
        }
        if workload == "repeated values":
            compression = bench_gzip(spans, flush_rounds)
        del spans
    imports = bench_import(5 if args.quick else 15)
    init = bench_init(2 if args.quick else 11)
    memory = bench_memory()
    registration = bench_registration(5 if args.quick else 20)
    span_counts = (1, 1000) if args.quick else (1, 10_000)
    latency = bench_response_latency(2 if args.quick else 7, span_counts)
    wrapper = bench_wrapper(3 if args.quick else 15, 500 if args.quick else 3000)
    emit = signals.bench_emit(rounds * 8, 2000)
    add = signals.bench_add(rounds * 8, 2000)
    encoders = signals.bench_encoders(flush_rounds)
    signal_latency = signals.bench_signals_latency(2 if args.quick else 7, span_counts)

    lines = [
        "# Benchmark results",
        "",
        f"{datetime.date.today().isoformat()} · Python {platform.python_version()} · "
        f"{platform.machine()} · {os.cpu_count()} cores · {platform.platform()}",
        "",
        "Medians of rounds ± half the interquartile range; ratios are of medians from this run.",
        "",
        "| measurement | ours | reference | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for state in ("not full", "full"):
        ours = on_end["LambdaSpanProcessor"][state]
        floor = on_end["deque"][state]
        bsp = on_end["BatchSpanProcessor"][state]
        lines.append(
            f"| `on_end`, buffer {state} | {fmt(ours, 'ns')} | deque {fmt(floor, 'ns')} | "
            f"{ratio(ours, floor):.2f}× | ≤ 3× |"
        )
        lines.append(
            f"| `on_end`, buffer {state} | {fmt(ours, 'ns')} | BatchSpanProcessor "
            f"{fmt(bsp, 'ns')} | {ratio(ours, bsp):.2f}× | ≤ 0.35× |"
        )
    over = whole
    for state in ("not full", "full"):
        if "lambda-otel-lite" in on_end:
            lite = on_end["lambda-otel-lite"][state]
            ours = on_end["LambdaSpanProcessor"][state]
            lines.append(
                f"| `on_end`, buffer {state} | {fmt(ours, 'ns')} | lambda-otel-lite "
                f"{fmt(lite, 'ns')} | {ratio(ours, lite):.2f}× | — |"
            )
    if "lambda-otel-lite" in over:
        lines.append(
            f"| span overhead (`start_as_current_span`) | "
            f"{fmt(over['LambdaSpanProcessor'], 'ns')} | lambda-otel-lite "
            f"{fmt(over['lambda-otel-lite'], 'ns')} | "
            f"{ratio(over['LambdaSpanProcessor'], over['lambda-otel-lite']):.2f}× | — |"
        )
    lines.append(
        f"| span overhead (`start_as_current_span`) | {fmt(over['LambdaSpanProcessor'], 'ns')} | "
        f"deque {fmt(over['deque'], 'ns')} | "
        f"{ratio(over['LambdaSpanProcessor'], over['deque']):.2f}× | ≤ 1.5× |"
    )
    lines.append(
        f"| span overhead (`start_as_current_span`) | {fmt(over['LambdaSpanProcessor'], 'ns')} | "
        f"BatchSpanProcessor {fmt(over['BatchSpanProcessor'], 'ns')} | "
        f"{ratio(over['LambdaSpanProcessor'], over['BatchSpanProcessor']):.2f}× | — |"
    )
    for workload, flush in flushes.items():
        lines.append(
            f"| encode 10,000 spans, {workload} (byte-identical) | "
            f"{fmt(flush['our encoder'], 'ms', 1e3)} | official encoder "
            f"{fmt(flush['official encoder'], 'ms', 1e3)} | "
            f"{ratio(flush['official encoder'], flush['our encoder']):.1f}× faster | "
            f"≥ 5× faster |"
        )
        lines.append(
            f"| encode + gzip level 1 (both), 10,000 spans, {workload} | "
            f"{fmt(flush['ours + gzip 1'], 'ms', 1e3)} | official encoder + the same gzip "
            f"{fmt(flush['official + gzip 1'], 'ms', 1e3)} | "
            f"{ratio(flush['official + gzip 1'], flush['ours + gzip 1']):.1f}× faster | — |"
        )
        for suffix, how in (("", "no compression"), (", gzip", "gzip level 9 both")):
            ours, theirs = flush[f"our exporter{suffix}"], flush[f"official exporter{suffix}"]
            lines.append(
                f"| export 10,000 spans to the local receiver, {workload}, {how} | "
                f"{fmt(ours, 'ms', 1e3)} | official exporter {fmt(theirs, 'ms', 1e3)} | "
                f"{ratio(theirs, ours):.1f}× faster | {'≥ 4× faster' if not suffix else '—'} |"
            )
        lines.append(
            f"| `force_flush` of 10,000 spans (our exporter), {workload} | "
            f"{fmt(flush['force_flush'], 'ms', 1e3)} | `export()` directly "
            f"{fmt(flush['our exporter'], 'ms', 1e3)} | "
            f"{ratio(flush['force_flush'], flush['our exporter']):.2f}× | ≤ 1.1× |"
        )
    flush = flushes["repeated values"]
    raw = compression[0][1]
    for level in GZIP_LEVELS:
        times, size = compression[level]
        lines.append(
            f"| gzip level {level} of 10,000 encoded spans, repeated values "
            f"({raw / 1024:,.0f} KiB) | "
            f"{fmt(times, 'ms', 1e3)} | our encoder {fmt(flush['our encoder'], 'ms', 1e3)} | "
            f"{ratio(times, flush['our encoder']):.2f}× the encoding; "
            f"{size / 1024:,.0f} KiB ({size / raw:.1%}) | "
            f"{'our default' if level == 1 else '—'} |"
        )
    base_import, with_ours = imports["opentelemetry.sdk.trace"], imports["+ otel_lambda_processor"]
    added = [o - b for o, b in zip(with_ours, base_import, strict=True)]
    lines.append(
        f"| import time added over `opentelemetry.sdk.trace` | {fmt(added, 'ms', 1e3)} | "
        f"sdk alone {fmt(imports['opentelemetry.sdk.trace'], 'ms', 1e3)} | — | ≤ 5 ms |"
    )
    sdk_init = init["SDK alone"][0]
    official_added = median_spread(
        [o - b for o, b in zip(init[OFFICIAL_INIT][0], sdk_init, strict=True)]
    )[0]
    for name in INIT_SETUPS:
        if name == "SDK alone":
            continue
        added = [o - b for o, b in zip(init[name][0], sdk_init, strict=True)]
        goal = "≤ 0.25×" if name == OURS_INIT else "—"
        lines.append(
            f"| init added over the SDK alone: {name} | {fmt(added, 'ms', 1e3)} | official "
            f"setup adds {official_added * 1e3:.1f} ms (SDK alone {fmt(sdk_init, 'ms', 1e3)}) | "
            f"{median_spread(added)[0] / official_added:.2f}× | {goal} |"
        )
    for name in (OURS_INIT, OFFICIAL_INIT):
        lines.append(
            f"| first export after a cold start (1 span): {name} | "
            f"{fmt(init[name][1], 'ms', 1e3)} | — | — | — |"
        )
    lines.append(
        f"| memory per buffered span (beyond the span) | "
        f"{memory['bytes per buffered span']:.1f} B | — | — | ≤ 16 B |"
    )
    lines.append(
        f"| peak RSS, full default buffer (2048 spans) | "
        f"{memory['peak RSS, full default buffer (MiB)']:.1f} MiB | RSS with it empty "
        f"{memory['RSS, empty buffer (MiB)']:.1f} MiB | — | — |"
    )
    lines.append(
        f"| coordinator construction + registration (urllib3 imported) | "
        f"{fmt(registration, 'ms', 1e3)} | — | — | ≤ 10 ms |"
    )
    if wrapper is None:
        lines.append(
            "| traced handler wrapper, API Gateway v2 event | not measured: "
            "opentelemetry-instrumentation-aws-lambda is not installed | — | — | ≤ 0.5× |"
        )
    else:
        lines.append(
            f"| traced handler wrapper per invocation, API Gateway v2 event | "
            f"{fmt(wrapper['ours'], 'µs', 1e-3)} | OTel AWS Lambda instrumentation "
            f"{fmt(wrapper['instrumentation'], 'µs', 1e-3)} | "
            f"{ratio(wrapper['ours'], wrapper['instrumentation']):.2f}× | ≤ 0.5× |"
        )
    lines += signals.hot_path_rows(emit, add)
    lines += signals.encoder_rows(encoders)
    lines += [
        "",
        "Response latency under the local Lambda emulator (AWS's runtime client, real OTLP "
        "exporter to the local receiver): added = the setup's median minus the no-telemetry "
        "median for the same span count; over floor = minus the median of the deque floor, a "
        "processor that only keeps the spans and drops them when the next invocation starts "
        "(what keeping spans alive costs a handler, mostly garbage collection); post-response "
        "= how long the invocation stayed open after the response (the export, billed but not "
        "waited for).",
        "",
        "| setup | spans | response latency | added | over floor | post-response | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    baseline = latency["no telemetry (baseline)"]
    floor = latency["deque, buffer only (floor)"]
    for name, per_count in latency.items():
        for count, (latencies, post) in per_count.items():
            added = statistics.median(latencies) - statistics.median(baseline[count][0])
            over = statistics.median(latencies) - statistics.median(floor[count][0])
            goal = "≤ 1 ms over floor" if name == "async, response-sent hook" else "—"
            lines.append(
                f"| {name} | {count:,} | {fmt(latencies, 'ms', 1e3)} | {added * 1e3:+.1f} ms | "
                f"{over * 1e3:+.1f} ms | {fmt(post, 'ms', 1e3)} | {goal} |"
            )
    if importlib.util.find_spec("lambda_otel_lite") is None:
        lines += [
            "",
            "lambda-otel-lite is not installed here (it needs Python 3.12+): not measured.",
        ]
    else:
        from importlib.metadata import version

        lines += [
            "",
            f"lambda-otel-lite {version('lambda-otel-lite')} rows (functions/bench_lite_fn.py): "
            "set up as its README shows, `init_telemetry()` at import and the handler wrapped by "
            "`create_traced_handler` (its `complete()` is the handler-done signal), with its own "
            "LambdaSpanProcessor around the same OTLP/HTTP exporter in place of its default "
            "stdout exporter. It reads the same `LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE` and "
            "`LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE` as ours (its default mode is `sync`, ours "
            "`async`). Sync: `complete()` flushes before the response. Async: its internal "
            "extension registers for INVOKE at import and exports when `complete()` fires, "
            "which is before the runtime posts the response, so its export thread can run "
            "while the response is still being sent; it sends the whole queue in one request. "
            "Its extension gives up on `/event/next` after 2 s (a fixed `http.client` timeout) "
            "and calls again: after more than 2 s between invocations the next INVOKE goes to "
            "the abandoned call and is lost. Its Node.js port removed that timeout in 0.16.1. "
            "Invocations here follow each other at once. "
            "Every exporting row was checked: each invocation's spans had all reached the "
            "receiver when the invocation ended.",
        ]
    lines += signals.latency_section(signal_latency)
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
