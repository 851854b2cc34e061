"""Every setting of the package, parsed in one place into one frozen object.

Explicit constructor arguments win over the environment, which wins over the defaults, as in the
OpenTelemetry SDK. A bad environment value never crashes a function: it is warned about once,
naming the variable, the value and what is used instead. A bad explicit argument is a programming
error and raises ``ValueError`` with the same information.

The variables (the README's table says more, with what happens on a bad value):

- ``LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE``: ``sync``, ``async`` (default) or ``finalize``.
- ``LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE``: ring buffer capacity in spans (2048; 1 to 1,048,576).
- ``LAMBDA_SPAN_PROCESSOR_BATCH_SIZE``: spans per ``export()`` call, at most the queue (512).
- ``LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT``: bound on a flush in ms, 0 = deadline only (30000;
  at most 3,600,000).
- ``OTEL_SDK_DISABLED``: ``true`` means no registration, no threads, nothing exported.
- ``LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO``: the share of ordinary invocations whose spans are kept,
  0 to 1 (1.0: every invocation, no sampling; see :mod:`..processors.sampling`).
- ``LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS``: keep every invocation whose invocation span
  lasted longer, in ms (unset: no threshold; at most 86,400,000).

The log processor reads the first four with ``LOG`` for ``SPAN`` (its mode falls back to the span
mode's variable; sampling is the span processor's alone); the metric reader reads
``LAMBDA_EXTENSION_METRIC_READER_MODE`` (same fallback), ``LAMBDA_METRIC_READER_EXPORT_TIMEOUT``
and ``LAMBDA_METRIC_READER_MIN_INTERVAL`` (ms between exports on the mode's signal, 0 = every
invocation; at most 86,400,000).
"""

from __future__ import annotations

import enum
import logging
import os
import re
import threading
from collections.abc import Mapping

from ..signals import Record, field

_logger = logging.getLogger("otel_lambda_processor.config")  # named as before the layout

MODE_ENV = "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE"
QUEUE_SIZE_ENV = "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE"
BATCH_SIZE_ENV = "LAMBDA_SPAN_PROCESSOR_BATCH_SIZE"
EXPORT_TIMEOUT_ENV = "LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT"
SDK_DISABLED_ENV = "OTEL_SDK_DISABLED"
SAMPLE_RATIO_ENV = "LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO"
KEEP_SLOWER_THAN_ENV = "LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS"
LOG_MODE_ENV = "LAMBDA_EXTENSION_LOG_PROCESSOR_MODE"
LOG_QUEUE_SIZE_ENV = "LAMBDA_LOG_PROCESSOR_QUEUE_SIZE"
LOG_BATCH_SIZE_ENV = "LAMBDA_LOG_PROCESSOR_BATCH_SIZE"
LOG_EXPORT_TIMEOUT_ENV = "LAMBDA_LOG_PROCESSOR_EXPORT_TIMEOUT"
METRIC_MODE_ENV = "LAMBDA_EXTENSION_METRIC_READER_MODE"
METRIC_EXPORT_TIMEOUT_ENV = "LAMBDA_METRIC_READER_EXPORT_TIMEOUT"
METRIC_MIN_INTERVAL_ENV = "LAMBDA_METRIC_READER_MIN_INTERVAL"

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


class SignalVariables(Record):
    """The environment variables one buffering processor reads (spans or log records)."""

    __slots__ = ()
    _fields = ("mode", "queue_size", "batch_size", "export_timeout")

    mode: str = field(0)
    queue_size: str = field(1)
    batch_size: str = field(2)
    export_timeout: str = field(3)

    def __new__(
        cls, mode: str, queue_size: str, batch_size: str, export_timeout: str
    ) -> SignalVariables:
        return tuple.__new__(cls, (mode, queue_size, batch_size, export_timeout))


#: The SDK's batch processors' variables, honoured below ours and above the defaults (a setup
#: moved from a ``BatchSpanProcessor`` keeps its sizes).
SDK_FALLBACKS = {
    QUEUE_SIZE_ENV: "OTEL_BSP_MAX_QUEUE_SIZE",
    BATCH_SIZE_ENV: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    EXPORT_TIMEOUT_ENV: "OTEL_BSP_EXPORT_TIMEOUT",
    LOG_QUEUE_SIZE_ENV: "OTEL_BLRP_MAX_QUEUE_SIZE",
    LOG_BATCH_SIZE_ENV: "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    LOG_EXPORT_TIMEOUT_ENV: "OTEL_BLRP_EXPORT_TIMEOUT",
    METRIC_EXPORT_TIMEOUT_ENV: "OTEL_METRIC_EXPORT_TIMEOUT",
}

