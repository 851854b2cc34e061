"""A fast OTLP log encoder: the protobuf wire format written directly, byte for byte the same as
``encode_logs(batch).SerializeToString()`` of the official encoder.

The official encoder builds a protobuf object per log record, attribute and value, then
serialises them all; here each record is written as bytes, fields in field-number order with
proto3's rules for defaults, with the span encoder's primitives (:mod:`.encoder`): its per-key
heads for attributes, its ``AnyValue`` writer for bodies, and its resource and scope encoding.
Only SDK ``ReadableLogRecord`` and ``ReadWriteLogRecord`` objects holding an API ``LogRecord``
are encoded here, and only plain values (exact ``int`` timestamps, ids and flags, ``str`` texts,
``SeverityNumber`` members); anything else, or anything that fails, hands the whole batch to the
official encoder: its bytes, its exception, its log lines. Attributes the official encoder drops
are dropped and logged as it logs them.
"""

from __future__ import annotations

import dataclasses
import operator
import struct
from collections.abc import Sequence
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import TraceFlags

from .encoder import (
    _CACHE_LIMIT,
    _CACHEABLE,
    _DROPPED,
    _KEYS,
    _any_value,
    _attributes,
    _count,
    _Encoder,
    _field,
    _HandOverError,
    _official_logger,
    _pack_fixed32,
    _string,
    _Strings,
    _varint,
)
from .releases import untested_releases

# LogRecord.attributes (field 6) gets a key table of its own, bounded with the span encoder's.
_ATTRIBUTES = b"\x32"
_KEYS.tables.setdefault(_ATTRIBUTES, {})

_UINT64_MAX = 2**64 - 1
_RECORD_TYPES = (ReadableLogRecord, ReadWriteLogRecord)
_pack_time = struct.Struct("<BQ").pack

# By the id of a SeverityNumber member (members live forever), and of None: the severity_number
# field (2), left out for UNSPECIFIED and None as the official encoder leaves it out.
_SEVERITY = {id(None): b""}
_SEVERITY.update(
    {
        id(member): b"\x10" + _varint(member.value) if member.value else b""
        for member in SeverityNumber
    }
)
_SEVERITY_TEXTS = _Strings(b"\x1a")
_EVENT_NAMES = _Strings(b"\x62")
# The flags field (8, fixed32) by the value of the usual trace flags (sampled, random-trace-id).
_FLAGS = {n: b"\x45" + _pack_fixed32(n) if n else b"" for n in range(0x100)}
_EMPTY_BODY = b"\x2a\x00"
_BODY_HEADS: dict[int, bytes] = {}  # by the UTF-8 length of a str body


def _time(tag: int, value: Any) -> bytes:
    """A ``fixed64`` timestamp field, left out for 0 and None; other values go to the official
    encoder (protobuf refuses negative numbers, bools and floats)."""
    if type(value) is int:
        if 0 < value <= _UINT64_MAX:
            return _pack_time(tag, value)
        if value == 0:
            return b""
    elif value is None:
        return b""
    raise _HandOverError


def _body_head(size: int) -> bytes:
    """What comes before a str body of ``size`` UTF-8 bytes: the body field and its string."""
    string_head = b"\x0a" + _varint(size)
    head = b"\x2a" + _varint(len(string_head) + size) + string_head
    if size <= _CACHEABLE:
        _BODY_HEADS[size] = head
    return head


def _flags(value: int) -> bytes:
    """The ``flags`` field (8, ``fixed32``) of ``int(trace_flags)``, for an int or TraceFlags."""
    number = int(value)
    if not 0 <= number <= 0xFFFFFFFF:
        raise _HandOverError
    return b"\x45" + _pack_fixed32(number) if number else b""


# The fields of an API LogRecord this encoder knows: a LogRecord with any other would have the
# official encoder write what this one does not know of, and its batch goes there.
_LOG_FIELDS = frozenset(
    {
        "timestamp",
        "observed_timestamp",
        "context",
        "trace_id",
        "span_id",
        "trace_flags",
        "severity_text",
        "severity_number",
        "body",
        "attributes",
        "event_name",
        "exception",
    }
)
_RECORD_FIELDS = ("log_record", "resource", "instrumentation_scope", "limits")


