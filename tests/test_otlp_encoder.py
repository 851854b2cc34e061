"""The fast OTLP encoder is byte-identical to the official one: differential tests on
realistic workloads, edge cases, and arbitrary spans from hypothesis."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from unittest import mock

import pytest
from google.protobuf.internal import api_implementation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_lambda_processor.otlp import encode_spans, encoder
from otel_lambda_processor.otlp.releases import untested_releases


@pytest.fixture(autouse=True, scope="module", params=["private fields", "public API"])
def span_reading(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test twice: spans read the fast way (where it is on) and through the public API."""
    saved = encoder._FAST
    encoder._FAST = saved and request.param == "private fields"
    yield
    encoder._FAST = saved


def test_private_reads_are_on_for_the_tested_releases() -> None:
    assert encoder._private_matches_public()
    assert not untested_releases(), "installed releases outside TESTED_RELEASES"


def same_bytes(spans: Sequence[ReadableSpan]) -> None:
    expected = official(spans).SerializeToString()
    assert encode_spans(spans) == expected


def ended(provider: TracerProvider, name: str = "op", **kwargs: Any) -> ReadableSpan:
    span = provider.get_tracer("t", "1.0").start_span(name, **kwargs)
    span.end()
    return span  # type: ignore[return-value]


class Color(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def test_a_realistic_batch_with_interleaved_resources_and_scopes() -> None:
    providers = [
        TracerProvider(resource=Resource.create({"service.name": f"svc-{i}", "i": i}))
        for i in range(3)
    ]
    spans = []
    for n in range(3000):
        provider = providers[n % 3]
        tracer = provider.get_tracer(
            f"scope-{n % 4}", "2.1", schema_url="https://s/1.0" if n % 2 else ""
        )
        with tracer.start_as_current_span(
            f"GET /items/{n % 7}",
            kind=SpanKind(n % 5),
            attributes={"http.route": "/items/{id}", "n": n, "ok": n % 2 == 0, "ratio": n / 7},
        ) as parent:
            parent.add_event("cache miss", {"key": f"k{n % 5}"})
            child = tracer.start_span("child", attributes={"shared": "value"})
            if n % 3 == 0:
                child.set_status(Status(StatusCode.ERROR, "boom"))
            child.end()
            spans.append(child)
        spans.append(parent)
    same_bytes(spans)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "unicode ✓ ü 中",
        0,
        -1,
        2**63 - 1,
        -(2**63),
        1.5,
        -0.0,
        math.inf,
        -math.inf,
        math.nan,
        True,
        False,
        b"\x00\xff",
        (),
        ("a", "b"),
        (1, 2, 3),
        (1.0, 2.5),
        (True,),
        Color.RED,
        Level.HIGH,
    ],
)
def test_every_attribute_value_type(value: Any) -> None:
    provider = TracerProvider()
    same_bytes([ended(provider, attributes={"k": value, "": "empty key"})])


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, "lone \udc80 surrogate", object()])
def test_values_the_official_encoder_drops_are_dropped_with_the_same_log(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    provider = TracerProvider()
    span = ended(provider)
    span._attributes = {"bad": value, "good": 1}  # type: ignore[attr-defined]  # beyond the SDK's own checks
    with caplog.at_level(logging.ERROR):
        expected = official([span]).SerializeToString()
        official_log = [r.getMessage().split(":")[0] for r in caplog.records]
        caplog.clear()
        assert encode_spans([span]) == expected
        assert [r.getMessage().split(":")[0] for r in caplog.records] == official_log


def test_nested_lists_and_dicts_as_the_sdk_can_hold_them() -> None:
    provider = TracerProvider()
    span = ended(provider)
    span._attributes = {  # type: ignore[attr-defined]
        "nested": [[1, "a"], {"x": [1.5, None]}, None],
        "map": {"a": {"b": {"c": b"d"}}, 3: "int key"},
    }
    same_bytes([span])


def test_remote_parents_with_trace_state_links_and_events() -> None:
    provider = TracerProvider()
    state = TraceState([("vendor", "abc"), ("other", "1")])
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    from opentelemetry.trace import NonRecordingSpan, set_span_in_context

    parent = set_span_in_context(NonRecordingSpan(remote))
    links = [
        Link(SpanContext(1, 2, True, TraceFlags(1)), {"a": 1}),
        Link(SpanContext(3, 4, False), None),
    ]
    span = provider.get_tracer("t").start_span("", context=parent, links=links)
    span.add_event("", {}, timestamp=0)
    span.add_event("named", {"x": (1, 2)}, timestamp=123)
    span.set_status(Status(StatusCode.OK))
    span.end()
    same_bytes([span])  # type: ignore[list-item]


def test_limits_that_drop_attributes_events_and_links() -> None:
    limits = SpanLimits(
        max_span_attributes=2,
        max_events=1,
        max_links=1,
        max_event_attributes=1,
        max_link_attributes=1,
    )
    provider = TracerProvider(span_limits=limits)
    links = [Link(SpanContext(i + 1, i + 1, False), {"a": 1, "b": 2}) for i in range(3)]
    span = provider.get_tracer("t").start_span(
        "limited", links=links, attributes={"a": 1, "b": 2, "c": 3}
    )
    span.add_event("e1", {"a": 1, "b": 2})
    span.add_event("e2")
    span.end()
    same_bytes([span])  # type: ignore[list-item]


def test_a_lone_surrogate_in_a_span_name_fails_like_the_official_encoder() -> None:
    span = ended(TracerProvider(), "bad \udc80 name")
    result = same_outcome([span])  # pure-Python protobuf raises a ValueError of its own
    assert result[:2] == ("raises", UnicodeEncodeError if UPB else ValueError)


def test_an_empty_batch() -> None:
    same_bytes([])


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary(max_size=8)
)
attribute_values = json_leaf | st.lists(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    max_size=4,
).map(tuple)
attribute_maps = st.dictionaries(st.text(max_size=8), attribute_values, max_size=6)


