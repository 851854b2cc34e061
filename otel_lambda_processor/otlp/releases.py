"""Which OpenTelemetry releases the fast path was tested against.

Outside them the encoder reads spans through the public API only: correct everywhere, fast where
it was checked. The versions come from the packages' own ``version`` modules, which cost nothing
to import (``importlib.metadata`` costs tens of milliseconds of cold start).
"""

from __future__ import annotations

import functools
from importlib import import_module

# (major, minor) releases the fast path is tested against (tox: otel-lowest, otel-highest).
TESTED_RELEASES = ((1, 45), (1, 45))
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
def untested_releases() -> tuple[str, ...]:
    """The installed OpenTelemetry distributions outside ``TESTED_RELEASES``, as name==version."""
    low, high = TESTED_RELEASES
    outside = []
    for name, module in _VERSION_MODULES.items():
        version = _version(module)
        release = _release(version)
        if release is None or not low <= release <= high:
            outside.append(f"{name}=={version}")
    return tuple(outside)
