"""A fast OTLP metrics encoder: the protobuf wire format written directly, byte for byte the same
as ``encode_metrics(data).SerializeToString()`` of the official encoder.

The official encoder builds a protobuf object per data point, exemplar, attribute and value and
copies each into its parent; for a few thousand points that is most of a metrics flush. Here each
message is written as bytes, fields in field-number order with proto3's rules for defaults, with
the span encoder's primitives (:mod:`.encoder`). A metric's points nearly always share their
attribute keys, so their attributes are encoded key by key across the points, a C-level ``map``
at a time (``_columns``); each kind's usual point (exact ints, a float or int value, the SDK's
exemplars) is written in a call or two of ``struct``; what varies little is written once (keys'
heads, histogram bounds, packers by count of buckets).

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
from functools import partial
from itertools import chain
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
_pack_times = struct.Struct("<BQBQ").pack
_pack_time = struct.Struct("<BQ").pack
_as_int = struct.Struct("<Bq").pack
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


_BUCKETS = attrgetter("offset", "bucket_counts")


def _buckets(tag: int, buckets: Any) -> bytes:
    """An exponential histogram's positive or negative buckets field, set only when they have
    counts: the offset and the packed counts."""
    offset, counts = _BUCKETS(buckets)
    if not counts:
        return b""
    kind = type(counts)
    if kind is not list and kind is not tuple:
        raise _HandOverError
    size = len(counts)
    payload: bytes | bytearray
    if size == 1:  # a histogram's negative buckets, often: [0]
        count = counts[0]
        if type(count) is not int:
            raise _HandOverError
        payload = _SMALL[count] if 0 <= count < 0x80 else b"\x80"
    elif countOf(map(type, counts), int) != size:
        raise _HandOverError  # upb refuses bools, which bytearray takes
    else:
        try:  # each count below 0x80 is its own one-byte varint (bytearray: faster than bytes)
            payload = bytearray(counts)
        except ValueError:  # a count beyond a byte, or negative
            payload = b"\x80"
    if not payload.isascii():
        for count in counts:
            if not 0 <= count < _UINT64_LIMIT:
                raise _HandOverError
        payload = b"".join([_varint(count) for count in counts])
        size = len(payload)
    head = _BUCKET_HEADS.get((tag, offset, size)) if type(offset) is int else None
    if head is None:
        head = _bucket_head(tag, offset, size)
    return head + payload


# Heads of bucket fields (tag, length, offset field, counts tag and length) by tag, offset (an
# exact int: True would find 1's) and length of the packed counts.
_BUCKET_HEADS: dict[tuple[int, int, int], bytes] = {}


def _bucket_head(tag: int, offset: Any, size: int) -> bytes:
    head = _sint32(b"\x08", offset) + b"\x12" + _length(size)
    head = _SMALL[tag] + _length(len(head) + size) + head
    if type(offset) is int:
        if len(_BUCKET_HEADS) >= 4096:
            _BUCKET_HEADS.clear()
        _BUCKET_HEADS[tag, offset, size] = head
    return head


# -- data point attributes and exemplars ---------------------------------------------------------
# A metric's points nearly always have the same attribute keys, in the same order (a route, a
# method, a status code), with values of one type per key. So their attributes are encoded key
# by key across all the points (``_columns``): each step one C-level ``map`` over the points'
# values (encoding them, finding the heads for their lengths), and one join per point; in
# Python, each attribute of each point would take a dozen bytecodes. Anything else (keys
# differing between points, containers other than ``dict``, values of other types or of mixed
# types under one key, values the official encoder drops) takes the span encoder's way, point
# by point.
_ATTRIBUTES = attrgetter("attributes")
_EXEMPLARS = attrgetter("exemplars")
_ATTRIBUTES_AND_EXEMPLARS = attrgetter("attributes", "exemplars")
# The varints of small non-negative ints (status codes and the like), by value.
_VARINTS = [_varint(value) for value in range(1024)]


def _columns(tag: bytes, attributes: list[Any]) -> list[list[bytes]] | None:
    """The points' attributes as ``KeyValue`` fields under ``tag``, encoded key by key: columns
    of their fields, or of their heads and values, with an item for each point. None unless
    every point has a ``dict`` of the same keys in the same order, and each key's values are
    all ``str`` (or subclasses: str.encode takes their characters, as upb does), or all exact
    ``int`` (within int64), ``bool`` or ``float``: nothing of them dropped, then."""
    n = len(attributes)
    if countOf(map(type, attributes), dict) != n:
        return None
    names = tuple(attributes[0])
    if countOf(map(tuple, attributes), names) != n:
        return None
    if not names:
        return []
    table = _KEYS.tables[tag]
    parts: list[list[bytes]] = []  # the fields, or their heads and values, key by key
    try:
        for name, values in zip(
            names, zip(*map(dict.values, attributes), strict=True), strict=True
        ):
            entry = table.get(name) or _KEYS.key(tag, name)
            if entry is None:
                return None
            kind = type(values[0])
            if kind is str or isinstance(values[0], str):
                data = list(map(str.encode, values))  # (TypeError: not all str)
                size = len(data[0])
                if countOf(map(len, data), size) == n:  # one length (ids, say): one head
                    parts.append([entry.texts.get(size) or _KEYS.text(entry, size)] * n)
                else:
                    sizes = list(map(len, data))
                    heads: list[Any] = list(map(entry.texts.get, sizes))
                    if not all(heads):  # lengths with no head made yet
                        heads = [
                            h or _KEYS.text(entry, size)
                            for h, size in zip(heads, sizes, strict=True)
                        ]
                    parts.append(heads)
                parts.append(data)
            elif countOf(map(type, values), kind) != n:
                return None  # mixed types (1, True and 1.0 are equal, but not encoded alike)
            elif kind is int:
                low, high = min(values), max(values)
                if 0 <= low and high < len(_VARINTS):
                    data = list(map(_VARINTS.__getitem__, values))
                elif _INT64_MIN <= low and high <= _INT64_MAX:
                    data = [_varint(value & _UINT64_MASK) for value in values]
                else:
                    return None  # out of range: dropped
                if (0 <= low and high < 0x80) or (0x80 <= low and high < 0x4000):  # one length
                    parts.append([entry.ints[len(data[0])]] * n)
                else:
                    parts.append(list(map(entry.ints.__getitem__, map(len, data))))
                parts.append(data)
            elif kind is bool:
                parts.append(list(map((entry.false, entry.true).__getitem__, values)))
            elif kind is float:
                parts.append([entry.floats] * n)
                parts.append(list(map(_pack_double, values)))
            else:
                return None
    except (TypeError, UnicodeEncodeError):  # values of several types; a lone surrogate
        return None
    return parts


def _point_fields(
    tag: bytes, exemplar_tag: int, points: Any, dropped: list[Any]
) -> tuple[list[list[bytes]], list[bytes]]:
    """The points' attributes (columns of their ``KeyValue`` fields under ``tag``: see
    ``_columns``) and each point's exemplars (their fields under ``exemplar_tag``, joined).
    Dropped attributes are logged in the official order: of each point, its attributes', then
    its exemplars'."""
    columns = _columns(tag, list(map(_ATTRIBUTES, points)))
    if columns is not None:  # nothing dropped: the exemplars' come in point order
        return columns, _exemplars(exemplar_tag, map(_EXEMPLARS, points), dropped)
    attribute_fields = []
    exemplar_fields: list[bytes] = []
    table = _KEYS.tables[tag]
    for attributes, exemplars in map(_ATTRIBUTES_AND_EXEMPLARS, points):
        if attributes:
            items = attributes if type(attributes) is dict else _items(attributes)
            attribute_fields.append(_plain_attributes(tag, table, items, dropped))
        else:
            attribute_fields.append(b"")
        exemplar_fields += _exemplars(exemplar_tag, (exemplars,), dropped)
    return [attribute_fields], exemplar_fields