class DrawnIds(IdGenerator):
    """Trace and span ids drawn by hypothesis, so they shrink and replay like the rest."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def generate_trace_id(self) -> int:
        return self._draw(st.integers(1, 2**128 - 1))

    def generate_span_id(self) -> int:
        return self._draw(st.integers(1, 2**64 - 1))


@st.composite
def span_batches(draw: st.DrawFn) -> list[ReadableSpan]:
    resources = [
        Resource(draw(attribute_maps), draw(st.sampled_from(["", "https://x/1"])))
        for _ in range(draw(st.integers(1, 3)))
    ]
    spans = []
    for _ in range(draw(st.integers(0, 8))):
        provider = TracerProvider(
            resource=draw(st.sampled_from(resources)), id_generator=DrawnIds(draw)
        )
        tracer = provider.get_tracer(
            draw(st.sampled_from(["a", "b", ""])), draw(st.sampled_from([None, "1"]))
        )
        links = [
            Link(
                SpanContext(
                    draw(st.integers(1, 2**128 - 1)),
                    draw(st.integers(1, 2**64 - 1)),
                    draw(st.booleans()),
                ),
                draw(attribute_maps),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        span = tracer.start_span(
            draw(st.text(max_size=10)), kind=draw(st.sampled_from(list(SpanKind))), links=links
        )
        for _ in range(draw(st.integers(0, 2))):
            span.add_event(draw(st.text(max_size=6)), draw(attribute_maps))
        if draw(st.booleans()):
            span.set_status(
                Status(draw(st.sampled_from(list(StatusCode))), draw(st.text(max_size=6)) or None)
            )
        span.end()
        span._attributes = draw(attribute_maps)  # type: ignore[attr-defined]  # any value at all
        spans.append(span)
    return spans  # type: ignore[return-value]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(span_batches())
def test_arbitrary_spans_encode_to_the_same_bytes(spans: list[ReadableSpan]) -> None:
    try:
        expected = official(spans).SerializeToString()
    except Exception as error:
        with pytest.raises(type(error)):
            encode_spans(spans)
        return
    assert encode_spans(spans) == expected


# -- hostile values: the official encoder's bytes, exception or log lines, exactly ------------
UPB = api_implementation.Type() == "upb"
upb_only = pytest.mark.skipif(not UPB, reason="what protobuf's upb backend does")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def outcome(encode: Any, spans: Sequence[ReadableSpan]) -> tuple[Any, ...]:
    """What an encoder makes of a batch: its bytes or its exception, and its log lines."""
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        try:
            result: tuple[Any, ...] = ("bytes", encode(spans))
        except Exception as error:
            result = ("raises", type(error), str(error))
    finally:
        root.removeHandler(collect)
    logged = [
        (r.name, r.levelname, r.getMessage(), r.exc_info is not None) for r in collect.records
    ]
    return (*result, logged)


def same_outcome(spans: Sequence[ReadableSpan]) -> tuple[Any, ...]:
    """Ours gives the official encoder's bytes, or raises its exception, and logs its lines."""
    expected = outcome(lambda s: official(s).SerializePartialToString(), spans)
    assert outcome(encode_spans, spans) == expected
    return expected


