"""Where the process runs, read from its environment: Lambda's variables and limits, whether the
SDK is disabled, and the one warning per bad value that every setting of the package gives.

Owns reading ``AWS_LAMBDA_*``, ``AWS_EXECUTION_ENV``, ``_X_AMZN_TRACE_ID`` and
``OTEL_SDK_DISABLED``, and the warn-once rule; must not import OpenTelemetry, start a thread or
open a connection: it is imported at package init, inside Lambda or not.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping

from .signals import Record, field

#: When the package was imported (epoch ns): at the latest, the process start (the cold start
#: uses it where the operating system cannot tell).
IMPORTED_NS = time.time_ns()

# Its name from before the layout by layer, when this lived in ``config``: users configure it.
_logger = logging.getLogger("otel_lambda_processor.config")

SDK_DISABLED_ENV = "OTEL_SDK_DISABLED"

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


def parse_decimal(raw: str) -> int | None:
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


def sdk_disabled(env: Mapping[str, str]) -> bool:
    """``OTEL_SDK_DISABLED`` as the SDK reads it: only ``true`` (any case) disables."""
    return env.get(SDK_DISABLED_ENV, "").strip().lower() == "true"


# -- the Lambda environment (read by the coordinator, the handler and the resource) -----------

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
    value = parse_decimal(raw)
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
