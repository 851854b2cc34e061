"""The fast OTLP encoder is byte-identical to the official one: differential tests on
realistic workloads, edge cases, and arbitrary spans from hypothesis."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
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
    with pytest.raises(UnicodeEncodeError):
        official([span])
    with pytest.raises(UnicodeEncodeError):
        encode_spans([span])


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