def verdict(result: tuple[Any, ...]) -> str:
    if result[0] == "raises":
        return f"raises {result[1].__name__}"
    return "dropped" if result[-1] else "encoded"


WHERE = ["span", "event", "link", "resource", "scope"]
# Levels of messages from ResourceSpans, the last message the official encoder copies (on upb:
# serialises and parses), down to an attribute's AnyValue in each place.
LEVELS_BELOW_RESOURCE_SPANS = {"span": 4, "event": 5, "link": 5, "resource": 3, "scope": 4}


def carrying(where: str, attributes: dict[Any, Any]) -> list[ReadableSpan]:
    """A batch of one span with ``attributes`` on it, its event, its link, its resource or its
    scope, set past the SDK's own checks (which would drop most of them)."""
    resource = Resource({"service.name": "s"})
    span = ended(TracerProvider(resource=resource))
    if where == "span":
        span._attributes = attributes  # type: ignore[attr-defined]
    elif where == "event":
        span._events = [Event("e", attributes, timestamp=1)]  # type: ignore[attr-defined]
    elif where == "link":
        span._links = [Link(SpanContext(1, 2, False), attributes)]  # type: ignore[attr-defined]
    elif where == "resource":
        resource._attributes = attributes  # type: ignore[assignment]
    else:
        span.instrumentation_scope._attributes = attributes  # type: ignore[union-attr]
    return [span]


