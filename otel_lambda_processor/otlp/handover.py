"""When the lean exporters hand over to the official one, and how it is built then.

The reasons, each an INFO line's arguments: an OpenTelemetry without the protobuf-free HTTP
client or outside the tested releases, a ``requests`` session (argument or credential provider),
an argument the lean path does not know. The official exporter is then built from what was given,
less what the installed release does not take (one warning each).

Owns the hand-over's reasons and the official exporter's construction; must not encode nor send
(:mod:`.exporter`, :mod:`.sending`) nor import anything of the package above
:mod:`..environment`. The facts about the installed releases come in as arguments: the exporter
reads them, where tests replace them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .releases import TESTED_RELEASES
from .sending import Signal
from .settings import credential_provider_envs


def release_reason(
    name: str, client_installed: bool, untested: Sequence[str]
) -> tuple[Any, ...] | None:
    """Why the installed OpenTelemetry cannot take the lean path (``client_installed``: the
    HTTP client is there; ``untested``: the distributions outside the tested releases), or
    ``None``."""
    if not client_installed:
        return (
            "%s: opentelemetry-exporter-otlp-common is not installed (it comes with "
            "opentelemetry-exporter-otlp-proto-http 1.45 and newer); using the official exporter",
            name,
        )
    if untested:
        return (
            "%s: %s outside the tested releases %s; using the official exporter",
            name,
            ", ".join(untested),
            TESTED_RELEASES,
        )
    return None


def hand_over_reason(
    signal: Signal,
    release: tuple[Any, ...] | None,
    session: Any,
    official_only: dict[str, Any],
    hand_over: tuple[str, ...],
    others: dict[str, Any],
) -> tuple[Any, ...] | None:
    """Why the official exporter is to do everything (an INFO line's arguments), or ``None``;
    ``release`` is :func:`release_reason`'s answer for this signal."""
    if release is not None:
        return release
    name = signal.say
    if session is not None or any(os.environ.get(n) for n in credential_provider_envs(signal.env)):
        return ("%s: a requests session is configured; using the official one", name)
    given = [*others, *(key for key in hand_over if official_only.get(key) is not None)]
    if given:
        return ("%s: %s given; using the official exporter", name, ", ".join(given))
    return None


def _unknown_arguments(official: type, given: dict[str, Any]) -> list[str]:
    """The keys of ``given`` that the official exporter's constructor does not take."""
    import inspect

    try:
        parameters = inspect.signature(official).parameters
    except (TypeError, ValueError):  # pragma: no cover - a constructor without a signature
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return []
    return [key for key in given if key not in parameters]


def _official_release() -> str:
    from .releases import _version

    return _version("opentelemetry.exporter.otlp.proto.http.version")


def build_official(signal: Signal, arguments: dict[str, Any], others: Sequence[str]) -> Any:
    """The official exporter of ``signal``, imported now, built from the ``arguments`` given
    (not ``None``) that the installed release takes; ``others`` (arguments nobody knows) stay,
    for it to refuse as it does."""
    from importlib import import_module

    official = getattr(import_module(signal.official_module), signal.official_class)
    # Before 1.45 the official exporters know neither max_request_size nor meter_provider (nor,
    # for metrics, max_export_batch_size); all their arguments are optional.
    given = {key: value for key, value in arguments.items() if value is not None}
    unknown = [key for key in _unknown_arguments(official, given) if key not in others]
    for key in unknown:
        signal.logger.warning(
            "%s: %s is not supported by the installed opentelemetry-exporter-otlp-proto-http "
            "(%s); ignored",
            signal.say,
            key,
            _official_release(),
        )
        del given[key]
    return official(**given)
