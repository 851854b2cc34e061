"""A fast OTLP metrics encoder: the protobuf wire format written directly, byte for byte the same
as ``encode_metrics(data).SerializeToString()`` of the official encoder.

The official encoder builds a protobuf object per data point, exemplar, attribute and value and
copies each into its parent; for a few thousand points that is most of a metrics flush. Here each
message is written as bytes, fields in field-number order with proto3's rules for defaults, with
the span encoder's primitives (:mod:`.encoder`). Metric attribute values repeat (a route, a
status code), so the whole field of a repeating pair is cached; where a metric's values mostly do
not repeat, its points are encoded as the span encoder encodes attributes.

The official behaviour is kept exactly: data points of the four kinds it knows (anything else is
logged as it logs it and left out), resources and scopes grouped by equality in its order (a
resource or scope met twice keeps its first place and its last content), attributes it drops
dropped with its log line. Anything unusual (a value of an inexact type, a number out of range,
a container that is not a list or tuple, a name that is not a ``str``, an attribute nested deeper
than ``_MAX_NESTING``) hands the whole batch to the official encoder: its bytes, its exception
(``EncodingException`` and the rest), its log lines.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from functools import partial
from operator import attrgetter, countOf
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)

from .encoder import (
    _DROPPED,
    _INT64_MAX,
    _INT64_MIN,
    _KEYS,
    _SMALL,
    _UINT64_MASK,
    _attributes,
    _Encoder,
    _field,
    _HandOverError,
    _items,
    _Key,
    _official_logger,
    _pair,
    _string,
    _varint,
)

# The official encoder warns of data it does not know on this logger, with this message.
_metrics_logger = logging.getLogger(
    "opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder"
)
_UNSUPPORTED = "unsupported data type %s"

# NumberDataPoint and Exemplar attributes go under field 7, a tag the span encoder's key tables
# do not have; HistogramDataPoint's (0x4a) and ExponentialHistogramDataPoint's (0x0a) they do.
_NUMBER_TAG, _HISTOGRAM_TAG, _EXPONENTIAL_TAG = b"\x3a", b"\x4a", b"\x0a"
_KEYS.tables.setdefault(_NUMBER_TAG, {})

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_sfixed64 = struct.Struct("<q").pack
# Several fields in one call: a Sum point's times and value, a Gauge point's time and value, a
# histogram point's times, count and sum, and its min and max.
_pack_sum_double = struct.Struct("<BQBQBd").pack
_pack_sum_int = struct.Struct("<BQBQBq").pack
_pack_gauge_double = struct.Struct("<BQBd").pack
_pack_gauge_int = struct.Struct("<BQBq").pack
_pack_histogram_head = struct.Struct("<BQBQBQBd").pack
_pack_two_doubles = struct.Struct("<BdBd").pack
_UINT64_LIMIT = 2**64
_INT32_MIN, _INT32_LIMIT = -(2**31), 2**31


class _Unsupported:
    """Stands among the dropped attributes for the official "unsupported data type" warning,
    to be logged in its place among their log lines."""

    __slots__ = ("name",)

    def __init__(self, name: Any) -> None:
        self.name = name


# -- numbers, as upb reads them ------------------------------------------------------------------
# upb refuses bools and floats for integer fields and reads int subclasses by their value; struct
# takes bools, so integer fields are written here for exact ints only, and struct's range checks
# are upb's. For doubles both read what ``PyFloat_AsDouble`` reads (floats, ints, bools,
# ``__float__``), so struct takes those as they come.
def _sequence(values: Any) -> Any:
    """``values`` if a list or tuple; anything else (an iterator the official encoder must find
    unread, a container with its own ideas) goes to the official encoder."""
    kind = type(values)
    if kind is list or kind is tuple:
        return values
    raise _HandOverError


def _fixed64(tag: bytes, value: Any) -> bytes:
    """A ``fixed64`` field (a time, a count): left out when 0 or None."""
    if type(value) is int:
        return tag + _pack_fixed64(value) if value else b""
    if value is None:
        return b""
    raise _HandOverError


def _double(tag: bytes, value: Any) -> bytes:
    """An ``optional double`` field (sum, min, max): written whenever set, even to 0."""
    return b"" if value is None else tag + _pack_double(value)


def _uint32(tag: bytes, value: Any) -> bytes:
    if type(value) is int and 0 <= value < 0x100000000:
        return tag + _varint(value) if value else b""
    if value is None:
        return b""
    raise _HandOverError


def _sint32(tag: bytes, value: Any) -> bytes:
    if type(value) is int and _INT32_MIN <= value < _INT32_LIMIT:
        return tag + _varint((value << 1) ^ (value >> 31)) if value else b""
    if value is None:
        return b""
    raise _HandOverError


def _length(size: int) -> bytes:
    """A length as a varint."""
    if size < 0x80:
        return _SMALL[size]
    if size < 0x4000:
        return bytes(((size & 0x7F) | 0x80, size >> 7))
    return _varint(size)


def _packer(tag: bytes, code: str, n: int) -> Any:
    """A C callable writing ``n`` values as a packed field under ``tag`` with struct ``code``."""
    head = tag + _varint(8 * n)
    return partial(struct.Struct(f"<{len(head)}s{n}{code}").pack, head)


# Packers by count of values, for up to 256 values: histogram bucket counts and bounds.
_COUNTS: dict[int, Any] = {0: lambda: b""}
_BOUNDS: dict[int, Any] = {0: lambda: b""}


def _counts_packer(n: int) -> Any:
    pack = _packer(b"\x32", "Q", n)
    if n <= 256:
        _COUNTS[n] = pack
    return pack


# A histogram point's start time, time, count and sum with its bucket counts, in one call: by
# count of buckets, for up to 256, a packer and the counts field's tag and length.
_HEADED_COUNTS: dict[int, tuple[Any, bytes]] = {}


def _headed_counts(n: int) -> tuple[Any, bytes]:
    head = b"\x32" + _varint(8 * n) if n else b""
    packer = struct.Struct(f"<BQBQBQBd{len(head)}s{n}Q").pack, head
    if n <= 256:
        _HEADED_COUNTS[n] = packer
    return packer


def _packed_double(values: Any) -> bytes:
    """Histogram bounds: ``repeated double``, packed."""
    n = len(_sequence(values))
    pack = _BOUNDS.get(n)
    if pack is None:
        pack = _packer(b"\x3a", "d", n)
        if n <= 256:
            _BOUNDS[n] = pack
    return pack(*values)  # type: ignore[no-any-return]


def _buckets(tag: bytes, buckets: Any, append: Any) -> None:
    """Appends an exponential histogram's positive or negative buckets, set only when they have
    counts, as the field's head and the packed counts."""
    counts = buckets.bucket_counts
    if not counts:
        return
    kind = type(counts)
    if kind is not list and kind is not tuple:
        raise _HandOverError
    size = len(counts)
    if size == 1 and type(counts[0]) is int and 0 <= counts[0] < 0x80:  # no values: [0]
        payload = _SMALL[counts[0]]
    else:
        if countOf(map(type, counts), int) != size:
            raise _HandOverError  # upb refuses bools, which bytes takes
        try:
            payload = bytes(counts)  # each count below 0x80 is its own one-byte varint
        except ValueError:  # a count beyond a byte
            payload = b"\x80"
        if not payload.isascii():
            for count in counts:
                if not 0 <= count < _UINT64_LIMIT:
                    raise _HandOverError
            payload = b"".join([_varint(count) for count in counts])
            size = len(payload)
    offset = buckets.offset
    head = _BUCKET_HEADS.get((tag, offset, size)) if type(offset) is int else None
    if head is None:
        head = _bucket_head(tag, offset, size)
    append(head)
    append(payload)


