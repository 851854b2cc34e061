"""11. Per-invocation sampling under AWS's runtime client: with a sample ratio of 0, only the
invocations that matter reach the receiver (an error, a slow one, one whose caller sampled its
trace), each whole; the others are counted as sampled out, and the books balance."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from otel_lambda_processor.testing import LambdaEmulator, OTLPReceiver

from .conftest import needs_awslambdaric
from .harness import RESULTS, Row, launch_function

pytestmark = needs_awslambdaric

FUNCTION = "sampling_traced.handler"
SAMPLING = {
    "LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO": "0",
    "LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS": "500",  # room for a first invocation's imports
}
UPSTREAM_TRACE = "0af7651916cd43dd8448eb211c80319c"


def api_gateway(traceparent: str | None = None, **extra: Any) -> dict[str, Any]:
    headers = {"host": "api.example.com"}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    return {
        "version": "2.0",
        "routeKey": "GET /orders/{id}",
        "rawPath": "/orders/9",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "GET", "path": "/orders/9"}},
        **extra,
    }


#: What each invocation is, and whether the sampler must keep it (ratio 0: only by a rule).
INVOCATIONS: list[tuple[str, dict[str, Any], bool]] = [
    ("ordinary", {"children": 3}, False),
    ("error", {"children": 3, "raise": True}, True),
    ("ordinary", {"children": 5}, False),
    ("slow", {"children": 2, "sleep": 0.6}, True),
    ("upstream sampled", api_gateway(f"00-{UPSTREAM_TRACE}-b7ad6b7169203331-01", children=2), True),
    ("ordinary http", api_gateway(children=2), False),
    ("ordinary", {"children": 1}, False),
]


def invoke_all(emulator: LambdaEmulator) -> dict[str, str]:
    """Run :data:`INVOCATIONS`; their request ids by what they are (numbered if repeated)."""
    roles: dict[str, str] = {}
    for n, (role, event, _) in enumerate(INVOCATIONS):
        result = emulator.invoke(event)
        assert result.status == ("error" if event.get("raise") else "ok"), emulator.output
        assert emulator.wait_idle(30), emulator.output
        roles[f"{n}: {role}"] = result.request_id
    return roles


def report(emulator: LambdaEmulator, *, flush: bool) -> dict[str, int]:
    assert emulator.wait_idle(30)
    result = emulator.invoke({"report": True, "flush": flush})
    assert emulator.wait_idle(30)
    assert result.status == "ok" and isinstance(result.payload, dict), emulator.output
    return result.payload


def traces_by_invocation(receiver: OTLPReceiver) -> dict[str, set[str]]:
    """The names of the spans exported in each invocation's trace, by request id."""
    invocation_of = {
        s.span.trace_id: s.attributes["faas.invocation_id"]
        for s in receiver.spans
        if "faas.invocation_id" in s.attributes
    }
    names: dict[str, set[str]] = defaultdict(set)
    for s in receiver.spans:
        names[invocation_of.get(s.span.trace_id, "no invocation")].add(s.name)
    return names


@pytest.mark.parametrize("mode", ["sync", "async", "finalize"])
def test_only_what_matters_is_exported_whole_and_the_books_balance(
    receiver: OTLPReceiver, mode: str
) -> None:
    with LambdaEmulator(handler=FUNCTION, timeout=10) as emulator:
        launch_function(
            emulator,
            receiver,
            FUNCTION,
            LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE=mode,
            **SAMPLING,
        )
        roles = invoke_all(emulator)
        books = report(emulator, flush=mode == "finalize")
    kept = {request for role, request in roles.items() if INVOCATIONS[int(role.split(":")[0])][2]}
    exported = traces_by_invocation(receiver)
    assert set(exported) == kept, (roles, sorted(exported))
    for role, request in roles.items():
        children = INVOCATIONS[int(role.split(":")[0])][1]["children"]
        if request in kept:  # whole: its invocation span and every child
            assert {f"child-{i}" for i in range(children)} <= exported[request], role
    upstream = next(r for role, r in roles.items() if "upstream" in role)
    assert any(
        s.attributes.get("faas.invocation_id") == upstream
        and s.span.trace_id.hex() == UPSTREAM_TRACE
        for s in receiver.spans
    ), "the upstream caller's trace goes on through this function"
    assert books["dropped"] == 0
    assert books["sampled_out"] > 0
    assert len(receiver.spans) + books["dropped"] + books["sampled_out"] == books["ended"]
    RESULTS.append(
        Row(
            "11. sampling 0 (dropped: sampled out)",
            mode,
            books["ended"],
            len(receiver.spans),
            books["dropped"] + books["sampled_out"],
            None,
            None,
        )
    )


def test_an_upstream_trace_that_was_not_sampled_is_neither_recorded_nor_counted(
    receiver: OTLPReceiver,
) -> None:
    with LambdaEmulator(handler=FUNCTION, timeout=10) as emulator:
        launch_function(emulator, receiver, FUNCTION, **SAMPLING)
        event = api_gateway(f"00-{UPSTREAM_TRACE}-b7ad6b7169203331-00", children=3)
        assert emulator.invoke(event).status == "ok"
        books = report(emulator, flush=False)
    assert receiver.spans == []
    assert (books["ended"], books["sampled_out"], books["dropped"]) == (0, 0, 0)


def test_sigterm_in_finalize_exports_the_kept_invocations_only(receiver: OTLPReceiver) -> None:
    with LambdaEmulator(handler=FUNCTION, timeout=10) as emulator:
        launch_function(
            emulator,
            receiver,
            FUNCTION,
            LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="finalize",
            **SAMPLING,
        )
        roles = invoke_all(emulator)
        assert receiver.spans == [], "finalize exports nothing before SIGTERM"
        outcome = emulator.shutdown()
        assert outcome.sigterm_sent and not outcome.killed, emulator.output
    kept = {request for role, request in roles.items() if INVOCATIONS[int(role.split(":")[0])][2]}
    assert set(traces_by_invocation(receiver)) == kept


def test_a_timed_out_invocation_keeps_what_it_ended_before_the_deadline(
    receiver: OTLPReceiver,
) -> None:
    # Undecided when the deadline flush comes (its handler never finishes): kept, not sampled.
    with LambdaEmulator(handler=FUNCTION, timeout=2.0) as emulator:
        launch_function(
            emulator, receiver, FUNCTION, LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="async", **SAMPLING
        )
        assert emulator.invoke({"children": 2}).status == "ok"  # sampled out
        assert emulator.wait_idle(30)
        result = emulator.invoke({"children": 4, "sleep": 10})
        assert result.status == "timeout"
        assert receiver.wait_for_spans(4, timeout=10), emulator.output
    assert sorted(receiver.span_names()) == [f"child-{i}" for i in range(4)]


def test_managed_instances_sample_in_each_process(receiver: OTLPReceiver) -> None:
    with LambdaEmulator(handler=FUNCTION, max_concurrency=3, timeout=10) as emulator:
        launch_function(
            emulator, receiver, FUNCTION, LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="async", **SAMPLING
        )
        events = [{"children": 3, "sleep": 0.1, "raise": n % 3 == 0} for n in range(12)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(emulator.invoke, events))
        errors = {r.request_id for r in results if r.status == "error"}
        assert len(errors) == 4 and all(r.status in ("ok", "error") for r in results)
        assert receiver.wait_for_spans(4 * 4, timeout=20), emulator.output
        assert emulator.wait_idle(30)
    exported = traces_by_invocation(receiver)
    assert set(exported) == errors
    assert all({"child-0", "child-1", "child-2"} <= names for names in exported.values())
