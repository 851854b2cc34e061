"""traced_handler against hostile input: whatever the event, the context, the result or the
exception, the handler runs once with the very same objects, its outcome passes through
unchanged, the wrapper raises nothing of its own, and every span it ends can be encoded.

Spans are collected in memory and encoded with the official OTLP encoder and ours: one string
that UTF-8 cannot encode (a lone surrogate) would lose the whole batch at export."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode

from otel_lambda_processor import TriggerSpan, traced_handler
from otel_lambda_processor.cold_start import COLD_START
from otel_lambda_processor.otlp.encoder import encode_spans

from . import events

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
SURROGATE = "\udcff"  # what os.fsdecode makes of the byte 0xff


class HostileError(Exception):
    """What every hostile method raises."""


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise HostileError("hostile")


_STR_METHODS = (
    "__str__ __repr__ __format__ __eq__ __ne__ __lt__ __hash__ __len__ __iter__ __getitem__ "
    "__contains__ __add__ __mod__ __bool__ lower upper split rsplit strip partition startswith "
    "endswith isascii isdigit encode join replace"
).split()
_DICT_METHODS = (
    "get items keys values copy __iter__ __getitem__ __contains__ __len__ __bool__ __eq__ __repr__"
).split()
_LIST_METHODS = "__iter__ __getitem__ __len__ __contains__ __bool__ __eq__ __repr__ copy".split()

#: A str whose every method raises; HostileKey keeps str's hash and equality to be a dict key.
HostileStr = type("HostileStr", (str,), dict.fromkeys(_STR_METHODS, _raise))
HostileKey = type("HostileKey", (HostileStr,), {"__hash__": str.__hash__, "__eq__": str.__eq__})
HostileDict = type("HostileDict", (dict,), dict.fromkeys(_DICT_METHODS, _raise))
HostileList = type("HostileList", (list,), dict.fromkeys(_LIST_METHODS, _raise))


class HostileObject:
    """Raises on any attribute (``__class__`` too, so ``isinstance`` raises) and any operation.

    Only while armed: :func:`call` arms it around the wrapped call, since pytest and Hypothesis
    inspect the values they are given too.
    """

    armed = False

    def __getattribute__(self, name: str) -> Any:
        _trip(name)
        return object.__getattribute__(self, name)

    def __str__(self) -> str:
        _trip("__str__")
        return "HostileObject"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        _trip("__eq__")
        return self is other

    def __hash__(self) -> int:
        _trip("__hash__")
        return id(self)

    def __bool__(self) -> bool:
        _trip("__bool__")
        return True

    def __len__(self) -> int:
        _trip("__len__")
        return 0

    def __iter__(self) -> Iterator[Any]:
        _trip("__iter__")
        return iter(())


def _trip(name: str) -> None:
    if HostileObject.armed:
        raise HostileError(name)


class CollidingKey:
    """A key that hashes like ``requestContext`` and, once armed, raises when compared."""

    armed = False

    def __hash__(self) -> int:
        return hash("requestContext")

    def __eq__(self, other: object) -> bool:
        if self.armed:
            raise HostileError("compared")
        return self is other


def colliding_event() -> dict[Any, Any]:
    """An event where looking up ``requestContext`` compares it with a raising key."""
    key = CollidingKey()
    event: dict[Any, Any] = {key: 1}
    event["requestContext"] = {"elb": {"targetGroupArn": "arn"}}
    key.armed = True
    return event


class LazyContext:
    """A context whose every attribute is a property that fails."""

    aws_request_id = invoked_function_arn = function_name = function_version = property(_raise)


class RaisingGetattrContext:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} here")


def context_of(value: Any) -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id=value,
        invoked_function_arn=value,
        function_name=value,
        function_version=value,
    )


class MessageRaisesError(Exception):
    def __str__(self) -> str:
        raise HostileError("no message")


class MessageNotAStrError(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]


class MessageExitsError(Exception):
    def __str__(self) -> str:
        raise SystemExit("from __str__")


SurrogateNamedError = type(
    "SurrogateNamedError",
    (Exception,),
    {"__qualname__": "Bad" + SURROGATE, "__module__": SURROGATE},
)


class HostileInt(int):
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __str__ = __repr__ = __index__ = _raise
    __hash__ = int.__hash__


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(autouse=True)
def warm_process() -> None:
    """Every invocation here is warm: the cold start's init span is test_cold_start_span's."""
    COLD_START.reset(cold=False)


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


def call(
    provider: TracerProvider, event: Any, context: Any, outcome: Any = None, raises: bool = False
) -> None:
    """Run a traced handler: check it ran once with the very objects and its outcome came back."""
    calls: list[tuple[Any, Any]] = []

    @traced_handler(tracer_provider=provider)
    def handler(e: Any, c: Any) -> Any:
        calls.append((e, c))
        if raises:
            raise outcome
        return outcome

    raised: BaseException | None = None
    HostileObject.armed = True
    try:
        returned = handler(event, context)
    except BaseException as error:  # KeyboardInterrupt and SystemExit too: they are outcomes
        raised = error
    finally:
        HostileObject.armed = False
    if raises:
        assert raised is outcome, f"raised {type(raised).__name__}, not the handler's exception"
    else:
        assert raised is None, f"the wrapper raised {type(raised).__name__}"
        assert returned is outcome
    assert len(calls) == 1, "the handler runs exactly once"
    assert calls[0][0] is event and calls[0][1] is context, "with the very same objects"


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    assert_encodable([span])
    return span


def _strings(span: ReadableSpan) -> Iterator[object]:
    yield span.name
    yield span.status.description or ""
    mappings = [span.attributes, *(e.attributes for e in span.events)]
    mappings += [link.attributes for link in span.links]
    yield from (e.name for e in span.events)
    for attributes in mappings:
        for key, value in (attributes or {}).items():
            yield key
            values = value if isinstance(value, tuple) else (value,)
            yield from (v for v in values if isinstance(v, str))


def assert_encodable(spans: list[ReadableSpan]) -> None:
    for span in spans:
        for text in _strings(span):
            assert type(text) is str, f"a {type(text).__name__} reached the span"
            text.encode("utf-8")  # raises on a lone surrogate
    official(spans).SerializePartialToString()
    encode_spans(spans)


# Parameters are factories: pytest inspects the values it is given, and these raise on that.
HOSTILE_CONTEXTS = {
    "properties-raise": LazyContext,
    "getattr-raises": RaisingGetattrContext,
    "everything-raises": HostileObject,
    "values-raise": lambda: context_of(HostileObject()),
}


@pytest.mark.parametrize("make", HOSTILE_CONTEXTS.values(), ids=HOSTILE_CONTEXTS.keys())
def test_a_context_that_raises_on_every_read_still_gets_a_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, make: Callable[[], Any]
) -> None:
    call(provider, events.sqs(1), make(), object())
    span = only_span(exporter)
    assert span.name == "process my-queue"
    assert "faas.invocation_id" not in span.attributes


def test_str_subclasses_are_copied_as_plain_strings_without_calling_their_methods(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    event = events.api_gateway_v2(
        routeKey=HostileStr("GET /files/{name}"),
        rawPath=HostileStr(f"/files/a{SURROGATE}"),
        headers={HostileKey("User-Agent"): HostileStr("agent"), "host": HostileStr("example")},
    )
    event["requestContext"]["http"] = {"method": HostileStr("get")}
    context = context_of(HostileStr("x"))
    context.aws_request_id = HostileStr(f"req-{SURROGATE}")
    call(provider, event, context, {"statusCode": HostileStr(" 201 ")})
    span = only_span(exporter)
    assert span.name == "GET /files/{name}"
    a = span.attributes
    assert a["url.path"] == "/files/a\ufffd" and a["faas.invocation_id"] == "req-\ufffd"
    assert a["user_agent.original"] == "agent" and a["server.address"] == "example"
    assert a["http.response.status_code"] == 201


def test_dict_and_list_subclasses_are_read_through_the_builtin_types_methods(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    plain = events.api_gateway_v2()
    plain["requestContext"] = HostileDict(plain["requestContext"])
    event = HostileDict(plain)
    call(provider, event, context_of("req-1"), HostileDict(statusCode=503))
    span = only_span(exporter)
    assert span.name == "POST /orders/{orderId}"
    assert span.attributes["http.response.status_code"] == 503
    assert span.status.status_code == StatusCode.ERROR

    exporter.clear()
    batch = events.sqs(3)
    batch["Records"] = HostileList(HostileDict(r) for r in batch["Records"])
    call(provider, batch, context_of("req-2"))
    span = only_span(exporter)
    assert span.name == "process my-queue" and len(span.links) == 3


cyclic: dict[str, Any] = {"requestContext": {}, "Records": []}
cyclic["requestContext"]["http"] = cyclic
cyclic["Records"].append(cyclic)
deep: list[Any] = []
for _ in range(100_000):
    deep = [deep]


HOSTILE_EVENTS: dict[str, Callable[[], Any]] = {
    "everything-raises": HostileObject,
    "dict-subclass-raises": HostileDict,
    "values-raise": lambda: {"requestContext": HostileObject(), "Records": HostileObject()},
    "nested-value-raises": lambda: {"version": "2.0", "requestContext": {"http": HostileObject()}},
    "headers-raise": lambda: {
        "httpMethod": "GET",
        "requestContext": {"x": 1},
        "headers": HostileObject(),
    },
    "record-values-raise": lambda: {
        "Records": [{"eventSource": HostileStr("aws:sqs"), "eventSourceARN": HostileObject()}]
    },
    "key-comparison-raises": colliding_event,
    "wrong-types": lambda: {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
        "time": 5,
    },
    "cyclic": lambda: cyclic,
    "100k-deep": lambda: deep,
    "bytes": lambda: b"bytes",
    "none": lambda: None,
}


@pytest.mark.parametrize("make", HOSTILE_EVENTS.values(), ids=HOSTILE_EVENTS.keys())
def test_an_event_that_raises_or_misleads_on_every_read_still_gets_a_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, make: Callable[[], Any]
) -> None:
    call(provider, make(), context_of("req-1"), "ok")
    span = only_span(exporter)
    assert span.attributes["faas.invocation_id"] == "req-1"


HOSTILE_RESULTS: dict[str, tuple[Callable[[], Any], int | None]] = {
    "dict-subclass-raises": (lambda: HostileDict(statusCode=503), 503),
    "str-subclass-raises": (lambda: {"statusCode": HostileStr("404")}, 404),
    "int-subclass-raises": (lambda: {"statusCode": HostileInt(418)}, 418),
    "huge-int": (lambda: {"statusCode": 10**100}, None),
    "5000-digits": (lambda: {"statusCode": "9" * 5000}, None),
    "arabic-indic-digits": (lambda: {"statusCode": "\u0662\u0660\u0660"}, None),  # isdigit()
    "superscript-digit": (lambda: {"statusCode": "\u00b2"}, None),  # isdigit(), int() refuses
    "nan": (lambda: {"statusCode": math.nan}, None),
    "float": (lambda: {"statusCode": 200.0}, None),
    "bool": (lambda: {"statusCode": True}, None),
    "value-raises": (lambda: {"statusCode": HostileObject()}, None),
    "result-raises": (HostileObject, None),
}


@pytest.mark.parametrize(("make", "code"), HOSTILE_RESULTS.values(), ids=HOSTILE_RESULTS.keys())
def test_a_response_is_read_without_calling_its_methods_and_comes_back_unchanged(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    make: Callable[[], Any],
    code: int | None,
) -> None:
    call(provider, events.api_gateway_v2(), context_of("req-1"), make())
    assert only_span(exporter).attributes.get("http.response.status_code") == code


@pytest.mark.parametrize(
    ("error", "description"),
    [
        (RuntimeError(f"cannot parse report-{SURROGATE}.csv"), "cannot parse report-\ufffd.csv"),
        (MessageRaisesError(), "<exception str() failed>"),
        (MessageNotAStrError(), "<exception str() failed>"),
        (MessageExitsError(), "<exception str() failed>"),
        (SurrogateNamedError("x"), "x"),
        (KeyboardInterrupt(), ""),
        (SystemExit(3), "3"),
    ],
    ids=[
        "lone-surrogate",
        "str-raises",
        "str-not-a-str",
        "str-exits",
        "surrogate-in-type-name",
        "keyboard-interrupt",
        "system-exit",
    ],
)
def test_the_handlers_exception_is_recorded_clean_and_raised_unchanged(
    provider: TracerProvider, exporter: InMemorySpanExporter, error: BaseException, description: str
) -> None:
    call(provider, {}, context_of("req-1"), error, raises=True)
    span = only_span(exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description is not None
    assert span.status.description.endswith(f": {description}")
    (event,) = span.events
    assert event.name == "exception" and event.attributes is not None
    assert event.attributes["exception.message"] == description
    assert "exception.stacktrace" in event.attributes


def test_a_custom_extractors_text_is_cleaned_and_its_headers_matched_in_any_case(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    link = Link(SpanContext(1, 2, is_remote=True))

    def extractor(event: Any, context: Any) -> TriggerSpan:
        return TriggerSpan(
            trigger=HostileStr("pubsub"),
            name=f"process {SURROGATE}",
            kind=SpanKind.CONSUMER,
            attributes={"file": f"a{SURROGATE}", "files": (HostileStr("b"), f"c{SURROGATE}")},
            headers={"TraceParent": events.TRACEPARENT},
            links=[link] * 3,
        )

    @traced_handler(tracer_provider=provider, attributes_extractor=extractor)
    def handler(e: Any, c: Any) -> str:
        return "ok"

    assert handler({}, context_of("req-1")) == "ok"
    span = only_span(exporter)
    assert span.name == "process \ufffd" and span.kind == SpanKind.CONSUMER
    assert span.attributes["faas.trigger"] == "pubsub"
    assert span.attributes["file"] == "a\ufffd"
    assert span.attributes["files"] == ("b", "c\ufffd")
    assert span.parent is not None
    assert span.parent.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert len(span.links) == 3


# Text with lone surrogates mixed in: Hypothesis leaves them out of st.text() by default.
texts = st.text(
    st.characters(exclude_categories=["Cc"])
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    max_size=12,
)
# Built per example: Hypothesis hashes what sampled_from holds, and these raise on hash().
hostile = st.sampled_from(
    [HostileObject, lambda: HostileStr("GET"), lambda: HostileStr(f"/a{SURROGATE}"), HostileInt]
).map(lambda make: make())
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | texts
    | st.binary(max_size=8)
    | hostile
)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(HostileList)
        | st.dictionaries(texts | st.sampled_from(["statusCode", "headers"]), children, max_size=5)
        | st.dictionaries(texts, children, max_size=3).map(HostileDict)
    ),
    max_leaves=20,
)
documented = [
    events.api_gateway_v1(),
    events.api_gateway_v2(),
    events.function_url(),
    events.alb(multi_value=True),
    events.sqs(3),
    events.sns(),
    events.s3(),
    events.dynamodb(),
    events.kinesis(),
    events.eventbridge(),
    events.scheduled(),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value where another value could go."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield (*prefix, key)
        if isinstance(child, dict | list):
            yield from _paths(child, (*prefix, key))


def _replaced(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(base))
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


def _mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A documented event with any one field, however deep, replaced by anything."""
    return st.builds(_replaced, st.just(base), st.sampled_from(list(_paths(base))), values)


