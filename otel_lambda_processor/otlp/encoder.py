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
The wire format is written by :mod:`.wire`, spans are read by :mod:`.span_fields`; this module
holds what is per span and per batch, and the bounded key tables (``_Keys``).

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
import struct
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from .releases import untested_releases
from .span_fields import _Fields, _private, _public
from .span_fields import _private_matches_public as _private_matches_public

# Named again here (``as``, for mypy): the log and metric encoders and the tests take the wire
# primitives from this module.
from .wire import _CACHE_LIMIT as _CACHE_LIMIT
from .wire import _CACHEABLE as _CACHEABLE
from .wire import _INT64_MAX as _INT64_MAX
from .wire import _INT64_MIN as _INT64_MIN
from .wire import _MAX_NESTING as _MAX_NESTING
from .wire import _SMALL as _SMALL
from .wire import _UINT64_MASK as _UINT64_MASK
from .wire import _any_value as _any_value
from .wire import _count as _count
from .wire import _field as _field
from .wire import _HandOverError as _HandOverError
from .wire import _items as _items
from .wire import _Key as _Key
from .wire import _pack_double as _pack_double
from .wire import _pack_fixed32 as _pack_fixed32
from .wire import _pair as _pair
from .wire import _sequence as _sequence
from .wire import _string as _string
from .wire import _Strings as _Strings
from .wire import _timestamp as _timestamp
from .wire import _varint as _varint

# The official encoder logs dropped attributes on this logger, with this message.
_official_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.common._internal")
_DROPPED = "Failed to encode key %s: %s"

_pack_times = struct.Struct("<BQBQ").pack  # a span's start and end time fields

# SpanFlags: the context has is-remote information, and it is remote.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_KIND = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}  # SDK SpanKind value -> OTLP enum

# Heads cached over every key table (see _Key) before all the tables are dropped: a few MiB.
_HEADS_LIMIT = 32_768


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
