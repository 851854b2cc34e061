"""The handler the layer's ``otel-lambda-wrapper`` gives Lambda, so that a function with no
OpenTelemetry code is traced: ``OTEL_*`` defaults, the SDK from our zero-code configurator, then
the handler named by ``ORIG_HANDLER`` served through ``traced_handler``.

Owns the ``_HANDLER`` entry point (public path ``otel_lambda_processor.lambda_wrapper``) and its
defaults; must not trace (:mod:`.handler`) nor build the SDK its own way (:mod:`.configurator`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from importlib import import_module
from typing import Any

_logger = logging.getLogger("otel_lambda_processor.lambda_wrapper")  # named as before the layout

#: Where the wrapper script keeps the function's own handler (the OpenTelemetry layer's name).
ORIG_HANDLER_ENV = "ORIG_HANDLER"
#: What the wrapper script sets ``_HANDLER`` to: this module's public path (the old, flat one,
#: which deployed functions' environments hold), and the path it has in the package.
WRAPPER_HANDLER = "otel_lambda_processor.lambda_wrapper.handler"
_WRAPPER_HANDLERS = (WRAPPER_HANDLER, f"{__name__}.handler")
#: The configurator's entry point name (``OTEL_PYTHON_CONFIGURATOR``).
CONFIGURATOR = "otel_lambda_processor"

#: Set where the user left them unset or empty. Traces go to OTLP (over HTTP: the configurator's
#: reading of ``otlp`` when gRPC is not installed); logs and metrics only when asked for.
DEFAULTS = {
    "OTEL_PYTHON_CONFIGURATOR": CONFIGURATOR,
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "async",
}


class HandlerError(Exception):
    """``ORIG_HANDLER`` is missing or names nothing that can be called. The runtime reports it as
    the function's init error, with this message."""


def apply_defaults(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Fill in :data:`DEFAULTS` and ``OTEL_SERVICE_NAME`` (the function's name) where unset.

    The service name is left alone when ``OTEL_RESOURCE_ATTRIBUTES`` names one, which
    ``OTEL_SERVICE_NAME`` would override. Returns what was set.
    """
    applied: dict[str, str] = {}
    for name, value in DEFAULTS.items():
        if not environ.get(name, "").strip():
            environ[name] = applied[name] = value
    function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip()
    resource_keys = {
        pair.partition("=")[0].strip()
        for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    }
    if (
        function_name
        and not environ.get("OTEL_SERVICE_NAME", "").strip()
        and "service.name" not in resource_keys
    ):
        environ["OTEL_SERVICE_NAME"] = applied["OTEL_SERVICE_NAME"] = function_name
    return applied


def resolve_handler(name: str) -> Callable[..., Any]:
    """Import the handler ``name`` as Lambda's runtime client does: ``module.function``, where the
    module may be a dotted path or a folder path with ``/`` (``src/orders/app.handler``).

    Errors in the function's own module (``ImportError``, ``SyntaxError``, whatever its code
    raises) propagate unchanged; a malformed name or a missing function raise
    :class:`HandlerError`.
    """
    module_name, _, function_name = name.strip().rpartition(".")
    module_name = module_name.replace("/", ".").strip(".")
    if not module_name or not function_name:
        raise HandlerError(f"Bad handler {name!r}: expected module.function (e.g. app.handler)")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise HandlerError(f"Cannot use built-in module {module_name!r} as a handler module")
    try:
        module = import_module(module_name)
    except AttributeError as error:  # the runtime would take it for a missing ``handler``
        raise HandlerError(f"Importing {module_name!r} raised AttributeError: {error}") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerError(f"Handler {function_name!r} missing on module {module_name!r}")
    return function  # type: ignore[no-any-return]


def _configure() -> None:
    """Build the SDK as ``opentelemetry-instrument`` would with ``OTEL_PYTHON_CONFIGURATOR``:
    ours directly (no entry point scan), another one by its entry point."""
    name = os.environ.get("OTEL_PYTHON_CONFIGURATOR", "").strip() or CONFIGURATOR
    if name != CONFIGURATOR:
        from importlib.metadata import entry_points

        found = list(entry_points(group="opentelemetry_configurator", name=name))
        if found:
            found[0].load()().configure()
            return
        _logger.warning(
            "OTEL_PYTHON_CONFIGURATOR=%s: no such configurator is installed; using %s",
            name,
            CONFIGURATOR,
        )
    from .configurator import LambdaConfigurator

    configurator: Any = LambdaConfigurator  # the SDK's base class is untyped
    configurator().configure()


def _tracing() -> Callable[[Callable[..., Any]], Callable[..., Any]] | None:
    """Set up OpenTelemetry; ``traced_handler``, or ``None`` when it is disabled or failed.

    Telemetry never stops a function: a failure is logged and the handler runs untraced.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    try:
        _configure()
        from .handler import traced_handler

        return traced_handler
    except Exception:
        _logger.exception("OpenTelemetry set-up failed: the function runs without it")
        return None


def load() -> Callable[..., Any]:
    """The function's handler named by ``ORIG_HANDLER``, traced: what ``handler`` is."""
    name = os.environ.get(ORIG_HANDLER_ENV, "").strip()
    if not name:
        raise HandlerError(
            f"{ORIG_HANDLER_ENV} is not set: run the function with "
            "AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-lambda-wrapper, or set "
            f"{ORIG_HANDLER_ENV} to its handler (module.function)"
        )
    if name in _WRAPPER_HANDLERS:
        raise HandlerError(f"{ORIG_HANDLER_ENV} names this wrapper itself ({name})")
    apply_defaults(os.environ)
    trace = _tracing()  # before the function's module: its imports see the configured SDK
    function = resolve_handler(name)
    return trace(function) if trace is not None else function


def __getattr__(name: str) -> Any:
    # The runtime client imports this module, then asks for ``handler``: the set-up runs then,
    # during init, once; importing the module alone does nothing.
    if name != "handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    handler = load()
    globals()["handler"] = handler
    return handler
