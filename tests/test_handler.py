"""traced_handler: one correct span per invocation for every trigger, and never a broken function.

Spans go through a LambdaSpanProcessor (sync mode) and the real OTLP exporter to the receiver,
which decodes them: the attributes checked are the ones a collector would see."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_lambda_processor import LambdaSpanProcessor, TriggerSpan, traced_handler
from otel_lambda_processor.cold_start import INIT_SPAN
from otel_lambda_processor.handler import COLD_START
from otel_lambda_processor.signals import HUB, HandlerDone
from otel_lambda_processor.testing import OTLPReceiver, ReceivedSpan

from . import events

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


class Context:
    """The attributes of Lambda's context object that the wrapper reads."""

    def __init__(self, request_id: str = "req-1", arn: str = ARN, version: str = "$LATEST"):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = "orders"
        self.function_version = version


@pytest.fixture(autouse=True)
def warm_process() -> Iterator[None]:
    """Each test starts as a fresh process would: the next invocation is a cold start (and has
    the init span, named INIT_SPAN)."""
    COLD_START.reset()
    yield


@pytest.fixture
def traced(receiver: OTLPReceiver) -> Iterator[TracerProvider]:
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5)
    provider.add_span_processor(LambdaSpanProcessor(exporter, mode="sync"))
    yield provider
    provider.shutdown()


def run(provider: TracerProvider, event: Any, result: Any = None, **kwargs: Any) -> Any:
    @traced_handler(tracer_provider=provider, **kwargs)
    def handler(e: Any, c: Any) -> Any:
        provider.get_tracer("app").start_span("inner").end()
        return result

    return handler(event, Context())


def invocation_span(receiver: OTLPReceiver) -> ReceivedSpan:
    (span,) = [s for s in receiver.spans if "faas.trigger" in s.attributes]
    return span


def test_api_gateway_v1_is_an_http_server_span_with_the_route_template(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, events.api_gateway_v1(), {"statusCode": "200", "body": "ok"})
    span = invocation_span(receiver)
    assert span.name == "GET /items/{id}"
    assert span.span.kind == SpanProto.SPAN_KIND_SERVER
    a = span.attributes
    assert a["faas.trigger"] == "http" and a["http.route"] == "/items/{id}"
    assert a["http.request.method"] == "GET" and a["url.path"] == "/items/42"
    assert a["url.query"] == "verbose=1" and a["url.scheme"] == "https"
    assert a["client.address"] == "203.0.113.7" and a["user_agent.original"] == "curl/8.4.0"
    assert a["server.address"] == "abc123.execute-api.us-east-1.amazonaws.com"
    assert a["network.protocol.version"] == "1.1"
    assert a["http.response.status_code"] == 200, "a numeric string is a status code"
    assert a["faas.invocation_id"] == "req-1" and a["cloud.account.id"] == "123456789012"


def test_a_mixed_case_traceparent_header_is_the_parent(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, events.api_gateway_v1())
    span = invocation_span(receiver).span
    assert span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id.hex() == "b7ad6b7169203331"


def test_the_invocation_span_is_the_parent_of_the_handlers_spans(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, events.api_gateway_v2())
    inner = next(s for s in receiver.spans if s.name == "inner")
    assert inner.span.parent_span_id == invocation_span(receiver).span.span_id


def test_api_gateway_v2_uses_the_route_key_template_never_the_raw_path(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, events.api_gateway_v2(), {"statusCode": 201})
    span = invocation_span(receiver)
    assert span.name == "POST /orders/{orderId}"
    a = span.attributes
    assert a["http.route"] == "/orders/{orderId}" and a["url.path"] == "/orders/7"
    assert a["url.query"] == "dry=true" and a["client.address"] == "198.51.100.4"
    assert a["http.response.status_code"] == 201
    assert span.span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"


def test_function_urls_have_no_route(traced: TracerProvider, receiver: OTLPReceiver) -> None:
    run(traced, events.function_url())
    span = invocation_span(receiver)
    assert span.name == "GET" and "http.route" not in span.attributes
    assert span.attributes["faas.trigger"] == "http"


@pytest.mark.parametrize("multi_value", [False, True])
def test_alb_headers_single_or_multi_value_give_the_parent(
    traced: TracerProvider, receiver: OTLPReceiver, multi_value: bool
) -> None:
    run(traced, events.alb(multi_value))
    span = invocation_span(receiver)
    assert span.name == "GET" and span.span.kind == SpanProto.SPAN_KIND_SERVER
    assert span.attributes["url.path"] == "/lambda"
    assert span.span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"