def message_levels(value: Any) -> int:
    """Levels of messages below a value's AnyValue, as the official encoder builds them: a
    sequence is an ArrayValue holding AnyValues, a map a KeyValueList of KeyValues of AnyValues."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, Mapping)):
        return 0
    inner = value.values() if isinstance(value, Mapping) else value
    below = [message_levels(v) for v in inner]
    return 1 if not below else max(below) + (3 if isinstance(value, Mapping) else 2)


def nested(levels: int, kinds: str) -> Any:
    """A value with exactly ``levels`` levels of messages below its AnyValue, made of tuples,
    lists and dicts (``t``, ``l``, ``d`` in ``kinds``, repeated from the outside in)."""
    wrappers = []
    while levels > 3:
        kind = kinds[len(wrappers) % len(kinds)]
        wrappers.append(kind)
        levels -= 3 if kind == "d" else 2
    value: Any = {0: "leaf", 1: (), 2: (None,), 3: {"k": None}}[levels]
    for kind in reversed(wrappers):
        value = (value,) if kind == "t" else [value] if kind == "l" else {"k": value}
    return value


def expected_on_upb(where: str, levels: int) -> str:
    """The official encoder on upb: a copy of a message with more than 100 levels below it fails;
    inside the attribute that drops the attribute, above it (up to ResourceSpans) the batch."""
    if levels > 100:
        return "dropped"
    if levels + LEVELS_BELOW_RESOURCE_SPANS[where] > 100:
        return "raises DecodeError"
    return "encoded"


@pytest.mark.parametrize("kinds", ["t", "l", "d", "tld", "dlt"])
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(
    "depth",
    ["deepest encoded", "shallowest failing", "deepest failing", "shallowest dropped", "dropped"],
)
def test_values_nested_around_the_official_limits_get_the_official_verdict(
    where: str, kinds: str, depth: str
) -> None:
    first_failing = 101 - LEVELS_BELOW_RESOURCE_SPANS[where]
    levels = {
        "deepest encoded": first_failing - 1,
        "shallowest failing": first_failing,
        "deepest failing": 100,
        "shallowest dropped": 101,
        "dropped": 102,
    }[depth]
    value = nested(levels, kinds)
    assert message_levels(value) == levels
    result = same_outcome(carrying(where, {"deep": value, "ok": 1}))
    if UPB:
        assert verdict(result) == expected_on_upb(where, levels)


@upb_only
def test_tuples_nested_49_deep_in_span_attributes_fail_the_batch_with_decode_error() -> None:
    from google.protobuf.message import DecodeError

    def tuples(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = (value,)
        return value

    assert verdict(same_outcome(carrying("span", {"deep": tuples(48)}))) == "encoded"
    for depth in (49, 50):  # ScopeSpans, then KeyValue, cannot be parsed again
        with pytest.raises(DecodeError, match="Error parsing message with type") as raised:
            encode_spans(carrying("span", {"deep": tuples(depth)}))
        assert raised.value.__context__ is None  # the official encoder's exception alone
    result = same_outcome(carrying("span", {"deep": tuples(51), "ok": 1}))
    [(logger, level, message, with_traceback)] = result[-1]
    assert (logger, level, with_traceback) == (
        "opentelemetry.exporter.otlp.proto.common._internal",
        "ERROR",
        True,
    )
    assert message.startswith(  # protobuf 7 adds ": Exceeded upb_DecodeOptions_MaxDepth"
        "Failed to encode key deep: Error parsing message with type "
        "'opentelemetry.proto.common.v1.ArrayValue'"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(WHERE),
    shape=st.integers(0, 60).flatmap(  # how deep, then which container at each level
        lambda depth: st.lists(
            st.tuples(st.sampled_from("tld"), st.booleans()), min_size=depth, max_size=depth
        )
    ),
    leaf=st.sampled_from([1, 1.5, None, "s", b"b", (), {}, [], 2**64, "lone \udc80"]),
)
def test_values_nested_any_way_get_the_official_verdict(
    where: str, shape: list[tuple[str, bool]], leaf: Any
) -> None:
    value = leaf
    for kind, sibling in reversed(shape):  # with a shallow sibling beside the deeper value
        if kind == "d":
            value = {"s": "sibling", "k": value} if sibling else {"k": value}
        else:
            items = ("sibling", value) if sibling else (value,)
            value = items if kind == "t" else list(items)
    result = same_outcome(carrying(where, {"a": 1, "deep": value, "bad": 2**64, "z": "ok"}))
    if UPB and leaf != 2**64 and leaf != "lone \udc80":
        levels = message_levels(value)
        expected = expected_on_upb(where, levels)
        if expected != "raises DecodeError":  # "bad" is dropped whatever happens to "deep"
            expected = "dropped"
        assert verdict(result) == expected


class Seven(int):
    """An int whose ``__int__`` and ``__index__`` lie; protobuf (upb) reads its value."""

    def __int__(self) -> int:
        return 7

    def __index__(self) -> int:
        return 7


class Shouting(str):
    """A str whose ``encode`` lies; protobuf (upb) reads its characters."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"SHOUTING"


class Lying(bytes):
    """Bytes whose ``len`` lies; protobuf (upb) reads the buffer."""

    def __len__(self) -> int:
        return 1


ODD_VALUES = [
    pytest.param(Seven(3), marks=upb_only, id="int subclass"),
    pytest.param([Seven(3)], marks=upb_only, id="int subclass in a list"),
    pytest.param(Shouting("quiet"), marks=upb_only, id="str subclass"),
    pytest.param({"k": Shouting("quiet")}, marks=upb_only, id="str subclass in a dict"),
    pytest.param(Lying(b"abc"), marks=upb_only, id="bytes subclass"),
    pytest.param(Color.RED, id="str enum"),
    pytest.param(Level.HIGH, id="int enum"),
    pytest.param(2**64, id="int beyond 64 bits"),
    pytest.param(-(2**63) - 1, id="int below int64"),
    pytest.param([1, 2**64], id="int beyond 64 bits in a list"),
    pytest.param("report-\udcff.csv", id="lone surrogate"),
    pytest.param(["ok", "report-\udcff.csv"], id="lone surrogate in a list"),
    pytest.param({"k": "report-\udcff.csv"}, id="lone surrogate in a dict"),
    pytest.param({"report-\udcff.csv": 1}, id="lone surrogate as a dict key"),
    pytest.param({b"\xff": 1, 2: 2, None: 3, (1,): 4}, id="dict keys that are not str"),
    pytest.param(b"\xff\xfe", id="bytes"),
    pytest.param(bytearray(b"ab"), id="bytearray"),
    pytest.param(memoryview(b"ab"), id="memoryview"),
    pytest.param(range(3), id="range"),
    pytest.param([], id="empty list"),
    pytest.param({}, id="empty dict"),
    pytest.param([[], {}, ()], id="empty containers in a list"),
    pytest.param((None,), id="None in a tuple"),
    pytest.param({"k": None}, id="None in a dict"),
    pytest.param([math.nan, math.inf, -math.inf, -0.0], id="nan and infinities"),
    pytest.param(object(), id="object"),
    pytest.param([object()], id="object in a list"),
    pytest.param({1, 2}, id="set"),
    pytest.param(1 + 2j, id="complex"),
    pytest.param("x" * 70_000, id="huge str"),
]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_attribute_values_are_encoded_or_dropped_as_by_the_official_encoder(
    where: str, value: Any
) -> None:
    same_outcome(carrying(where, {"a": 1, "odd": value, "z": "ok"}))