# Heads of bucket fields (tag, length, offset field, counts tag and length) by tag, offset (an
# exact int: True would find 1's) and length of the packed counts.
_BUCKET_HEADS: dict[tuple[bytes, int, int], bytes] = {}


def _bucket_head(tag: bytes, offset: Any, size: int) -> bytes:
    head = _sint32(b"\x08", offset) + b"\x12" + _length(size)
    head = tag + _length(len(head) + size) + head
    if type(offset) is int:
        if len(_BUCKET_HEADS) >= 4096:
            _BUCKET_HEADS.clear()
        _BUCKET_HEADS[tag, offset, size] = head
    return head


# -- data point attributes -----------------------------------------------------------------------
# Metric attribute values repeat across a batch's series and points (a route, a method, a status
# code), so the whole ``KeyValue`` field of a pair with an exact str, int or bool value is cached,
# by the pair as the attribute dict gives it: one look-up. 1, True and 1.0 are equal as keys of a
# dict: fields of str values (which nothing else equals) are cached as bytes, the others with
# their value's type, checked. Up to _VALUES_PER_KEY values of a key are cached; after that (an
# id, say) a look-up for that key finds nothing. A metric whose look-ups mostly find nothing has
# the rest of its points encoded as the span encoder encodes attributes (``_plain_attributes``).
_VALUES_PER_KEY = 256
_VALUES_LIMIT = 16_384  # fields, keys and heads cached over all tables before all are dropped
_CACHEABLE_VALUE = 128  # longer fields are not cached
_PROBE = 2  # points of each metric encoded with look-ups before choosing