def test_a_5xx_response_marks_the_span_as_an_error(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, events.api_gateway_v2(), {"statusCode": "503"})
    span = invocation_span(receiver)
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["error.type"] == "503"
    assert span.span.status.code == Status.STATUS_CODE_ERROR


@pytest.mark.parametrize("result", [None, "text", {"statusCode": "abc"}, {"statusCode": True}, []])
def test_odd_responses_set_no_status_and_come_back_unchanged(
    traced: TracerProvider, receiver: OTLPReceiver, result: Any
) -> None:
    assert run(traced, events.api_gateway_v2(), result) == result
    assert "http.response.status_code" not in invocation_span(receiver).attributes


def test_sqs_batches_are_consumer_spans_with_one_link_per_traced_record(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, events.sqs(records=4))
    span = invocation_span(receiver)
    assert span.name == "process my-queue" and span.span.kind == SpanProto.SPAN_KIND_CONSUMER
    a = span.attributes
    assert a["faas.trigger"] == "pubsub" and a["messaging.system"] == "aws_sqs"
    assert a["messaging.operation.type"] == "process" and a["messaging.batch.message_count"] == 4
    assert a["messaging.destination.name"] == "my-queue"
    links = {link.trace_id.hex() for link in span.span.links}
    assert links == {
        "5759e988bd862e3fe1be46a994272790",
        "0af7651916cd43dd8448eb211c803191",
        "5759e988bd862e3fe1be46a994272792",
        "0af7651916cd43dd8448eb211c803193",
    }
    assert span.span.parent_span_id == b"", "messages are links, not the parent"


def test_links_stop_at_the_sdk_link_limit(
    traced: TracerProvider, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "2")
    run(traced, events.sqs(records=6))
    assert len(invocation_span(receiver).span.links) == 2


@pytest.mark.parametrize(
    ("event", "trigger", "kind", "name", "expected"),
    [
        (
            events.sns(),
            "pubsub",
            "CONSUMER",
            "process sns-topic",
            {"messaging.system": "aws.sns", "messaging.destination.name": "sns-topic"},
        ),
        (events.eventbridge(), "pubsub", "CONSUMER", "orders", {}),
        (events.scheduled(), "timer", "SERVER", "orders", {"faas.time": "2015-10-08T16:53:06Z"}),
        (
            events.s3(),
            "datasource",
            "SERVER",
            "orders",
            {
                "faas.document.collection": "amzn-s3-demo-bucket",
                "faas.document.operation": "insert",
                "faas.document.name": "b21b84d653bb07b05b1e6b33684dc11b",
            },
        ),
        (
            events.dynamodb(),
            "datasource",
            "SERVER",
            "orders",
            {"faas.document.collection": "ExampleTable", "faas.document.operation": "edit"},
        ),
        (
            events.kinesis(),
            "pubsub",
            "CONSUMER",
            "process lambda-stream",
            {"aws.kinesis.stream_name": "lambda-stream"},
        ),
        ({"anything": "else"}, "other", "SERVER", "orders", {}),
    ],
)
def test_every_trigger_gets_its_name_kind_and_attributes(
    traced: TracerProvider,
    receiver: OTLPReceiver,
    event: dict[str, Any],
    trigger: str,
    kind: str,
    name: str,
    expected: dict[str, Any],
) -> None:
    run(traced, event)
    span = invocation_span(receiver)
    assert span.name == name
    assert span.span.kind == getattr(SpanProto, f"SPAN_KIND_{kind}")
    assert span.attributes["faas.trigger"] == trigger
    for key, value in expected.items():
        assert span.attributes[key] == value


