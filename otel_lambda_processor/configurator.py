"""Zero-code setup: the SDK configurator of ``opentelemetry-instrument``, Lambda edition.

It builds the SDK as ``opentelemetry-instrument`` always does, but exports through a
:class:`LambdaSpanProcessor` instead of a BatchSpanProcessor.

Select it with ``OTEL_PYTHON_CONFIGURATOR=otel_lambda_processor``. Everything else still comes
from the standard ``OTEL_*`` variables (exporters, sampler, propagators, resource); the Lambda
resource attributes are added where those variables do not set them.
"""

from __future__ import annotations

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


class LambdaConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator, with ``LambdaSpanProcessor`` as the exporting processor."""

    def _configure(self, **kwargs: Any) -> None:
        kwargs.setdefault("export_span_processor", LambdaSpanProcessor)
        resource = {**_resource_defaults(), **(kwargs.get("resource_attributes") or {})}
        kwargs["resource_attributes"] = resource
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
