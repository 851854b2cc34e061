"""What an :class:`~.receiver.OTLPReceiver` has accepted, and the queries tests ask of it.

Each signal's requests are counted when they arrive and unpacked into plain values only when a
test first reads them, so a receiver under load spends its time answering, not decoding.

Owns the requests and items received, their counts and the waits on them; it must not touch
sockets, HTTP or faults (:mod:`.receiver` does).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from . import _decode
from ._decode import ReceivedLogRecord, ReceivedMetricPoint, ReceivedSpan

TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
METRICS_PATH = "/v1/metrics"


@dataclass
class ReceivedRequest:
    """One HTTP request as it arrived (accepted or not)."""

    at: float
    #: Spans in an accepted traces request; 0 for anything else.
    span_count: int
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    #: The body as it arrived (still compressed), when the receiver keeps bodies.
    body: bytes = b""
    path: str = TRACES_PATH
    #: Spans, log records or metric data points in the request, once accepted.
    item_count: int = 0


@dataclass
class Signal:
    """One OTLP signal: how its requests decode, count and unpack, and what arrived so far."""

    request_type: Any
    response: bytes
    count: Callable[[Any], Counter[str]]  # items per name ("" when names do not matter)
    unpack: Callable[[Any, float], list[Any]]
    undecoded: list[tuple[Any, float]] = field(default_factory=list)  # (request, arrival)
    decoded: list[Any] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def items(self) -> list[Any]:
        """Everything accepted, unpacked now if not before (the caller holds the lock)."""
        for request, arrived in self.undecoded:
            self.decoded += self.unpack(request, arrived)
        self.undecoded.clear()
        return list(self.decoded)

    def clear(self) -> None:
        self.undecoded.clear()
        self.decoded.clear()
        self.counts.clear()


def _anonymous(count: Callable[[Any], int]) -> Callable[[Any], Counter[str]]:
    return lambda request: Counter({"": count(request)})


def _signals() -> dict[str, Signal]:
    return {
        TRACES_PATH: Signal(
            ExportTraceServiceRequest,
            ExportTraceServiceResponse().SerializeToString(),
            _anonymous(_decode.count_spans),
            _decode.unpack_spans,
        ),
        LOGS_PATH: Signal(
            ExportLogsServiceRequest,
            ExportLogsServiceResponse().SerializeToString(),
            _anonymous(_decode.count_logs),
            _decode.unpack_logs,
        ),
        METRICS_PATH: Signal(
            ExportMetricsServiceRequest,
            ExportMetricsServiceResponse().SerializeToString(),
            _decode.count_points,
            _decode.unpack_points,
        ),
    }


class Arrivals:
    """The requests, spans, log records and metric points a receiver accepted, under one lock
    (a condition: recording a request wakes every waiter)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._signals = _signals()
        self._requests: list[ReceivedRequest] = []

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return self._signals[TRACES_PATH].items()

    @property
    def span_count(self) -> int:
        """How many spans have been accepted, without unpacking them."""
        return self._count(TRACES_PATH)

    def span_names(self) -> list[str]:
        return [s.name for s in self.spans]

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` spans have been accepted, or ``timeout`` seconds."""
        return self._wait(TRACES_PATH, count, timeout)

    def logs(self) -> list[ReceivedLogRecord]:
        """Every log record accepted, in order of arrival."""
        with self._lock:
            return self._signals[LOGS_PATH].items()

    def log_count(self) -> int:
        """How many log records have been accepted, without unpacking them."""
        return self._count(LOGS_PATH)

    def log_bodies(self) -> list[Any]:
        return [r.body for r in self.logs()]

    def wait_for_logs(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` log records have been accepted, or ``timeout``."""
        return self._wait(LOGS_PATH, count, timeout)

    def metric_points(self, name: str | None = None) -> list[ReceivedMetricPoint]:
        """Every metric data point accepted (of metric ``name`` only, if given), in order.

        Cumulative metrics repeat in every export: each export's points are all here.
        """
        with self._lock:
            points: list[ReceivedMetricPoint] = self._signals[METRICS_PATH].items()
        return points if name is None else [p for p in points if p.name == name]

    def metric_point_count(self) -> int:
        """How many metric data points have been accepted, without unpacking them."""
        return self._count(METRICS_PATH)

    def wait_for_metric_points(
        self, count: int, timeout: float = 10.0, name: str | None = None
    ) -> bool:
        """Block until at least ``count`` data points (of metric ``name``) have been accepted."""
        return self._wait(METRICS_PATH, count, timeout, name)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget every request, span, log record and metric point."""
        with self._lock:
            for signal in self._signals.values():
                signal.clear()
            self._requests.clear()

    def _count(self, path: str, name: str | None = None) -> int:
        with self._lock:
            counts = self._signals[path].counts
            return counts[name] if name is not None else sum(counts.values())

    def _wait(self, path: str, count: int, timeout: float, name: str | None = None) -> bool:
        end = time.monotonic() + timeout
        with self._lock:
            while self._count(path, name) < count:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def _accept(
        self, signal: Signal, request: Any, counts: Counter[str], record: ReceivedRequest
    ) -> None:
        """Keep an accepted request, counted now and unpacked when a test reads it."""
        with self._lock:
            signal.undecoded.append((request, record.at))
            signal.counts.update(counts)
            self._record(record)

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