def _plain_attributes(tag: bytes, table: Any, items: Any, dropped: list[Any]) -> bytes:
    """A point's attributes as the span encoder's ``_attributes`` encodes them, with the small
    ints of status codes and the like written without a call."""
    parts: list[bytes] = []
    append = parts.append
    for name, value in items.items():
        try:  # (subscripts, not get(): no method calls)
            entry = table[name]
        except KeyError:
            entry = _KEYS.key(tag, name)
        if entry is not None:
            kind = type(value)
            if kind is str:
                try:
                    data = value.encode()
                except UnicodeEncodeError:  # a lone surrogate: dropped, as officially
                    pass
                else:
                    try:
                        append(entry.texts[len(data)])
                    except KeyError:
                        append(_KEYS.text(entry, len(data)))
                    append(data)
                    continue
            elif kind is int:
                if 0 <= value < 0x80:
                    append(entry.ints[1])
                    append(_SMALL[value])
                    continue
                if 0 <= value < 0x4000:
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
        encoded = _pair(tag, entry, name, value, dropped)
        if encoded is not None:  # None: dropped, as officially
            append(encoded)
    return b"".join(parts)


# The tag and length of a data point field, by length: filled as lengths come, up to 16 KiB.
_POINT_HEADS: dict[int, bytes] = {}


