"""The metrics encoder's data points: each kind's fields before and after its attributes, a
bytes object per point (the usual point in a call or two of ``struct``, anything else the general
way), and the points joined with their attributes' columns into ``data_points`` fields.

Owns the point writers and the point heads' cache; must not encode attributes or exemplars
(:mod:`.metrics_attributes`) nor metrics, resources and scopes (:mod:`.metrics_encoder`).
"""

from __future__ import annotations

import struct
from itertools import chain
from operator import attrgetter, countOf
from typing import Any

from .encoder import _SMALL, _HandOverError, _varint
from .metrics_fields import (
    _COUNTS,
    _HEADED_COUNTS,
    _buckets,
    _counts_packer,
    _double,
    _fixed64,
    _headed_counts,
    _pack_double,
    _packed_double,
    _sint32,
    _uint32,
)

# -- data points ---------------------------------------------------------------------------------
# A metric's points are written in columns: its fields before the attributes and those after
# them, a bytes object for each point (each kind's function below: the usual point, exact ints
# and a float or int value, in a call or two of struct; anything else the general way), with
# the attributes' columns between them. Each point's items are joined once (``_joined``).

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

_SUM_POINT = attrgetter("start_time_unix_nano", "time_unix_nano", "value")
_GAUGE_POINT = attrgetter("time_unix_nano", "value")


# The tag and length of a data point field, by length: filled as lengths come, up to 16 KiB.
_POINT_HEADS: dict[int, bytes] = {}


def _point_head(size: int) -> bytes:
    head = b"\x0a" + _varint(size)
    if size < 0x4000:
        _POINT_HEADS[size] = head
    return head


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