class _Values:
    """One key's heads (``_Key``) and how many more of its fields may be cached."""

    __slots__ = ("entry", "room")

    def __init__(self, entry: _Key) -> None:
        self.entry = entry
        self.room = _VALUES_PER_KEY


class _Tables:
    """For one attribute tag: cached fields by (key, value), and each key's ``_Values``."""

    __slots__ = ("fields", "keys", "tag")

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.fields: dict[Any, Any] = {}
        self.keys: dict[Any, _Values] = {}

    def key(self, key: Any) -> _Values | None:
        """The ``_Values`` of ``key``, made; None where the span encoder has no ``_Key``."""
        entry = _KEYS.tables[self.tag].get(key) or _KEYS.key(self.tag, key)
        if entry is None:
            return None
        _count()
        values = self.keys[key] = _Values(entry)
        return values


_TABLES = {tag: _Tables(tag) for tag in (_NUMBER_TAG, _HISTOGRAM_TAG, _EXPONENTIAL_TAG)}
_cached = [0]  # fields, keys and heads cached over all tables


def _count() -> None:
    _cached[0] += 1
    if _cached[0] > _VALUES_LIMIT:
        for tables in _TABLES.values():
            tables.fields.clear()
            tables.keys.clear()
        _cached[0] = 1


def _text(entry: _Key, size: int) -> bytes:
    """The head of a str value of ``size`` bytes, made, and counted here: a ``_Key`` held here
    may outlive the span encoder's tables."""
    _count()
    return _KEYS.text(entry, size)