def _point_head(size: int) -> bytes:
    head = b"\x0a" + _varint(size)
    if size < 0x4000:
        _POINT_HEADS[size] = head
    return head


# -- exemplars -----------------------------------------------------------------------------------
_EXEMPLAR = attrgetter("filtered_attributes", "value", "time_unix_nano", "span_id", "trace_id")
# An SDK exemplar (no filtered attributes, a time, a span and a trace id) in one call: the
# field's tag and length (46 either way), the time, the value, the ids (big-endian, as
# officially); as_double (field 3) comes before the ids, as_int (6) after them.
_pack_exemplar_double = struct.Struct("<BBBQBdBB8sBB16s").pack
_pack_exemplar_int = struct.Struct("<BBBQBB8sBB16sBq").pack


def _exemplars(tag: int, points_exemplars: Any, dropped: list[Any]) -> list[bytes]:
    """The exemplars of each point (an iterable of their lists), as fields under ``tag``,
    joined. A point has one exemplar or none, as the SDK's reservoirs mostly keep them: that one
    is written here in a call if it is the SDK's usual (no filtered attributes, a time, a span
    and a trace id), everything else by ``_exemplar``."""
    out: list[bytes] = []
    append = out.append
    for exemplars in points_exemplars:
        kind = type(exemplars)
        if kind is list and len(exemplars) == 1:
            filtered, value, time, span_id, trace_id = _EXEMPLAR(exemplars[0])
            if (
                not filtered
                and type(time) is int
                and time
                and type(span_id) is int
                and type(trace_id) is int
            ):  # (ids out of range raise here: the batch is handed over)
                if type(value) is float:
                    append(
                        _pack_exemplar_double(
                            tag,
                            46,
                            0x11,
                            time,
                            0x19,
                            value,
                            0x22,
                            8,
                            span_id.to_bytes(8, "big"),
                            0x2A,
                            0x10,
                            trace_id.to_bytes(16, "big"),
                        )
                    )
                    continue
                if type(value) is int:
                    append(
                        _pack_exemplar_int(
                            tag,
                            46,
                            0x11,
                            time,
                            0x22,
                            8,
                            span_id.to_bytes(8, "big"),
                            0x2A,
                            0x10,
                            trace_id.to_bytes(16, "big"),
                            0x31,
                            value,
                        )
                    )
                    continue
            append(_exemplar(tag, exemplars[0], dropped))
        elif kind is not list and kind is not tuple:
            raise _HandOverError  # as _sequence, without the call
        elif not exemplars:
            append(b"")
        else:  # several (or in a tuple): each as if alone
            append(b"".join(_exemplars(tag, [[exemplar] for exemplar in exemplars], dropped)))
    return out


