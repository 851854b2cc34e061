"""Reading a span for the fast trace encoder: through the public API (``_public``), or from the
SDK's private fields (``_private``), about twice as fast as the properties, which copy.

The private read is used only where :mod:`.encoder` turns it on: on a tested OpenTelemetry
release, and when ``_private_matches_public`` finds on a real span that both give the same.

Owns the order of what is read (``_Fields``) and both ways of reading it; must not encode
anything (:mod:`.wire`, :mod:`.encoder`) nor decide which way is used (``_FAST`` in
:mod:`.encoder`, where tests switch it).
"""

from __future__ import annotations

import operator
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .wire import _sequence

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