def test_cold_start_is_true_once_per_process(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    run(traced, {})
    run(traced, {})
    flags = [s.attributes["faas.coldstart"] for s in receiver.spans if s.name == "orders"]
    assert flags == [True, False]


def test_provisioned_concurrency_is_never_a_cold_start(
    traced: TracerProvider, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    run(traced, {})
    assert invocation_span(receiver).attributes["faas.coldstart"] is False


def test_an_alias_in_the_arn_becomes_the_version_that_ran(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    @traced_handler(tracer_provider=traced)
    def handler(e: Any, c: Any) -> None:
        return None

    handler({}, Context(arn=ARN + ":live", version="7"))
    assert invocation_span(receiver).attributes["cloud.resource_id"] == ARN + ":7"


def test_an_exception_is_recorded_and_raised_unchanged(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    error = KeyError("missing")

    @traced_handler(tracer_provider=traced)
    def handler(e: Any, c: Any) -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        handler(events.sqs(1), Context())
    assert caught.value is error
    span = invocation_span(receiver)
    assert span.span.status.code == Status.STATUS_CODE_ERROR
    assert span.attributes["error.type"] == "builtins.KeyError"
    assert [e.name for e in span.span.events] == ["exception"]


# A file name as os.fsdecode gives it for bytes that are not UTF-8: a lone surrogate.
UNDECODABLE = os.fsdecode(b"report-\xff.csv")


def test_a_lone_surrogate_in_the_error_message_loses_no_span_of_the_batch(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    error = RuntimeError(f"cannot parse {UNDECODABLE}")

    @traced_handler(tracer_provider=traced)
    def handler(e: Any, c: Any) -> None:
        traced.get_tracer("app").start_span("inner").end()
        raise error

    with pytest.raises(RuntimeError) as caught:
        handler(events.sqs(1), Context())
    assert caught.value is error and str(error).endswith("report-\udcff.csv"), "unchanged"
    assert sorted(receiver.span_names()) == [INIT_SPAN, "inner", "process my-queue"]
    span = invocation_span(receiver).span
    assert span.status.message == "RuntimeError: cannot parse report-\ufffd.csv"
    (event,) = span.events
    recorded = {kv.key: kv.value.string_value for kv in event.attributes}
    assert recorded["exception.message"] == "cannot parse report-\ufffd.csv"
    assert recorded["exception.type"] == "RuntimeError"
    assert "report-\ufffd.csv" in recorded["exception.stacktrace"]


def test_lone_surrogates_in_event_text_reach_the_collector_as_replacement_characters(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    event = events.api_gateway_v2(
        routeKey=f"GET /files/{UNDECODABLE}",
        rawPath=f"/files/{UNDECODABLE}",
        rawQueryString=f"name={UNDECODABLE}",
    )
    event["requestContext"]["http"]["userAgent"] = f"agent/{UNDECODABLE}"
    event["headers"]["host"] = f"{UNDECODABLE}.example.com"
    run(traced, event, {"statusCode": 200})
    span = invocation_span(receiver)
    assert span.name == "POST /files/report-\ufffd.csv"
    a = span.attributes
    assert a["url.path"] == "/files/report-\ufffd.csv"
    assert a["url.query"] == "name=report-\ufffd.csv"
    assert a["user_agent.original"] == "agent/report-\ufffd.csv"
    assert a["server.address"] == "report-\ufffd.csv.example.com"
    assert span.span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c", "headers still read"


class LazyContext(Context):
    """A context whose request id is computed on access, and fails."""

    @property  # type: ignore[override]
    def aws_request_id(self) -> str:
        raise RuntimeError("the request id is not available yet")

    @aws_request_id.setter
    def aws_request_id(self, value: str) -> None:
        pass


def test_a_context_whose_request_id_raises_still_runs_the_handler(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    context, event, result = LazyContext(), events.sqs(1), object()
    calls: list[tuple[Any, Any]] = []
    done: list[HandlerDone] = []

    class Listener:
        def on_signal(self, signal: object) -> None:
            if isinstance(signal, HandlerDone):
                done.append(signal)

    @traced_handler(tracer_provider=traced)
    def handler(e: Any, c: Any) -> object:
        calls.append((e, c))
        return result

    listener = Listener()
    HUB.subscribe(listener)  # type: ignore[arg-type]
    try:
        assert handler(event, context) is result
    finally:
        HUB.unsubscribe(listener)  # type: ignore[arg-type]
    assert len(calls) == 1 and calls[0][0] is event and calls[0][1] is context
    assert [signal.request_id for signal in done] == [None]
    span = invocation_span(receiver)
    assert "faas.invocation_id" not in span.attributes, "what could not be read is left out"
    assert span.attributes["cloud.resource_id"] == ARN, "what could be read is still there"


def test_the_result_is_returned_as_the_very_same_object(traced: TracerProvider) -> None:
    result = {"statusCode": 200, "body": object()}
    assert run(traced, events.api_gateway_v2(), result) is result


def test_usable_bare_and_keeps_the_handlers_name(traced: TracerProvider) -> None:
    @traced_handler
    def my_handler(e: Any, c: Any) -> str:
        return "ok"

    assert my_handler({}, Context()) == "ok" and my_handler.__name__ == "my_handler"


def test_a_custom_extractor_describes_the_span_and_a_broken_one_is_ignored(
    traced: TracerProvider, receiver: OTLPReceiver
) -> None:
    def extractor(event: Any, context: Any) -> TriggerSpan:
        return TriggerSpan(trigger="pubsub", name="custom", attributes={"my.key": "v"})

    def broken(event: Any, context: Any) -> TriggerSpan:
        raise ValueError("bad extractor")

    run(traced, {}, attributes_extractor=extractor)
    assert invocation_span(receiver).attributes["my.key"] == "v"
    receiver.reset()
    assert run(traced, events.sns(), "fine", attributes_extractor=broken) == "fine"
    assert invocation_span(receiver).name == "process sns-topic"


def test_handler_done_is_signalled_after_the_span_ended(traced: TracerProvider) -> None:
    class Ended(SpanProcessor):
        def __init__(self) -> None:
            self.names: list[str] = []

        def on_end(self, span: ReadableSpan) -> None:
            self.names.append(span.name)

    ended = Ended()
    traced.add_span_processor(ended)
    seen: list[list[str]] = []

    class Listener:
        def on_signal(self, signal: object) -> None:
            if isinstance(signal, HandlerDone):
                seen.append(list(ended.names))

    listener = Listener()
    HUB.subscribe(listener)  # type: ignore[arg-type]
    try:
        run(traced, {})
    finally:
        HUB.unsubscribe(listener)  # type: ignore[arg-type]
    assert seen == [[INIT_SPAN, "inner", "orders"]]


@pytest.fixture
def xray_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OTEL_PROPAGATORS", "tracecontext,xray-lambda")
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), AwsXRayLambdaPropagator()])
    )
    yield
    propagate.set_global_textmap(previous)


@pytest.mark.usefixtures("xray_lambda")
def test_with_xray_lambda_configured_the_lambda_trace_becomes_the_parent(
    traced: TracerProvider, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", events.XRAY)
    run(traced, events.sns())
    span = invocation_span(receiver).span
    assert span.trace_id.hex() == "5759e988bd862e3fe1be46a994272793"


@pytest.mark.usefixtures("xray_lambda")
def test_an_unsampled_lambda_trace_is_never_the_parent(
    traced: TracerProvider, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", events.XRAY.replace("Sampled=1", "Sampled=0"))
    run(traced, events.sns())
    span = invocation_span(receiver).span
    assert span.parent_span_id == b"" and span.trace_id.hex() != "5759e988bd862e3fe1be46a994272793"


def test_without_xray_lambda_the_lambda_trace_is_not_the_parent(
    traced: TracerProvider, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", events.XRAY)
    run(traced, events.sns())
    assert invocation_span(receiver).span.parent_span_id == b""


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
shaped = st.sampled_from(
    [events.api_gateway_v1(), events.api_gateway_v2(), events.alb(), events.sqs(3), events.s3()]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event=json_values | shaped.flatmap(lambda base: st.just(base) | _mutate(base)),
    result=json_values,
)
def test_arbitrary_events_and_results_never_break_the_wrapper(
    traced: TracerProvider, event: Any, result: Any
) -> None:
    @traced_handler(tracer_provider=traced)
    def handler(e: Any, c: Any) -> Any:
        return result

    assert handler(event, Context()) is result


def _mutate(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A documented event with one top-level field replaced by arbitrary JSON."""
    keys = sorted(base)
    return st.tuples(st.sampled_from(keys), json_values).map(
        lambda kv: {**json.loads(json.dumps(base)), kv[0]: kv[1]}
    )


def test_a_handler_with_nowhere_to_export_says_so_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import otel_lambda_processor.handler as module

    from .conftest import ScriptedExporter

    monkeypatch.setattr(module, "_said_nothing_exports", False)

    @traced_handler(tracer_provider=TracerProvider())
    def bare(event: Any, context: Any) -> int:
        return 1

    assert bare({}, None) == 1 and bare({}, None) == 1
    lines = [r.getMessage() for r in caplog.records if "no span is exported" in r.getMessage()]
    assert lines == [
        "traced_handler: no span is exported: its TracerProvider has no span "
        "processor (add a LambdaSpanProcessor)"
    ]
    monkeypatch.setattr(module, "_said_nothing_exports", False)
    caplog.clear()
    provider = TracerProvider()
    provider.add_span_processor(LambdaSpanProcessor(ScriptedExporter(), mode="finalize"))

    @traced_handler(tracer_provider=provider)
    def exported(event: Any, context: Any) -> int:
        return 2

    assert exported({}, None) == 2
    assert "no span is exported" not in caplog.text
