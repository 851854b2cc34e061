"""Lifecycle signals: the one seam between whatever knows *when* (the Lambda coordinator, the
traced handler, user code) and the processors that know *how* to export.

Publishers call :func:`handler_done` or :meth:`SignalHub.publish`; processors subscribe as
listeners and may hand back a :class:`Completion` that the publisher waits on, bounded by the
signal's deadline. Nothing here imports OpenTelemetry or touches the network.

Owns the signal types, the hub and ``handler_done``; must not import anything of the package,
nor know who publishes a signal or who listens.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from typing import Protocol, TypeVar
else:
    # The protocols below only serve type checkers: a real ``typing.Protocol`` class costs some
    # 50 us of cold start each. None is ``runtime_checkable``, so nothing else can tell.
    Protocol = object

_logger = logging.getLogger(__name__)


#: The longest single wait anything here makes: ``threading`` refuses longer ones with
#: ``OverflowError``, and no Lambda invocation lasts a day.
MAX_WAIT_SECONDS = min(threading.TIMEOUT_MAX, 86_400.0)
#: Deadlines (epoch ms) are believed only within this range: 1970 to about the year 2255.
_MAX_EPOCH_MS = 2**53


def epoch_ms_or_none(value: object) -> int | None:
    """A deadline in epoch milliseconds as Lambda sends it (number or digits), else ``None``.

    Malformed, non-finite or absurd values (from a broken or hostile API) never raise.
    """
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, float):
            if not value == value or value in (float("inf"), float("-inf")):
                return None
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and 0 < len(value) <= 24 and value.isascii():
            number = int(value.strip())
        else:
            return None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= _MAX_EPOCH_MS else None


def deadline_from_epoch_ms(deadline_ms: float, *, margin_millis: float = 0.0) -> float:
    """Turn a Lambda ``deadlineMs`` (wall clock) into a ``time.monotonic()`` deadline."""
    return time.monotonic() + (deadline_ms - margin_millis) / 1000.0 - time.time()


def seconds_left(deadline: float | None, limit: float | None = None) -> float | None:
    """Seconds until ``deadline`` (monotonic), capped by ``limit``; ``None`` means no bound.

    A bound is never more than :data:`MAX_WAIT_SECONDS`, so it can always be waited on.
    """
    if deadline is None:
        return bounded_wait(limit)
    left = max(0.0, deadline - time.monotonic())
    return bounded_wait(left if limit is None else min(left, limit))


def bounded_wait(seconds: float | None) -> float | None:
    """``seconds`` made safe for ``Event.wait``/``Condition.wait``: not NaN, not negative, not
    beyond :data:`MAX_WAIT_SECONDS`; ``None`` (no bound) stays ``None``."""
    if seconds is None:
        return None
    if not seconds >= 0.0:  # NaN too
        return 0.0
    return min(seconds, MAX_WAIT_SECONDS)


if TYPE_CHECKING:
    _R = TypeVar("_R", bound="Record")


def field(index: int) -> Any:
    """The read-only attribute for item ``index`` of a :class:`Record`."""
    return property(itemgetter(index), doc=f"Alias for field number {index}")


class Record(tuple[Any, ...]):
    """What a ``typing.NamedTuple`` is at run time, written out once.

    A ``NamedTuple`` class compiles code for its ``__new__`` and for every field's annotation:
    some 150 us of cold start each. A subclass lists its ``_fields``, writes ``__new__`` and
    declares each attribute with :func:`field`; it then compares, hashes, unpacks, pickles,
    prints and ``_replace``-s as the ``NamedTuple`` would.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _field_defaults: ClassVar[dict[str, Any]] = {}
    __match_args__: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        code = cls.__new__.__code__
        if code.co_varnames[1 : code.co_argcount] != cls._fields:
            raise TypeError(f"{cls.__name__}.__new__ must take exactly {cls._fields}, in order")
        defaults = cls.__new__.__defaults__ or ()
        named = cls._fields[len(cls._fields) - len(defaults) :]
        cls._field_defaults = dict(zip(named, defaults, strict=True))
        cls.__match_args__ = cls._fields  # type: ignore[misc]  # as NamedTuple sets it

    @classmethod
    def _make(cls: type[_R], iterable: Iterable[Any]) -> _R:
        result = tuple.__new__(cls, iterable)
        if len(result) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
        return result

    def _replace(self: _R, **changes: Any) -> _R:
        result = self._make(map(changes.pop, self._fields, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return result

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=False))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        pairs = zip(self._fields, self, strict=False)
        inner = ", ".join(f"{name}={value!r}" for name, value in pairs)
        return f"{type(self).__name__}({inner})"


class InvocationStarted(Record):
    """An invocation is open: the environment is not frozen until it ends."""

    __slots__ = ()
    _fields = ("request_id", "deadline", "trace_header", "handler_thread")

    request_id: str = field(0)
    #: ``time.monotonic()`` value by which all telemetry work for it must be over.
    deadline: float | None = field(1)
    #: The ``X-Amzn-Trace-Id`` value Lambda sent with the invocation, when there was one.
    trace_header: str | None = field(2)
    #: ``threading.get_ident()`` of the thread that runs the handler; ``None``: the main thread.
    handler_thread: int | None = field(3)

    def __new__(
        cls,
        request_id: str,
        deadline: float | None = None,
        trace_header: str | None = None,
        handler_thread: int | None = None,
    ) -> InvocationStarted:
        return tuple.__new__(cls, (request_id, deadline, trace_header, handler_thread))