def _exemplar(tag: int, exemplar: Any, dropped: list[Any]) -> bytes:
    """One exemplar field, the general way."""
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
    return _field(_SMALL[tag], b"".join(parts))


# -- data points ---------------------------------------------------------------------------------
# A metric's points are written in columns: its fields before the attributes and those after
# them, a bytes object for each point (each kind's function below: the usual point, exact ints
# and a float or int value, in a call or two of struct; anything else the general way), with
# the attributes' columns between them. Each point's items are joined once (``_joined``).
_SUM_POINT = attrgetter("start_time_unix_nano", "time_unix_nano", "value")
_GAUGE_POINT = attrgetter("time_unix_nano", "value")


def _joined(columns: Any, out: list[bytes]) -> None:
    """Appends a ``data_points`` field for each point, its items in ``columns`` (a zip of the
    columns) joined, after its tag and length."""
    contents = list(map(b"".join, columns))
    heads: list[Any] = list(map(_POINT_HEADS.get, map(len, contents)))
    if not all(heads):  # lengths with no head made yet
        heads = [
            head or _point_head(len(content)) for head, content in zip(heads, contents, strict=True)
        ]
    out += chain.from_iterable(zip(heads, contents, strict=True))


def _number(times: bytes, value: Any, exemplars: bytes) -> bytes:
    """A NumberDataPoint's fields after ``times`` up to its attributes, the general way."""
    kind = type(value)
    if kind is float:
        return times + b"\x21" + _pack_double(value) + exemplars
    if kind is int:
        return times + exemplars + _as_int(0x31, value)
    raise _HandOverError  # bool, int subclasses, None, ...: as upb makes of them


def _sum_fields(points: Any, exemplars: list[bytes]) -> list[bytes]:
    """Sum points' fields before their attributes."""
    out: list[bytes] = []
    append = out.append
    for point, exemplar_field in zip(points, exemplars, strict=True):
        start, time, value = _SUM_POINT(point)
        if start and time and type(start) is int and type(time) is int:
            kind = type(value)
            if kind is float:
                append(_pack_sum_double(0x11, start, 0x19, time, 0x21, value) + exemplar_field)
            elif kind is not int:
                raise _HandOverError
            elif exemplar_field:  # as_int (field 6) after the exemplars (5)
                append(_pack_times(0x11, start, 0x19, time) + exemplar_field + _as_int(0x31, value))
            else:
                append(_pack_sum_int(0x11, start, 0x19, time, 0x31, value))
        else:
            times = _fixed64(b"\x11", start) + _fixed64(b"\x19", time)
            append(_number(times, value, exemplar_field))
    return out


def _gauge_fields(points: Any, exemplars: list[bytes]) -> list[bytes]:
    """Gauge points' fields before their attributes: the official encoder leaves their start
    time out."""
    out: list[bytes] = []
    append = out.append
    for point, exemplar_field in zip(points, exemplars, strict=True):
        time, value = _GAUGE_POINT(point)
        if time and type(time) is int:
            kind = type(value)
            if kind is float:
                append(_pack_gauge_double(0x19, time, 0x21, value) + exemplar_field)
            elif kind is not int:
                raise _HandOverError
            elif exemplar_field:
                append(_pack_time(0x19, time) + exemplar_field + _as_int(0x31, value))
            else:
                append(_pack_gauge_int(0x19, time, 0x31, value))
        else:
            append(_number(_fixed64(b"\x19", time), value, exemplar_field))
    return out


