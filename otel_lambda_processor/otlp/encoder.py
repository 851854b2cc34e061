"""A fast OTLP trace encoder: the protobuf wire format written directly, byte for byte the same
as ``encode_spans(spans).SerializeToString()`` of the official encoder.

The official encoder builds a protobuf object per span, attribute and value and then serialises
them; on Lambda that is most of the billed flush time. Here each message is written as bytes,
fields in field-number order with proto3's rules for defaults, as one list of parts joined once
per span. What repeats is encoded once: resources and scopes per batch, span names and statuses
per process, and for each attribute key the bytes before its value (``_Key``), as keys repeat
even where values (request ids, SQL, URLs) never do; values themselves are not cached. Span
fields are read from the SDK's private attributes only on a tested OpenTelemetry release
(:mod:`.releases`) and after an import-time check on a real span that they give what the public
API gives; otherwise through the public API.
A batch holding anything but SDK ``ReadableSpan`` objects goes to the official encoder unchanged.

Hostile values get exactly the official treatment. An attribute this encoder cannot encode is put
to the official encoder alone: if that fails too, the pair is dropped and logged as the official
encoder drops and logs it. If it succeeds, or anything else here fails (a name that is not a
``str``, a timestamp that is not an int, ...), or an attribute value nests deeper than
``_MAX_NESTING``, the whole batch goes to the official encoder: its bytes, its exception, its
log lines. So ``encode_spans`` raises where and what the official one raises; on protobuf's upb
backend ``UnicodeEncodeError`` for a lone surrogate in a span name, event name or status
description, and ``google.protobuf.message.DecodeError`` for attribute values nested too deep.
"""

from __future__ import annotations

import logging
import operator
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from .releases import official_encoder_release, untested_releases

# The official encoder logs dropped attributes on this logger, with this message.
_official_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.common._internal")
_DROPPED = "Failed to encode key %s: %s"

# How deep attribute values (sequences and maps in one another) may nest and still be encoded
# here; a deeper one sends its batch to the official encoder. That encoder builds a protobuf
# object for every value, and on protobuf's upb backend each object is copied into its parent by
# serialising and parsing it again, and upb's parser refuses more than 100 levels of messages
# below the one it parses. So an attribute whose ``AnyValue`` has more than 100 levels below it
# is dropped (logged), and one with more than 100 minus its distance below ``ResourceSpans``
# (the last message copied) fails the whole batch: from 97 levels for span and scope
# attributes, 96 for event and link attributes, 98 for resource attributes. A sequence adds two
# levels and a map three. With the pure-Python backend the limit is Python's recursion limit,
# and ``SetAllowOversizeProtos(True)`` lifts upb's. 16 containers stay far below all of them.
_MAX_NESTING = 16
# Encodings longer than this are not cached, nor heads for str values longer than this: a cache
# of 4,096 huge status descriptions or span names would hold on to memory a Lambda function may
# not have, and values of ever new lengths would fill the key tables (see _Keys).
_CACHEABLE = 512
# The official encoder writes None as an empty ``AnyValue`` since 1.45; before, an attribute
# holding one was dropped (logged) and only log records took it. Where None is refused here,
# the official encoder is asked what to do, as for any value this encoder refuses.
_NONE_IS_EMPTY = (official_encoder_release() or (0, 0)) >= (1, 45)


class _HandOverError(Exception):
    """Raised where this batch is to be handed over to the official encoder."""


