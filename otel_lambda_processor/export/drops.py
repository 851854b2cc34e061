"""The books of one export worker: what it exported, what it dropped and why, and the warning
that reports new drops (overwritten in a full ring, failed export, unencodable).

Taking a batch off the ring and marking it in flight is one step under the books' lock, as is
settling it, so that :meth:`DropAccount.close` counts a batch still in flight exactly once.

Owns the worker's counts, its batch in flight and its drop reports; must not export, wait or
start threads (:mod:`.worker` does) nor decide when to export (:mod:`.pipeline` does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .buffer import SpanRing

if TYPE_CHECKING:
    from typing import Protocol
else:  # a real typing.Protocol class costs cold start; this one only serves type checkers
    Protocol = object

_logger = logging.getLogger("otel_lambda_processor.processor")


class _Kind(Protocol):
    noun: str
    queue_variable: str


def no_collector_at(exporter: object) -> str | None:
    """The endpoint where no collector answered the last export, as our OTLP exporters tell it
    (a refused connection); ``None`` for any other exporter or failure."""
    endpoint = getattr(exporter, "no_collector_at", None)
    return endpoint if isinstance(endpoint, str) else None


class DropAccount:
    """Counts one worker's items: exported, dropped after a failed export, unencodable."""

    def __init__(self, ring: SpanRing[Any], kind: _Kind, exporter: object) -> None:
        self._ring = ring
        self._kind = kind
        self._exporter = exporter
        self._lock = threading.Lock()
        self.in_flight: Sequence[Any] | None = None
        self.closed = False
        self.exported = 0
        #: Items dropped because their export failed (the unencodable ones included).
        self.failed_dropped = 0
        #: Of those, items that could never be encoded.
        self.unencodable = 0
        self._reported_dropped = 0

    def reinit_after_fork(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = None

    def take(self, limit: int) -> tuple[list[Any], int] | None:
        """Up to ``limit`` oldest items and how many of them are retried, marked in flight;
        ``None`` once closed."""
        with self._lock:
            if self.closed:
                return None
            batch, retried = self._ring.take(limit)
            if batch:
                self.in_flight = batch
            return batch, retried

    def settle(self, batch: list[Any], taken: int, retried: int, ok: bool) -> int:
        """Book the batch's outcome: ``taken`` if it was exported, else -1 (the batch was put
        back once, space allowing, or counted as dropped)."""
        with self._lock:
            self.in_flight = None
            if self.closed:  # close() already counted this batch as dropped
                return -1
            if ok:
                self.exported += len(batch)
                return taken
            # Retried items have had their second chance; the rest go back once, space allowing.
            fresh = batch[retried:]
            kept = self._ring.put_back(fresh)
            self.failed_dropped += retried + len(fresh) - kept
            return -1

    def drop_unencodable(self, count: int, rest: list[Any]) -> bool:
        """Count ``count`` unencodable items as dropped, ``rest`` now in flight; ``False``
        (nothing counted) once closed."""
        with self._lock:
            if self.closed:
                return False
            self.unencodable += count
            self.failed_dropped += count
            self.in_flight = rest
            return True

    def close(self) -> None:
        """Take no more batches; the batch in flight and what is left in the ring are dropped."""
        with self._lock:
            self.closed = True
            if self.in_flight is not None:
                self.failed_dropped += len(self.in_flight)
            self.failed_dropped += len(self._ring.drain_all())

    def report(self) -> None:
        """One warning for the drops since the last report, with their causes."""
        overwritten = self._ring.evicted()
        with self._lock:
            failed, unencodable = self.failed_dropped, self.unencodable
            dropped = overwritten + failed
            new = dropped - self._reported_dropped
            if new <= 0:
                return
            self._reported_dropped = dropped
        causes = []
        if overwritten:
            causes.append(
                f"{overwritten} overwritten in a full buffer (raise "
                f"{self._kind.queue_variable} or export more often)"
            )
        if failed - unencodable:
            endpoint = no_collector_at(self._exporter)
            why = f"no OTLP collector answers at {endpoint}" if endpoint else "check the exporter"
            causes.append(f"{failed - unencodable} whose export failed ({why})")
        if unencodable:
            causes.append(f"{unencodable} that could not be encoded")
        _logger.warning(
            "dropped %d %s since the last report, %d in all: %s",
            new,
            self._kind.noun,
            dropped,
            "; ".join(causes),
        )