def _point_attributes(tag: bytes, attributes: Any, dropped: list[Any], append: Any) -> int:
    """Appends a data point's attributes as repeated ``KeyValue`` fields under ``tag``, as the
    span encoder's ``_attributes`` does, with the fields of repeating values cached.

    Returns twice the look-ups that found nothing (and cached nothing) less the attributes:
    above 0 when looking up was mostly wasted."""
    tables = _TABLES[tag]
    fields, keys = tables.fields, tables.keys
    items = attributes if type(attributes) is dict else _items(attributes)
    wasted = 0
    for item in items.items():
        try:
            field = fields.get(item)
        except TypeError:  # an unhashable value: a list, say
            field = None
        if field is not None:
            if field.__class__ is bytes:  # of an exact str: no value of another type is equal
                append(field)
                continue
            if field[1] is type(item[1]):  # of an exact int or bool, and so is this value
                append(field[0])
                continue
        key, value = item
        values = keys.get(key)
        if values is None:
            values = tables.key(key)
        if values is not None:
            cache = field is None and values.room
            kind = type(value)
            if kind is str:
                try:
                    data = value.encode()
                except UnicodeEncodeError:  # a lone surrogate: dropped, as officially
                    pass
                else:
                    entry = values.entry
                    head = entry.texts.get(len(data)) or _text(entry, len(data))
                    if cache and len(head) + len(data) <= _CACHEABLE_VALUE:
                        field = fields[item] = head + data
                        append(field)
                        values.room -= 1
                        _count()
                    else:
                        append(head)
                        append(data)
                        wasted += 1
                    continue
            elif kind is int:
                if _INT64_MIN <= value <= _INT64_MAX:
                    data = _SMALL[value] if 0 <= value < 0x80 else _varint(value & _UINT64_MASK)
                    field = values.entry.ints[len(data)] + data
                    append(field)
                    if cache:
                        fields[item] = (field, int)
                        values.room -= 1
                        _count()
                    else:
                        wasted += 1
                    continue
            elif kind is bool:
                field = values.entry.true if value else values.entry.false
                append(field)
                if cache:
                    fields[item] = (field, bool)
                    values.room -= 1
                    _count()
                else:
                    wasted += 1
                continue
            elif kind is float:
                append(values.entry.floats)
                append(_pack_double(value))
                wasted += 1
                continue
        encoded = _pair(tag, values.entry if values is not None else None, key, value, dropped)
        if encoded is not None:  # None: dropped, as officially
            append(encoded)
        wasted += 1
    return 2 * wasted - len(items)


def _plain_attributes(tag: bytes, attributes: Any, dropped: list[Any], append: Any) -> None:
    """The span encoder's ``_attributes``, for a metric whose values do not repeat: no look-ups
    of whole fields, and the varint of a small int made without a call."""
    table = _KEYS.tables[tag]
    items = attributes if type(attributes) is dict else _items(attributes)
    for key, value in items.items():
        entry = table.get(key) or _KEYS.key(tag, key)
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
                if 0 <= value < 0x4000:
                    if value < 0x80:
                        append(entry.ints[1])
                        append(_SMALL[value])
                    else:
                        append(entry.ints[2])
                        append(bytes(((value & 0x7F) | 0x80, value >> 7)))
                    continue
                if _INT64_MIN <= value <= _INT64_MAX:
                    data = _varint(value & _UINT64_MASK)
                    append(entry.ints[len(data)])
                    append(data)
                    continue
            elif kind is bool:
                append(entry.true if value else entry.false)
                continue
            elif kind is float:
                append(entry.floats)
                append(_pack_double(value))
                continue
        encoded = _pair(tag, entry, key, value, dropped)
        if encoded is not None:  # None: dropped, as officially
            append(encoded)


# How a points loop encodes attributes: with look-ups and a score, or as the span encoder does.
_AttributesInto = Callable[[bytes, Any, list[Any], Any], int | None]


def _points(loop: Any, points: Any, dropped: list[Any]) -> list[bytes]:
    """The ``data_points`` fields of ``points`` by ``loop``: the first _PROBE with look-ups,
    the others with look-ups only if those found something mostly."""
    out: list[bytes] = []
    if len(points) <= _PROBE:
        loop(points, _point_attributes, dropped, out.append)
    else:
        score = loop(points[:_PROBE], _point_attributes, dropped, out.append)
        rest = _point_attributes if score <= 0 else _plain_attributes
        loop(points[_PROBE:], rest, dropped, out.append)
    return out


# The tag and length of a data point field, by length: filled as lengths come, up to 16 KiB.
_POINT_HEADS: dict[int, bytes] = {}