ODD_KEYS = [
    pytest.param(b"utf-8 bytes", id="bytes"),
    pytest.param(b"\xff", id="bytes not UTF-8"),
    pytest.param(b"", id="empty bytes"),
    pytest.param(1, id="int"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="None"),
    pytest.param(("t",), id="tuple"),
    pytest.param(Color.RED, id="str enum"),
    pytest.param(Level.HIGH, id="int enum"),
    pytest.param(Shouting("a key that shouts"), marks=upb_only, id="str subclass"),
    pytest.param("k-\udcff", id="lone surrogate"),
]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_attribute_keys_are_encoded_or_dropped_as_by_the_official_encoder(
    where: str, key: Any
) -> None:
    for value in ("v", 1, 1.5, (1, "t")):  # each path through the attribute encoder
        same_outcome(carrying(where, {"a": 1, key: value, "z": "ok"}))


ODD_NAMES = [
    pytest.param(b"utf-8 bytes", id="bytes"),
    pytest.param(b"\xff\xfe", id="bytes not UTF-8"),
    pytest.param(b"", id="empty bytes"),
    pytest.param(bytearray(b"ba"), id="bytearray"),
    pytest.param(5, id="int"),
    pytest.param(0, id="zero"),
    pytest.param(False, id="False"),
    pytest.param(1.5, id="float"),
    pytest.param(("t",), id="tuple"),
    pytest.param(object(), id="object"),
    pytest.param(None, id="None"),
    pytest.param(Color.RED, id="str enum"),
    pytest.param(Shouting("quiet"), marks=upb_only, id="str subclass"),
    pytest.param("report-\udcff.csv", id="lone surrogate"),
]


def named(field: str, value: Any) -> list[ReadableSpan]:
    """A batch of one span whose ``field`` (a string in OTLP) holds ``value``."""
    resource = Resource({"service.name": "s"}, schema_url="https://r/1")
    span = ended(TracerProvider(resource=resource))
    scope = span.instrumentation_scope
    if field == "span name":
        span._name = value  # type: ignore[attr-defined]
    elif field == "event name":
        span._events = [Event(value, {"a": 1}, timestamp=1)]  # type: ignore[attr-defined]
    elif field == "status description":
        status = Status(StatusCode.ERROR)
        status._description = value  # type: ignore[attr-defined]
        span._status = status  # type: ignore[attr-defined]
    elif field == "resource schema_url":
        resource._schema_url = value
    else:
        assert scope is not None
        name, version, schema_url = scope.name, scope.version, scope.schema_url
        if field == "scope name":
            name = value
        elif field == "scope version":
            version = value
        else:
            schema_url = value
        span._instrumentation_scope = InstrumentationScope(name, version, schema_url)  # type: ignore[attr-defined]
    return [span]


@pytest.mark.parametrize(
    "field",
    [
        "span name",
        "event name",
        "status description",
        "scope name",
        "scope version",
        "scope schema_url",
        "resource schema_url",
    ],
)
@pytest.mark.parametrize("value", ODD_NAMES)
def test_names_that_are_not_plain_str_are_encoded_or_refused_as_by_the_official_encoder(
    field: str, value: Any
) -> None:
    same_outcome(named(field, value))


def test_a_bytes_span_name_is_encoded_as_its_utf8() -> None:
    span = ended(TracerProvider())
    span._name = "caf\u00e9".encode()  # type: ignore[attr-defined]
    assert verdict(same_outcome([span])) == "encoded"