fuzzed_events = values | st.sampled_from(documented).flatmap(_mutations) | hostile
contexts = (
    st.none()
    | st.sampled_from([LazyContext, RaisingGetattrContext, HostileObject, mock.Mock]).map(
        lambda make: make()
    )
    | st.builds(
        SimpleNamespace,
        aws_request_id=texts | hostile,
        invoked_function_arn=texts.map(lambda t: f"{ARN}:{t}") | values,
        function_name=texts | hostile,
        function_version=texts | hostile,
    )
)
errors = (
    st.builds(RuntimeError, texts)
    | st.builds(KeyError, values)
    | st.builds(MessageRaisesError)
    | st.builds(MessageNotAStrError)
    | st.builds(MessageExitsError)
    | texts.map(lambda text: SurrogateNamedError(text))  # its qualname upsets Hypothesis
    | st.builds(KeyboardInterrupt)
    | st.builds(SystemExit, values)
)
outcomes = st.tuples(values, st.just(False)) | st.tuples(errors, st.just(True))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=fuzzed_events, context=contexts, outcome=outcomes)
def test_handler_fuzz_the_outcome_passes_through_and_every_span_encodes(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    event: Any,
    context: Any,
    outcome: tuple[Any, bool],
) -> None:
    exporter.clear()
    call(provider, event, context, *outcome)
    only_span(exporter)