class HandlerDone(Record):
    """The handler has returned (or raised); its spans have ended."""

    __slots__ = ()
    _fields = ("request_id", "deadline", "export_follows", "freezes")

    request_id: str | None = field(0)
    deadline: float | None = field(1)
    #: An :class:`ExportDue` for this invocation follows once the response has been sent.
    export_follows: bool = field(2)
    #: The environment may freeze as soon as the publisher returns (so exports must be waited on).
    freezes: bool = field(3)

    def __new__(
        cls,
        request_id: str | None = None,
        deadline: float | None = None,
        export_follows: bool = False,
        freezes: bool = False,
    ) -> HandlerDone:
        return tuple.__new__(cls, (request_id, deadline, export_follows, freezes))


class ExportReason(enum.Enum):
    """Why an :class:`ExportDue` was published."""

    RESPONSE_SENT = "response_sent"
    HANDLER_DONE = "handler_done"  # the best signal where the runtime reports no response
    DEADLINE = "deadline"
    SHUTDOWN = "shutdown"


class ExportDue(Record):
    """Export now, within ``deadline``: the response is out, the deadline is near, or shutdown."""

    __slots__ = ()
    _fields = ("reason", "deadline", "request_id")

    reason: ExportReason = field(0)
    deadline: float | None = field(1)
    request_id: str | None = field(2)

    def __new__(
        cls, reason: ExportReason, deadline: float | None = None, request_id: str | None = None
    ) -> ExportDue:
        return tuple.__new__(cls, (reason, deadline, request_id))


Signal = InvocationStarted | HandlerDone | ExportDue


class Completion(Protocol):
    """Work a listener started for a signal; the publisher waits on it."""

    def wait(self, timeout: float | None) -> bool:
        """Block at most ``timeout`` seconds (``None``: no bound); ``True`` if it all succeeded."""
        ...


class LifecycleListener(Protocol):
    def on_signal(self, signal: Signal) -> Completion | None:
        """React to ``signal`` without blocking; return what the publisher should wait on."""
        ...


class LifecycleDriver(Protocol):
    """What knows the runtime (the coordinator): turns a bare "handler done" into a full signal."""

    def on_handler_done(self, request_id: str | None) -> HandlerDone: ...


def _priority(listener: object) -> int:
    value = getattr(listener, "signal_priority", 0)
    return value if isinstance(value, int) else 0


class SignalHub:
    """Process-wide fan-out of lifecycle signals to subscribed processors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: weakref.WeakSet[LifecycleListener] = weakref.WeakSet()
        self._driver: LifecycleDriver | None = None
        self._driver_factory: Callable[[str], LifecycleDriver | None] | None = None
        self._factory_used = False

    def set_driver_factory(self, factory: Callable[[str], LifecycleDriver | None]) -> None:
        """What builds the driver when the first listener subscribes (the coordinator)."""
        self._driver_factory = factory

    def subscribe(self, listener: LifecycleListener, mode: str | None = None) -> None:
        """Add ``listener``; the first subscription in a process starts the driver for ``mode``."""
        with self._lock:
            self._listeners.add(listener)
            factory = self._driver_factory
            start = factory is not None and mode is not None and not self._factory_used
            if start:
                self._factory_used = True
        if start:
            assert factory is not None and mode is not None
            try:
                driver = factory(mode)
            except Exception:  # telemetry never breaks init
                _logger.exception("starting the lifecycle driver failed")
                driver = None
            if driver is not None:
                self._driver = driver

    def unsubscribe(self, listener: LifecycleListener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def listeners(self) -> list[LifecycleListener]:
        """The listeners in the order they hear a signal: spans, then logs, then metrics."""
        with self._lock:
            found = list(self._listeners)
        found.sort(key=_priority)
        return found

    @property
    def driver(self) -> LifecycleDriver | None:
        return self._driver

    def set_driver(self, driver: LifecycleDriver | None) -> None:
        """Install (or remove, with ``None``) the object that knows the runtime's lifecycle."""
        self._driver = driver

    def publish(self, signal: Signal) -> bool:
        """Deliver ``signal`` to every listener, then wait for their work within its deadline.

        Returns ``True`` when every listener's work finished successfully in time. Never raises.
        """
        completions: list[Completion] = []
        for listener in self.listeners():
            try:
                completion = listener.on_signal(signal)
            except Exception:  # a listener must never break the publisher
                _logger.exception("lifecycle listener %r failed on %r", listener, signal)
                continue
            if completion is not None:
                completions.append(completion)
        ok = True
        deadline = getattr(signal, "deadline", None)
        for completion in completions:
            try:
                ok = completion.wait(seconds_left(deadline)) and ok
            except Exception:
                _logger.exception("waiting for %r failed", completion)
                ok = False
        return ok

    def handler_done(self, request_id: str | None = None) -> bool:
        driver = self._driver
        if driver is None:
            signal = HandlerDone(request_id=request_id)
        else:
            signal = driver.on_handler_done(request_id)
        return self.publish(signal)

    def _after_fork_in_child(self) -> None:
        # The coordinator and its thread belong to the parent; the child starts without one
        # (and does not start another: registration is closed by now).
        self._lock = threading.Lock()
        self._driver = None
        self._factory_used = True


HUB = SignalHub()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=HUB._after_fork_in_child)


def handler_done(request_id: str | None = None) -> None:
    """Say that the handler has finished; the one public way to do so.

    In ``SYNC`` mode this exports before returning (bounded by the invocation deadline). Outside
    Lambda it starts the ``ASYNC`` export at once; inside Lambda the coordinator exports after the
    response has been sent. Never raises into the caller.
    """
    try:
        HUB.handler_done(request_id)
    except Exception:
        _logger.exception("handler_done failed")
