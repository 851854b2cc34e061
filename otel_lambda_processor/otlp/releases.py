"""Which OpenTelemetry releases the fast path was tested against.

Outside them the encoder reads spans through the public API only and the exporter leaves every
batch to the official exporter: correct everywhere, fast where it was checked.
"""

from __future__ import annotations

import functools
from importlib import metadata

# (major, minor) releases the fast path is tested against (tox: otel-lowest, otel-highest).
TESTED_RELEASES = ((1, 45), (1, 45))
_DISTRIBUTIONS = (
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-common",
    "opentelemetry-exporter-otlp-proto-http",
)


def _release(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


@functools.cache
def untested_releases() -> tuple[str, ...]:
    """The installed OpenTelemetry distributions outside ``TESTED_RELEASES``, as name==version."""
    low, high = TESTED_RELEASES
    outside = []
    for name in _DISTRIBUTIONS:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "missing"
        release = _release(version)
        if release is None or not low <= release <= high:
            outside.append(f"{name}=={version}")
    return tuple(outside)