_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_times = struct.Struct("<BQBQ").pack  # a span's start and end time fields
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
    """A non-negative int as a protobuf varint."""
    if value < 0x80:
        return _SMALL[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0x200000:
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
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
    if n < 0x80:
        return tag + _SMALL[n] + payload
    if n < 0x4000:  # a span's usual size: two bytes of length
        return tag + bytes(((n & 0x7F) | 0x80, n >> 7)) + payload
    return tag + _varint(n) + payload


# -- AnyValue and KeyValue ---------------------------------------------------------------------
def _any_value(value: Any, depth: int = 0) -> bytes:
    """The content of an ``AnyValue`` message, as the official ``_encode_value`` builds it.

    Raises where the official one raises (the exception may differ: the official encoder is
    asked again), and ``_HandOverError`` for a value nested deeper than ``_MAX_NESTING``.
    Subclasses are read as upb reads them: by their value, never through a method they override.
    """
    kind = type(value)  # the exact common types first; subclasses take the official order below
    if kind is str:
        return _field(b"\x0a", value.encode("utf-8"))
    if kind is float:
        return b"\x21" + _pack_double(value)
    if kind is tuple:
        if depth >= _MAX_NESTING:
            raise _HandOverError
        depth += 1
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v, depth)) for v in value]))
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"Value out of range: {value}")
        return b"\x18" + _varint(value & _UINT64_MASK)
    if value is None:
        if _NONE_IS_EMPTY:
            return b""
        raise TypeError(f"Invalid type {type(value)} of value {value}")
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", str.encode(value, "utf-8"))
    if isinstance(value, int):
        number = operator.index(value)  # an exact int: not what a subclass's __int__ says
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise ValueError(f"Value out of range: {number}")
        return b"\x18" + _varint(number & _UINT64_MASK)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value if kind is bytes else bytes.__getitem__(value, slice(None)))
    if isinstance(value, Sequence):
        if depth >= _MAX_NESTING:
            raise _HandOverError
        depth += 1
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v, depth)) for v in value]))
    if isinstance(value, Mapping):
        if depth >= _MAX_NESTING:
            raise _HandOverError
        depth += 1
        pairs = [_field(b"\x0a", _key_value(str(k), v, depth)) for k, v in value.items()]
        return _field(b"\x32", b"".join(pairs))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any, depth: int) -> bytes:
    encoded_key = str.encode(key, "utf-8")
    encoded_key = _field(b"\x0a", encoded_key) if encoded_key else b""
    return encoded_key + _field(b"\x12", _any_value(value, depth))


def _string(tag: bytes, value: Any) -> bytes:
    """A string field as the official encoder sets it: left out when None or empty."""
    if isinstance(value, str):
        encoded = str.encode(value, "utf-8")
        return _field(tag, encoded) if encoded else b""
    if value is None:
        return b""
    raise _HandOverError  # bytes (which protobuf decodes), other objects (which it refuses)


def _timestamp(tag: bytes, value: Any) -> bytes:
    """A ``fixed64`` timestamp field, left out when 0 or None."""
    if value and value is not True:
        return tag + _pack_fixed64(value)
    return _unset(value)


def _unset(value: Any) -> bytes:
    """Nothing, for an integer field that is None or 0; other values go to the official encoder
    (protobuf refuses True, False and floats)."""
    if value is not None and type(value) is not int:
        raise _HandOverError
    return b""


def _count(tag: bytes, value: Any) -> bytes:
    """A ``uint32`` field of a dropped count, known to be non-zero."""
    if type(value) is not int or not 0 < value <= 0xFFFFFFFF:
        raise _HandOverError
    return tag + _varint(value)


_CACHE_LIMIT = 4096
# Heads cached over every key table (see _Key) before all the tables are dropped: a few MiB.
_HEADS_LIMIT = 32_768


