"""``traced_handler``: one invocation span per call, described from its trigger; then "done".

The wrapper returns exactly what the handler returns and raises exactly what it raises. Its own
problems (a malformed or hostile event or context, an extractor that raises) are logged at debug
level and never reach the caller: the span then describes less, or the handler runs untraced.
Text copied into the span from the event, the context or an exception is cleaned first
(:func:`~.untrusted.clean_text`): a string UTF-8 cannot encode would lose the whole export batch.

Owns the invocation span and the "handler done" after it; must not export, buffer or know the
mode: it only says "handler done" through :mod:`..signals`.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from traceback import format_exception
from typing import Any, Protocol, TypeVar, overload

from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ..environment import lambda_environment, lambda_function_environment, sdk_disabled
from ..signals import handler_done
from .cold_start import COLD_START, Phase
from .triggers import OTHER, TriggerSpan, cleaned, describe, status_code
from .untrusted import clean_text, text_or_none, xray_span_context

_logger = logging.getLogger("otel_lambda_processor.handler")  # named as before the layout

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


def _max_links() -> int:
    try:
        from opentelemetry.sdk.trace import SpanLimits

        limit = SpanLimits().max_links
    except Exception:
        return DEFAULT_MAX_LINKS
    return limit if isinstance(limit, int) and limit >= 0 else DEFAULT_MAX_LINKS


def _context_text(context: Any, name: str) -> str | None:
    """A non-empty string attribute of the context, cleaned; ``None`` whatever else happens.

    The context may be a mock or a lazily built object whose properties raise anything.
    """
    try:
        value = getattr(context, name, None)
    except Exception:
        return None
    return text_or_none(value)


def _function_attributes(context: Any, request_id: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if request_id:
        attributes["faas.invocation_id"] = request_id
    arn = _context_text(context, "invoked_function_arn")
    if arn and arn.startswith("arn:"):
        parts = arn.split(":")
        if len(parts) == 8:
            version = _context_text(context, "function_version")
            if version:
                parts[7] = version  # an alias becomes the version that actually ran
        attributes["cloud.resource_id"] = ":".join(parts)
        if len(parts) > 4 and parts[4]:
            attributes["cloud.account.id"] = parts[4]
    return attributes


def _parent(headers: Mapping[str, str] | None, xray_lambda: bool) -> Context:
    """The parent context: the event's headers first, then X-Ray if configured, never Sampled=0.

    ``headers`` are lower-cased and cleaned already (:func:`describe`, :func:`cleaned`).
    """
    context = propagate.extract(headers or {}, getter=_GETTER)
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


_UNKNOWN = TriggerSpan()


class _Traced:
    """The wrapper. Around the handler's call, every step that reads the event, the context, the
    result or the error catches what it raises: telemetry can neither prevent the call nor
    change its outcome."""

    def __init__(
        self,
        handler: Callable[..., Any],
        name: str | None,
        extractor: AttributesExtractor | None,
        tracer_provider: trace.TracerProvider | None,
    ) -> None:
        self._handler = handler
        self._name = text_or_none(name)
        self._extractor = extractor
        self._provider = tracer_provider
        # What does not change between invocations is read once, at decoration.
        env = lambda_function_environment()
        lambda_env = lambda_environment()
        self._initialization_type = lambda_env.initialization_type
        self._in_lambda = lambda_env.runtime_api is not None
        COLD_START.arm(self._initialization_type)  # at init: SnapStart's restore hook
        self._default_name = (
            text_or_none(env.get("AWS_LAMBDA_FUNCTION_NAME"))
            or text_or_none(getattr(handler, "__name__", None))
            or "handler"
        )
        propagators = {p.strip() for p in env.get("OTEL_PROPAGATORS", "").split(",")}
        self._xray_lambda = "xray-lambda" in propagators
        self._tracer_source: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None
        self._links_limit: int | None = None

    def __call__(self, event: Any, context: Any) -> Any:
        request_id = _context_text(context, "aws_request_id")
        started = self._start(event, context, request_id)
        try:
            result = self._handler(event, context)
        except BaseException as error:
            if started is not None:
                _record_error(started[0], error)
            raise
        else:
            if started is not None and started[2]:
                _safely(_record_response, started[0], result)
            return result
        finally:
            if started is not None:
                span, token, _ = started
                if token is not None:
                    _safely(detach, token)
                _safely(span.end)
            try:
                handler_done(request_id)  # after the span ended: the flush may then export it
            except Exception:
                _logger.debug("could not signal handler done", exc_info=True)

    def _get_tracer(self) -> trace.Tracer:
        provider = self._provider or trace.get_tracer_provider()
        if self._tracer is None or provider is not self._tracer_source:
            self._tracer_source, self._tracer = provider, provider.get_tracer(SCOPE)
            _say_if_nothing_exports(provider)
        return self._tracer

    def _max_links(self) -> int:
        # Asked only for a batch with links; read once (the SDK's limits come from the
        # environment, which costs microseconds to parse).
        if self._links_limit is None:
            self._links_limit = _max_links()
        return self._links_limit

    def _trigger(self, event: Any, context: Any) -> TriggerSpan:
        if self._extractor is not None:
            try:
                found = self._extractor(event, context)
                if isinstance(found, TriggerSpan):
                    return cleaned(found)
            except Exception:
                _logger.debug("the attributes extractor failed; using the built-in", exc_info=True)
        try:
            return describe(event, max_links=self._max_links)
        except Exception:
            _logger.debug("could not describe the event", exc_info=True)
            return _UNKNOWN

    def _start(
        self, event: Any, context: Any, request_id: str | None
    ) -> tuple[Span, object | None, bool] | None:
        """The invocation span, its context token and whether the response is HTTP; ``None``
        (the handler runs untraced) if anything fails."""
        try:
            now = time.time_ns()  # the invocation span's start, the start-up phase's end
            trigger = self._trigger(event, context)
            cold, phase = COLD_START.take(self._initialization_type, now, in_lambda=self._in_lambda)
            attributes: dict[str, Any] = {
                "faas.trigger": trigger.trigger or OTHER,
                "faas.coldstart": cold,
            }
            attributes.update(_function_attributes(context, request_id))
            attributes.update(trigger.attributes)
            parent = _parent(trigger.headers, self._xray_lambda)
            span = self._get_tracer().start_span(
                self._name
                or trigger.name
                or _context_text(context, "function_name")
                or self._default_name,
                context=parent,
                kind=trigger.kind or SpanKind.SERVER,
                attributes=attributes,
                links=trigger.links,
                start_time=now,
            )
        except Exception:
            _logger.debug("could not start the invocation span", exc_info=True)
            return None
        if phase is not None:
            self._phase_span(span, parent, phase, now, request_id)
        token = None
        try:
            token = attach(trace.set_span_in_context(span, parent))
        except Exception:
            _logger.debug("could not make the invocation span current", exc_info=True)
        return span, token, trigger.http

    def _phase_span(
        self, invocation: Span, parent: Context, phase: Phase, now: int, request_id: str | None
    ) -> None:
        """The start-up phase the invocation waited for: a child of its span, ended when the
        invocation began. Nothing when the invocation span is not recorded (sampled out)."""
        try:
            if not invocation.is_recording():
                return
            span = self._get_tracer().start_span(
                phase.name,
                context=trace.set_span_in_context(invocation, parent),
                kind=SpanKind.INTERNAL,
                attributes={"faas.invocation_id": request_id} if request_id else None,
                start_time=phase.start_ns,
            )
            span.end(end_time=now)
        except Exception:
            _logger.debug("could not record the %s span", phase.name, exc_info=True)


def _record_error(span: Span, error: BaseException) -> None:
    """Record the handler's exception; never raises, so that ``error`` is what propagates.

    The event holds what ``Span.record_exception`` would put there, computed once and cleaned:
    ``str(error)`` may raise or hold lone surrogates, and a stack trace may hold file names that
    do. Reading the error may run its code: even a ``BaseException`` from there is swallowed,
    the handler's own exception is about to be re-raised.
    """
    try:
        kind = type(error)
        module, qualname = text_or_none(kind.__module__), clean_text(kind.__qualname__)
        name = clean_text(kind.__name__)
    except BaseException:
        _logger.debug("could not read the type of the handler's exception", exc_info=True)
        return
    message = _message(error)
    event: dict[str, Any] = {
        "exception.type": qualname if module in (None, "builtins") else f"{module}.{qualname}",
        "exception.message": message,
        "exception.escaped": "False",
    }
    try:
        event["exception.stacktrace"] = clean_text("".join(format_exception(error)))
    except BaseException:
        _logger.debug("could not format the handler's exception", exc_info=True)
    _safely(span.add_event, "exception", event)
    _safely(span.set_attribute, "error.type", f"{module}.{qualname}" if module else qualname)
    _safely(span.set_status, Status(StatusCode.ERROR, f"{name}: {message}"))


def _message(error: BaseException) -> str:
    try:
        return clean_text(str(error))
    except BaseException:  # as the traceback module does
        return "<exception str() failed>"


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


_said_nothing_exports = False


def _say_if_nothing_exports(provider: object) -> None:
    """One warning per process when the invocation span can go nowhere: no SDK tracer provider
    (none passed, none registered) or one without a span processor."""
    global _said_nothing_exports
    if _said_nothing_exports:
        return
    try:
        if sdk_disabled(os.environ):
            return  # nothing is meant to be exported
        if type(provider).__module__.startswith("opentelemetry.sdk."):
            active = getattr(provider, "_active_span_processor", None)
            if getattr(active, "_span_processors", True):
                return  # a processor is there (or we cannot tell): nothing to say
            why = "its TracerProvider has no span processor (add a LambdaSpanProcessor)"
        elif type(provider).__module__.startswith("opentelemetry.trace"):
            why = (
                "no TracerProvider is registered (trace.set_tracer_provider) and none was "
                "passed (traced_handler(tracer_provider=...))"
            )
        else:
            return  # another SDK or a wrapper: it knows what it does
    except Exception:
        return
    _said_nothing_exports = True
    _logger.warning("traced_handler: no span is exported: %s", why)


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
