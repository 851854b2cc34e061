"""``traced_handler``: one invocation span per call, described from its trigger; then "done".

The wrapper returns exactly what the handler returns and raises exactly what it raises. Its own
problems (a malformed event, an extractor that raises) are logged at debug level and never
reach the caller: the handler then simply runs untraced.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, overload

from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .config import lambda_function_environment
from .signals import handler_done
from .triggers import OTHER, TriggerSpan, describe, status_code, xray_span_context

_logger = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Any])
SCOPE = "otel_lambda_processor"
DEFAULT_MAX_LINKS = 128


class AttributesExtractor(Protocol):
    """Describe a custom event: return a :class:`TriggerSpan`, or ``None`` for the built-in
    recognition. Called once per invocation with the handler's own arguments."""

    def __call__(self, event: Any, context: Any) -> TriggerSpan | None: ...


class _LowerCaseGetter(Getter[Mapping[str, str]]):
    """Header names are case-insensitive; API Gateway v2 and ALB lower-case them, v1 does not."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        # Exact first: some propagators (X-Ray's Lambda one) pass carriers of their own.
        value = carrier.get(key)
        if value is None:
            value = carrier.get(key.lower())
        return [value] if value is not None else None

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _LowerCaseGetter()


class _ColdStart:
    """``faas.coldstart``: true once per process, never under provisioned concurrency, and again
    after a SnapStart restore."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cold = True
        self._hooked = False

    def take(self, initialization_type: str) -> bool:
        with self._lock:
            if not self._hooked:
                self._hooked = True
                if initialization_type == "snap-start":
                    self._hook_restore()
            cold, self._cold = self._cold, False
        return cold and initialization_type != "provisioned-concurrency"

    def _hook_restore(self) -> None:
        try:
            from snapshot_restore_py import register_after_restore
        except ImportError:
            return
        register_after_restore(self.restored)

    def restored(self) -> None:
        with self._lock:
            self._cold = True


COLD_START = _ColdStart()


def _max_links() -> int:
    try:
        from opentelemetry.sdk.trace import SpanLimits

        limit = SpanLimits().max_links
    except Exception:
        return DEFAULT_MAX_LINKS
    return limit if isinstance(limit, int) and limit >= 0 else DEFAULT_MAX_LINKS


def _function_attributes(context: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        attributes["faas.invocation_id"] = request_id
    arn = getattr(context, "invoked_function_arn", None)
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":")
        version = getattr(context, "function_version", None)
        if len(parts) == 8 and isinstance(version, str) and version:
            parts[7] = version  # an alias becomes the version that actually ran
        attributes["cloud.resource_id"] = ":".join(parts)
        if len(parts) > 4 and parts[4]:
            attributes["cloud.account.id"] = parts[4]
    return attributes


def _parent(headers: Mapping[str, str] | None, xray_lambda: bool) -> Context:
    """The parent context: the event's headers first, then X-Ray if configured, never Sampled=0."""
    carrier = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    context = propagate.extract(carrier, getter=_GETTER)
    if not xray_lambda:
        return context
    found = trace.get_current_span(context).get_span_context()
    if not found.is_valid:
        return context
    # Lambda updates this variable for every invocation: read it now.
    from_env = xray_span_context(lambda_function_environment().get("_X_AMZN_TRACE_ID"))
    if (
        from_env is not None
        and from_env.trace_id == found.trace_id
        and not from_env.trace_flags.sampled
    ):
        # Lambda sets Sampled=0 for every function without active tracing: obeying it would
        # drop every trace. Keep the rest of the context (baggage), not the parent.
        return trace.set_span_in_context(trace.INVALID_SPAN, context)
    return context


