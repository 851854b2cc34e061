"""The OTLP/HTTP exporters' configuration, resolved as the official exporters resolve it.

Constructor arguments first, then the signal's own ``OTEL_EXPORTER_OTLP_TRACES_*`` (``LOGS``,
``METRICS``), then ``OTEL_EXPORTER_OTLP_*``, then the defaults; the same warnings for the same bad
values. Resolving imports nothing heavy:
the HTTP client and the encoder load at the first export.

Owns the exporters' configuration, the timeout included; must not build or import a client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..environment import warn_once

# The official exporter's logger: its configuration warnings keep their usual source.
_official_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.http._common")

DEFAULT_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "v1/traces"
DEFAULT_MAX_REQUEST_SIZE = 64 * 1024 * 1024
COMPRESSIONS = ("none", "deflate", "gzip")
#: The signals, as they appear in variable names, and their paths.
PATHS = {"TRACES": TRACES_PATH, "LOGS": "v1/logs", "METRICS": "v1/metrics"}


def credential_provider_envs(signal: str = "TRACES") -> tuple[str, str]:
    """Set (to a credential provider's name), these make the official exporter build a
    ``requests`` session; ours then hands everything to the official exporter."""
    return (
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
        f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal}_CREDENTIAL_PROVIDER",
    )


CREDENTIAL_PROVIDER_ENVS = credential_provider_envs("TRACES")


# -- the timeout (the official exporter takes any float, and then fails) ---------------------
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


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


class ExporterSettings(NamedTuple):
    """Everything the exporter needs to send a batch, already resolved."""

    endpoint: str
    headers: dict[str, str]
    timeout: float
    compression: str  # one of COMPRESSIONS
    #: ``True`` (system CAs), ``False`` (no verification) or a CA bundle's path.
    verify: bool | str
    #: A client certificate's path, or ``(certificate, key)`` paths, or ``None``.
    cert: str | tuple[str, str] | None
    max_request_size: int


def compression_name(value: Any) -> str | None:
    """An argument's compression (the official enums or their names), ``None`` if not given."""
    if value is None:
        return None
    raw = getattr(value, "value", value)
    if isinstance(raw, str) and raw.strip().lower() in COMPRESSIONS:
        return raw.strip().lower()
    return None


def resolve(
    env: Mapping[str, str],
    *,
    endpoint: str | None = None,
    certificate_file: str | None = None,
    client_key_file: str | None = None,
    client_certificate_file: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    compression: Any = None,
    max_request_size: int | None = None,
    user_agent: str,
    signal: str = "TRACES",
    quiet: bool = False,
) -> ExporterSettings:
    """Resolve the settings from the arguments and ``env`` as the official exporter of
    ``signal`` (``TRACES``, ``LOGS`` or ``METRICS``) does.

    ``quiet``: the official exporter will be built from the same configuration and say what is
    wrong with it: no warnings here, and no headers (only the official exporter sends).
    """
    if not endpoint:
        endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or None
    if not endpoint:
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
        endpoint = f"{base.removesuffix('/')}/{PATHS[signal]}"
    return ExporterSettings(
        endpoint=endpoint,
        headers={} if quiet else _headers(env, headers, user_agent, signal),
        timeout=_timeout(env, timeout, signal, quiet),
        compression=compression_name(compression) or _compression(env, signal, quiet),
        verify=certificate_file
        or _first(env, f"OTEL_EXPORTER_OTLP_{signal}_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
        or True,
        cert=_client_cert(env, client_key_file, client_certificate_file, signal),
        max_request_size=DEFAULT_MAX_REQUEST_SIZE if max_request_size is None else max_request_size,
    )


def _headers(
    env: Mapping[str, str], explicit: Mapping[str, str] | None, user_agent: str, signal: str
) -> dict[str, str]:
    from opentelemetry.util.re import parse_env_headers  # the official parser: same warnings

    resolved = {"content-type": "application/x-protobuf", "user-agent": user_agent}
    raw = _first(env, f"OTEL_EXPORTER_OTLP_{signal}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") or ""
    resolved.update(parse_env_headers(raw, liberal=True))
    if explicit:
        resolved.update({key.lower(): value for key, value in explicit.items()})
    return resolved


def _timeout(env: Mapping[str, str], explicit: float | None, signal: str, quiet: bool) -> float:
    names = (f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    usable = otlp_timeout_seconds(env, explicit, names)  # ours: 0, inf, nan... warned, replaced
    if usable is not None:
        return usable
    if explicit is not None:
        return float(explicit)
    raw = _first(env, *names)
    if raw is None:
        return DEFAULT_OTLP_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        if not quiet:
            _official_logger.warning(
                "Invalid timeout value %r, using default of %s seconds", raw, 10
            )
        return DEFAULT_OTLP_TIMEOUT_SECONDS
    return value if math.isfinite(value) else DEFAULT_OTLP_TIMEOUT_SECONDS


def _compression(env: Mapping[str, str], signal: str, quiet: bool) -> str:
    raw = _first(env, f"OTEL_EXPORTER_OTLP_{signal}_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    value = (raw or "none").lower().strip()
    if value not in COMPRESSIONS:
        if not quiet:
            _official_logger.warning("Unsupported compression type: %s", value)
        return "none"
    return value


def _client_cert(
    env: Mapping[str, str], key_file: str | None, certificate_file: str | None, signal: str
) -> str | tuple[str, str] | None:
    key = key_file or _first(
        env, f"OTEL_EXPORTER_OTLP_{signal}_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"
    )
    certificate = certificate_file or _first(
        env,
        f"OTEL_EXPORTER_OTLP_{signal}_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    )
    if certificate and key:
        return (certificate, key)
    return certificate or None