class _Key:
    """What comes before an attribute value in a ``KeyValue`` field, for one key under one tag.

    A ``KeyValue`` field is: tag, length, the key field, ``0x12``, the ``AnyValue``'s length,
    the value's own tag, (its length,) the value. All but the value depends only on the tag, the
    key, the kind of value and its encoded length, and keys repeat even where values do not: so
    the head is encoded once per key and length, and each value is written after it as it is.
    """

    __slots__ = ("false", "field", "floats", "ints", "tag", "texts", "true")

    def __init__(self, tag: bytes, field: bytes) -> None:
        self.tag = tag
        self.field = field  # the KeyValue.key field: left out for an empty key
        self.texts: dict[int, bytes] = {}  # str heads by the value's UTF-8 length, filled lazily
        size = len(field)
        # int heads by the length of the value's varint (1 to 10 bytes)
        self.ints = [
            tag + _SMALL[size + 3 + n] + field + b"\x12" + _SMALL[n + 1] + b"\x18"
            for n in range(11)
        ]
        self.floats = tag + _SMALL[size + 11] + field + b"\x12\x09\x21"
        self.false = tag + _SMALL[size + 4] + field + b"\x12\x02\x10\x00"
        self.true = tag + _SMALL[size + 4] + field + b"\x12\x02\x10\x01"


class _Keys:
    """The ``_Key`` tables of every tag, bounded together: keys live as long as the process,
    but a function that makes keys (or value lengths) without end must not hold on to them."""

    def __init__(self) -> None:
        # by tag: resource and scope attributes (0x0a, 0x1a), span, event and link attributes
        self.tables: dict[bytes, dict[str, _Key]] = {
            tag: {} for tag in (b"\x0a", b"\x1a", b"\x4a", b"\x22")
        }
        self.heads = 0

    def key(self, tag: bytes, key: Any) -> _Key | None:
        """The ``_Key`` of ``key``, made and cached; None for a key that is not an exact ``str``
        or has no UTF-8 encoding (the official encoder's own treatment of it is asked for)."""
        if type(key) is not str:
            return None
        try:
            encoded = key.encode()
        except UnicodeEncodeError:
            return None
        field = _field(b"\x0a", encoded) if encoded else b""
        if len(field) > _MAX_KEY_FIELD:  # its heads would need more than one byte of length
            return None
        self._count(16)
        entry = _Key(tag, field)
        self.tables[tag][key] = entry
        return entry

    def text(self, entry: _Key, size: int) -> bytes:
        """The head of a ``str`` value of ``size`` bytes under ``entry``, cached."""
        value_field = len(_varint(size)) + size + 1
        pair = len(entry.field) + 1 + len(_varint(value_field)) + value_field
        head = b"".join(
            [
                entry.tag,
                _varint(pair),
                entry.field,
                b"\x12",
                _varint(value_field),
                b"\x0a",
                _varint(size),
            ]
        )
        if size <= _CACHEABLE:
            self._count(1)
            entry.texts[size] = head
        return head

    def _count(self, heads: int) -> None:
        self.heads += heads
        if self.heads > _HEADS_LIMIT:
            for table in self.tables.values():
                table.clear()
            self.heads = heads


# A key field longer than this would make an int, float or bool pair longer than one byte of
# length can say; such keys take the generic path.
_MAX_KEY_FIELD = 0x7F - 13
_KEYS = _Keys()


def _attributes(tag: bytes, attributes: Any, dropped: list[Any], append: Any) -> None:
    """Appends ``attributes`` as repeated ``KeyValue`` fields under ``tag``; pairs the official
    encoder drops are left out and added to ``dropped`` as (key, the official exception)."""
    table = _KEYS.tables[tag]
    items = attributes if type(attributes) is dict else _items(attributes)
    for key, value in items.items():
        entry = table.get(key)
        if entry is None:
            entry = _KEYS.key(tag, key)
        if entry is not None:
            kind = type(value)
            if kind is str:
                try:
                    data = value.encode()
                except UnicodeEncodeError:  # a lone surrogate: dropped, as officially
                    pass
                else:
                    append(entry.texts.get(len(data)) or _KEYS.text(entry, len(data)))
                    append(data)
                    continue
            elif kind is int:
                if 0 <= value < 0x80:
                    append(entry.ints[1])
                    append(_SMALL[value])
                    continue
                if _INT64_MIN <= value <= _INT64_MAX:
                    data = _varint(value & _UINT64_MASK)
                    append(entry.ints[len(data)])
                    append(data)
                    continue
            elif kind is float:
                append(entry.floats)
                append(_pack_double(value))
                continue
            elif kind is bool:
                append(entry.true if value else entry.false)
                continue
        encoded = _pair(tag, entry, key, value, dropped)  # the rest: sequences, bytes, None, ...
        if encoded is not None:
            append(encoded)


