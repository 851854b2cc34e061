"""What invoked the function, read from the event's shape: span name, kind, attributes, the
headers that may carry a parent context, and the links of a batch.

Pure functions over plain JSON-like values, following the current OpenTelemetry semantic
conventions for FaaS, HTTP and messaging. Nothing here raises on a malformed event: a field that
is missing or of the wrong type is simply not described.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def lower_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Headers with lower-case names; single-value ``headers`` win over ``multiValueHeaders``."""
    out: dict[str, str] = {}
    for name, values in _dict(event.get("multiValueHeaders")).items():
        if isinstance(name, str) and isinstance(values, list) and values:
            strings = [v for v in values if isinstance(v, str)]
            if strings:
                out[name.lower()] = ",".join(strings)
    for name, value in _dict(event.get("headers")).items():
        if isinstance(name, str) and isinstance(value, str):
            out[name.lower()] = value
    return out


def _protocol_version(protocol: Any) -> str | None:
    text = _str(protocol)
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
    items = [
        f"{k}={v}"
        for k, v in _dict(parameters).items()
        if isinstance(k, str) and isinstance(v, str)
    ]
    return "&".join(items) or None


def _client(source_ip: Any, user_agent: Any, protocol: Any) -> dict[str, AttributeValue]:
    """What API Gateway's request context says of the caller, as HTTP attributes."""
    extra: dict[str, AttributeValue] = {}
    if _str(source_ip):
        extra["client.address"] = source_ip
    if _str(user_agent):
        extra["user_agent.original"] = user_agent
    version = _protocol_version(protocol)
    if version:
        extra["network.protocol.version"] = version
    return extra


def _api_gateway_v1(event: Mapping[str, Any]) -> TriggerSpan:
    context = _dict(event.get("requestContext"))
    identity = _dict(context.get("identity"))
    extra = _client(identity.get("sourceIp"), identity.get("userAgent"), context.get("protocol"))
    return _http_span(
        _str(event.get("httpMethod")),
        _str(event.get("resource")),
        _str(event.get("path")),
        _query_from_parameters(event.get("queryStringParameters")),
        lower_headers(event),
        extra,
    )


def _api_gateway_v2(event: Mapping[str, Any]) -> TriggerSpan:
    context = _dict(event.get("requestContext"))
    http = _dict(context.get("http"))
    route_key = _str(event.get("routeKey"))
    route = None
    if route_key and route_key != "$default":
        route = route_key.split(" ", 1)[1] if " " in route_key else route_key
    extra = _client(http.get("sourceIp"), http.get("userAgent"), http.get("protocol"))
    return _http_span(
        _str(http.get("method")),
        route,
        _str(event.get("rawPath")) or _str(http.get("path")),
        _str(event.get("rawQueryString")),
        lower_headers(event),
        extra,
    )


def _alb(event: Mapping[str, Any]) -> TriggerSpan:
    return _http_span(
        _str(event.get("httpMethod")),
        None,
        _str(event.get("path")),
        _query_from_parameters(event.get("queryStringParameters")),
        lower_headers(event),
        {},
    )


def xray_span_context(header: Any) -> SpanContext | None:
    """The span context in an ``X-Amzn-Trace-Id`` value (``Root=1-…;Parent=…;Sampled=…``)."""
    if not isinstance(header, str):
        return None
    fields = {}
    for part in header.split(";"):
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
    if not isinstance(value, str):
        return None
    parts = value.strip().split("-")
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
    text = _str(arn)
    if not text:
        return None
    return text.rsplit(after, 1)[-1] or None


def _records(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = event.get("Records")
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


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
    if count == 1 and _str(message_id):
        attributes["messaging.message.id"] = message_id
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
    bucket = _single([_str(_dict(x.get("bucket")).get("name")) for x in s3])
    attributes: dict[str, AttributeValue] = {}
    if bucket:
        attributes["faas.document.collection"] = bucket
    if len(records) == 1:
        operation = _S3_OPERATIONS.get((_str(records[0].get("eventName")) or "").split(":")[0])
        if operation:
            attributes["faas.document.operation"] = operation
        key = _str(_dict(s3[0].get("object")).get("key"))
        if key:
            attributes["faas.document.name"] = key
        when = _str(records[0].get("eventTime"))
        if when:
            attributes["faas.document.time"] = when
    return TriggerSpan(DATASOURCE, None, SpanKind.SERVER, attributes)


def _dynamodb(records: list[dict[str, Any]]) -> TriggerSpan:
    tables = [_str(r.get("eventSourceARN")) for r in records]
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
        operation = _DYNAMODB_OPERATIONS.get(_str(records[0].get("eventName")) or "")
        if operation:
            attributes["faas.document.operation"] = operation
    return TriggerSpan(DATASOURCE, None, SpanKind.SERVER, attributes)


def describe(event: Any, *, max_links: int | Callable[[], int] = 128) -> TriggerSpan:
    """Recognise the trigger from the event's shape; anything unknown is ``other``.

    ``max_links`` may be a callable: it is asked only for a batch that carries links.
    """
    if not isinstance(event, dict):
        return TriggerSpan()
    context = _dict(event.get("requestContext"))
    if _dict(context.get("elb")):
        return _alb(event)
    if event.get("version") == "2.0" and _dict(context.get("http")):
        return _api_gateway_v2(event)  # HTTP API and function URLs share this shape
    if _str(event.get("httpMethod")) and context:
        return _api_gateway_v1(event)
    records = _records(event)
    if records:
        source = records[0].get("eventSource") or records[0].get("EventSource")
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
    if _str(event.get("detail-type")) and _str(event.get("source")) and "detail" in event:
        if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
            attributes: dict[str, AttributeValue] = {}
            if _str(event.get("time")):
                attributes["faas.time"] = event["time"]
            return TriggerSpan(TIMER, None, SpanKind.SERVER, attributes)
        return TriggerSpan(PUBSUB, None, SpanKind.CONSUMER, {})
    return TriggerSpan()


def status_code(result: Any) -> int | None:
    """The HTTP status of a Lambda proxy response: ``statusCode`` as an int or numeric string."""
    if not isinstance(result, dict):
        return None
    value = result.get("statusCode")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 100 <= value <= 599 else None
    if isinstance(value, str) and value.strip().isdigit():
        code = int(value.strip())
        return code if 100 <= code <= 599 else None
    return None