def _bounded(dropped: Any) -> BoundedAttributes:
    attributes = BoundedAttributes(attributes={"a": 1})
    attributes.dropped = dropped
    return attributes


@pytest.mark.parametrize("value", [True, False, 1.5, -1, 2**64, "5"])
@pytest.mark.parametrize("field", ["_start_time", "_end_time", "event timestamp"])
def test_timestamps_protobuf_refuses_fail_as_in_the_official_encoder(
    field: str, value: Any
) -> None:
    span = ended(TracerProvider())
    if field == "event timestamp":
        span._events = [Event("e", {}, timestamp=value)]  # type: ignore[attr-defined]
    else:
        setattr(span, field, value)
    same_outcome([span])


@pytest.mark.parametrize("count", [-1, 2**32, True, 2**32 - 1])
@pytest.mark.parametrize("where", ["span", "event", "link", "events", "links"])
def test_dropped_counts_beyond_uint32_fail_as_in_the_official_encoder(
    where: str, count: Any
) -> None:
    span = ended(TracerProvider())
    if where == "span":
        span._attributes = _bounded(count)  # type: ignore[attr-defined]
    elif where == "event":
        span._events = [Event("e", _bounded(count), timestamp=1)]  # type: ignore[attr-defined]
    elif where == "link":
        span._links = [Link(SpanContext(1, 2, False), _bounded(count))]  # type: ignore[attr-defined]
    else:
        bounded = BoundedList(maxlen=None)
        bounded.append(
            Event("e", {}, timestamp=1) if where == "events" else Link(SpanContext(1, 2, False))
        )
        bounded.dropped = count
        setattr(span, "_" + where, bounded)
    same_outcome([span])


@pytest.mark.parametrize(
    ("field", "value"),
    [("_kind", 2), ("_kind", None), ("_kind", Level.HIGH), ("_status", "status code")],
)
def test_kinds_and_status_codes_that_are_not_members_go_as_in_the_official_encoder(
    field: str, value: Any
) -> None:
    span = ended(TracerProvider())
    if field == "_status":
        status = Status(StatusCode.OK)
        status._status_code = SpanKind.CLIENT  # type: ignore[assignment]  # an enum, another one
        value = status
    setattr(span, field, value)
    same_outcome([span])


def test_a_batch_left_to_the_official_encoder_logs_each_dropped_attribute_once() -> None:
    provider = TracerProvider()
    dropping = ended(provider)
    dropping._attributes = {"bad": 2**64, "good": 1}  # type: ignore[attr-defined]
    for odd in (b"bytes name", 7):  # ours hands the batch over at the second span
        other = ended(provider)
        other._name = odd  # type: ignore[attr-defined]
        result = same_outcome([dropping, other])
        assert len(result[-1]) == 1


def test_dropped_scope_attributes_are_logged_before_dropped_resource_attributes() -> None:
    spans = carrying("resource", {"resource bad": 2**64})
    spans[0].instrumentation_scope._attributes = {"scope bad": 2**64}  # type: ignore[union-attr]
    result = same_outcome(spans)
    assert [line[2].split(":")[0] for line in result[-1]] == [
        "Failed to encode key scope bad",
        "Failed to encode key resource bad",
    ]


def test_huge_names_descriptions_and_values_are_encoded_but_not_cached() -> None:
    huge = "x" * 100_000
    provider = TracerProvider()
    spans = []
    for i in range(3):
        span = ended(provider, f"{huge}{i}", attributes={"huge": huge + str(i), huge: 1.5})
        span._status = Status(StatusCode.ERROR, huge + str(i))  # type: ignore[attr-defined]
        spans.append(span)
    same_bytes(spans)
    assert all(len(v) <= encoder._CACHEABLE for v in encoder._NAMES.cache.values())
    assert all(len(v) <= encoder._CACHEABLE for v in encoder._STATUS.values())
    keys = [entry for table in encoder._KEYS.tables.values() for entry in table.values()]
    assert all(size <= encoder._CACHEABLE for entry in keys for size in entry.texts)
    assert all(len(entry.field) <= encoder._MAX_KEY_FIELD for entry in keys)