def _pair(tag: bytes, entry: _Key | None, key: Any, value: Any, dropped: list[Any]) -> bytes | None:
    """One ``KeyValue`` field the generic way, or None for a pair the official encoder drops."""
    try:
        encoded_key = entry.field if entry is not None else _key_field(key)
        return _field(tag, encoded_key + _field(b"\x12", _any_value(value)))
    except _HandOverError:
        raise
    except Exception:  # what does the official encoder make of this pair?
        pass
    try:
        from opentelemetry.exporter.otlp.proto.common._internal import _encode_key_value

        _encode_key_value(key, value)
    except ImportError:  # pragma: no cover - an official encoder without it
        raise _HandOverError from None
    except Exception as error:  # it drops the pair and logs why
        dropped.append((key, error))
        return None
    raise _HandOverError  # it encodes what this encoder could not


def _key_field(key: Any) -> bytes:
    """The ``KeyValue.key`` field; raises when the key is not a str or not UTF-8."""
    encoded_key = str.encode(key, "utf-8")
    return _field(b"\x0a", encoded_key) if encoded_key else b""


# -- reading spans -----------------------------------------------------------------------------
# What the encoder reads of a span, in this order: context, parent, name, kind, start time, end
# time, status, attributes, events, links, and the dropped attribute, event and link counts.
_Fields = tuple[Any, Any, str, Any, Any, Any, Any, Any, Any, Any, int, int, int]


def _public(span: ReadableSpan) -> _Fields:
    return (
        span.get_span_context(),
        span.parent,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        span.status,
        span.attributes,
        span.events,
        span.links,
        span.dropped_attributes,
        span.dropped_events,
        span.dropped_links,
    )


def _items(mapping: Any) -> Any:
    """The pairs of an attribute map, without BoundedAttributes' copy under its lock."""
    inner = getattr(mapping, "_dict", None)
    return inner if isinstance(inner, dict) else mapping


try:  # the containers the SDK keeps a span's attributes, events and links in
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.util import BoundedList
except ImportError:  # pragma: no cover - then every span takes the getattr path below

    class BoundedAttributes:  # type: ignore[no-redef]
        """Stands for a class this SDK does not have: no span's attributes are of this type."""

    class BoundedList:  # type: ignore[no-redef]
        """Likewise for the event and link lists."""


_READ = operator.itemgetter(
    "_context",
    "_parent",
    "_name",
    "_kind",
    "_start_time",
    "_end_time",
    "_status",
    "_attributes",
    "_events",
    "_links",
)


def _private(span: ReadableSpan) -> _Fields:
    """The same from the SDK's private fields: about twice as fast as the properties, which copy."""
    (context, parent, name, kind, start, end, status, attributes, events, links) = _READ(
        span.__dict__
    )
    if type(attributes) is BoundedAttributes:  # its dict, without the copy under its lock
        dropped_attributes, attributes = attributes.dropped, attributes._dict
    else:
        dropped_attributes, attributes = getattr(attributes, "dropped", 0) or 0, attributes or {}
    if type(events) is BoundedList:  # its deque, without the copy
        dropped_events, events = events.dropped, events._dq  # type: ignore[attr-defined]
    else:
        dropped_events = getattr(events, "dropped", 0) or 0
    if type(links) is BoundedList:
        dropped_links, links = links.dropped, links._dq  # type: ignore[attr-defined]
    else:
        dropped_links = getattr(links, "dropped", 0) or 0
    return (
        context,
        parent,
        name,
        kind,
        start,
        end,
        status,
        attributes,
        events,
        links,
        dropped_attributes,
        dropped_events,
        dropped_links,
    )


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
        return (
            fast[:7] == slow[:7]
            and fast[10:] == slow[10:]
            and dict(fast[7]) == dict(slow[7])
            and tuple(_sequence(fast[8])) == tuple(slow[8])
            and tuple(_sequence(fast[9])) == tuple(slow[9])
        )
    except Exception:
        return False


