"""Owns the wrapper question: µs per invocation the traced handler adds, ours and the OTel one's.
Must not time anything itself (hotpath's pyperf workers run ``timer(setup)``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from fixtures import NullExporter
from harness import HERE, Answer, Counts, Goal, Question, Rounds, Row, fmt, installed, minus, ratio
from hotpath import HotPath, TimeFunc, loop
from opentelemetry.sdk.trace import TracerProvider

from otel_lambda_processor import LambdaSpanProcessor

GOAL = Goal(0.5)
INSTRUMENTATION = "opentelemetry.instrumentation.aws_lambda"
SETUPS = ("bare", "ours", "instrumentation")

API_V2_EVENT = {
    "version": "2.0",
    "routeKey": "GET /items/{id}",
    "rawPath": "/items/7",
    "rawQueryString": "a=1",
    "headers": {
        "host": "api.example.com",
        "user-agent": "bench",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    },
    "requestContext": {
        "accountId": "123456789012",
        "http": {
            "method": "GET",
            "path": "/items/7",
            "protocol": "HTTP/1.1",
            "sourceIp": "1.2.3.4",
        },
        "routeKey": "GET /items/{id}",
        "stage": "$default",
    },
    "isBase64Encoded": False,
}


class BenchContext:
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = "128"


def timer(setup: str) -> TimeFunc:
    """Worker side: the bare handler, ours around it, or the instrumentation's (which wraps the
    module's handler in place). Both wrappers export through a LambdaSpanProcessor (finalize
    mode, null exporter); the instrumentation also calls ``force_flush()`` at the end, as it
    does. This process is the worker's own: the environment it sets goes with it."""
    from otel_lambda_processor import traced_handler

    os.environ.update({"_HANDLER": "bench_handler.handler", "AWS_LAMBDA_FUNCTION_NAME": "bench"})
    sys.path.insert(0, str(HERE / "functions"))
    import bench_handler

    provider = TracerProvider()
    provider.add_span_processor(LambdaSpanProcessor(NullExporter(), mode="finalize"))
    handler: Callable[[Any, Any], Any] = bench_handler.handler
    if setup == "ours":
        handler = traced_handler(tracer_provider=provider)(handler)
    elif setup == "instrumentation":
        from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider

        AwsLambdaInstrumentor().instrument(
            tracer_provider=provider, meter_provider=MeterProvider(), skip_dep_check=True
        )
        handler = bench_handler.handler
    context = BenchContext()

    def call(event: Any) -> None:
        handler(event, context)

    return loop(call, API_V2_EVENT)


def run(rounds: Rounds, quick: bool) -> Answer:
    if not installed(INSTRUMENTATION):
        row = Row(
            "traced handler wrapper, API Gateway v2 event",
            "not measured: opentelemetry-instrumentation-aws-lambda is not installed",
            goal=GOAL,
        )
        return Answer([row])
    ns = HotPath("wrapper", quick).measure(rounds, SETUPS)
    ours, theirs = minus(ns["ours"], ns["bare"]), minus(ns["instrumentation"], ns["bare"])
    row = Row(
        "traced handler wrapper per invocation, API Gateway v2 event",
        fmt(ours, "µs", 1e-3),
        f"OTel AWS Lambda instrumentation {fmt(theirs, 'µs', 1e-3)}",
        f"{ratio(ours, theirs):.2f}×",
        GOAL,
        ratio(ours, theirs),
    )
    return Answer([row])


QUESTION = Question(
    name="wrapper",
    measures="µs the traced handler adds per invocation, ours and the instrumentation's",
    goals=(GOAL,),
    rounds=Counts(quick=3, full=15),
    run=run,
)
