"""A fast OTLP trace encoder: the protobuf wire format written directly, byte for byte the same
as ``encode_spans(spans).SerializeToString()`` of the official encoder.

The official encoder builds a protobuf object per span, attribute and value and then serialises
them; on Lambda that is most of the billed flush time. Here each message is written as bytes,
fields in field-number order with proto3's rules for defaults, and what repeats (resources,
scopes, attribute key/value pairs) is encoded once. Span fields are read from the SDK's private
attributes only after an import-time check on a real span that they give what the public API
gives; otherwise through the public API. A batch holding anything but SDK ``ReadableSpan``
objects goes to the official encoder unchanged.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

# The official encoder logs dropped attributes on this logger, with this message.
_official_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.common._internal")

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MASK = 2**64 - 1

# SpanFlags: the context has is-remote information, and it is remote.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_KIND = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}  # SDK SpanKind value -> OTLP enum


def _sequence(values: Any) -> Any:
    """What to iterate of a BoundedList: its deque, without the copy under its lock."""
    inner = getattr(values, "_dq", None)
    return inner if inner is not None else values


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    n = len(payload)
    return tag + (_SMALL[n] if n < 0x80 else _varint(n)) + payload


# -- AnyValue and KeyValue ---------------------------------------------------------------------
def _any_value(value: Any) -> bytes:
    """The content of an ``AnyValue`` message, as the official ``_encode_value`` builds it."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", value.encode("utf-8"))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"Value out of range: {int(value)}")
        return b"\x18" + _varint(int(value) & _UINT64_MASK)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        pairs = [_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()]
        return _field(b"\x32", b"".join(pairs))
    raise Exception(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    encoded_key = _field(b"\x0a", key.encode("utf-8")) if key else b""
    return encoded_key + _field(b"\x12", _any_value(value))


_CACHE_LIMIT = 4096


class _Attributes:
    """Encodes attribute maps into repeated ``KeyValue`` fields, caching frequent pairs."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[bytes, str, type, Any], bytes] = {}

    def encode(self, tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
        if not attributes:
            return b""
        pairs = self._pairs
        out = []
        for key, value in _items(attributes).items():
            kind = type(value)
            cache_key = (
                (tag, key, kind, value) if kind is str or kind is int or kind is bool else None
            )
            encoded = pairs.get(cache_key) if cache_key is not None else None
            if encoded is None:
                try:
                    encoded = _field(tag, _key_value(key, value))
                except Exception as error:  # the official encoder drops the pair and logs it
                    _official_logger.exception("Failed to encode key %s: %s", key, error)
                    continue
                if cache_key is not None:
                    if len(pairs) >= _CACHE_LIMIT:
                        pairs.clear()
                    pairs[cache_key] = encoded
            out.append(encoded)
        return b"".join(out)


# -- reading spans -----------------------------------------------------------------------------
class _Fields:
    """What the encoder reads of a span, from its private fields (about twice as fast as the
    properties, which copy) or, where those are not what this SDK version had, the public API."""

    __slots__ = (
        "attributes",
        "context",
        "dropped_attributes",
        "dropped_events",
        "dropped_links",
        "end_time",
        "events",
        "kind",
        "links",
        "name",
        "parent",
        "start_time",
        "status",
    )
    attributes: Any
    context: Any
    dropped_attributes: int
    dropped_events: int
    dropped_links: int
    end_time: int | None
    events: Any
    kind: Any
    links: Any
    name: str
    parent: Any
    start_time: int | None
    status: Any


def _public(span: ReadableSpan) -> _Fields:
    f = _Fields()
    f.context, f.parent, f.name, f.kind = span.get_span_context(), span.parent, span.name, span.kind
    f.start_time, f.end_time, f.status = span.start_time, span.end_time, span.status
    f.attributes, f.events, f.links = span.attributes, span.events, span.links
    f.dropped_attributes = span.dropped_attributes
    f.dropped_events, f.dropped_links = span.dropped_events, span.dropped_links
    return f


def _items(mapping: Any) -> Any:
    """The pairs of an attribute map, without BoundedAttributes' copy under its lock."""
    inner = getattr(mapping, "_dict", None)
    return inner if isinstance(inner, dict) else mapping


def _private(span: ReadableSpan) -> _Fields:
    d = span.__dict__
    f = _Fields()
    f.context, f.parent, f.name, f.kind = d["_context"], d["_parent"], d["_name"], d["_kind"]
    f.start_time, f.end_time, f.status = d["_start_time"], d["_end_time"], d["_status"]
    attributes, events, links = d["_attributes"], d["_events"], d["_links"]
    f.attributes, f.events, f.links = _items(attributes) if attributes else {}, events, links
    f.dropped_attributes = getattr(attributes, "dropped", 0) or 0
    f.dropped_events = getattr(events, "dropped", 0) or 0
    f.dropped_links = getattr(links, "dropped", 0) or 0
    return f


def _private_matches_public() -> bool:
    """Check on a real SDK span that the private read gives what the public API gives."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.trace import Link, SpanContext

        provider = TracerProvider(shutdown_on_exit=False)
        links = [Link(SpanContext(1, 2, True)), Link(SpanContext(3, 4, False))]
        span = provider.get_tracer("probe").start_span("probe", links=links)
        span.set_attributes({"a": 1, "b": 2})
        span.add_event("e1")
        span.add_event("e2")
        span.end()
        fast, slow = _private(span), _public(span)  # type: ignore[arg-type]
        return all(
            getattr(fast, name) == getattr(slow, name)
            for name in _Fields.__slots__
            if name not in ("attributes", "events", "links")
        ) and (
            dict(fast.attributes) == dict(slow.attributes)
            and tuple(_sequence(fast.events)) == tuple(slow.events)
            and tuple(_sequence(fast.links)) == tuple(slow.links)
        )
    except Exception:
        return False


_FAST = _private_matches_public()


def _fields(span: ReadableSpan) -> _Fields:
    if _FAST:
        try:
            return _private(span)
        except (KeyError, AttributeError):  # a subclass that stores things elsewhere
            pass
    return _public(span)


# -- spans -------------------------------------------------------------------------------------
def _flags(context: Any) -> bytes:
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if context is not None and context.is_remote else 0)
    return _pack_fixed32(flags)


def _span(span: ReadableSpan, attributes: _Attributes) -> bytes:
    f = _fields(span)
    context = f.context
    parts = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),
    ]
    trace_state = context.trace_state
    if trace_state:
        parts.append(
            _field(b"\x1a", ",".join([f"{k}={v}" for k, v in trace_state.items()]).encode())
        )
    parent = f.parent
    if parent:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    if f.name:
        parts.append(_field(b"\x2a", f.name.encode("utf-8")))
    kind = _KIND_FIELD.get(f.kind)
    parts.append(kind if kind is not None else b"\x30" + _SMALL[_KIND[f.kind.value]])
    if f.start_time:
        parts.append(b"\x39" + _pack_fixed64(f.start_time))
    if f.end_time:
        parts.append(b"\x41" + _pack_fixed64(f.end_time))
    if f.attributes:
        parts.append(attributes.encode(b"\x4a", f.attributes))
    if f.dropped_attributes:
        parts.append(b"\x50" + _varint(f.dropped_attributes))
    for event in _sequence(f.events):
        content = b"\x09" + _pack_fixed64(event.timestamp) if event.timestamp else b""
        if event.name:
            content += _field(b"\x12", event.name.encode("utf-8"))
        content += attributes.encode(b"\x1a", event.attributes)
        if event.dropped_attributes:
            content += b"\x20" + _varint(event.dropped_attributes)
        parts.append(_field(b"\x5a", content))
    if f.dropped_events:
        parts.append(b"\x60" + _varint(f.dropped_events))
    for link in _sequence(f.links):
        linked = link.context
        content = b"\x0a\x10" + linked.trace_id.to_bytes(16, "big")
        content += b"\x12\x08" + linked.span_id.to_bytes(8, "big")
        content += attributes.encode(b"\x22", link.attributes)
        if link.dropped_attributes:
            content += b"\x28" + _varint(link.dropped_attributes)
        content += b"\x35" + _flags(linked)
        parts.append(_field(b"\x6a", content))
    if f.dropped_links:
        parts.append(b"\x70" + _varint(f.dropped_links))
    status = f.status
    content = b""
    if status.description:
        content += _field(b"\x12", status.description.encode("utf-8"))
    code = _STATUS_FIELD.get(status.status_code)
    content += code if code is not None else b"\x18" + _varint(status.status_code.value)
    parts.append(_field(b"\x7a", content))
    parts.append(_REMOTE_PARENT if parent is not None and parent.is_remote else _LOCAL_PARENT)
    return b"".join(parts)


_LOCAL_PARENT = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE)
_KIND_FIELD = {kind: b"\x30" + _SMALL[_KIND[kind.value]] for kind in SpanKind}
_STATUS_FIELD = {
    code: (b"\x18" + _varint(code.value) if code.value else b"") for code in StatusCode
}
_REMOTE_PARENT = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)


_ATTRIBUTES = _Attributes()  # shared by every batch: attribute pairs repeat across invocations


class _Encoder:
    """One batch: resources and scopes are encoded once each."""

    def __init__(self) -> None:
        self.attributes = _ATTRIBUTES

    def resource(self, resource: Any) -> bytes:
        return self.attributes.encode(b"\x0a", resource.attributes)

    def scope(self, scope: Any) -> bytes:
        if scope is None:
            return b""
        content = _field(b"\x0a", scope.name.encode("utf-8")) if scope.name else b""
        if scope.version:
            content += _field(b"\x12", scope.version.encode("utf-8"))
        return content + self.attributes.encode(b"\x1a", scope.attributes)

    def request(self, spans: Sequence[ReadableSpan]) -> bytes:
        # Grouped by equality, as the official encoder groups; Resource hashes by serialising
        # its attributes to JSON, so each distinct object is hashed once, not once per span.
        grouped: dict[Any, dict[Any, list[bytes]]] = {}
        by_identity: dict[tuple[int, int], list[bytes]] = {}
        keep_alive = []
        for span in spans:
            resource, scope = span.resource, span.instrumentation_scope or None
            identity = (id(resource), id(scope))
            bucket = by_identity.get(identity)
            if bucket is None:
                bucket = grouped.setdefault(resource, {}).setdefault(scope, [])
                by_identity[identity] = bucket
                keep_alive.append((resource, scope))
            bucket.append(_span(span, self.attributes))
        out = []
        for resource, scopes in grouped.items():
            content = _field(b"\x0a", self.resource(resource))
            for scope, encoded_spans in scopes.items():
                scope_content = _field(b"\x0a", self.scope(scope))
                scope_content += b"".join([_field(b"\x12", s) for s in encoded_spans])
                schema = scope.schema_url if scope is not None else None
                if schema:
                    scope_content += _field(b"\x1a", schema.encode("utf-8"))
                content += _field(b"\x12", scope_content)
            if resource.schema_url:
                content += _field(b"\x1a", resource.schema_url.encode("utf-8"))
            out.append(_field(b"\x0a", content))
        return b"".join(out)


def _official(spans: Sequence[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official

    return official(spans).SerializeToString()  # type: ignore[no-any-return]


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` for ``spans``.

    Byte-identical to the official encoder's ``encode_spans(spans).SerializeToString()``;
    a batch with anything but SDK ``ReadableSpan`` objects is handed to the official encoder.
    """
    if not all(isinstance(span, ReadableSpan) for span in spans):
        return _official(spans)
    return _Encoder().request(spans)