def _point_head(size: int) -> bytes:
    head = b"\x0a" + _varint(size)
    if size < 0x4000:
        _POINT_HEADS[size] = head
    return head


# -- exemplars -----------------------------------------------------------------------------------
_EXEMPLAR = attrgetter("filtered_attributes", "value", "time_unix_nano", "span_id", "trace_id")


def _exemplars(tag: bytes, exemplars: Any, dropped: list[Any], append: Any) -> None:
    """Appends each exemplar as a field under ``tag``."""
    for exemplar in _sequence(exemplars):
        filtered, value, time, span_id, trace_id = _EXEMPLAR(exemplar)
        parts = [_fixed64(b"\x11", time)]
        kind = type(value)
        if kind is float:
            parts.append(b"\x19" + _pack_double(value))
            as_int = b""
        elif kind is int:
            as_int = b"\x31" + _pack_sfixed64(value)
        else:
            raise _HandOverError
        if span_id is not None and trace_id is not None:
            if type(span_id) is not int or type(trace_id) is not int:
                raise _HandOverError
            parts.append(b"\x22\x08" + span_id.to_bytes(8, "big"))
            parts.append(b"\x2a\x10" + trace_id.to_bytes(16, "big"))
        parts.append(as_int)
        if filtered:
            _attributes(_NUMBER_TAG, filtered, dropped, parts.append)
        append(_field(tag, b"".join(parts)))


# -- data points ---------------------------------------------------------------------------------
_SUM_POINT = attrgetter(
    "attributes", "start_time_unix_nano", "time_unix_nano", "value", "exemplars"
)
_GAUGE_POINT = attrgetter("attributes", "time_unix_nano", "value", "exemplars")


def _number(
    times: bytes,
    attributes: Any,
    value: Any,
    exemplars: Any,
    into: _AttributesInto,
    dropped: list[Any],
) -> tuple[bytes, int]:
    """A NumberDataPoint the general way, and its attributes' score: after ``times``, the
    value, exemplars and attributes; these before exemplars, as officially (so are dropped ones
    logged)."""
    attribute_parts: list[bytes] = []
    score = into(_NUMBER_TAG, attributes, dropped, attribute_parts.append) if attributes else 0
    parts = [times]
    kind = type(value)
    if kind is float:
        parts.append(b"\x21" + _pack_double(value))
        as_int = b""
    elif kind is int:
        as_int = b"\x31" + _pack_sfixed64(value)
    else:
        raise _HandOverError  # bool, int subclasses, None, ...: as upb makes of them
    _exemplars(b"\x2a", exemplars, dropped, parts.append)
    parts.append(as_int)
    parts.extend(attribute_parts)
    return b"".join(parts), score or 0


def _sum_loop(points: Any, into: _AttributesInto, dropped: list[Any], append: Any) -> int:
    score = 0
    for point in points:
        attributes, start, time, value, exemplars = _SUM_POINT(point)
        if type(exemplars) is list and not exemplars and start and time:
            if type(start) is not int or type(time) is not int:
                raise _HandOverError
            kind = type(value)
            if kind is float:
                parts = [_pack_sum_double(0x11, start, 0x19, time, 0x21, value)]
            elif kind is int:
                parts = [_pack_sum_int(0x11, start, 0x19, time, 0x31, value)]
            else:
                raise _HandOverError
            if attributes:
                score += into(_NUMBER_TAG, attributes, dropped, parts.append) or 0
            encoded = b"".join(parts)
        else:
            times = _fixed64(b"\x11", start) + _fixed64(b"\x19", time)
            encoded, points_score = _number(times, attributes, value, exemplars, into, dropped)
            score += points_score
        size = len(encoded)
        append(_POINT_HEADS.get(size) or _point_head(size))
        append(encoded)
    return score