# -- distinct values: every value new, every key's heads reused -------------------------------
def utf8_of_size(draw: st.DrawFn, size: int) -> str:
    """A str of exactly ``size`` UTF-8 bytes, mixing one- to four-byte characters."""
    out, left = [], size
    while left:
        width = draw(st.integers(1, min(left, 4)))
        out.append({1: "a", 2: "\u00e9", 3: "\u4e2d", 4: "\U0001f600"}[width])
        left -= width
    return "".join(out)


# Lengths around each boundary of a one- and two-byte length in a KeyValue field's head.
SIZES = st.sampled_from([0, 1, 100, 107, 108, 110, 111, 112, 113, 114, 124, 125, 126, 127]) | (
    st.integers(0, 700)
)
INTS = (
    st.integers(0, 0x7F)
    | st.integers(0x80, 2**21)
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, -1, 2**63 - 1, -(2**63)])
)
KEYS = st.sampled_from(["k", "", "http.url", "\u00e9t\u00e9", "k" * 112, "k" * 113, "k" * 200])


@st.composite
def distinct_values(draw: st.DrawFn, odd: bool = True) -> Any:
    """A fresh attribute value of each kind the fast path takes, and (``odd``) a few it hands on."""
    kinds = ["str", "str", "int", "float", "bool", "tuple"] + (["odd"] if odd else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "str":
        return utf8_of_size(draw, draw(SIZES))
    if kind == "int":
        return draw(INTS)
    if kind == "float":
        return draw(st.floats(allow_nan=True, allow_infinity=True))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "tuple":
        return tuple(draw(st.lists(st.text(max_size=4), max_size=3)))
    return draw(
        st.sampled_from([None, b"bytes", 2**63, 2**64, -(2**63) - 1, "lone \udc80", Level.HIGH])
    )


@st.composite
def distinct_maps(draw: st.DrawFn, odd: bool = True) -> dict[Any, Any]:
    keys = draw(st.lists(KEYS | st.text(max_size=12) | st.sampled_from([b"k", 7]), max_size=6))
    if not odd:
        keys = [key for key in keys if isinstance(key, str) and "\udc80" not in key]
    return {key: draw(distinct_values(odd)) for key in keys}


@st.composite
def distinct_batches(draw: st.DrawFn, odd: bool = True) -> list[ReadableSpan]:
    resource = Resource(draw(distinct_maps(odd)))
    provider = TracerProvider(resource=resource, id_generator=DrawnIds(draw))
    tracer = provider.get_tracer("t", "1", attributes=draw(distinct_maps(odd)))
    spans = []
    for _ in range(draw(st.integers(1, 6))):
        links = [Link(SpanContext(1, 2, False), draw(distinct_maps(odd)))]
        span = tracer.start_span("op", links=links)
        span.add_event("e", draw(distinct_maps(odd)))
        span.end()
        span._attributes = draw(distinct_maps(odd))  # type: ignore[attr-defined]
        spans.append(span)
    return spans  # type: ignore[return-value]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(distinct_batches())
def test_spans_with_distinct_values_get_the_official_outcome(spans: list[ReadableSpan]) -> None:
    same_outcome(spans)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(distinct_batches(odd=False))
def test_spans_with_plain_values_are_encoded_here_without_the_official_encoder(
    spans: list[ReadableSpan],
) -> None:
    expected = official(spans).SerializeToString()
    with mock.patch.object(encoder, "_official", side_effect=AssertionError("handed over")):
        assert encode_spans(spans) == expected


@pytest.mark.parametrize("size", [0, 107, 108, 127, 128, 16_383, 16_384, 2**21])
@pytest.mark.parametrize("key", ["k", "k" * 113, "\u00e9" * 60])
def test_a_str_value_of_every_length_class_is_encoded_as_officially(key: str, size: int) -> None:
    for where in WHERE:  # twice: the head made, then the head reused
        same_outcome(carrying(where, {key: "v" * size, "z": "w" * size}) * 2)


def test_the_key_tables_are_dropped_when_full_and_filled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encoder, "_HEADS_LIMIT", 40)
    provider = TracerProvider()
    for round_ in range(3):
        spans = [
            ended(provider, attributes={f"k{i}": "v" * (i + round_), "n": i * 1000})
            for i in range(20)
        ]
        same_bytes(spans)
        assert encoder._KEYS.heads <= 40
    assert any(encoder._KEYS.tables.values())
