"""What invoked the function, read from the event's shape: span name, kind, attributes, the
headers that may carry a parent context, and the links of a batch.

Pure functions over plain JSON-like values, following the current OpenTelemetry semantic
conventions for FaaS, HTTP and messaging. Nothing here raises on a malformed event: a field that
is missing or of the wrong type is simply not described.

Events come from callers, so every read is defensive: dict, list and str subclasses are read
through the built-in types' own methods (never an override), and every string copied into a
span goes through :func:`clean_text`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

AttributeValue = str | bool | int | float

HTTP, PUBSUB, DATASOURCE, TIMER, OTHER = "http", "pubsub", "datasource", "timer", "other"

_SURROGATE = re.compile("[\ud800-\udfff]")


class TriggerSpan(NamedTuple):
    """How to describe one invocation's span. Custom extractors return one of these.

    ``name``/``kind`` ``None`` mean the defaults (the function name, SERVER); ``headers`` are
    where a parent context is looked for (names are matched case-insensitively); ``links`` point
    at the spans that produced a batch's messages.
    """

    trigger: str = OTHER
    name: str | None = None
    kind: SpanKind | None = None
    attributes: Mapping[str, AttributeValue] = {}
    headers: Mapping[str, str] | None = None
    links: Sequence[Link] = ()
    http: bool = False  # read the response's statusCode


def clean_text(text: str) -> str:
    """``text`` as a plain ``str`` that UTF-8 can encode: each surrogate becomes U+FFFD.

    Every string copied from user data into a span goes through here: one string the OTLP
    encoder cannot encode loses the whole batch it is in. File names decoded with
    ``os.fsdecode`` carry such surrogates. A ``str`` subclass is copied without calling any of
    its methods. ASCII, the usual case, costs one check; the replacement is linear even for a
    string of millions of surrogates.
    """
    if type(text) is not str:
        text = str.__str__(text)
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:  # UTF-8 encodes every code point but the surrogates
        return _SURROGATE.sub("\ufffd", text)
    return text


def _text(value: Any) -> str | None:
    """A string read from user data, cleaned; ``None`` for anything else."""
    if type(value) is str and value.isascii():  # the usual case, first: this runs per field
        return value
    return clean_text(value) if issubclass(type(value), str) else None


def text_or_none(value: Any) -> str | None:
    """A non-empty string read from user data, cleaned; ``None`` for anything else."""
    if type(value) is str and value.isascii():
        return value or None
    return (clean_text(value) or None) if issubclass(type(value), str) else None


def _dict(value: Any) -> dict[str, Any]:
    """A dict read from user data; a subclass is copied through ``dict``'s own methods."""
    if type(value) is dict:
        return value
    return dict(dict.items(value)) if issubclass(type(value), dict) else {}


def _list(value: Any) -> list[Any]:
    """A list read from user data; a subclass is copied through ``list``'s own iterator."""
    if type(value) is list:
        return value
    return list(list.__iter__(value)) if issubclass(type(value), list) else []


