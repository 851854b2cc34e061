"""Zero-code setup: the SDK configurator of ``opentelemetry-instrument``, Lambda edition.

It builds the SDK as ``opentelemetry-instrument`` always does, but exports spans through a
:class:`LambdaSpanProcessor` instead of a BatchSpanProcessor, log records through a
:class:`LambdaLogRecordProcessor` and metrics through a :class:`LambdaMetricReader` instead of the
periodic reader; where an official OTLP/HTTP exporter was chosen, through our drop-in for it
(:mod:`otel_lambda_processor.otlp`). ``OTEL_TRACES_EXPORTER``, ``OTEL_LOGS_EXPORTER`` and
``OTEL_METRICS_EXPORTER`` choose the exporters, ``none`` none; the SDK's ``LoggingHandler`` goes on
the root logger with ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``, as the SDK does.

Select it with ``OTEL_PYTHON_CONFIGURATOR=otel_lambda_processor``. Everything else still comes
from the standard ``OTEL_*`` variables (exporters, sampler, propagators, resource); the Lambda
resource attributes are added where those variables do not set them.

Owns which processors and exporters zero-code setup builds; must not change how a processor
or an exporter works: it only builds them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk import _configuration
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.resources import OTELResourceDetector

from ..environment import lambda_function_environment
from ..processors.spans import LambdaSpanProcessor
from .resource import lambda_attributes


def _resource_defaults() -> dict[str, Any]:
    """Lambda's attributes, minus any the user set through OTEL_RESOURCE_ATTRIBUTES/SERVICE_NAME.

    The SDK lets attributes passed by a configurator override those variables, so only what
    they leave unset is passed.
    """
    attributes: dict[str, Any] = dict(lambda_attributes(lambda_function_environment()))
    if "faas.name" in attributes:
        attributes["service.name"] = attributes["faas.name"]
    user = set(OTELResourceDetector().detect().attributes)
    if os.environ.get("OTEL_SERVICE_NAME"):
        user.add("service.name")
    return {k: v for k, v in attributes.items() if k not in user}


_logger = logging.getLogger("otel_lambda_processor.configurator")  # named as before the layout


def _lean(exporter_args_map: Any, exporter: Any, official: type, ours: str) -> Any:
    """``exporter``, or our drop-in when it is the official OTLP/HTTP one.

    The SDK has already built it; ours is built from the same arguments and the same
    ``OTEL_EXPORTER_OTLP_*`` variables.
    """
    if type(exporter) is not official:
        return exporter
    from .. import otlp

    built: Any = exporter
    built.shutdown()
    return getattr(otlp, ours)(**exporter_args_map.get(official, {}))


def _lambda_processor(exporter_args_map: Any, exporter: Any) -> LambdaSpanProcessor:
    """The exporting span processor for one configured exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return LambdaSpanProcessor(
        _lean(exporter_args_map, exporter, OTLPSpanExporter, "OTLPSpanExporter")
    )


def _lambda_log_processor(exporter_args_map: Any, exporter: Any) -> Any:
    """The exporting log record processor for one configured exporter."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    from ..processors.logs import LambdaLogRecordProcessor

    return LambdaLogRecordProcessor(
        _lean(exporter_args_map, exporter, OTLPLogExporter, "OTLPLogExporter")
    )


def _reader_class(exporter_class: type) -> type:
    """A ``LambdaMetricReader`` class that the SDK builds, as it builds readers, from the
    exporter's arguments."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    from ..processors.metrics import LambdaMetricReader

    class ConfiguredLambdaMetricReader(LambdaMetricReader):
        def __init__(self, **exporter_args: Any) -> None:
            exporter = exporter_class(**exporter_args)
            if exporter_class is OTLPMetricExporter:
                exporter = _lean(
                    {exporter_class: exporter_args}, exporter, exporter_class, "OTLPMetricExporter"
                )
            super().__init__(exporter)

    return ConfiguredLambdaMetricReader


#: Held while the SDK's private functions are wrapped (one configuration at a time).
_swap_lock = threading.Lock()


