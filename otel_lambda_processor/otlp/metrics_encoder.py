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

Owns metrics, scopes and resources, the log lines and the hand-over; must not write points' fields
(:mod:`.metrics_points`), their attributes and exemplars (:mod:`.metrics_attributes`) nor the
numbers, lengths and buckets under them (:mod:`.metrics_fields`).
"""

from __future__ import annotations

import logging
from operator import attrgetter
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
    _KEYS,
    _UINT64_MASK,
    _Encoder,
    _field,
    _HandOverError,
    _items,
    _official_logger,
    _string,
    _varint,
)
from .metrics_attributes import (
    _EXPONENTIAL_TAG,
    _HISTOGRAM_TAG,
    _NUMBER_TAG,
    _exemplars,
    _plain_attributes,
)
from .metrics_attributes import _columns as _columns  # (tests take it away here)
from .metrics_fields import _BOUNDS as _BOUNDS  # (caches: tests check their bounds here)
from .metrics_fields import _BUCKET_HEADS as _BUCKET_HEADS
from .metrics_fields import _COUNTS as _COUNTS
from .metrics_fields import _HEADED_COUNTS as _HEADED_COUNTS
from .metrics_fields import _INT32_LIMIT, _INT32_MIN, _length, _sequence
from .metrics_points import _POINT_HEADS as _POINT_HEADS
from .metrics_points import (
    _exponential_fields,
    _gauge_fields,
    _histogram_fields,
    _joined,
    _sum_fields,
)

# The official encoder warns of data it does not know on this logger, with this message.
_metrics_logger = logging.getLogger(
    "opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder"
)
_UNSUPPORTED = "unsupported data type %s"


class _Unsupported:
    """Stands among the dropped attributes for the official "unsupported data type" warning,
    to be logged in its place among their log lines."""

    __slots__ = ("name",)

    def __init__(self, name: Any) -> None:
        self.name = name


# -- a metric's points' attributes and exemplars -------------------------------------------------
_ATTRIBUTES = attrgetter("attributes")
_EXEMPLARS = attrgetter("exemplars")
_ATTRIBUTES_AND_EXEMPLARS = attrgetter("attributes", "exemplars")


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