def lower_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Headers with lower-case names; single-value ``headers`` win over ``multiValueHeaders``."""
    out: dict[str, str] = {}
    for name, values in _dict(event.get("multiValueHeaders")).items():
        key = _text(name)
        strings = [v for v in _list(values) if issubclass(type(v), str)]
        if key is not None and strings:
            joined = ",".join(strings)  # a plain str, whatever the items' types
            out[key.lower()] = joined if joined.isascii() else clean_text(joined)
    for name, value in _dict(event.get("headers")).items():
        if type(name) is str and type(value) is str and name.isascii() and value.isascii():
            out[name.lower()] = value  # the usual header, without a call: there may be many
            continue
        key, text = _text(name), _text(value)
        if key is not None and text is not None:
            out[key.lower()] = text
    return out


def _protocol_version(protocol: Any) -> str | None:
    text = text_or_none(protocol)
    if text and text.upper().startswith("HTTP/"):
        return text[5:]
    return None


def _http_span(
    method: str | None,
    route: str | None,
    path: str | None,
    query: str | None,
    headers: dict[str, str],
    extra: dict[str, AttributeValue],
) -> TriggerSpan:
    attributes: dict[str, AttributeValue] = {}
    if method:
        attributes["http.request.method"] = method.upper()
    if route:
        attributes["http.route"] = route
    if path:
        attributes["url.path"] = path
    if query:
        attributes["url.query"] = query
    scheme = headers.get("x-forwarded-proto")
    if scheme:
        attributes["url.scheme"] = scheme.split(",")[0].strip()
    host = headers.get("host")
    if host:
        attributes["server.address"] = host.split(":")[0]
    user_agent = headers.get("user-agent")
    if user_agent and "user_agent.original" not in extra:
        attributes["user_agent.original"] = user_agent
    attributes.update({k: v for k, v in extra.items() if v is not None})
    name = f"{method.upper()} {route}" if method and route else (method.upper() if method else None)
    return TriggerSpan(HTTP, name, SpanKind.SERVER, attributes, headers, (), True)


def _query_from_parameters(parameters: Any) -> str | None:
    items = []
    for name, value in _dict(parameters).items():
        key, text = _text(name), _text(value)
        if key is not None and text is not None:
            items.append(f"{key}={text}")
    return "&".join(items) or None


def _client(source_ip: Any, user_agent: Any, protocol: Any) -> dict[str, AttributeValue]:
    """What API Gateway's request context says of the caller, as HTTP attributes."""
    extra: dict[str, AttributeValue] = {}
    address, agent = text_or_none(source_ip), text_or_none(user_agent)
    if address:
        extra["client.address"] = address
    if agent:
        extra["user_agent.original"] = agent
    version = _protocol_version(protocol)
    if version:
        extra["network.protocol.version"] = version
    return extra


def _api_gateway_v1(event: dict[str, Any]) -> TriggerSpan:
    context = _dict(event.get("requestContext"))
    identity = _dict(context.get("identity"))
    extra = _client(identity.get("sourceIp"), identity.get("userAgent"), context.get("protocol"))
    return _http_span(
        text_or_none(event.get("httpMethod")),
        text_or_none(event.get("resource")),
        text_or_none(event.get("path")),
        _query_from_parameters(event.get("queryStringParameters")),
        lower_headers(event),
        extra,
    )


def _api_gateway_v2(event: dict[str, Any]) -> TriggerSpan:
    context = _dict(event.get("requestContext"))
    http = _dict(context.get("http"))
    route_key = text_or_none(event.get("routeKey"))
    route = None
    if route_key and route_key != "$default":
        route = route_key.split(" ", 1)[1] if " " in route_key else route_key
    extra = _client(http.get("sourceIp"), http.get("userAgent"), http.get("protocol"))
    return _http_span(
        text_or_none(http.get("method")),
        route,
        text_or_none(event.get("rawPath")) or text_or_none(http.get("path")),
        text_or_none(event.get("rawQueryString")),
        lower_headers(event),
        extra,
    )


def _alb(event: dict[str, Any]) -> TriggerSpan:
    return _http_span(
        text_or_none(event.get("httpMethod")),
        None,
        text_or_none(event.get("path")),
        _query_from_parameters(event.get("queryStringParameters")),
        lower_headers(event),
        {},
    )


def xray_span_context(header: Any) -> SpanContext | None:
    """The span context in an ``X-Amzn-Trace-Id`` value (``Root=1-…;Parent=…;Sampled=…``)."""
    text = _text(header)
    if text is None:
        return None
    fields = {}
    for part in text.split(";"):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    root, parent = fields.get("Root", ""), fields.get("Parent", "")
    pieces = root.split("-")
    if len(pieces) != 3 or pieces[0] != "1" or len(pieces[1]) != 8 or len(pieces[2]) != 24:
        return None
    try:
        trace_id = int(pieces[1] + pieces[2], 16)
        span_id = int(parent, 16) if len(parent) == 16 else 0
    except ValueError:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if fields.get("Sampled") == "1" else 0)
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return context if context.is_valid else None


def _traceparent_span_context(value: Any) -> SpanContext | None:
    text = _text(value)
    if text is None:
        return None
    parts = text.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or parts[0] == "ff":
        return None
    try:
        context = SpanContext(
            int(parts[1], 16),
            int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3][:2], 16) & TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return context if context.is_valid else None


