"""The OTLP wire format the fast encoders share: varints, length-delimited fields, ``AnyValue``
and ``KeyValue`` contents, and the string, timestamp and count fields of the official encoder.

Everything here is written as upb writes it, with proto3's rules for defaults; a value that
cannot be written exactly raises where the official encoder raises (the exception may differ: it
is asked again), or ``_HandOverError`` where the whole batch is to go to it. Also the per-key head
of an attribute (``_Key``) and the generic ``KeyValue`` writer that asks the official encoder
about a pair this one refuses (``_pair``).

Owns these writers, their limits (nesting, cacheable sizes) and the ``_Strings`` cache; must not
know spans, log records or metrics (:mod:`.encoder`, :mod:`.logs_encoder`, :mod:`.metrics_encoder`)
nor hold the key tables' bounds (``_Keys`` in :mod:`.encoder`, where tests lower them).
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from .releases import official_encoder_release

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
# not have, and values of ever new lengths would fill the key tables (``_Keys`` in .encoder).
_CACHEABLE = 512
# The official encoder writes None as an empty ``AnyValue`` since 1.45; before, an attribute
# holding one was dropped (logged) and only log records took it. Where None is refused here,
# the official encoder is asked what to do, as for any value this encoder refuses.
_NONE_IS_EMPTY = (official_encoder_release() or (0, 0)) >= (1, 45)


class _HandOverError(Exception):
    """Raised where this batch is to be handed over to the official encoder."""


_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MASK = 2**64 - 1


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


# Entries a cache of encodings (``_Strings``, the span encoder's statuses) holds before it is
# dropped whole.
_CACHE_LIMIT = 4096


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


def _items(mapping: Any) -> Any:
    """The pairs of an attribute map, without BoundedAttributes' copy under its lock."""
    inner = getattr(mapping, "_dict", None)
    return inner if isinstance(inner, dict) else mapping


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
