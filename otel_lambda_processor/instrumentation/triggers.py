"""What invoked the function, read from the event's shape: span name, kind, attributes, the
headers that may carry a parent context, and the links of a batch.

Pure functions over plain JSON-like values, following the current OpenTelemetry semantic
conventions for FaaS, HTTP and messaging. Nothing here raises on a malformed event: a field that
is missing or of the wrong type is simply not described.

Events come from callers, so every read is defensive (:mod:`.untrusted`): dict, list and str
subclasses are read through the built-in types' own methods (never an override), and every
string copied into a span goes through :func:`clean_text`.

Owns what each event shape means for the span; must not read a value from the event other than
through :mod:`.untrusted`, nor create a span.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.trace import Link, SpanKind

from .untrusted import (
    as_dict,
    as_list,
    as_text,
    clean_text,
    items_of,
    lower_headers,
    text_or_none,
    traceparent_span_context,
    xray_span_context,
)

AttributeValue = str | bool | int | float

HTTP, PUBSUB, DATASOURCE, TIMER, OTHER = "http", "pubsub", "datasource", "timer", "other"


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
    for name, value in as_dict(parameters).items():
        key, text = as_text(name), as_text(value)
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
    context = as_dict(event.get("requestContext"))
    identity = as_dict(context.get("identity"))
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
    context = as_dict(event.get("requestContext"))
    http = as_dict(context.get("http"))
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


def _name_from_arn(arn: Any, *, after: str = ":") -> str | None:
    text = text_or_none(arn)
    if not text:
        return None
    return text.rsplit(after, 1)[-1] or None


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_dict(r) for r in as_list(event.get("Records")) if issubclass(type(r), dict)]


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
        context = xray_span_context(as_dict(record.get("attributes")).get("AWSTraceHeader"))
        if context is None:  # our documented extension: a W3C traceparent message attribute
            attribute = as_dict(as_dict(record.get("messageAttributes")).get("traceparent"))
            context = traceparent_span_context(attribute.get("stringValue"))
        if context is not None:
            links.append(Link(context))
    queue = _single([_name_from_arn(r.get("eventSourceARN")) for r in records])
    return _consumer("aws_sqs", queue, len(records), records[0].get("messageId"), links)


def _sns(records: list[dict[str, Any]]) -> TriggerSpan:
    messages = [as_dict(r.get("Sns")) for r in records]
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
    s3 = [as_dict(r.get("s3")) for r in records]
    bucket = _single([text_or_none(as_dict(x.get("bucket")).get("name")) for x in s3])
    attributes: dict[str, AttributeValue] = {}
    if bucket:
        attributes["faas.document.collection"] = bucket
    if len(records) == 1:
        operation = _S3_OPERATIONS.get(
            (text_or_none(records[0].get("eventName")) or "").split(":")[0]
        )
        if operation:
            attributes["faas.document.operation"] = operation
        key = text_or_none(as_dict(s3[0].get("object")).get("key"))
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
    event = as_dict(event)
    if not event:
        return TriggerSpan()
    context = as_dict(event.get("requestContext"))
    if context:
        if as_dict(context.get("elb")):
            return _alb(event)
        if as_dict(context.get("http")) and text_or_none(event.get("version")) == "2.0":
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
    for key, value in items_of(found.attributes):
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
        headers = lower_headers({"headers": dict(items_of(found.headers))})
    return TriggerSpan(
        text_or_none(found.trigger) or OTHER,
        text_or_none(found.name),
        found.kind if isinstance(found.kind, SpanKind) else None,
        attributes,
        headers,
        list(found.links),
        found.http is True,
    )


def status_code(result: Any) -> int | None:
    """The HTTP status of a Lambda proxy response: ``statusCode`` as an int or a string of ASCII
    digits, read without calling any method of the response."""
    if not issubclass(type(result), dict):
        return None
    value: Any = dict.get(result, "statusCode")
    if issubclass(type(value), int) and not issubclass(type(value), bool):
        code = int.__index__(value)  # a subclass's comparisons are never called
        return code if 100 <= code <= 599 else None
    text = as_text(value)
    if text is not None:
        text = text.strip()
        if 0 < len(text) <= 8 and text.isascii() and text.isdigit():
            code = int(text)
            return code if 100 <= code <= 599 else None
    return None