def _name_from_arn(arn: Any, *, after: str = ":") -> str | None:
    text = text_or_none(arn)
    if not text:
        return None
    return text.rsplit(after, 1)[-1] or None


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [_dict(r) for r in _list(event.get("Records")) if issubclass(type(r), dict)]


def _single(values: list[str | None]) -> str | None:
    distinct = {v for v in values if v}
    return distinct.pop() if len(distinct) == 1 else None


def _consumer(
    system: str,
    destination: str | None,
    count: int,
    message_id: Any,
    links: Sequence[Link] = (),
) -> TriggerSpan:
    """A messaging batch being processed: SQS and SNS share these conventions."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": system,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.batch.message_count": count,
    }
    if destination:
        attributes["messaging.destination.name"] = destination
    message = text_or_none(message_id) if count == 1 else None
    if message:
        attributes["messaging.message.id"] = message
    name = f"process {destination}" if destination else "process"
    return TriggerSpan(PUBSUB, name, SpanKind.CONSUMER, attributes, None, links)


def _sqs(records: list[dict[str, Any]], max_links: int) -> TriggerSpan:
    links: list[Link] = []
    for record in records:
        if len(links) >= max_links:
            break
        context = xray_span_context(_dict(record.get("attributes")).get("AWSTraceHeader"))
        if context is None:  # our documented extension: a W3C traceparent message attribute
            attribute = _dict(_dict(record.get("messageAttributes")).get("traceparent"))
            context = _traceparent_span_context(attribute.get("stringValue"))
        if context is not None:
            links.append(Link(context))
    queue = _single([_name_from_arn(r.get("eventSourceARN")) for r in records])
    return _consumer("aws_sqs", queue, len(records), records[0].get("messageId"), links)


def _sns(records: list[dict[str, Any]]) -> TriggerSpan:
    messages = [_dict(r.get("Sns")) for r in records]
    topic = _single([_name_from_arn(m.get("TopicArn")) for m in messages])
    return _consumer("aws.sns", topic, len(records), messages[0].get("MessageId"))


def _kinesis(records: list[dict[str, Any]]) -> TriggerSpan:
    stream = _single([_name_from_arn(r.get("eventSourceARN"), after="/") for r in records])
    attributes: dict[str, AttributeValue] = {
        "messaging.operation.type": "process",
        "messaging.batch.message_count": len(records),
    }
    if stream:
        attributes["aws.kinesis.stream_name"] = stream
        attributes["messaging.destination.name"] = stream
    return TriggerSpan(
        PUBSUB, f"process {stream}" if stream else "process", SpanKind.CONSUMER, attributes
    )


_S3_OPERATIONS = {"ObjectCreated": "insert", "ObjectRemoved": "delete"}
_DYNAMODB_OPERATIONS = {"INSERT": "insert", "MODIFY": "edit", "REMOVE": "delete"}


def _s3(records: list[dict[str, Any]]) -> TriggerSpan:
    s3 = [_dict(r.get("s3")) for r in records]
    bucket = _single([text_or_none(_dict(x.get("bucket")).get("name")) for x in s3])
    attributes: dict[str, AttributeValue] = {}
    if bucket:
        attributes["faas.document.collection"] = bucket
    if len(records) == 1:
        operation = _S3_OPERATIONS.get(
            (text_or_none(records[0].get("eventName")) or "").split(":")[0]
        )
        if operation:
            attributes["faas.document.operation"] = operation
        key = text_or_none(_dict(s3[0].get("object")).get("key"))
        if key:
            attributes["faas.document.name"] = key
        when = text_or_none(records[0].get("eventTime"))
        if when:
            attributes["faas.document.time"] = when
    return TriggerSpan(DATASOURCE, None, SpanKind.SERVER, attributes)


def _dynamodb(records: list[dict[str, Any]]) -> TriggerSpan:
    tables = [text_or_none(r.get("eventSourceARN")) for r in records]
    table = _single(
        [
            t.split(":table/", 1)[1].split("/", 1)[0] if t and ":table/" in t else None
            for t in tables
        ]
    )
    attributes: dict[str, AttributeValue] = {}
    if table:
        attributes["faas.document.collection"] = table
    if len(records) == 1:
        operation = _DYNAMODB_OPERATIONS.get(text_or_none(records[0].get("eventName")) or "")
        if operation:
            attributes["faas.document.operation"] = operation
    return TriggerSpan(DATASOURCE, None, SpanKind.SERVER, attributes)


def describe(event: Any, *, max_links: int | Callable[[], int] = 128) -> TriggerSpan:
    """Recognise the trigger from the event's shape; anything unknown is ``other``.

    ``max_links`` may be a callable: it is asked only for a batch that carries links.
    """
    event = _dict(event)
    if not event:
        return TriggerSpan()
    context = _dict(event.get("requestContext"))
    if context:
        if _dict(context.get("elb")):
            return _alb(event)
        if _dict(context.get("http")) and text_or_none(event.get("version")) == "2.0":
            return _api_gateway_v2(event)  # HTTP API and function URLs share this shape
        if text_or_none(event.get("httpMethod")):
            return _api_gateway_v1(event)
    records = _records(event)
    if records:
        source = text_or_none(records[0].get("eventSource")) or text_or_none(
            records[0].get("EventSource")
        )
        if source == "aws:sqs":
            return _sqs(records, max_links() if callable(max_links) else max_links)
        if source == "aws:sns":
            return _sns(records)
        if source == "aws:kinesis":
            return _kinesis(records)
        if source == "aws:s3":
            return _s3(records)
        if source == "aws:dynamodb":
            return _dynamodb(records)
    detail_type = text_or_none(event.get("detail-type"))
    source = text_or_none(event.get("source")) if detail_type else None
    if source and "detail" in event:
        if source == "aws.events" and detail_type == "Scheduled Event":
            attributes: dict[str, AttributeValue] = {}
            when = text_or_none(event.get("time"))
            if when:
                attributes["faas.time"] = when
            return TriggerSpan(TIMER, None, SpanKind.SERVER, attributes)
        return TriggerSpan(PUBSUB, None, SpanKind.CONSUMER, {})
    return TriggerSpan()


def cleaned(found: TriggerSpan) -> TriggerSpan:
    """A custom extractor's :class:`TriggerSpan`, made as safe to copy as :func:`describe`'s.

    Extractors copy text from the event: every string is cleaned, header names lower-cased and
    anything of the wrong type dropped. Links are left to the SDK, which keeps its limit and
    counts what it drops.
    """
    attributes: dict[str, Any] = {}
    for key, value in _items(found.attributes):
        name = text_or_none(key)
        if name is None or value is None:
            continue
        if issubclass(type(value), str):
            value = clean_text(value)
        elif issubclass(type(value), (list, tuple)):
            value = [clean_text(v) if issubclass(type(v), str) else v for v in value]
        attributes[name] = value
    headers = None
    if found.headers is not None:
        headers = lower_headers({"headers": dict(_items(found.headers))})
    return TriggerSpan(
        text_or_none(found.trigger) or OTHER,
        text_or_none(found.name),
        found.kind if isinstance(found.kind, SpanKind) else None,
        attributes,
        headers,
        list(found.links),
        found.http is True,
    )


def _items(mapping: Any) -> list[tuple[Any, Any]]:
    """A mapping's items; a dict (subclass) read through ``dict``'s own method."""
    if issubclass(type(mapping), dict):
        return list(dict.items(mapping))
    return list(mapping.items()) if isinstance(mapping, Mapping) else []


def status_code(result: Any) -> int | None:
    """The HTTP status of a Lambda proxy response: ``statusCode`` as an int or a string of ASCII
    digits, read without calling any method of the response."""
    if not issubclass(type(result), dict):
        return None
    value: Any = dict.get(result, "statusCode")
    if issubclass(type(value), int) and not issubclass(type(value), bool):
        code = int.__index__(value)  # a subclass's comparisons are never called
        return code if 100 <= code <= 599 else None
    text = _text(value)
    if text is not None:
        text = text.strip()
        if 0 < len(text) <= 8 and text.isascii() and text.isdigit():
            code = int(text)
            return code if 100 <= code <= 599 else None
    return None