class _Traced:
    def __init__(
        self,
        handler: Callable[..., Any],
        name: str | None,
        extractor: AttributesExtractor | None,
        tracer_provider: trace.TracerProvider | None,
    ) -> None:
        self._handler = handler
        self._name = name
        self._extractor = extractor
        self._provider = tracer_provider
        # What does not change between invocations is read once, at decoration.
        env = lambda_function_environment()
        self._initialization_type = env.get("AWS_LAMBDA_INITIALIZATION_TYPE", "")
        self._function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        propagators = {p.strip() for p in env.get("OTEL_PROPAGATORS", "").split(",")}
        self._xray_lambda = "xray-lambda" in propagators
        self._tracer_source: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None

    def __call__(self, event: Any, context: Any) -> Any:
        request_id = getattr(context, "aws_request_id", None)
        started = None
        try:
            started = self._start(event, context)
        except Exception:
            _logger.debug("could not start the invocation span", exc_info=True)
        try:
            if started is None:
                return self._handler(event, context)
            span, token, trigger = started
            try:
                result = self._handler(event, context)
            except BaseException as error:
                _safely(_record_error, span, error)
                raise
            finally:
                _safely(detach, token)
            if trigger.http:
                _safely(_record_response, span, result)
            return result
        finally:
            if started is not None:
                _safely(started[0].end)
            handler_done(request_id if isinstance(request_id, str) else None)

    def _get_tracer(self) -> trace.Tracer:
        provider = self._provider or trace.get_tracer_provider()
        if self._tracer is None or provider is not self._tracer_source:
            self._tracer_source, self._tracer = provider, provider.get_tracer(SCOPE)
        return self._tracer

    def _start(self, event: Any, context: Any) -> tuple[Span, object, TriggerSpan]:
        trigger = None
        if self._extractor is not None:
            try:
                trigger = self._extractor(event, context)
            except Exception:
                _logger.debug("the attributes extractor raised; using the built-in", exc_info=True)
        if not isinstance(trigger, TriggerSpan):
            trigger = describe(event, max_links=_max_links)
        attributes: dict[str, Any] = {
            "faas.trigger": trigger.trigger or OTHER,
            "faas.coldstart": COLD_START.take(self._initialization_type),
        }
        attributes.update(_function_attributes(context))
        attributes.update(trigger.attributes)
        function_name = (
            getattr(context, "function_name", None)
            or self._function_name
            or getattr(self._handler, "__name__", "handler")
        )
        parent = _parent(trigger.headers, self._xray_lambda)
        span = self._get_tracer().start_span(
            self._name or trigger.name or str(function_name),
            context=parent,
            kind=trigger.kind or SpanKind.SERVER,
            attributes=attributes,
            links=list(trigger.links),
        )
        token = attach(trace.set_span_in_context(span, parent))
        return span, token, trigger


def _record_error(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_attribute("error.type", f"{type(error).__module__}.{type(error).__qualname__}")
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def _record_response(span: Span, result: Any) -> None:
    code = status_code(result)
    if code is None:
        return
    span.set_attribute("http.response.status_code", code)
    if code >= 500:
        span.set_attribute("error.type", str(code))
        span.set_status(Status(StatusCode.ERROR))


def _safely(function: Callable[..., Any], *args: Any) -> None:
    try:
        function(*args)
    except Exception:
        _logger.debug(
            "telemetry step %s failed", getattr(function, "__name__", function), exc_info=True
        )


@overload
def traced_handler(handler: Handler) -> Handler: ...


@overload
def traced_handler(
    handler: None = None,
    *,
    name: str | None = None,
    attributes_extractor: AttributesExtractor | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Callable[[Handler], Handler]: ...


def traced_handler(
    handler: Handler | None = None,
    *,
    name: str | None = None,
    attributes_extractor: AttributesExtractor | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Handler | Callable[[Handler], Handler]:
    """Trace a Lambda handler: ``@traced_handler`` or ``@traced_handler(name=..., ...)``.

    Each call gets one span named and described from the trigger (API Gateway, function URLs,
    ALB, SQS, SNS, EventBridge, S3, DynamoDB, Kinesis, schedules), parented on the context in the
    event's headers, ended before :func:`handler_done` is signalled.
    """

    def decorate(function: Handler) -> Handler:
        traced = _Traced(function, name, attributes_extractor, tracer_provider)

        @functools.wraps(function)
        def wrapper(event: Any, context: Any) -> Any:
            return traced(event, context)

        return wrapper  # type: ignore[return-value]

    if handler is not None:
        return decorate(handler)
    return decorate