_HISTOGRAM_POINT = attrgetter(
    "start_time_unix_nano",
    "time_unix_nano",
    "count",
    "sum",
    "bucket_counts",
    "explicit_bounds",
    "min",
    "max",
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


def _min_max(tag: int, minimum: Any, maximum: Any) -> bytes:
    """A histogram point's min and max fields (``tag`` and the next), each written when set."""
    if minimum is not None and maximum is not None:
        return _pack_two_doubles(tag, minimum, tag + 8, maximum)
    return _double(_SMALL[tag], minimum) + _double(_SMALL[tag + 8], maximum)


def _histogram_fields(points: Any, exemplars: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Explicit bucket histogram points' fields before their attributes and after them (min and
    max); no flags, as officially."""
    before: list[bytes] = []
    after: list[bytes] = []
    last_bounds: Any = None  # points of one histogram share their bounds: encoded once
    encoded_bounds = b""
    for point, exemplar_field in zip(points, exemplars, strict=True):
        start, time, count, total, counts, bounds, minimum, maximum = _HISTOGRAM_POINT(point)
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
            encoded = pack(0x11, start, 0x19, time, 0x21, count, 0x29, total, head, *counts)
        else:
            encoded = _head(start, time, count, total)
            encoded += (_COUNTS.get(n) or _counts_packer(n))(*counts)
        before.append(encoded + encoded_bounds + exemplar_field)
        if minimum is not None and maximum is not None:
            after.append(_pack_two_doubles(0x59, minimum, 0x61, maximum))
        else:
            after.append(_min_max(0x59, minimum, maximum))
    return before, after


_EXPONENTIAL_POINT = attrgetter(
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
)
# Scale fields by scale, for the usual ones (an exact int: True would find 1's); 0 is left out.
_SCALES = {scale: _sint32(b"\x30", scale) for scale in range(-0x40, 0x40)}


def _exponential_fields(points: Any, exemplars: list[bytes]) -> list[bytes]:
    """Exponential histogram points' fields after their attributes (field 1); no zero
    threshold, as officially."""
    out: list[bytes] = []
    append = out.append
    for point, exemplar_field in zip(points, exemplars, strict=True):
        (
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
        ) = _EXPONENTIAL_POINT(point)
        if (
            start
            and time
            and count
            and total is not None
            and type(start) is int
            and type(time) is int
            and type(count) is int
        ):
            head = _pack_histogram_head(0x11, start, 0x19, time, 0x21, count, 0x29, total)
        else:
            head = _head(start, time, count, total)
        if type(scale) is int and -0x40 <= scale < 0x40:
            scale_field = _SCALES[scale]
        else:
            scale_field = _sint32(b"\x30", scale)
        if minimum is not None and maximum is not None:
            tail = _pack_two_doubles(0x61, minimum, 0x69, maximum)
        else:
            tail = _min_max(0x61, minimum, maximum)
        append(
            b"".join(
                (
                    head,
                    scale_field,
                    _fixed64(b"\x39", zero_count)
                    if zero_count or type(zero_count) is not int
                    else b"",
                    _buckets(0x42, positive),
                    _buckets(0x4A, negative),
                    _uint32(b"\x50", flags) if flags or type(flags) is not int else b"",
                    exemplar_field,
                    tail,
                )
            )
        )
    return out


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
    encoded: list[bytes] = []
    if kind == 0 or kind == 2:  # a Gauge or a Sum
        attributes, exemplars = _point_fields(_NUMBER_TAG, 0x2A, points, dropped)
        before = _gauge_fields(points, exemplars) if kind == 0 else _sum_fields(points, exemplars)
        _joined(zip(before, *attributes, strict=True), encoded)
        if kind == 0:
            trailer, tag = b"", b"\x2a"
        else:
            trailer = _temporality(data.aggregation_temporality) + _monotonic(data.is_monotonic)
            tag = b"\x3a"
    elif kind == 1:
        attributes, exemplars = _point_fields(_HISTOGRAM_TAG, 0x42, points, dropped)
        before, after = _histogram_fields(points, exemplars)
        _joined(zip(before, *attributes, after, strict=True), encoded)
        trailer, tag = _temporality(data.aggregation_temporality), b"\x4a"
    else:
        attributes, exemplars = _point_fields(_EXPONENTIAL_TAG, 0x5A, points, dropped)
        _joined(zip(*attributes, _exponential_fields(points, exemplars), strict=True), encoded)
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