# Private reads only on a tested release, and only if they give what the public API gives.
_FAST = not untested_releases() and _private_matches_public()


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


class _Strings:
    """A bounded cache of one length-delimited string field (span names)."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.cache: dict[str, bytes] = {}

    def field(self, value: str) -> bytes:
        encoded = self.cache.get(value)
        if encoded is None:
            encoded = _string(self.tag, value)
            if len(encoded) <= _CACHEABLE:
                if len(self.cache) >= _CACHE_LIMIT:
                    self.cache.clear()
                self.cache[value] = encoded
        return encoded


_NAMES = _Strings(b"\x2a")


def _span(span: ReadableSpan, dropped: list[Any], out: list[bytes]) -> None:
    """Appends the span as a ``ScopeSpans.spans`` field to ``out``; dropped attributes are
    added to ``dropped``."""
    (
        context,
        parent,
        name,
        kind,
        start_time,
        end_time,
        status,
        span_attributes,
        events,
        links,
        dropped_attributes,
        dropped_events,
        dropped_links,
    ) = _fields(span)
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
    ]
    append = parts.append
    trace_state = context.trace_state
    if trace_state:
        append(_field(b"\x1a", ",".join([f"{k}={v}" for k, v in trace_state.items()]).encode()))
    if parent:
        append(b"\x22\x08")
        append(parent.span_id.to_bytes(8, "big"))
    if name:
        append(_NAMES.cache.get(name) or _NAMES.field(name))
    elif type(name) is not str:  # None, or what the official encoder may take or refuse
        append(_string(b"\x2a", name))
    encoded_kind = _KIND_FIELD.get(id(kind))  # by identity: enum members live forever, and
    # hashing one is a Python-level call on Python 3.12
    if encoded_kind is None:
        raise _HandOverError  # not a SpanKind member
    append(encoded_kind)
    if start_time and end_time and start_time is not True and end_time is not True:
        append(_pack_times(0x39, start_time, 0x41, end_time))  # both fields in one call
    else:
        append(_timestamp(b"\x39", start_time) + _timestamp(b"\x41", end_time))
    if span_attributes:
        _attributes(b"\x4a", span_attributes, dropped, append)
    if dropped_attributes:
        append(_count(b"\x50", dropped_attributes))
    if events:
        for event in _sequence(events):
            content = [_timestamp(b"\x09", event.timestamp), _string(b"\x12", event.name)]
            if event.attributes:
                _attributes(b"\x1a", event.attributes, dropped, content.append)
            if event.dropped_attributes:
                content.append(_count(b"\x20", event.dropped_attributes))
            append(_field(b"\x5a", b"".join(content)))
    if dropped_events:
        append(_count(b"\x60", dropped_events))
    if links:
        for link in _sequence(links):
            linked = link.context
            content = [
                b"\x0a\x10",
                linked.trace_id.to_bytes(16, "big"),
                b"\x12\x08",
                linked.span_id.to_bytes(8, "big"),
            ]
            if link.attributes:
                _attributes(b"\x22", link.attributes, dropped, content.append)
            if link.dropped_attributes:
                content.append(_count(b"\x28", link.dropped_attributes))
            content.append(b"\x35" + _flags(linked))
            append(_field(b"\x6a", b"".join(content)))
    if dropped_links:
        append(_count(b"\x70", dropped_links))
    encoded_status = _STATUS.get((id(status.status_code), status.description))
    if encoded_status is None:
        encoded_status = _status(status)
    append(encoded_status)
    append(_REMOTE_PARENT if parent is not None and parent.is_remote else _LOCAL_PARENT)
    encoded = b"".join(parts)
    size = len(encoded)
    out.append(_SPAN_HEADS[size] if size < 0x80 else b"\x12" + _varint(size))
    out.append(encoded)


_SPAN_HEADS = [b"\x12" + _SMALL[n] for n in range(0x80)]


def _status(status: Any) -> bytes:
    """The span's ``Status`` field; the common ones are cached."""
    content = _string(b"\x12", status.description)
    code = _STATUS_FIELD.get(status.status_code)
    if code is None:
        raise _HandOverError  # not a StatusCode member
    content += code
    encoded = _field(b"\x7a", content)
    cacheable = (
        type(status.status_code) is StatusCode
        and type(status.description) in (str, None.__class__)
        and len(encoded) <= _CACHEABLE
    )
    if cacheable and len(_STATUS) < _CACHE_LIMIT:  # members live forever: their ids stay theirs
        _STATUS[(id(status.status_code), status.description)] = encoded
    return encoded


