"""Composition with the OpenTelemetry AWS Lambda instrumentation: it flushes the provider at the
end of every handler; in async mode our processor turns that into "handler done", so the
export still happens after the response, and no span is lost."""

from __future__ import annotations

import pytest

from otel_lambda_processor.testing import LambdaEmulator, OTLPReceiver

from .conftest import needs_awslambdaric
from .harness import RESULTS, Row, launch_function

pytestmark = needs_awslambdaric


def test_the_instrumentations_force_flush_waits_for_nothing_and_loses_nothing(
    receiver: OTLPReceiver,
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.aws_lambda")
    receiver.latency = 0.2  # an export the caller would notice if it had to wait for it
    with LambdaEmulator(handler="instrumented.handler") as emulator:
        launch_function(
            emulator, receiver, "instrumented.handler", LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="async"
        )
        results = []
        for _ in range(4):
            results.append(emulator.invoke({"spans": 3}))
            assert emulator.wait_idle(10)
        assert [r.status for r in results] == ["ok"] * 4, emulator.output
        records = {r.request_id: r for r in emulator.invocations()}
    assert receiver.wait_for_spans(16, timeout=10)
    for result in results:
        inv = records[result.request_id]
        assert inv.response is not None and inv.ended is not None
        mine = [s for s in receiver.spans if s.attributes.get("request") == result.request_id]
        assert len(mine) == 3
        assert all(inv.response <= s.received_at <= inv.ended for s in mine), (
            "exported after the response, before the invocation ended"
        )
    wrappers = [s for s in receiver.spans if s.scope_name.endswith("aws_lambda")]
    assert len(wrappers) == 4
    row = Row("6. with the OTel AWS Lambda instrumentation", "async", 16, 0, 0, None, None)
    row.exported = len(receiver.spans)
    RESULTS.append(row)