def _gauge_loop(points: Any, into: _AttributesInto, dropped: list[Any], append: Any) -> int:
    """Gauge points: the official encoder leaves their start time out."""
    score = 0
    for point in points:
        attributes, time, value, exemplars = _GAUGE_POINT(point)
        if type(exemplars) is list and not exemplars and time:
            if type(time) is not int:
                raise _HandOverError
            kind = type(value)
            if kind is float:
                parts = [_pack_gauge_double(0x19, time, 0x21, value)]
            elif kind is int:
                parts = [_pack_gauge_int(0x19, time, 0x31, value)]
            else:
                raise _HandOverError
            if attributes:
                score += into(_NUMBER_TAG, attributes, dropped, parts.append) or 0
            encoded = b"".join(parts)
        else:
            times = _fixed64(b"\x19", time)
            encoded, points_score = _number(times, attributes, value, exemplars, into, dropped)
            score += points_score
        size = len(encoded)
        append(_POINT_HEADS.get(size) or _point_head(size))
        append(encoded)
    return score


_HISTOGRAM_POINT = attrgetter(
    "attributes",
    "start_time_unix_nano",
    "time_unix_nano",
    "count",
    "sum",
    "bucket_counts",
    "explicit_bounds",
    "min",
    "max",
    "exemplars",
)


def _head(start: Any, time: Any, count: Any, total: Any) -> bytes:
    """A histogram point's start time, time, count and sum fields."""
    if start and time and count and total is not None:
        if type(start) is int and type(time) is int and type(count) is int:
            return _pack_histogram_head(0x11, start, 0x19, time, 0x21, count, 0x29, total)
    return (
        _fixed64(b"\x11", start)
        + _fixed64(b"\x19", time)
        + _fixed64(b"\x21", count)
        + _double(b"\x29", total)
    )


def _histogram_loop(points: Any, into: _AttributesInto, dropped: list[Any], append: Any) -> int:
    """Explicit bucket histogram points: no flags, as officially."""
    score = 0
    last_bounds: Any = None  # points of one histogram share their bounds: encoded once
    encoded_bounds = b""
    for point in points:
        (
            attributes,
            start,
            time,
            count,
            total,
            counts,
            bounds,
            minimum,
            maximum,
            exemplars,
        ) = _HISTOGRAM_POINT(point)
        if bounds is not last_bounds or last_bounds is None:
            encoded_bounds = _packed_double(bounds)
            last_bounds = bounds
        kind = type(counts)
        if kind is not tuple and kind is not list:
            raise _HandOverError
        n = len(counts)
        if countOf(map(type, counts), int) != n:
            raise _HandOverError  # upb refuses bools, which struct takes
        if (
            start
            and time
            and count
            and total is not None
            and type(start) is int
            and type(time) is int
            and type(count) is int
        ):  # the four fields and the counts in one call
            pack, head = _HEADED_COUNTS.get(n) or _headed_counts(n)
            parts = [pack(0x11, start, 0x19, time, 0x21, count, 0x29, total, head, *counts)]
        else:
            parts = [
                _head(start, time, count, total),
                (_COUNTS.get(n) or _counts_packer(n))(*counts),
            ]
        parts.append(encoded_bounds)
        if exemplars or type(exemplars) is not list:
            attribute_parts: list[bytes] = []
            if attributes:  # dropped ones logged before those of exemplars, as officially
                score += into(_HISTOGRAM_TAG, attributes, dropped, attribute_parts.append) or 0
            _exemplars(b"\x42", exemplars, dropped, parts.append)
            parts.extend(attribute_parts)
        elif attributes:
            score += into(_HISTOGRAM_TAG, attributes, dropped, parts.append) or 0
        if minimum is not None and maximum is not None:
            parts.append(_pack_two_doubles(0x59, minimum, 0x61, maximum))
        else:
            parts.append(_double(b"\x59", minimum) + _double(b"\x61", maximum))
        encoded = b"".join(parts)
        size = len(encoded)
        append(_POINT_HEADS.get(size) or _point_head(size))
        append(encoded)
    return score


