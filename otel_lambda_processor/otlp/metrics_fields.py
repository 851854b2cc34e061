"""The metrics encoder's wire fields, as upb reads them: numbers (times, counts, min, max, sum,
offsets) written for exact values only, lengths, the packed histogram counts and bounds, and an
exponential histogram's bucket fields.

Owns these field writers and their caches (packers by count of values, bucket heads); must not
know points, attributes or metrics (:mod:`.metrics_points`, :mod:`.metrics_attributes`,
:mod:`.metrics_encoder`). A value it cannot write exactly raises ``_HandOverError``.
"""

from __future__ import annotations

import struct
from functools import partial
from operator import attrgetter, countOf
from typing import Any

from .encoder import _SMALL, _HandOverError, _varint

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_UINT64_LIMIT = 2**64
_INT32_MIN, _INT32_LIMIT = -(2**31), 2**31


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
