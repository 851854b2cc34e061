"""Every variable the processors and the metric reader read, parsed in one place into their
frozen settings (:mod:`.settings`); this module was ``otel_lambda_processor.config``.

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

Owns those variables and how they are read; must not hold the values' rules (:mod:`.settings`)
nor read Lambda's own variables (:mod:`..environment`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ..environment import parse_decimal, sdk_disabled, warn_once
from ..signals import Record, field
from .settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EXPORT_TIMEOUT_MILLIS,
    DEFAULT_MODE,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_SAMPLE_RATIO,
    MAX_EXPORT_TIMEOUT_MILLIS,
    MAX_KEEP_SLOWER_THAN_MILLIS,
    MAX_MIN_INTERVAL_MILLIS,
    MAX_QUEUE_SIZE,
    MetricReaderSettings,
    ProcessorMode,
    ProcessorSettings,
    check_int,
    check_number,
    parse_mode,
)

MODE_ENV = "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE"
QUEUE_SIZE_ENV = "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE"
BATCH_SIZE_ENV = "LAMBDA_SPAN_PROCESSOR_BATCH_SIZE"
EXPORT_TIMEOUT_ENV = "LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT"
SAMPLE_RATIO_ENV = "LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO"
KEEP_SLOWER_THAN_ENV = "LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS"
LOG_MODE_ENV = "LAMBDA_EXTENSION_LOG_PROCESSOR_MODE"
LOG_QUEUE_SIZE_ENV = "LAMBDA_LOG_PROCESSOR_QUEUE_SIZE"
LOG_BATCH_SIZE_ENV = "LAMBDA_LOG_PROCESSOR_BATCH_SIZE"
LOG_EXPORT_TIMEOUT_ENV = "LAMBDA_LOG_PROCESSOR_EXPORT_TIMEOUT"
METRIC_MODE_ENV = "LAMBDA_EXTENSION_METRIC_READER_MODE"
METRIC_EXPORT_TIMEOUT_ENV = "LAMBDA_METRIC_READER_EXPORT_TIMEOUT"
METRIC_MIN_INTERVAL_ENV = "LAMBDA_METRIC_READER_MIN_INTERVAL"


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
    value = parse_decimal(raw)
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
        check_int("max_queue_size", max_queue_size, 1, MAX_QUEUE_SIZE)
        queue = max_queue_size
    else:
        queue = _env_int(env, variables.queue_size, DEFAULT_QUEUE_SIZE, 1, MAX_QUEUE_SIZE)
    if max_export_batch_size is not None:
        check_int("max_export_batch_size", max_export_batch_size, 1, MAX_QUEUE_SIZE)
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
        check_int("export_timeout_millis", export_timeout_millis, 0, MAX_EXPORT_TIMEOUT_MILLIS)
        timeout = export_timeout_millis
    else:
        timeout = _env_timeout(env, variables.export_timeout)
    spans = variables == SPAN_VARIABLES
    if sample_ratio is not None:
        check_number("sample_ratio", sample_ratio, 0, 1)
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


# -- ``otel_lambda_processor.config``, this module's path before the layout by layer ---------
#: What ``config`` held that is kept elsewhere now: asked for here, each name is looked up there
#: (the OTLP timeout loads :mod:`..otlp` only then).
_MOVED_OUT = {
    "environment": (
        "DEADLINE_MARGIN_MILLIS",
        "EXECUTION_ENV",
        "FALLBACK_FLUSH_LEAD_MILLIS",
        "INITIALIZATION_TYPE_ENV",
        "MANAGED_INSTANCES",
        "MAX_MEMORY_MB",
        "MEMORY_SIZE_ENV",
        "RUNTIME_API_ENV",
        "SDK_DISABLED_ENV",
        "SIGTERM_BUDGET_MILLIS",
        "SNAP_START",
        "LambdaEnvironment",
        "coordinator_environment",
        "lambda_environment",
        "lambda_function_environment",
        "load_lambda_environment",
        "memory_size_mb",
        "parse_runtime_api",
        "_warned",  # the warn-once memory, which tests clear
    ),
    "otlp.settings": (
        "DEFAULT_OTLP_TIMEOUT_SECONDS",
        "MAX_OTLP_TIMEOUT_SECONDS",
        "OTLP_TIMEOUT_ENVS",
        "otlp_timeout_seconds",
    ),
}


def __getattr__(name: str) -> Any:
    for module, names in _MOVED_OUT.items():
        if name in names:
            from importlib import import_module

            return getattr(import_module(f"otel_lambda_processor.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
