"""Benchmarks for logs and metrics, the signals on the spans' lifecycle: the hot paths (a log
record's ``emit``, a counter's ``add``), the encoders, and response latency with spans, logs and
metrics all on. Every comparison a ratio taken in the same run, as in run.py (which calls these
and writes their rows).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from common import HERE, fmt, per_call_ns, ratio
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from otel_lambda_processor import LambdaLogRecordProcessor, LambdaMetricReader


class NullLogExporter(LogRecordExporter):
    def export(self, batch: Any) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class NullMetricExporter(MetricExporter):
    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _interleaved(
    rounds: int, calls: int, setups: dict[str, Callable[[Any], None]], arg: Any = None
) -> dict[str, list[float]]:
    """ns per call of each setup, per round; short runs, order rotated each round, so that drift
    on a shared machine hits every setup alike."""
    out: dict[str, list[float]] = {name: [] for name in setups}
    names = list(setups)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(per_call_ns(setups[name], arg, calls))
    return out


# -- 1. hot paths -------------------------------------------------------------------------------
LOG_ATTRIBUTES = {"code.function.name": "process_order", "order.id": "ord-1", "retry": 1}


def bench_emit(rounds: int, calls: int) -> dict[str, list[float]]:
    """ns per ``Logger.emit`` through the SDK's LoggerProvider, per setup and round: no processor
    (the bare SDK, the floor), ours, the SDK's batch processor (default sizes: buffers run full
    and evict, or export on their thread, as in a long handler), each with a null exporter."""
    setups: dict[str, Callable[[], LogRecordProcessor | None]] = {
        "bare SDK": lambda: None,
        "LambdaLogRecordProcessor": lambda: LambdaLogRecordProcessor(
            NullLogExporter(), mode="finalize", max_queue_size=2048
        ),
        "BatchLogRecordProcessor": lambda: BatchLogRecordProcessor(NullLogExporter()),
    }
    providers = {}
    emits = {}
    for name, make in setups.items():
        provider = LoggerProvider(shutdown_on_exit=False)
        processor = make()
        if processor is not None:
            provider.add_log_record_processor(processor)
        providers[name] = provider
        emits[name] = _emitter(provider.get_logger("orders", "2.3.1"))
    out = _interleaved(rounds, calls, emits)
    for provider in providers.values():
        provider.shutdown()
    return out


def _emitter(logger: Any) -> Callable[[Any], None]:
    def emit(_: Any) -> None:
        logger.emit(
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body="order processed",
            attributes=LOG_ATTRIBUTES,
        )

    return emit


def bench_add(rounds: int, calls: int) -> dict[str, list[float]]:
    """ns per ``Counter.add`` (with two attributes) per setup and round: a MeterProvider with no
    reader (the bare SDK), with ours, with the SDK's periodic reader (a one-hour interval)."""
    setups: dict[str, Callable[[], Any]] = {
        "bare SDK": lambda: None,
        "LambdaMetricReader": lambda: LambdaMetricReader(NullMetricExporter(), mode="finalize"),
        "PeriodicExportingMetricReader": lambda: PeriodicExportingMetricReader(
            NullMetricExporter(), export_interval_millis=3_600_000
        ),
    }
    attributes = {"http.route": "/orders/{id}", "outcome": "ok"}
    providers = {}
    adds = {}
    for name, make in setups.items():
        reader = make()
        provider = MeterProvider(metric_readers=[reader] if reader else [], shutdown_on_exit=False)
        providers[name] = provider
        counter = provider.get_meter("orders", "2.3.1").create_counter("orders.processed")

        def add(_: Any, counter: Any = counter) -> None:
            counter.add(1, attributes)

        adds[name] = add
    out = _interleaved(rounds, calls, adds)
    for provider in providers.values():
        provider.shutdown()
    return out


# -- 2. encoders --------------------------------------------------------------------------------
def _uid(i: int) -> str:
    return f"{i * 2654435761 % 2**32:08x}-{i % 65536:04x}-4c2e-9f3a-{i * 40503 % 2**48:012x}"


def _resource() -> Resource:
    from otel_lambda_processor import lambda_resource

    return lambda_resource().merge(Resource({"service.version": "2.3.1"}))


