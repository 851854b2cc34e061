"""The traced handler end to end: AWS's runtime client runs a decorated function; the receiver
sees one invocation span per call, parent of the handler's spans, with the FaaS attributes."""

from __future__ import annotations

from otel_lambda_processor.cold_start import INIT_SPAN
from otel_lambda_processor.testing import LambdaEmulator, OTLPReceiver

from .conftest import needs_awslambdaric
from .harness import RESULTS, Row, launch_function

pytestmark = needs_awslambdaric

API_V2 = {
    "version": "2.0",
    "routeKey": "GET /orders/{id}",
    "rawPath": "/orders/9",
    "rawQueryString": "",
    "headers": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    "requestContext": {"http": {"method": "GET", "path": "/orders/9", "sourceIp": "192.0.2.1"}},
}


def test_invocation_spans_parent_the_handlers_spans_with_faas_attributes(
    receiver: OTLPReceiver,
) -> None:
    with LambdaEmulator(handler="decorated.handler", memory_mb=256) as emulator:
        launch_function(emulator, receiver, "decorated.handler")
        results = [emulator.invoke(API_V2) for _ in range(2)]
        assert [r.payload for r in results] == [{"statusCode": "200", "body": "ok"}] * 2
        assert emulator.wait_idle(10)
    assert receiver.wait_for_spans(7, timeout=10)  # and the cold start's init span
    roots = [s for s in receiver.spans if s.name == "GET /orders/{id}"]
    assert [r.attributes["faas.invocation_id"] for r in roots] == [r.request_id for r in results]
    assert [r.attributes["faas.coldstart"] for r in roots] == [True, False]
    for root, cold_start in zip(roots, ([INIT_SPAN], []), strict=True):
        assert root.span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
        assert root.attributes["faas.trigger"] == "http"
        assert root.attributes["http.response.status_code"] == 200
        assert root.attributes["cloud.resource_id"] == emulator.arn
        assert root.resource["faas.max_memory"] == 256 * 1024 * 1024
        assert root.resource["service.name"] == emulator.function_name
        assert root.resource["cloud.platform"] == "aws_lambda"
        children = [s for s in receiver.spans if s.span.parent_span_id == root.span.span_id]
        assert sorted(c.name for c in children) == sorted([*cold_start, "load order"])
    RESULTS.append(
        Row("5. traced handler, API Gateway v2", "async", 7, len(receiver.spans), 0, None, None)
    )