def _known_shapes() -> bool:
    """Whether the SDK's records have the fields this encoder was written for."""
    try:
        probe = LogRecord(observed_timestamp=1)
        return set(vars(probe)) == _LOG_FIELDS and all(
            tuple(field.name for field in dataclasses.fields(kind)) == _RECORD_FIELDS
            for kind in _RECORD_TYPES
        )
    except Exception:  # pragma: no cover - an SDK unlike any tested
        return False


def _inline_dropped_matches() -> bool:
    """Check on real records that ``dropped_attributes`` is the attribute map's own count."""
    try:
        bounded = BoundedAttributes(attributes={"a": 1})
        bounded.dropped = 3
        resource = Resource({})
        writable = ReadWriteLogRecord(LogRecord(attributes={"a": 1}), resource)
        fresh = writable.dropped_attributes == 0
        writable.log_record.attributes.dropped = 3  # type: ignore[union-attr]
        return (
            fresh
            and writable.dropped_attributes == 3
            and ReadableLogRecord(LogRecord(attributes=bounded), resource).dropped_attributes == 3
            and ReadableLogRecord(LogRecord(attributes={"a": 1}), resource).dropped_attributes == 0
            and ReadableLogRecord(LogRecord(), resource).dropped_attributes == 0
        )
    except Exception:  # pragma: no cover - an SDK unlike any tested
        return False


# Records are encoded here only if they have the known fields; their dropped counts are read
# from the attribute map (not through the property) only on a tested release, after a check.
_KNOWN = _known_shapes()
_INLINE_DROPPED = _KNOWN and not untested_releases() and _inline_dropped_matches()

# What the encoder reads of an API LogRecord, in the order of the fields it writes.
_READ = operator.attrgetter(
    "timestamp",
    "severity_number",
    "severity_text",
    "body",
    "attributes",
    "trace_flags",
    "trace_id",
    "span_id",
    "observed_timestamp",
    "event_name",
)


def _log(record: Any, dropped: list[Any], out: list[bytes]) -> None:
    """Appends the record as a ``ScopeLogs.log_records`` field to ``out``; dropped attributes
    are added to ``dropped``."""
    log = record.log_record
    if type(log) is not LogRecord:
        raise _HandOverError  # a subclass may read its fields otherwise: left to the official
    (
        timestamp,
        severity_number,
        text,
        body,
        attributes,
        trace_flags,
        trace_id,
        span_id,
        observed,
        name,
    ) = _READ(log)
    severity = _SEVERITY.get(id(severity_number))
    if severity is None:
        raise _HandOverError  # not a SeverityNumber member: left to the official encoder
    if type(timestamp) is int and 0 < timestamp <= _UINT64_MAX:
        parts = [_pack_time(0x09, timestamp), severity]
    else:
        parts = [_time(0x09, timestamp), severity]
    append = parts.append
    if text is not None:
        if type(text) is str:
            append(_SEVERITY_TEXTS.cache.get(text) or _SEVERITY_TEXTS.field(text))
        else:
            append(_string(b"\x1a", text))
    if type(body) is str:
        data = body.encode()
        append(_BODY_HEADS.get(len(data)) or _body_head(len(data)))
        append(data)
    elif body is None:
        append(_EMPTY_BODY)
    else:
        append(_field(b"\x2a", _any_value(body)))
    items: dict[Any, Any] | None
    if type(attributes) is BoundedAttributes:  # its dict, without the copy under its lock
        items, count = attributes._dict, attributes.dropped
    elif type(attributes) is dict or attributes is None:
        items, count = attributes, 0
    else:
        raise _HandOverError  # a mapping of another kind: left to the official encoder
    if items:
        _attributes(_ATTRIBUTES, items, dropped, append)
    if not _INLINE_DROPPED:
        count = record.dropped_attributes
    if count:
        append(_count(b"\x38", count))
    if type(trace_flags) is not TraceFlags and type(trace_flags) is not int:
        raise _HandOverError  # int() of anything else: left to the official encoder
    flags = _FLAGS.get(trace_flags)
    append(_flags(trace_flags) if flags is None else flags)
    if type(trace_id) is not int or type(span_id) is not int:
        raise _HandOverError
    if trace_id:
        append(b"\x4a\x10")
        append(trace_id.to_bytes(16, "big"))  # OverflowError beyond 128 bits: handed over
    if span_id:
        append(b"\x52\x08")
        append(span_id.to_bytes(8, "big"))
    if type(observed) is int and 0 < observed <= _UINT64_MAX:
        append(_pack_time(0x59, observed))
    else:
        append(_time(0x59, observed))
    if name is not None:
        if type(name) is str:
            append(_EVENT_NAMES.cache.get(name) or _EVENT_NAMES.field(name))
        else:
            append(_string(b"\x62", name))
    encoded = b"".join(parts)
    size = len(encoded)
    out.append(_RECORD_HEADS.get(size) or _record_head(size))
    out.append(encoded)