_EXPONENTIAL_POINT = attrgetter(
    "attributes",
    "start_time_unix_nano",
    "time_unix_nano",
    "count",
    "sum",
    "scale",
    "zero_count",
    "positive",
    "negative",
    "flags",
    "min",
    "max",
    "exemplars",
)
# Scale fields of small scales, by scale (an exact int: True would find 1's).
_SCALES = {scale: b"\x30" + _SMALL[(scale << 1) ^ (scale >> 31)] for scale in range(-0x40, 0x40)}


def _exponential_loop(points: Any, into: _AttributesInto, dropped: list[Any], append: Any) -> int:
    """Exponential histogram points: attributes first (field 1), no zero threshold."""
    score = 0
    for point in points:
        (
            attributes,
            start,
            time,
            count,
            total,
            scale,
            zero_count,
            positive,
            negative,
            flags,
            minimum,
            maximum,
            exemplars,
        ) = _EXPONENTIAL_POINT(point)
        parts: list[bytes] = []
        if attributes:
            score += into(_EXPONENTIAL_TAG, attributes, dropped, parts.append) or 0
        parts.append(_head(start, time, count, total))
        if scale and type(scale) is int and -0x40 <= scale < 0x40:
            parts.append(_SCALES[scale])
        elif scale or type(scale) is not int:
            parts.append(_sint32(b"\x30", scale))
        if zero_count or type(zero_count) is not int:
            parts.append(_fixed64(b"\x39", zero_count))
        _buckets(b"\x42", positive, parts.append)
        _buckets(b"\x4a", negative, parts.append)
        if flags or type(flags) is not int:
            parts.append(_uint32(b"\x50", flags))
        if exemplars or type(exemplars) is not list:
            _exemplars(b"\x5a", exemplars, dropped, parts.append)
        if minimum is not None and maximum is not None:
            parts.append(_pack_two_doubles(0x61, minimum, 0x69, maximum))
        else:
            parts.append(_double(b"\x61", minimum) + _double(b"\x69", maximum))
        encoded = b"".join(parts)
        size = len(encoded)
        append(_POINT_HEADS.get(size) or _point_head(size))
        append(encoded)
    return score


# -- metrics -------------------------------------------------------------------------------------
# AggregationTemporality members by identity (members live forever), as the enum field.
_TEMPORALITY = {
    id(member): (b"\x10" + _varint(member.value) if member.value else b"")
    for member in AggregationTemporality
}


def _temporality(value: Any) -> bytes:
    encoded = _TEMPORALITY.get(id(value))
    if encoded is not None:
        return encoded
    if type(value) is int and _INT32_MIN <= value < _INT32_LIMIT:  # proto3 enums are open
        return b"\x10" + _varint(value & _UINT64_MASK) if value else b""
    raise _HandOverError


def _monotonic(value: Any) -> bytes:
    if value is True:
        return b"\x18\x01"
    if value is False:
        return b""
    raise _HandOverError


_METRIC = attrgetter("name", "description", "unit", "data")
# The official encoder's branches, in its order of checks: Gauge, Histogram, Sum, Exponential.
_KINDS: dict[type, int] = {Gauge: 0, Histogram: 1, Sum: 2, ExponentialHistogram: 3}


def _kind(data: Any) -> int | None:
    kind = _KINDS.get(type(data))
    if kind is None:
        for known, branch in _KINDS.items():
            if isinstance(data, known):
                return branch
    return kind