SPAN_VARIABLES = SignalVariables(MODE_ENV, QUEUE_SIZE_ENV, BATCH_SIZE_ENV, EXPORT_TIMEOUT_ENV)
LOG_VARIABLES = SignalVariables(
    LOG_MODE_ENV, LOG_QUEUE_SIZE_ENV, LOG_BATCH_SIZE_ENV, LOG_EXPORT_TIMEOUT_ENV
)


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
        _check_int("max_queue_size", max_queue_size, 1, MAX_QUEUE_SIZE)
        _check_int("max_export_batch_size", max_export_batch_size, 1, MAX_QUEUE_SIZE)
        _check_int("export_timeout_millis", export_timeout_millis, 0, MAX_EXPORT_TIMEOUT_MILLIS)
        _check_number("sample_ratio", sample_ratio, 0, 1)
        if keep_slower_than_millis is not None:
            _check_number(
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


def _check_int(name: str, value: object, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer from {minimum} to {maximum}, got {value!r}")


def _check_number(name: str, value: object, minimum: int, maximum: int) -> None:
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


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(variable: str, raw: str, problem: str, used: object) -> None:
    """Warn about a bad setting once per process, naming the value and what is used instead."""
    with _warned_lock:
        if (variable, raw) in _warned:
            return
        _warned.add((variable, raw))
    shown = raw if len(raw) <= 80 else raw[:80] + "..."
    _logger.warning("%s=%r %s; using %s instead", variable, shown, problem, used)


# Patterns are compiled (and cached by ``re``) on first use: compiling them at import would
# cost every cold start, while most functions set none of the variables they check.
_DECIMAL = r"([+-]?)0*([0-9]+(?:_[0-9]+)*)"


def _parse_decimal(raw: str) -> int | None:
    """A decimal integer in ASCII digits, else ``None``; huge ones come back as +/-10**18.

    ``int()`` alone would take other scripts' digits (and ``isdigit()`` even superscripts), and
    refuses numbers of some 4,300 digits.
    """
    match = re.fullmatch(_DECIMAL, raw.strip())
    if match is None:
        return None
    sign, digits = match.groups()
    value = int(digits) if len(digits) <= 18 else 10**18
    return -value if sign == "-" else value


def _env_int(
    env: Mapping[str, str], variable: str, default: int, minimum: int, maximum: int
) -> int:
    """An integer setting: below the range (or not a number) gives the default, above it the
    maximum; either way one warning. Unset, the SDK's variable of the same meaning, if any."""
    raw = env.get(variable)
    if (raw is None or raw.strip() == "") and variable in SDK_FALLBACKS:
        variable = SDK_FALLBACKS[variable]
        raw = env.get(variable)
    if raw is None or raw.strip() == "":
        return default
    value = _parse_decimal(raw)
    if value is None:
        warn_once(variable, raw, "is not an integer", default)
        return default
    if value < minimum:
        warn_once(variable, raw, f"is below the minimum of {minimum}", default)
        return default
    if value > maximum:
        warn_once(variable, raw, f"is above the maximum of {maximum}", maximum)
        return maximum
    return value


# Only ASCII digits, an optional fraction and exponent: ``float()`` would also take "nan",
# "infinity", underscores and other scripts' digits.
_REAL = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?"


def _parse_real(raw: str) -> float | None:
    """A decimal number (``0.25``, ``1e-3``), else ``None``; huge ones come back as ``inf``."""
    text = raw.strip()
    if re.fullmatch(_REAL, text) is None:
        return None
    return float(text)


def _env_real(
    env: Mapping[str, str],
    variable: str,
    default: float | None,
    maximum: float,
    shown_default: str,
) -> float | None:
    """A real setting from 0 to ``maximum``: not a number or below 0 gives the default, above
    the maximum the maximum; either way one warning. Unset (or blank): the default."""
    raw = env.get(variable)
    if raw is None or raw.strip() == "":
        return default
    value = _parse_real(raw)
    if value is None:
        warn_once(variable, raw, "is not a number", shown_default)
        return default
    if value < 0:
        warn_once(variable, raw, "is below the minimum of 0", shown_default)
        return default
    if value > maximum:
        shown = str(int(maximum)) if maximum == int(maximum) else str(maximum)
        warn_once(variable, raw, f"is above the maximum of {shown}", shown)
        return maximum
    return value


def _env_sample_ratio(env: Mapping[str, str]) -> float:
    ratio = _env_real(env, SAMPLE_RATIO_ENV, DEFAULT_SAMPLE_RATIO, 1.0, "1 (keep every invocation)")
    assert ratio is not None
    return ratio


def _env_keep_slower_than(env: Mapping[str, str]) -> float | None:
    return _env_real(
        env, KEEP_SLOWER_THAN_ENV, None, MAX_KEEP_SLOWER_THAN_MILLIS, "no threshold (unset)"
    )


def _env_mode(env: Mapping[str, str], variable: str = MODE_ENV) -> ProcessorMode:
    """The mode ``variable`` names; unset, the span mode's variable (one switch for all)."""
    raw = env.get(variable)
    if (raw is None or raw.strip() == "") and variable != MODE_ENV:
        variable, raw = MODE_ENV, env.get(MODE_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MODE
    try:
        return parse_mode(raw)
    except ValueError:
        choices = "|".join(m.value for m in ProcessorMode)
        warn_once(variable, raw, f"is not one of {choices}", DEFAULT_MODE.value)
        return DEFAULT_MODE


def sdk_disabled(env: Mapping[str, str]) -> bool:
    """``OTEL_SDK_DISABLED`` as the SDK reads it: only ``true`` (any case) disables."""
    return env.get(SDK_DISABLED_ENV, "").strip().lower() == "true"


def load_settings(
    env: Mapping[str, str],
    *,
    mode: ProcessorMode | str | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    export_timeout_millis: int | None = None,
    variables: SignalVariables = SPAN_VARIABLES,
    sample_ratio: float | None = None,
    keep_slower_than_millis: float | None = None,
) -> ProcessorSettings:
    """Build the settings: explicit argument > environment > default.

    Explicit arguments are validated strictly (``ValueError``); environment values leniently
    (one warning, then the default or the clamped value). The sampling variables are read for
    the span processor's ``variables`` only.
    """
    resolved_mode = parse_mode(mode) if mode is not None else _env_mode(env, variables.mode)
    if max_queue_size is not None:
        _check_int("max_queue_size", max_queue_size, 1, MAX_QUEUE_SIZE)
        queue = max_queue_size
    else:
        queue = _env_int(env, variables.queue_size, DEFAULT_QUEUE_SIZE, 1, MAX_QUEUE_SIZE)
    if max_export_batch_size is not None:
        _check_int("max_export_batch_size", max_export_batch_size, 1, MAX_QUEUE_SIZE)
        if max_export_batch_size > queue:
            raise ValueError(
                f"max_export_batch_size={max_export_batch_size} is larger than "
                f"max_queue_size={queue}"
            )
        batch = max_export_batch_size
    else:
        # Never larger than the queue: above it, one warning and the queue size.
        batch = _env_int(env, variables.batch_size, min(DEFAULT_BATCH_SIZE, queue), 1, queue)
    if export_timeout_millis is not None:
        _check_int("export_timeout_millis", export_timeout_millis, 0, MAX_EXPORT_TIMEOUT_MILLIS)
        timeout = export_timeout_millis
    else:
        timeout = _env_timeout(env, variables.export_timeout)
    spans = variables == SPAN_VARIABLES
    if sample_ratio is not None:
        _check_number("sample_ratio", sample_ratio, 0, 1)
        ratio = float(sample_ratio)
    else:
        ratio = _env_sample_ratio(env) if spans else DEFAULT_SAMPLE_RATIO
    if keep_slower_than_millis is None and spans:
        keep_slower_than_millis = _env_keep_slower_than(env)
    return ProcessorSettings(
        mode=resolved_mode,
        max_queue_size=queue,
        max_export_batch_size=batch,
        export_timeout_millis=timeout,
        sdk_disabled=sdk_disabled(env),
        sample_ratio=ratio,
        keep_slower_than_millis=keep_slower_than_millis,
    )


def _env_timeout(env: Mapping[str, str], variable: str) -> int:
    return _env_int(env, variable, DEFAULT_EXPORT_TIMEOUT_MILLIS, 0, MAX_EXPORT_TIMEOUT_MILLIS)


def settings_from_environment(
    *,
    mode: ProcessorMode | str | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    export_timeout_millis: int | None = None,
    variables: SignalVariables = SPAN_VARIABLES,
    sample_ratio: float | None = None,
    keep_slower_than_millis: float | None = None,
) -> ProcessorSettings:
    """:func:`load_settings` over ``os.environ``: the only place the package reads it for these."""
    return load_settings(
        os.environ,
        mode=mode,
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        export_timeout_millis=export_timeout_millis,
        variables=variables,
        sample_ratio=sample_ratio,
        keep_slower_than_millis=keep_slower_than_millis,
    )


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
        _check_int("export_timeout_millis", export_timeout_millis, 0, MAX_EXPORT_TIMEOUT_MILLIS)
        _check_int("min_interval_millis", min_interval_millis, 0, MAX_MIN_INTERVAL_MILLIS)
        values = (mode, export_timeout_millis, min_interval_millis, bool(sdk_disabled))
        return tuple.__new__(cls, values)


def load_metric_reader_settings(
    env: Mapping[str, str],
    *,
    mode: ProcessorMode | str | None = None,
    export_timeout_millis: int | None = None,
    min_interval_millis: int | None = None,
) -> MetricReaderSettings:
    """The metric reader's settings: explicit argument > environment > default."""
    resolved = parse_mode(mode) if mode is not None else _env_mode(env, METRIC_MODE_ENV)
    if export_timeout_millis is None:
        export_timeout_millis = _env_timeout(env, METRIC_EXPORT_TIMEOUT_ENV)
    if min_interval_millis is None:
        min_interval_millis = _env_int(env, METRIC_MIN_INTERVAL_ENV, 0, 0, MAX_MIN_INTERVAL_MILLIS)
    return MetricReaderSettings(
        resolved, export_timeout_millis, min_interval_millis, sdk_disabled(env)
    )


# -- the OTLP exporter's timeout (the official exporter takes any float, and then fails) -----

OTLP_TIMEOUT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
DEFAULT_OTLP_TIMEOUT_SECONDS = 10.0
MAX_OTLP_TIMEOUT_SECONDS = 3600.0


def otlp_timeout_seconds(
    env: Mapping[str, str], explicit: object = None, names: tuple[str, ...] = OTLP_TIMEOUT_ENVS
) -> float | None:
    """A usable OTLP export timeout in seconds, or ``None`` to leave it to the exporter.

    The official exporter reads these variables as seconds and accepts ``0``, negative,
    ``inf`` and ``nan``, after which every export fails. Such a value (argument or variable) is
    replaced by the default with one warning; a value it handles itself is left alone.
    """
    if explicit is not None:
        name, raw = "timeout", repr(explicit)
        value = explicit if isinstance(explicit, (int, float)) else None
    else:
        found = [(n, env[n]) for n in names if env.get(n)]  # the first set, as the SDK reads
        if not found:
            return None
        name, raw = found[0]
        try:
            value = float(raw)
        except ValueError:
            return None  # the exporter warns about it and uses its default
    if isinstance(value, bool) or value is None:
        return None
    if value != value or not 0 < value <= MAX_OTLP_TIMEOUT_SECONDS:
        warn_once(
            name,
            raw,
            f"is not a timeout above 0 and up to {MAX_OTLP_TIMEOUT_SECONDS:g} seconds",
            f"{DEFAULT_OTLP_TIMEOUT_SECONDS:g}",
        )
        return DEFAULT_OTLP_TIMEOUT_SECONDS
    return float(value)


# -- the Lambda environment (read by the coordinator) ----------------------------------------

RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"
MEMORY_SIZE_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
#: Lambda offers 128 to 10,240 MB; anything in 1..1 TiB is believed, the rest is left out.
MAX_MEMORY_MB = 1_048_576
INITIALIZATION_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"
EXECUTION_ENV = "AWS_EXECUTION_ENV"
MANAGED_INSTANCES = "lambda-managed-instances"
SNAP_START = "snap-start"

#: Every telemetry wait ends this long before the invocation deadline.
DEADLINE_MARGIN_MILLIS = 50
#: Without a better signal, the coordinator flushes this long before the deadline.
FALLBACK_FLUSH_LEAD_MILLIS = 300
#: Of Lambda's 500 ms SIGTERM grace (with an internal extension), what our flush may use.
SIGTERM_BUDGET_MILLIS = 400

_HOST_PORT = (
    r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):"
    r"(?P<port>[0-9]{1,5})$"
)


class LambdaEnvironment(Record):
    """What the coordinator needs to know about where it runs."""

    __slots__ = ()
    _fields = ("runtime_api", "initialization_type", "execution_env", "sdk_disabled")

    #: ``host:port`` of the Runtime and Extensions APIs; ``None`` outside Lambda (or invalid).
    runtime_api: str | None = field(0)
    initialization_type: str = field(1)
    execution_env: str | None = field(2)
    sdk_disabled: bool = field(3)

    def __new__(
        cls,
        runtime_api: str | None,
        initialization_type: str,
        execution_env: str | None,
        sdk_disabled: bool,
    ) -> LambdaEnvironment:
        return tuple.__new__(cls, (runtime_api, initialization_type, execution_env, sdk_disabled))

    @property
    def in_lambda(self) -> bool:
        return self.runtime_api is not None

    @property
    def managed_instances(self) -> bool:
        return self.initialization_type == MANAGED_INSTANCES

    @property
    def snap_start(self) -> bool:
        return self.initialization_type == SNAP_START


def parse_runtime_api(raw: str | None) -> str | None:
    """``host:port`` if ``raw`` is one (port 1-65535), else ``None`` with one warning."""
    if raw is None or raw.strip() == "":
        return None
    match = re.match(_HOST_PORT, raw.strip())
    if match is None or not 0 < int(match.group("port")) < 65536:
        warn_once(RUNTIME_API_ENV, raw, "is not host:port", "no extension (inline export)")
        return None
    return raw.strip()


def load_lambda_environment(env: Mapping[str, str]) -> LambdaEnvironment:
    return LambdaEnvironment(
        runtime_api=parse_runtime_api(env.get(RUNTIME_API_ENV)),
        initialization_type=env.get(INITIALIZATION_TYPE_ENV, "").strip().lower(),
        execution_env=env.get(EXECUTION_ENV) or None,
        sdk_disabled=sdk_disabled(env),
    )


_FUNCTION_VARIABLES = (
    "AWS_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    MEMORY_SIZE_ENV,
    INITIALIZATION_TYPE_ENV,
    "OTEL_PROPAGATORS",
    "_X_AMZN_TRACE_ID",
)


def memory_size_mb(env: Mapping[str, str]) -> int | None:
    """``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` in MB, or ``None`` (one warning if it is malformed)."""
    raw = env.get(MEMORY_SIZE_ENV)
    if raw is None or raw.strip() == "":
        return None
    value = _parse_decimal(raw)
    if value is None or not 0 < value <= MAX_MEMORY_MB:
        warn_once(MEMORY_SIZE_ENV, raw, "is not a memory size in MB", "no faas.max_memory")
        return None
    return value


def lambda_function_environment() -> dict[str, str]:
    """The variables Lambda sets that describe the function (read at each call: Lambda updates
    ``_X_AMZN_TRACE_ID`` per invocation)."""
    return {name: os.environ[name] for name in _FUNCTION_VARIABLES if name in os.environ}


def lambda_environment() -> LambdaEnvironment:
    """:func:`load_lambda_environment` over ``os.environ``."""
    return load_lambda_environment(os.environ)


def coordinator_environment() -> LambdaEnvironment | None:
    """:func:`lambda_environment` if a coordinator should follow it, else ``None``.

    Only inside Lambda with the SDK enabled; outside Lambda it logs why at INFO, on the
    coordinator's logger. Checked before the coordinator (and urllib3) is even imported.
    """
    environment = lambda_environment()
    if environment.sdk_disabled:
        return None
    if not environment.in_lambda:
        logging.getLogger("otel_lambda_processor.coordinator").info(
            "AWS_LAMBDA_RUNTIME_API is not set: not running in AWS Lambda, so no extension is "
            "registered; spans are exported at handler_done(), force_flush() and shutdown()"
        )
        return None
    return environment