def _record_head(size: int) -> bytes:
    head = b"\x12" + _varint(size)
    if size < _CACHE_LIMIT:
        _RECORD_HEADS[size] = head
    return head


_RECORD_HEADS: dict[int, bytes] = {}  # by the record's size


class _LogEncoder(_Encoder):
    """One batch: records grouped by resource, then scope, in first-seen order."""

    def logs(self, batch: Sequence[Any]) -> bytes:
        # Grouped by equality, as the official encoder groups; Resource hashes by serialising
        # its attributes to JSON, so each distinct object is hashed once, not once per record.
        grouped: dict[Any, dict[Any, list[bytes]]] = {}
        by_identity: dict[tuple[int, int], list[bytes]] = {}
        keep_alive = []
        for record in batch:
            if type(record) not in _RECORD_TYPES:
                raise _HandOverError  # subclasses and look-alikes: left to the official encoder
            resource, scope = record.resource, record.instrumentation_scope or None
            identity = (id(resource), id(scope))
            bucket = by_identity.get(identity)
            if bucket is None:
                bucket = grouped.setdefault(resource, {}).setdefault(scope, [])
                by_identity[identity] = bucket
                keep_alive.append((resource, scope))
            _log(record, self.dropped, bucket)
        # One join at the end: a batch is megabytes, and each concatenation of its parts
        # would copy them all again.
        out: list[bytes] = []
        for resource, scopes in grouped.items():
            parts: list[bytes] = []
            for scope, encoded_logs in scopes.items():  # before the resource's attributes, as
                scope_field = _field(b"\x0a", self.scope(scope))  # the official encoder does
                schema_url = b"" if scope is None else _string(b"\x1a", scope.schema_url)
                size = len(scope_field) + sum(map(len, encoded_logs)) + len(schema_url)
                parts += (b"\x12", _varint(size), scope_field)
                parts += encoded_logs
                parts.append(schema_url)
            parts.insert(0, _field(b"\x0a", self.resource(resource)))
            parts.append(_string(b"\x1a", resource.schema_url))
            out += (b"\x0a", _varint(sum(map(len, parts))))
            out += parts
        return b"".join(out)


def _official(batch: Any) -> bytes:
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official

    return official(batch).SerializeToString()  # type: ignore[no-any-return]


def encode_logs(batch: Sequence[ReadableLogRecord]) -> bytes:
    """The serialized ``ExportLogsServiceRequest`` for ``batch``.

    Byte-identical to the official encoder's ``encode_logs(batch).SerializeToString()``, and
    where that one drops an attribute or raises, this drops it with the same log line or raises
    the same exception. A batch this encoder cannot encode whole is handed to the official one.
    """
    if not _KNOWN:
        return _official(batch)
    records: Any = batch
    if type(records) is not list and type(records) is not tuple:
        records = list(records)  # read once, as the official encoder reads it (and raises alike)
    encoder = _LogEncoder()
    try:
        data: bytes | None = encoder.logs(records)
    except Exception:  # _HandOverError, or a value the official encoder may take or refuse
        data = None
    if data is None:  # out of the except: what the official encoder raises comes on its own
        return _official(records)
    for key, error in encoder.dropped:
        _official_logger.error(_DROPPED, key, error, exc_info=error)
    return data
