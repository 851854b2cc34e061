"""8. Lambda Managed Instances: AWS's runtime client forks one worker per concurrent request
before importing the handler; invocations overlap and the environment never freezes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from otel_lambda_processor.testing import LambdaEmulator, OTLPReceiver

from .conftest import needs_awslambdaric
from .harness import RESULTS, Row, launch_function

pytestmark = needs_awslambdaric


def test_every_invocation_is_exported_once_and_nothing_registers(receiver: OTLPReceiver) -> None:
    with LambdaEmulator(handler="traced.handler", max_concurrency=3, timeout=10) as emulator:
        launch_function(
            emulator, receiver, "traced.handler", LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="async"
        )
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(
                pool.map(lambda _: emulator.invoke({"spans": 5, "sleep": 0.2}), range(18))
            )
        assert [r.status for r in results] == ["ok"] * 18, emulator.output
        assert receiver.wait_for_spans(90, timeout=20), emulator.output
        assert not [x for x in emulator.exchanges() if x.path.endswith("/register")]
        records = emulator.invocations()
        overlapped = any(
            a.request_id != b.request_id
            and a.started < (b.response or 0)
            and b.started < (a.response or 0)
            for a in records
            for b in records
        )
        assert overlapped, "the invocations ran concurrently"
    ids = [s.span_id for s in receiver.spans]
    assert len(ids) == len(set(ids)) == 90, "every span exported exactly once"
    requests = {s.attributes["request"] for s in receiver.spans}
    assert requests == {r.request_id for r in results}
    RESULTS.append(
        Row("8. managed instances, 3 workers, 18 invokes", "async", 90, len(ids), 0, None, None)
    )
