"""Zero-code setup: the SDK configurator of ``opentelemetry-instrument``, Lambda edition.

It builds the SDK as ``opentelemetry-instrument`` always does, but exports through a
:class:`LambdaSpanProcessor` instead of a BatchSpanProcessor, and where the official OTLP/HTTP
span exporter was chosen, through our drop-in for it (:mod:`otel_lambda_processor.otlp`).

Select it with ``OTEL_PYTHON_CONFIGURATOR=otel_lambda_processor``. Everything else still comes
from the standard ``OTEL_*`` variables (exporters, sampler, propagators, resource); the Lambda
resource attributes are added where those variables do not set them.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.resources import OTELResourceDetector

from .config import lambda_function_environment
from .processor import LambdaSpanProcessor
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


def _lambda_processor(exporter_args_map: Any, exporter: Any) -> LambdaSpanProcessor:
    """The exporting processor for one configured exporter.

    The SDK has already built the exporter; the official OTLP/HTTP one is swapped for our
    drop-in, built from the same arguments and the same ``OTEL_EXPORTER_OTLP_*`` variables.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if type(exporter) is OTLPSpanExporter:
        from .otlp import OTLPSpanExporter as FastExporter

        exporter.shutdown()  # type: ignore[no-untyped-call]
        exporter = FastExporter(**exporter_args_map.get(OTLPSpanExporter, {}))
    return LambdaSpanProcessor(exporter)


class LambdaConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator, with ``LambdaSpanProcessor`` as the exporting processor."""

    def _configure(self, **kwargs: Any) -> None:
        args_map = kwargs.get("exporter_args_map") or {}
        kwargs.setdefault("export_span_processor", functools.partial(_lambda_processor, args_map))
        resource = {**_resource_defaults(), **(kwargs.get("resource_attributes") or {})}
        kwargs["resource_attributes"] = resource
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
