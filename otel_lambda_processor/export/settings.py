"""The settings the processors and the metric reader run with: small immutable values, each
validated in its constructor (a bad value raises ``ValueError`` naming it and the range).

Owns the modes, the limits and the settings objects; must not read the environment (that is
:mod:`.config`) nor touch a processor, a thread or OpenTelemetry.
"""

from __future__ import annotations

import enum

from ..signals import Record, field

DEFAULT_QUEUE_SIZE = 2048
DEFAULT_BATCH_SIZE = 512
DEFAULT_EXPORT_TIMEOUT_MILLIS = 30_000
#: Upper bounds: a larger queue is memory no Lambda function has; a longer timeout is no bound.
MAX_QUEUE_SIZE = 1_048_576
MAX_EXPORT_TIMEOUT_MILLIS = 3_600_000
#: A day: a longer minimum interval would export metrics only at SIGTERM.
MAX_MIN_INTERVAL_MILLIS = 86_400_000
#: The default sample ratio: every invocation is kept (no sampling, no cost on the hot path).
DEFAULT_SAMPLE_RATIO = 1.0
#: A day: no invocation lasts longer (Lambda's limit is 15 minutes).
MAX_KEEP_SLOWER_THAN_MILLIS = 86_400_000


class ProcessorMode(enum.Enum):
    """When a :class:`LambdaSpanProcessor` exports.

    ``SYNC``: inline when the handler is done (the caller waits). ``ASYNC``: right after the
    response has been sent, before the environment freezes. ``FINALIZE``: only on ``force_flush``
    and ``shutdown``, like the SDK's own processors.
    """

    SYNC = "sync"
    ASYNC = "async"
    FINALIZE = "finalize"


DEFAULT_MODE = ProcessorMode.ASYNC


class ProcessorSettings:
    """The settings a processor runs with, already validated; immutable.

    (A plain class rather than a dataclass: importing ``dataclasses`` alone costs ~10 ms of
    cold start, more than this whole package may add.)
    """

    __slots__ = (
        "export_timeout_millis",
        "keep_slower_than_millis",
        "max_export_batch_size",
        "max_queue_size",
        "mode",
        "sample_ratio",
        "sdk_disabled",
    )
    mode: ProcessorMode
    max_queue_size: int
    max_export_batch_size: int
    #: Bound on one flush in milliseconds; ``0`` means only the deadline bounds it.
    export_timeout_millis: int
    sdk_disabled: bool
    #: The probability of keeping an ordinary invocation's spans; 1.0 means no sampling.
    sample_ratio: float
    #: Invocations whose invocation span lasted longer (ms) are always kept; ``None``: no such rule.
    keep_slower_than_millis: float | None

    def __init__(
        self,
        mode: ProcessorMode = DEFAULT_MODE,
        max_queue_size: int = DEFAULT_QUEUE_SIZE,
        max_export_batch_size: int = DEFAULT_BATCH_SIZE,
        export_timeout_millis: int = DEFAULT_EXPORT_TIMEOUT_MILLIS,
        sdk_disabled: bool = False,
        sample_ratio: float = DEFAULT_SAMPLE_RATIO,
        keep_slower_than_millis: float | None = None,
    ) -> None:
        if not isinstance(mode, ProcessorMode):
            raise ValueError(f"mode must be a ProcessorMode, got {mode!r}")
        check_int("max_queue_size", max_queue_size, 1, MAX_QUEUE_SIZE)
        check_int("max_export_batch_size", max_export_batch_size, 1, MAX_QUEUE_SIZE)
        check_int("export_timeout_millis", export_timeout_millis, 0, MAX_EXPORT_TIMEOUT_MILLIS)
        check_number("sample_ratio", sample_ratio, 0, 1)
        if keep_slower_than_millis is not None:
            check_number(
                "keep_slower_than_millis", keep_slower_than_millis, 0, MAX_KEEP_SLOWER_THAN_MILLIS
            )
        if max_export_batch_size > max_queue_size:
            raise ValueError(
                f"max_export_batch_size={max_export_batch_size} is larger than "
                f"max_queue_size={max_queue_size}"
            )
        for name, value in (
            ("mode", mode),
            ("max_queue_size", max_queue_size),
            ("max_export_batch_size", max_export_batch_size),
            ("export_timeout_millis", export_timeout_millis),
            ("sdk_disabled", bool(sdk_disabled)),
            ("sample_ratio", float(sample_ratio)),
            (
                "keep_slower_than_millis",
                None if keep_slower_than_millis is None else float(keep_slower_than_millis),
            ),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ProcessorSettings is immutable; cannot set {name}")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    _fields = (
        "mode",
        "max_queue_size",
        "max_export_batch_size",
        "export_timeout_millis",
        "sdk_disabled",
        "sample_ratio",
        "keep_slower_than_millis",
    )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessorSettings):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"ProcessorSettings({inner})"


def check_int(name: str, value: object, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer from {minimum} to {maximum}, got {value!r}")


def check_number(name: str, value: object, minimum: int, maximum: int) -> None:
    """A real number in range (NaN and infinities are not: they compare false)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not minimum <= value <= maximum
    ):
        raise ValueError(f"{name} must be a number from {minimum} to {maximum}, got {value!r}")


def parse_mode(value: ProcessorMode | str) -> ProcessorMode:
    """Return the mode named by ``value`` (a member or its name, any case); ``ValueError`` else."""
    if isinstance(value, ProcessorMode):
        return value
    if isinstance(value, str):
        try:
            return ProcessorMode(value.strip().lower())
        except ValueError:
            pass
    choices = ", ".join(m.value for m in ProcessorMode)
    raise ValueError(f"mode must be one of {choices} (any case), got {value!r}")


class MetricReaderSettings(Record):
    """The settings a :class:`LambdaMetricReader` runs with, already validated."""

    __slots__ = ()
    _fields = ("mode", "export_timeout_millis", "min_interval_millis", "sdk_disabled")

    mode: ProcessorMode = field(0)
    #: Bound on one collect-and-export in milliseconds; ``0`` means only the deadline bounds it.
    export_timeout_millis: int = field(1)
    #: The least time between two exports on the mode's signal (not at flush or shutdown).
    min_interval_millis: int = field(2)
    sdk_disabled: bool = field(3)

    def __new__(
        cls,
        mode: ProcessorMode = DEFAULT_MODE,
        export_timeout_millis: int = DEFAULT_EXPORT_TIMEOUT_MILLIS,
        min_interval_millis: int = 0,
        sdk_disabled: bool = False,
    ) -> MetricReaderSettings:
        if not isinstance(mode, ProcessorMode):
            raise ValueError(f"mode must be a ProcessorMode, got {mode!r}")
        check_int("export_timeout_millis", export_timeout_millis, 0, MAX_EXPORT_TIMEOUT_MILLIS)
        check_int("min_interval_millis", min_interval_millis, 0, MAX_MIN_INTERVAL_MILLIS)
        values = (mode, export_timeout_millis, min_interval_millis, bool(sdk_disabled))
        return tuple.__new__(cls, values)
