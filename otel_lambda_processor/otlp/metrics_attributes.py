"""The metrics encoder's data point attributes and exemplars: a metric's points' attributes key
by key across the points where they share their keys (``_columns``), point by point otherwise
(``_plain_attributes``), and each point's exemplars (``_exemplars``).

Owns the attribute tags of the point kinds and these writers; must not know the points' other
fields nor metrics (:mod:`.metrics_points`, :mod:`.metrics_encoder`), and drops and logs exactly
what the official encoder does, through the span encoder's ``_pair`` and ``_attributes``.
"""

from __future__ import annotations

import struct
from operator import attrgetter, countOf
from typing import Any

from .encoder import (
    _INT64_MAX,
    _INT64_MIN,
    _KEYS,
    _SMALL,
    _UINT64_MASK,
    _attributes,
    _field,
    _HandOverError,
    _pair,
    _varint,
)
from .metrics_fields import _fixed64, _pack_double

# NumberDataPoint and Exemplar attributes go under field 7, a tag the span encoder's key tables
# do not have; HistogramDataPoint's (0x4a) and ExponentialHistogramDataPoint's (0x0a) they do.
_NUMBER_TAG, _HISTOGRAM_TAG, _EXPONENTIAL_TAG = b"\x3a", b"\x4a", b"\x0a"
_KEYS.tables.setdefault(_NUMBER_TAG, {})


# -- data point attributes and exemplars ---------------------------------------------------------
# A metric's points nearly always have the same attribute keys, in the same order (a route, a
# method, a status code), with values of one type per key. So their attributes are encoded key
# by key across all the points (``_columns``): each step one C-level ``map`` over the points'
# values (encoding them, finding the heads for their lengths), and one join per point; in
# Python, each attribute of each point would take a dozen bytecodes. Anything else (keys
# differing between points, containers other than ``dict``, values of other types or of mixed
# types under one key, values the official encoder drops) takes the span encoder's way, point
# by point.

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


# -- exemplars -----------------------------------------------------------------------------------
_EXEMPLAR = attrgetter("filtered_attributes", "value", "time_unix_nano", "span_id", "trace_id")
# An SDK exemplar (no filtered attributes, a time, a span and a trace id) in one call: the
# field's tag and length (46 either way), the time, the value, the ids (big-endian, as
# officially); as_double (field 3) comes before the ids, as_int (6) after them.
_pack_exemplar_double = struct.Struct("<BBBQBdBB8sBB16s").pack
_pack_exemplar_int = struct.Struct("<BBBQBB8sBB16sBq").pack
_pack_sfixed64 = struct.Struct("<q").pack


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