def _metric(metric: Any, dropped: list[Any], out: list[bytes]) -> int:
    """Appends the metric as a ``ScopeMetrics.metrics`` field to ``out``, in parts; returns
    their size. Parts are joined once, for the whole request: each level's own join would copy
    every point again."""
    name, description, unit, data = _METRIC(metric)
    head = _string(b"\x0a", name) + _string(b"\x12", description) + _string(b"\x1a", unit)
    kind = _kind(data)
    if kind is None:
        dropped.append((None, _Unsupported(data.__class__.__name__)))
        points: Any = ()
    else:
        points = _sequence(data.data_points)
    if not points:  # the official encoder sets the data field only from within its loop
        field = b"\x12" + _length(len(head)) + head
        out.append(field)
        return len(field)
    if kind == 2:
        encoded = _points(_sum_loop, points, dropped)
        trailer = _temporality(data.aggregation_temporality) + _monotonic(data.is_monotonic)
        tag = b"\x3a"
    elif kind == 0:
        encoded = _points(_gauge_loop, points, dropped)
        trailer, tag = b"", b"\x2a"
    elif kind == 1:
        encoded = _points(_histogram_loop, points, dropped)
        trailer, tag = _temporality(data.aggregation_temporality), b"\x4a"
    else:
        encoded = _points(_exponential_loop, points, dropped)
        trailer, tag = _temporality(data.aggregation_temporality), b"\x52"
    size = sum(map(len, encoded)) + len(trailer)  # of the data field's content
    head += tag + _length(size)  # the metric's content up to its points
    head = b"\x12" + _length(len(head) + size) + head
    out.append(head)
    out.extend(encoded)
    out.append(trailer)
    return len(head) + size


def _request(data: Any, encoder: _Encoder) -> bytes:
    dropped: list[Any] = encoder.dropped
    # Grouped as officially: by equality, a resource or scope met again keeping its first key
    # and place and taking the later content (Resource hashes by its attributes' JSON).
    grouped: dict[Any, dict[Any, tuple[list[bytes], int]]] = {}
    for resource_metrics in _sequence(data.resource_metrics):
        scopes: dict[Any, tuple[list[bytes], int]] = {}
        grouped[resource_metrics.resource] = scopes
        for scope_metrics in _sequence(resource_metrics.scope_metrics):
            scope = scope_metrics.scope
            if scope is None:
                raise _HandOverError
            parts = [_field(b"\x0a", encoder.scope(scope))]
            schema_url = _string(b"\x1a", scope.schema_url)
            size = len(parts[0]) + len(schema_url)
            for metric in _sequence(scope_metrics.metrics):
                size += _metric(metric, dropped, parts)
            parts.append(schema_url)
            scopes[scope] = (parts, size)
    out: list[bytes] = []
    for resource, encoded_scopes in grouped.items():
        content = [_field(b"\x0a", encoder.resource(resource))]
        size = len(content[0])
        for parts, scope_size in encoded_scopes.values():
            head = b"\x12" + _length(scope_size)
            content.append(head)
            content.extend(parts)
            size += len(head) + scope_size
        schema_url = _string(b"\x1a", resource.schema_url)
        content.append(schema_url)
        size += len(schema_url)
        out.append(b"\x0a" + _length(size))
        out.extend(content)
    return b"".join(out)


def _official(data: MetricsData) -> bytes:
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
        encode_metrics as official,
    )

    return official(data).SerializeToString()  # type: ignore[no-any-return]


def encode_metrics(data: MetricsData) -> bytes:
    """The serialized ``ExportMetricsServiceRequest`` for ``data``.

    Byte-identical to the official encoder's ``encode_metrics(data).SerializeToString()``; where
    that one drops an attribute or leaves out a metric's data, this does too, with the same log
    line, and where it raises, this raises the same exception (the batch is handed to it).
    """
    encoder = _Encoder()
    try:
        encoded: bytes | None = _request(data, encoder)
    except Exception:  # _HandOverError, or something the official encoder may take or refuse
        encoded = None
    if encoded is None:  # out of the except: what the official encoder raises comes on its own
        return _official(data)
    logged: list[tuple[Any, Any]] = encoder.dropped  # with _Unsupported warnings among them
    for key, error in logged:
        if type(error) is _Unsupported:
            _metrics_logger.warning(_UNSUPPORTED, error.name)
        else:
            _official_logger.error(_DROPPED, key, error, exc_info=error)
    return encoded
