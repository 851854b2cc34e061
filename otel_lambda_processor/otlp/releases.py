"""Which OpenTelemetry releases the fast path was tested against, and whether the lean
exporters' HTTP client is installed.

Outside the tested releases the encoders read through the public API only and the exporters hand
over to the official ones: correct everywhere, fast where it was checked. The versions come from
the packages' own ``version`` modules, which cost nothing to import (``importlib.metadata`` costs
tens of milliseconds of cold start).
"""

from __future__ import annotations

import functools
from importlib import import_module

# The (major, minor) releases the encoders' and exporters' differential tests run against (tox:
# otel-highest, and the whole suite on the newest). The lean path needs the HTTP client of 1.45
# and newer, so before 1.45 the official exporters do the work (tox: otel-lowest, otel-middle).
TESTED_RELEASES = ((1, 45),)
#: The protobuf-free OTLP HTTP client the lean exporters send through: it comes with
#: ``opentelemetry-exporter-otlp-proto-http`` 1.45 and newer (and requires SDK 1.45.1 or newer).
HTTP_CLIENT_MODULE = "opentelemetry.exporter.otlp.common.http"
_VERSION_MODULES = {
    "opentelemetry-sdk": "opentelemetry.sdk.version",
    "opentelemetry-exporter-otlp-proto-common": "opentelemetry.exporter.otlp.proto.common.version",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry.exporter.otlp.proto.http.version",
}


def _release(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def _version(module: str) -> str:
    try:
        value = getattr(import_module(module), "__version__", None)
    except ImportError:
        return "missing"
    return value if isinstance(value, str) else "unknown"


@functools.cache
def official_encoder_release() -> tuple[int, int] | None:
    """The (major, minor) of ``opentelemetry-exporter-otlp-proto-common``, whose encoders ours
    match byte for byte; ``None`` when it is missing or its version unreadable."""
    return _release(_version(_VERSION_MODULES["opentelemetry-exporter-otlp-proto-common"]))


@functools.cache
def untested_releases() -> tuple[str, ...]:
    """The installed OpenTelemetry distributions outside ``TESTED_RELEASES``, as name==version."""
    outside = []
    for name, module in _VERSION_MODULES.items():
        version = _version(module)
        if _release(version) not in TESTED_RELEASES:
            outside.append(f"{name}=={version}")
    return tuple(outside)


@functools.cache
def http_client_installed() -> bool:
    """Whether ``opentelemetry-exporter-otlp-common`` is there (found, not imported)."""
    from importlib.util import find_spec

    try:
        return find_spec(HTTP_CLIENT_MODULE) is not None
    except (ImportError, ValueError):
        return False