@contextlib.contextmanager
def _lambda_metric_readers() -> Iterator[None]:
    """While the SDK configures: metric exporters read by a ``LambdaMetricReader``, not by the
    periodic reader. The SDK offers no hook for the reader; this wraps its ``_init_metrics``
    (and, should that ever be gone, leaves the SDK's own readers with a warning)."""
    from opentelemetry.sdk.metrics.export import MetricReader

    original = getattr(_configuration, "_init_metrics", None)
    if original is None:
        _logger.warning("this SDK has no _init_metrics: metrics use its periodic reader")
        yield
        return

    takes_args_map = _accepts(original, "exporter_args_map")

    def init_metrics(exporters_or_readers: dict[str, type], *args: Any, **kwargs: Any) -> Any:
        args_map = dict(kwargs.get("exporter_args_map") or {})
        swapped: dict[str, type] = {}
        for name, cls in exporters_or_readers.items():
            if isinstance(cls, type) and not issubclass(cls, MetricReader):
                reader = _reader_class(cls)
                args_map[reader] = args_map.get(cls, {})
                cls = reader
            swapped[name] = cls
        if takes_args_map:  # OpenTelemetry 1.37 and newer
            kwargs["exporter_args_map"] = args_map
        return original(swapped, *args, **kwargs)

    _configuration._init_metrics = init_metrics
    try:
        yield
    finally:
        _configuration._init_metrics = original


def _accepts(function: Any, name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name`` (the SDK's grew over releases)."""
    import inspect

    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def _batch_processors_replaced(args_map: Any) -> Iterator[None]:
    """While the SDK configures: before OpenTelemetry 1.40 it has no hook for the exporting
    processors, and builds a ``BatchSpanProcessor`` / ``BatchLogRecordProcessor`` by those names
    in its configuration module: there they name ours."""
    replacements = {
        "BatchSpanProcessor": functools.partial(_lambda_processor, args_map),
        "BatchLogRecordProcessor": functools.partial(_lambda_log_processor, args_map),
    }
    saved = {name: getattr(_configuration, name) for name in replacements}
    for name, replacement in replacements.items():
        setattr(_configuration, name, replacement)
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(_configuration, name, original)


def _grpc_installed() -> bool:
    from importlib.util import find_spec

    try:
        return find_spec("opentelemetry.exporter.otlp.proto.grpc") is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _otlp_means_http() -> Iterator[None]:
    """While the SDK configures: ``otlp`` with no protocol set means OTLP/HTTP when the gRPC
    exporter is not installed (the OpenTelemetry default protocol, and the exporter this package
    brings), instead of failing to find ``otlp_proto_grpc``."""
    original = getattr(_configuration, "_get_exporter_entry_point", None)
    if original is None or _grpc_installed():
        yield
        return

    def entry_point(exporter_name: str, signal_type: Any) -> Any:
        protocols = ("OTEL_EXPORTER_OTLP_PROTOCOL", f"OTEL_EXPORTER_OTLP_{signal_type}_PROTOCOL")
        if exporter_name.strip() == "otlp" and not any(
            os.environ.get(name.upper()) for name in protocols
        ):
            return "otlp_proto_http"
        return original(exporter_name, signal_type)

    _configuration._get_exporter_entry_point = entry_point
    try:
        yield
    finally:
        _configuration._get_exporter_entry_point = original


class LambdaConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator, with our processors and reader doing the exporting."""

    def _configure(self, **kwargs: Any) -> None:
        args_map = kwargs.get("exporter_args_map") or {}
        hooks = _accepts(_configuration._initialize_components, "export_span_processor")
        if hooks:  # OpenTelemetry 1.40 and newer
            kwargs.setdefault(
                "export_span_processor", functools.partial(_lambda_processor, args_map)
            )
            kwargs.setdefault(
                "export_log_record_processor", functools.partial(_lambda_log_processor, args_map)
            )
        resource = {**_resource_defaults(), **(kwargs.get("resource_attributes") or {})}
        kwargs["resource_attributes"] = resource
        replaced = contextlib.nullcontext() if hooks else _batch_processors_replaced(args_map)
        with _swap_lock, _lambda_metric_readers(), _otlp_means_http(), replaced:
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]
