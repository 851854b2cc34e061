"""The OpenTelemetry resource of a Lambda function, from the environment Lambda sets.

Ours rather than the AWS detector package's: that one reports ``faas.max_memory`` in MiB where
the semantic conventions say bytes, and leaves ``service.name`` as ``unknown_service``.
``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` still win over everything here.

Owns the resource attributes of the function; must not read ``os.environ`` itself
(:mod:`..environment` does) nor ask anything over the network.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource

from ..environment import lambda_function_environment, memory_size_mb

_UNKNOWN_SERVICE = "unknown_service"


def lambda_attributes(env: Mapping[str, str]) -> dict[str, str | int]:
    """``cloud.*`` and ``faas.*`` resource attributes from Lambda's variables in ``env``."""
    attributes: dict[str, str | int] = {"cloud.provider": "aws", "cloud.platform": "aws_lambda"}
    for key, variable in (
        ("cloud.region", "AWS_REGION"),
        ("faas.name", "AWS_LAMBDA_FUNCTION_NAME"),
        ("faas.version", "AWS_LAMBDA_FUNCTION_VERSION"),
        ("faas.instance", "AWS_LAMBDA_LOG_STREAM_NAME"),
    ):
        if env.get(variable):
            attributes[key] = env[variable]
    memory = memory_size_mb(env)
    if memory is not None:
        attributes["faas.max_memory"] = memory * 1024 * 1024  # bytes, not MiB
    return attributes


def lambda_resource(attributes: Mapping[str, str | int] | None = None) -> Resource:
    """The resource for a Lambda function's ``TracerProvider``.

    Precedence, lowest first: what Lambda's environment says (``service.name`` defaults to the
    function name), ``attributes``, then ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``.
    """
    env = lambda_function_environment()
    base = lambda_attributes(env)
    if "faas.name" in base:
        base["service.name"] = base["faas.name"]
    detected = Resource.create()  # the SDK defaults and the OTEL_* variables
    configured = dict(detected.attributes)
    placeholder = str(configured.get("service.name", "")).startswith(_UNKNOWN_SERVICE)
    if placeholder and "service.name" in base:
        del configured["service.name"]  # only the SDK's placeholder: keep the function name
    return Resource({**base, **(attributes or {})}).merge(Resource(configured, detected.schema_url))