class _Keep(LogRecordProcessor):
    def __init__(self) -> None:
        self.records: list[Any] = []

    def on_emit(self, log_record: Any) -> None:
        self.records.append(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _failure(message: str) -> BaseException:
    """A real exception with a traceback, as a handler's ``logger.exception`` records it."""

    def charge(order: str) -> None:
        raise ConnectionError(message)

    try:
        charge("order")
    except ConnectionError as error:
        return error
    raise AssertionError("unreachable")


_SEVERITIES = (
    (SeverityNumber.ERROR, "ERROR", 100),
    (SeverityNumber.WARN, "WARNING", 20),
    (SeverityNumber.DEBUG, "DEBUG", 7),
)


def lambda_logs(count: int, distinct: bool) -> list[Any]:
    """A Lambda function's log records, as the export thread hands them to the exporter: one
    resource, three scopes interleaved, most records inside a span (a new one every 20), mostly
    INFO with some DEBUG, WARNING and ERROR (those with an exception), a structured (map) body on
    every 7th, an event name on every 25th. ``distinct``: every string value unique to its record
    (ids, URLs, messages with ids in them), else most values shared between records."""
    from opentelemetry.sdk.trace import TracerProvider

    from otel_lambda_processor.log_processor import readable

    resource = _resource()
    keep = _Keep()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(keep)
    loggers = [
        provider.get_logger("orders.handler", "2.3.1"),
        provider.get_logger("orders.repository", "2.3.1"),
        provider.get_logger("urllib3.connectionpool"),
    ]
    tracer = TracerProvider(resource=resource, shutdown_on_exit=False).get_tracer("orders")
    span: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    for i in range(count):
        if i % 20 == 0:
            span.__exit__(None, None, None)
            span = tracer.start_as_current_span(f"invocation {i // 20}")
            if i % 80:  # one run of 20 records in four outside any span
                span.__enter__()
            else:
                span = contextlib.nullcontext()
        severity, text = SeverityNumber.INFO, "INFO"
        for number, name, every in _SEVERITIES:
            if i % every == 0:
                severity, text = number, name
                break
        uid = _uid(i) if distinct else ""
        loggers[i % 3].emit(
            timestamp=time.time_ns(),
            severity_number=severity,
            severity_text=text,
            body=_log_body(i, uid),
            attributes=_log_attributes(i, uid),
            event_name="order.updated" if i % 25 == 0 else None,
            exception=_failure(f"upstream unavailable {uid}") if i % 100 == 0 else None,
        )
    span.__exit__(None, None, None)
    return readable(keep.records)


def _log_body(i: int, uid: str) -> Any:
    if i % 7 == 0:
        return {
            "event": "order.updated",
            "order": {"id": f"ord-{uid or i % 50}", "status": "PAID", "items": i % 12},
            "tags": ["priority", f"batch-{uid or i % 4}"],
        }
    if uid:
        return (
            f"order ord-{uid} processed for customer {i * 7919} in {i % 997} ms "
            f"(request {uid.upper()})"
        )
    return (
        "order processed",
        "cache miss for customer profile",
        "retrying request to payments",
        "item reserved",
        "inventory updated",
    )[i % 5]


def _log_attributes(i: int, uid: str) -> dict[str, Any]:
    if i % 3 == 0:
        return {
            "code.function.name": f"process_order_{uid}" if uid else "process_order",
            "code.file.path": f"/var/task/orders/{uid or 'handler'}.py",
            "code.line.number": 120 + (i * 7919 % 5000 if uid else i % 5),
            "aws.request_id": (uid or f"{i % 40:08X}-ABCD-4C2E-9F3A-1B2C3D4E5F60").upper(),
        }
    if i % 3 == 1:
        return {
            "http.request.method": "POST",
            "url.full": (
                f"https://api.example.com/v1/items/{i}?session={uid}"
                if uid
                else f"https://api.example.com/v1/items/{i % 50}"
            ),
            "http.response.status_code": 100 + i * 7 % 500 if uid else 200,
            "server.address": f"{uid[:8]}.api.example.com" if uid else "api.example.com",
        }
    return {
        "order.id": f"ord-{uid or i % 50}",
        "order.total": i * 1.37 + (i % 97) / 7 if uid else (i % 10) / 4,
        "customer.tier": f"tier-{uid[-6:]}" if uid else ("free", "pro", "enterprise")[i % 3],
    }


def lambda_metrics(distinct: bool, metrics: int = 200, points: int = 50) -> MetricsData:
    """A busy function's collection from the SDK's own aggregations: ``metrics`` metrics over four
    meters, ``points`` attribute sets each, a quarter sums (int counters and up-down counters), a
    quarter gauges, a quarter histograms, a quarter exponential histograms; a fifth of the
    measurements inside a sampled span (so exemplars). ``distinct``: every attribute value unique
    to its point, else the same 50 attribute sets in every metric."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
    from opentelemetry.sdk.trace import TracerProvider

    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader],
        resource=_resource(),
        views=[
            View(
                instrument_name="rpc.client.payload.size.*",
                aggregation=ExponentialBucketHistogramAggregation(),
            )
        ],
        shutdown_on_exit=False,
    )
    meters = [
        provider.get_meter(name, "0.66b1" if name.startswith("opentelemetry") else "2.3.1")
        for name in (
            "opentelemetry.instrumentation.botocore",
            "opentelemetry.instrumentation.urllib3",
            "orders",
            "orders.repository",
        )
    ]
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("orders")
    quarter = metrics // 4
    recorders: list[tuple[Callable[[float, dict[str, Any]], None], int, bool]] = []
    for n in range(metrics):
        meter = meters[n % 4]
        kind, index = divmod(n, quarter)
        if kind == 0 and index % 2 == 0:
            counter = meter.create_counter(f"orders.processed.{index}", "{order}", "Orders done")
            recorders.append((lambda v, a, c=counter: c.add(int(v), a), 3, True))
        elif kind == 0:
            updown = meter.create_up_down_counter(
                f"db.client.connection.count.{index}", "{connection}", "Open connections"
            )
            recorders.append((lambda v, a, c=updown: c.add(int(v) - 3, a), 3, True))
        elif kind == 1:
            gauge = meter.create_gauge(f"process.memory.utilization.{index}", "1", "Memory used")
            recorders.append((lambda v, a, g=gauge: g.set(v / 100, a), 1, False))
        elif kind == 2:
            histogram = meter.create_histogram(
                f"http.client.request.duration.{index}", "s", "Outgoing request duration"
            )
            recorders.append((lambda v, a, h=histogram: h.record(v / 1000, a), 3, False))
        else:
            histogram = meter.create_histogram(
                f"rpc.client.payload.size.{index}", "By", "Payload size"
            )
            recorders.append((lambda v, a, h=histogram: h.record(v * 37.5, a), 3, False))
    measurement = 0
    for n, (record, times, integral) in enumerate(recorders):
        for j in range(points):
            attributes = _point_attributes(n, j, distinct)
            for k in range(times):
                measurement += 1
                value = (
                    (measurement * 7919 % 10_007) / 7 if distinct else float((j + k) % 7 * 10 + 5)
                )
                if integral:
                    value = float(int(value) % 50 + 1)
                if measurement % 5 == 0:
                    with tracer.start_as_current_span("request"):
                        record(value, attributes)
                else:
                    record(value, attributes)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


_ROUTES = tuple(
    f"/v1/{thing}{suffix}"
    for thing in ("items", "orders", "customers", "carts", "payments")
    for suffix in ("", "/{id}")
)
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def _point_attributes(metric: int, point: int, distinct: bool) -> dict[str, Any]:
    if distinct:
        uid = _uid(metric * 1000 + point)
        return {
            "http.route": f"/v1/items/{uid}",
            "http.request.method": f"GET {uid[:8]}",
            "http.response.status_code": 100 + (metric * 1000 + point) * 7 % 500,
            "server.address": f"{uid}.api.example.com",
        }
    return {
        "http.route": _ROUTES[point % 10],
        "http.request.method": _METHODS[point // 10 % 5],
        "http.response.status_code": 200,
        "server.address": "api.example.com",
    }


@contextlib.contextmanager
def _no_hand_over(module: Any) -> Iterator[None]:
    """Our encoder must encode the batch itself, not hand it to the official encoder (which
    would be byte-identical too, at the official speed)."""
    official = getattr(module, "_official", None)
    if official is None:
        yield
        return

    def refuse(*args: Any) -> bytes:
        raise AssertionError(f"{module.__name__} handed the benchmark's batch over")

    module._official = refuse
    try:
        yield
    finally:
        module._official = official


def bench_log_encoder(records: list[Any], rounds: int) -> dict[str, list[float]]:
    """Seconds per encoding of ``records``: the official encoder and ours (byte-identical)."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official

    from otel_lambda_processor.otlp import encode_logs, logs_encoder

    with _no_hand_over(logs_encoder):
        assert encode_logs(records) == official(records).SerializeToString(), "not identical"
    return _time_encoders(
        rounds, lambda: official(records).SerializeToString(), encode_logs, records
    )


def bench_metric_encoder(data: MetricsData, rounds: int) -> dict[str, list[float]]:
    """Seconds per encoding of ``data``: the official encoder and ours (byte-identical)."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics as official

    from otel_lambda_processor.otlp import encode_metrics, metrics_encoder

    with _no_hand_over(metrics_encoder):
        assert encode_metrics(data) == official(data).SerializeToString(), "not identical"
    return _time_encoders(rounds, lambda: official(data).SerializeToString(), encode_metrics, data)


def _time_encoders(
    rounds: int, official: Callable[[], bytes], ours: Callable[[Any], bytes], batch: Any
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"official encoder": [], "our encoder": []}
    for _ in range(rounds):
        start = time.perf_counter()
        official()
        out["official encoder"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours(batch)
        out["our encoder"].append(time.perf_counter() - start)
    return out


#: workload: whether every string value is unique to its record or point
WORKLOADS = {"repeated values": False, "distinct values": True}


def bench_encoders(rounds: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per signal and workload: the official and our encoder's seconds per round."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {"logs": {}, "metrics": {}}
    for workload, distinct in WORKLOADS.items():
        records = lambda_logs(10_000, distinct)
        out["logs"][workload] = bench_log_encoder(records, rounds)
        del records
        data = lambda_metrics(distinct)
        out["metrics"][workload] = bench_metric_encoder(data, rounds)
        del data
    return out


# -- 3. response latency, spans, logs and metrics on ---------------------------------------------
BASELINE = "no telemetry (baseline)"
INSTRUMENTATION = "opentelemetry-instrumentation-aws-lambda"
SIGNAL_SETUPS = {
    # name: BENCH_SETUP of functions/bench_signals_fn.py
    BASELINE: "none",
    "ours, async (response-sent hook)": "lambda",
    "OTel AWS Lambda instrumentation (flushes spans, metrics)": "instrumentation",
    "OTel AWS Lambda instrumentation + logs flushed too": "instrumentation+logs",
}


class SignalLatency(NamedTuple):
    latencies: list[float]  # seconds, as the caller waited for the response
    post_response: list[float]  # seconds the invocation stayed open after the response
    logs_late: int  # invocations that ended before all their log records had been exported


def _metric_total(receiver: Any, name: str) -> float:
    """The total a metric's points say (sums' values, histograms' counts) over all its series:
    the last point of each series where cumulative, every point where delta."""
    total, last = 0.0, {}
    for point in receiver.metric_points(name):
        amount = point.value if point.count is None else point.count
        if point.temporality == "delta":
            total += amount
        else:
            last[tuple(sorted(point.attributes.items()))] = amount
    return total + sum(last.values())


def bench_signals_latency(
    invocations: int, span_counts: tuple[int, ...]
) -> dict[str, dict[int, SignalLatency]]:
    """Per setup and span count: caller latencies, post-response durations, late log records.

    When each invocation ends, an exporting setup must have delivered all its spans and metric
    points (the counter's and the histogram's totals at the receiver are everything added so
    far), and all its log records, except where nothing flushes them: the instrumentation's
    plain setup, whose log records must then all arrive within 10 s of its last invocation.
    Anything missing stops the run.
    """
    from otel_lambda_processor.testing import OTLPReceiver
    from otel_lambda_processor.testing.emulator import LambdaEmulator, awslambdaric_command

    try:
        import opentelemetry.instrumentation.aws_lambda  # noqa: F401
    except ImportError:
        instrumentation = False
    else:
        instrumentation = True
    handler = "bench_signals_fn.handler"
    out: dict[str, dict[int, SignalLatency]] = {}
    with OTLPReceiver() as receiver:
        for name, setup in SIGNAL_SETUPS.items():
            if setup.startswith("instrumentation") and not instrumentation:
                continue
            exporting = setup != "none"
            spans = logs = items = 0
            with LambdaEmulator(handler=handler, timeout=30) as emulator:
                emulator.launch(
                    awslambdaric_command(handler),
                    cwd=str(HERE / "functions"),
                    env={
                        "BENCH_SETUP": setup,
                        "BENCH_OTLP_BASE": receiver.base_endpoint,
                        "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "async",
                        "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE": "16384",
                        "LAMBDA_LOG_PROCESSOR_QUEUE_SIZE": "16384",
                        "PYTHONPATH": os.pathsep.join(sys.path),
                    },
                )
                if not emulator.wait_ready(30):
                    raise RuntimeError(f"{name}: the function did not start\n{emulator.output}")
                out[name] = {}
                for count in span_counts:
                    latencies, post, late = [], [], []
                    for _ in range(invocations + 1):  # the first is a warm-up
                        result = emulator.invoke({"spans": count}, timeout=60)
                        assert result.status == "ok", emulator.output
                        emulator.wait_idle(60)
                        latencies.append(result.latency)
                        record = [
                            r for r in emulator.invocations() if r.request_id == result.request_id
                        ]
                        post.append(record[0].post_response or 0.0)
                        late.append(False)
                        if not exporting:
                            continue
                        spans += count
                        logs += max(1, count // 10)
                        items += max(1, count // 10)
                        got = (
                            receiver.span_count,
                            _metric_total(receiver, "bench.items"),
                            _metric_total(receiver, "bench.item.duration"),
                        )
                        if got != (spans, items, items):
                            raise RuntimeError(
                                f"{name}: (spans, counter total, histogram count) at the "
                                f"receiver after an invocation of {count} spans ended: {got}, "
                                f"{(spans, items, items)} expected\n{emulator.output}"
                            )
                        received_logs = receiver.log_count()
                        if received_logs < logs and setup == "instrumentation":
                            late[-1] = True  # nothing flushed them: the batch processor will
                        elif received_logs != logs:
                            raise RuntimeError(
                                f"{name}: {received_logs} log records at the receiver after an "
                                f"invocation ended, {logs} expected\n{emulator.output}"
                            )
                    if exporting and not receiver.wait_for_logs(logs, timeout=10):
                        raise RuntimeError(
                            f"{name}: {receiver.log_count()} log records at the receiver 10 s "
                            f"after the last invocation, {logs} expected\n{emulator.output}"
                        )
                    out[name][count] = SignalLatency(latencies[1:], post[1:], sum(late[1:]))
                emulator.shutdown()
            receiver.reset()
    return out


# -- report -------------------------------------------------------------------------------------
def hot_path_rows(emit: dict[str, list[float]], add: dict[str, list[float]]) -> list[str]:
    """Rows for the main table: emit's and add's cost per call, ours against the SDK's."""

    def added(name: str, samples: dict[str, list[float]]) -> list[float]:
        return [s - b for s, b in zip(samples[name], samples["bare SDK"], strict=True)]

    ours, batch = added("LambdaLogRecordProcessor", emit), added("BatchLogRecordProcessor", emit)
    bare = emit["bare SDK"]
    rows = [
        f"| `emit` of a log record, cost added to the bare SDK's | {fmt(ours, 'ns')} | "
        f"BatchLogRecordProcessor adds {fmt(batch, 'ns')} | {ratio(ours, batch):.2f}× | "
        f"≤ 0.5× |",
        f"| `emit` of a log record (`Logger.emit`, whole) | "
        f"{fmt(emit['LambdaLogRecordProcessor'], 'ns')} | bare SDK (no processor) "
        f"{fmt(bare, 'ns')} | {ratio(emit['LambdaLogRecordProcessor'], bare):.2f}× | — |",
    ]
    ours_add, periodic = add["LambdaMetricReader"], add["PeriodicExportingMetricReader"]
    rows += [
        f"| counter `add` | {fmt(ours_add, 'ns')} | PeriodicExportingMetricReader "
        f"{fmt(periodic, 'ns')} | {ratio(ours_add, periodic):.2f}× | ≤ 1.1× |",
        f"| counter `add` | {fmt(ours_add, 'ns')} | bare SDK (no reader) "
        f"{fmt(add['bare SDK'], 'ns')} | {ratio(ours_add, add['bare SDK']):.2f}× | — |",
    ]
    return rows


def encoder_rows(encoders: dict[str, dict[str, dict[str, list[float]]]]) -> list[str]:
    what = {"logs": "10,000 log records", "metrics": "200 metrics × 50 points"}
    rows = []
    for signal, workloads in encoders.items():
        for workload, times in workloads.items():
            ours, theirs = times["our encoder"], times["official encoder"]
            rows.append(
                f"| encode {what[signal]}, {workload} (byte-identical) | {fmt(ours, 'ms', 1e3)} "
                f"| official encoder {fmt(theirs, 'ms', 1e3)} | {ratio(theirs, ours):.1f}× "
                f"faster | ≥ 5× faster |"
            )
    return rows


def latency_section(latency: dict[str, dict[int, SignalLatency]]) -> list[str]:
    """The three-signal latency table, after a note on how each setup is made and checked."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        instrumentation = f"opentelemetry-instrumentation-aws-lambda {version(INSTRUMENTATION)}"
    except PackageNotFoundError:
        instrumentation = f"{INSTRUMENTATION} (not installed here: its rows are not measured)"
    lines = [
        "",
        "Response latency with spans, logs and metrics on (functions/bench_signals_fn.py, the "
        "same emulator, runtime client and receiver; added = minus the no-telemetry median, "
        "the SDK's providers with no processor and no reader): per invocation of N spans, "
        "N / 10 log records (at least one) and as many counter adds and histogram records. "
        "Ours: LambdaSpanProcessor, LambdaLogRecordProcessor and LambdaMetricReader with our "
        f"OTLP exporters, async. The instrumentation's rows: {instrumentation} wrapping the "
        "handler (its span is the invocation's, the handler makes the other N - 1), with "
        "BatchSpanProcessor and BatchLogRecordProcessor (queues of 16,384, as above, and their "
        "default schedules), PeriodicExportingMetricReader (its default 60 s interval) and the "
        "official OTLP/HTTP exporters. After the handler it calls `force_flush` on the tracer "
        "provider, then on the meter provider, and on no logger provider: its log records are "
        "left to the batch processor's thread, which exports every second or at 512 records. "
        "In Lambda that thread is frozen after the response, so the records wait for a later "
        "invocation, or are lost if the environment is shut down first; the emulator freezes "
        "nothing, so here they arrive a little later. Late logs = measured invocations that "
        "ended before all their log records had been exported (each time, all arrived within "
        "10 s of the last invocation: checked). The row with logs flushed too also calls the "
        "logger provider's `force_flush` after the instrumentation's flushes, as the ADOT "
        "instrumentation does (aws-observability/aws-otel-python-instrumentation#441) and an "
        "open pull request proposes for this one (open-telemetry/opentelemetry-python-contrib"
        "#4832). Every exporting row was checked: all spans and metric points (the counter's "
        "and the histogram's totals) had reached the receiver when each invocation ended, and "
        "all log records except those counted late.",
        "",
        "| setup | spans | response latency | added | post-response | late logs |",
        "|---|---|---|---|---|---|",
    ]
    baseline = latency[BASELINE]
    for name, per_count in latency.items():
        for count, result in per_count.items():
            added = statistics.median(result.latencies) - statistics.median(
                baseline[count].latencies
            )
            late = "—" if name == BASELINE else f"{result.logs_late} of {len(result.latencies)}"
            lines.append(
                f"| {name} | {count:,} | {fmt(result.latencies, 'ms', 1e3)} | "
                f"{added * 1e3:+.1f} ms | {fmt(result.post_response, 'ms', 1e3)} | {late} |"
            )
    return lines