_STATUS: dict[tuple[int, Any], bytes] = {}  # by the id of a StatusCode member and description
_LOCAL_PARENT = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE)
_KIND_FIELD = {id(kind): b"\x30" + _SMALL[_KIND[kind.value]] for kind in SpanKind}
_STATUS_FIELD = {
    code: (b"\x18" + _varint(code.value) if code.value else b"") for code in StatusCode
}
_REMOTE_PARENT = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)


class _Encoder:
    """One batch: resources and scopes are encoded once each.

    Attributes the official encoder drops are kept in ``dropped``, to be logged only once the
    batch is encoded here: a batch that goes to the official encoder gets its log lines.
    """

    def __init__(self) -> None:
        self.dropped: list[tuple[Any, Exception]] = []

    def resource(self, resource: Any) -> bytes:
        parts: list[bytes] = []
        if resource.attributes:
            _attributes(b"\x0a", resource.attributes, self.dropped, parts.append)
        return b"".join(parts)

    def scope(self, scope: Any) -> bytes:
        if scope is None:
            return b""
        parts = [_string(b"\x0a", scope.name), _string(b"\x12", scope.version)]
        if scope.attributes:
            _attributes(b"\x1a", scope.attributes, self.dropped, parts.append)
        return b"".join(parts)

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
            _span(span, self.dropped, bucket)
        out = []
        for resource, scopes in grouped.items():
            scope_spans = []  # before the resource's attributes, as the official encoder does
            for scope, encoded_spans in scopes.items():
                scope_content = _field(b"\x0a", self.scope(scope))
                scope_content += b"".join(encoded_spans)
                if scope is not None:
                    scope_content += _string(b"\x1a", scope.schema_url)
                scope_spans.append(_field(b"\x12", scope_content))
            content = _field(b"\x0a", self.resource(resource)) + b"".join(scope_spans)
            content += _string(b"\x1a", resource.schema_url)
            out.append(_field(b"\x0a", content))
        return b"".join(out)


def _official(spans: Sequence[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official

    return official(spans).SerializeToString()  # type: ignore[no-any-return]


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` for ``spans``.

    Byte-identical to the official encoder's ``encode_spans(spans).SerializeToString()``, and
    where that one drops an attribute or raises, this drops it with the same log line or raises
    the same exception. A batch with anything but SDK ``ReadableSpan`` objects, or one this
    encoder cannot encode whole, is handed to the official encoder.
    """
    if not all(isinstance(span, ReadableSpan) for span in spans):
        return _official(spans)
    encoder = _Encoder()
    try:
        data: bytes | None = encoder.request(spans)
    except Exception:  # _HandOverError, or a value the official encoder may take or refuse
        data = None
    if data is None:  # out of the except: what the official encoder raises comes on its own
        return _official(spans)
    for key, error in encoder.dropped:
        _official_logger.error(_DROPPED, key, error, exc_info=error)
    return data
