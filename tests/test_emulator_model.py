"""The emulator's execution environment as a plain state machine: every transition and every
refusal, driven with plain values (no server, no process, no clock), and random orders of
requests, ticks and process exits on both policies."""

from __future__ import annotations

import itertools
import json
from email.message import Message
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from otel_lambda_processor.testing.calls import (
    ABANDONED,
    Call,
    EventNext,
    ExtensionError,
    ExtensionPathUnknown,
    InitError,
    InvocationResult,
    NotFound,
    Register,
    Reply,
    RestoreError,
    RestoreNext,
    RuntimeNext,
)
from otel_lambda_processor.testing.front import parse
from otel_lambda_processor.testing.invocations import MAX_RESPONSE_BYTES, Invocation
from otel_lambda_processor.testing.model import ExecutionEnvironment, Held, Run
from otel_lambda_processor.testing.policy import ManagedInstances, OnDemand, Policy, policy_for
from otel_lambda_processor.testing.registry import MAX_EXTENSIONS, PlainSettings

DEADLINE_MS = 10_000  # epoch milliseconds: the deadline of every invocation unless said
IDENTIFIER = "Lambda-Extension-Identifier"


def environment(policy: Policy | None = None, **knobs: Any) -> ExecutionEnvironment:
    """A model with readable ids: ``id-0``, ``id-1``, ..."""
    counter = itertools.count()
    return ExecutionEnvironment(
        policy or OnDemand(), PlainSettings(**knobs), new_id=lambda: f"id-{next(counter)}"
    )


def answer(env: ExecutionEnvironment, call: Call, now: float = 0.0) -> Reply:
    reply = env.handle(call, now)
    assert isinstance(reply, Reply), f"{call} was held"
    return reply


def hold(env: ExecutionEnvironment, call: Call, now: float = 0.0) -> Held:
    held = env.handle(call, now)
    assert isinstance(held, Held), f"{call} was answered: {held}"
    return held


def register(env: ExecutionEnvironment, events: list[str] | None = None, name: str = "ext") -> str:
    body = json.dumps({"events": ["INVOKE"] if events is None else events}).encode()
    reply = answer(env, Register(name, body))
    assert reply.status == 200, reply
    return reply.headers[IDENTIFIER]


def submit(
    env: ExecutionEnvironment, deadline_ms: int = DEADLINE_MS, now: float = 0.0
) -> Invocation:
    return env.invocations.submit(b'{"x": 1}', deadline_ms, "Root=1-a", "arn:fn", now)


def take(env: ExecutionEnvironment, now: float = 0.0) -> Reply:
    """The runtime asks for work and gets it at once."""
    reply = env.poll(hold(env, RuntimeNext(), now), now)
    assert reply is not None and reply.status == 200, reply
    return reply


def respond(env: ExecutionEnvironment, request_id: str, now: float = 0.0) -> Reply:
    return answer(env, InvocationResult(request_id, "response", b'{"ok": true}'), now)


def error_type(reply: Reply) -> str:
    assert isinstance(reply.body, dict)
    return str(reply.body["errorType"])


def ready(env: ExecutionEnvironment, extensions: int = 0) -> dict[str, Held]:
    """Init over: ``extensions`` INVOKE extensions registered, each with its /event/next held,
    and the runtime asked for work."""
    identifiers = [register(env, name=f"ext{n}") for n in range(extensions)]
    held = {identifier: hold(env, EventNext(identifier)) for identifier in identifiers}
    hold(env, RuntimeNext())
    assert env.init_complete()
    return held


def deliver(env: ExecutionEnvironment, held: Held, now: float = 0.0) -> Reply:
    """The held /event/next gets its event, which is written: the extension is busy with it."""
    reply = env.poll(held, now)
    assert reply is not None and reply.status == 200, reply
    env.release(held)
    return reply


# -- registration ----------------------------------------------------------------------------------
@pytest.mark.parametrize("accept", [False, True])
def test_registration_answers_an_identifier_and_describes_the_function(accept: bool) -> None:
    env = environment(function_name="fn", handler="app.main", account_id="111122223333")
    reply = answer(env, Register("ext", b'{"events": ["INVOKE"]}', accept_account_id=accept))
    assert reply.status == 200 and reply.headers == {IDENTIFIER: "id-0"}
    described = {"functionName": "fn", "functionVersion": "$LATEST", "handler": "app.main"}
    assert reply.body == ({**described, "accountId": "111122223333"} if accept else described)
    assert env.extensions.listed() == [("ext", ["INVOKE"])]


@pytest.mark.parametrize("name", [None, ""])
def test_registration_needs_a_name(name: str | None) -> None:
    reply = answer(environment(), Register(name, b'{"events": []}'))
    assert (reply.status, error_type(reply)) == (403, "Extension.MissingHeader")


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b"{}", b'{"events": "INVOKE"}', b'{"events": [1]}']
)
def test_registration_needs_a_list_of_event_names(body: bytes) -> None:
    reply = answer(environment(), Register("ext", body))
    assert (reply.status, error_type(reply)) == (403, "Extension.InvalidRequestFormat")


@pytest.mark.parametrize("events", [["SHUTDOWN"], ["INVOKE", "SHUTDOWN"], ["LOGS"]])
def test_internal_extensions_may_subscribe_to_invoke_only(events: list[str]) -> None:
    env = environment()
    reply = answer(env, Register("ext", json.dumps({"events": events}).encode()))
    assert (reply.status, error_type(reply)) == (403, "Extension.InvalidEventType")
    assert env.extensions.listed() == []


def test_registration_closes_when_the_runtime_first_asks_for_work() -> None:
    env = environment()
    register(env, [])
    hold(env, RuntimeNext())
    reply = answer(env, Register("late", b'{"events": []}'))
    assert (reply.status, error_type(reply)) == (403, "Extension.RegistrationClosed")


def test_at_most_ten_extensions_register() -> None:
    env = environment()
    for n in range(MAX_EXTENSIONS):
        register(env, [], name=f"ext{n}")
    reply = answer(env, Register("one-too-many", b'{"events": []}'))
    assert (reply.status, error_type(reply)) == (403, "Extension.TooManyExtensions")


def test_a_refused_registration_is_refused_before_anything_else() -> None:
    reply = answer(environment(refuse_registration=True), Register(None, b""))
    assert (reply.status, error_type(reply)) == (403, "Extension.RegistrationClosed")


def test_managed_instances_accept_extensions_with_no_events_only() -> None:
    env = environment(ManagedInstances(3))
    reply = answer(env, Register("ext", b'{"events": ["INVOKE"]}'))
    assert (reply.status, error_type(reply)) == (403, "Extension.InvalidEventType")
    assert reply.body["errorMessage"] == "managed instances: no events"
    register(env, [])


# -- the extension's identifier ------------------------------------------------------------------
def calls_of(identifier: str | None) -> list[Call]:
    return [
        EventNext(identifier),
        ExtensionError(identifier, "Extension.Crash"),
        ExtensionPathUnknown(identifier, "/nope"),
    ]


@pytest.mark.parametrize("index", range(3))
@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (None, "Extension.MissingExtensionIdentifier"),
        ("", "Extension.MissingExtensionIdentifier"),
        ("no-such-id", "Extension.UnknownExtensionIdentifier"),
    ],
)
def test_every_extension_call_checks_the_identifier_first(
    index: int, identifier: str | None, expected: str
) -> None:
    reply = answer(environment(), calls_of(identifier)[index])
    assert (reply.status, error_type(reply)) == (403, expected)


@pytest.mark.parametrize("index", range(3))
def test_after_an_error_report_every_call_of_that_extension_is_refused(index: int) -> None:
    env = environment()
    identifier = register(env)
    assert answer(env, ExtensionError(identifier, "Extension.Crash")).status == 202
    reply = answer(env, calls_of(identifier)[index])
    assert (reply.status, error_type(reply)) == (403, "Extension.InvalidExtensionState")


def test_an_unknown_extension_path_of_a_known_extension_is_404() -> None:
    env = environment()
    reply = answer(env, ExtensionPathUnknown(register(env), "/nope"))
    assert reply.status == 404 and reply.body["errorMessage"] == "unknown extension path /nope"


@pytest.mark.parametrize("header", [None, ""])
def test_an_error_report_needs_its_error_type(header: str | None) -> None:
    env = environment()
    reply = answer(env, ExtensionError(register(env), header))
    assert (reply.status, error_type(reply)) == (403, "Extension.MissingHeader")


def test_one_event_next_per_extension_is_held_at_a_time() -> None:
    env = environment()
    identifier = register(env)
    first = hold(env, EventNext(identifier))
    reply = answer(env, EventNext(identifier))
    assert (reply.status, error_type(reply)) == (403, "Extension.InvalidExtensionState")
    env.release(first)  # its answer was written
    hold(env, EventNext(identifier))


# -- init ------------------------------------------------------------------------------------------
def test_init_is_over_when_the_runtime_asked_and_every_extension_called_next() -> None:
    env = environment()
    first, second = register(env, [], "a"), register(env, ["INVOKE"], "b")
    hold(env, RuntimeNext())
    assert not env.init_complete()
    hold(env, EventNext(first))
    assert not env.init_complete()
    hold(env, EventNext(second))
    assert env.init_complete()


def test_an_extension_that_reported_an_error_does_not_hold_init_back() -> None:
    env = environment()
    identifier = register(env)
    hold(env, RuntimeNext())
    answer(env, ExtensionError(identifier, "Extension.Crash"))
    assert env.init_complete()


def test_the_runtime_gets_no_invocation_before_init_is_over() -> None:
    env = environment()
    identifier = register(env)
    submit(env)
    runtime = hold(env, RuntimeNext())
    assert env.poll(runtime, 0.0) is None
    hold(env, EventNext(identifier))
    reply = env.poll(runtime, 1.0)
    assert reply is not None and reply.status == 200


def test_managed_instances_hand_out_work_before_the_extensions_called_next() -> None:
    env = environment(ManagedInstances(2))
    register(env, [])
    submit(env)
    assert env.poll(hold(env, RuntimeNext()), 0.0) is not None


# -- one invocation, on demand ---------------------------------------------------------------------
def test_the_runtime_is_held_until_there_is_work_then_gets_event_and_headers() -> None:
    env = environment()
    ready(env)
    runtime = hold(env, RuntimeNext())
    assert env.poll(runtime, 1.0) is None
    invocation = env.invocations.submit(b'{"x": 1}', 12_345, "Root=1-a", "arn:fn", 1.0)
    reply = env.poll(runtime, 2.0)
    assert reply == Reply(
        200,
        b'{"x": 1}',
        {
            "Lambda-Runtime-Aws-Request-Id": invocation.id,
            "Lambda-Runtime-Deadline-Ms": "12345",
            "Lambda-Runtime-Invoked-Function-Arn": "arn:fn",
            "Lambda-Runtime-Trace-Id": "Root=1-a",
        },
        invocation.id,
    )
    assert invocation.started == 2.0 and env.run is None  # no process: nothing counts it


def test_invoke_goes_to_every_invoke_subscriber_and_to_no_one_else() -> None:
    env = environment()
    subscriber = register(env, ["INVOKE"], "a")
    bystander = register(env, [], "b")
    held = {i: hold(env, EventNext(i)) for i in (subscriber, bystander)}
    hold(env, RuntimeNext())
    invocation = submit(env)
    take(env)
    event = env.poll(held[subscriber], 0.0)
    assert event is not None and event.request_id == invocation.id
    assert event.body == {
        "eventType": "INVOKE",
        "deadlineMs": DEADLINE_MS,
        "requestId": invocation.id,
        "invokedFunctionArn": "arn:fn",
        "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-a"},
    }
    assert IDENTIFIER.replace("Identifier", "Event-Identifier") in event.headers
    assert env.poll(held[bystander], 0.0) is None


@pytest.mark.parametrize("runtime_first", [True, False])
def test_the_invocation_ends_when_the_runtime_and_each_invoke_extension_called_next_again(
    runtime_first: bool,
) -> None:
    env = environment()
    ((identifier, held),) = ready(env, extensions=1).items()
    invocation = submit(env)
    take(env, now=1.0)
    assert deliver(env, held).request_id == invocation.id
    assert respond(env, invocation.id, now=2.0).status == 202
    assert invocation.result == ("ok", {"ok": True}, None)
    assert env.invocations.listed()[-1].ended is None, "the response does not end it"

    def runtime() -> None:
        hold(env, RuntimeNext(), now=3.0)

    def extension() -> None:
        hold(env, EventNext(identifier), now=3.0 if runtime_first else 4.0)

    (runtime if runtime_first else extension)()
    assert not env.invocations.idle()
    (extension if runtime_first else runtime)()
    (record,) = env.invocations.listed()
    assert env.invocations.idle() and record.response == 2.0 and record.ended in (3.0, 4.0)
    assert record.post_response is not None and not record.timed_out


def test_an_extension_with_an_event_still_queued_is_not_done_with_the_invocation() -> None:
    env = environment()
    ((identifier, first),) = ready(env, extensions=1).items()
    env.release_held()  # its /event/next was closed under it (as at a shutdown's SIGTERM)
    assert env.poll(first, 0.0) == ABANDONED
    env.release(first)
    invocation = submit(env)
    take(env)
    respond(env, invocation.id)
    hold(env, RuntimeNext())
    again = hold(env, EventNext(identifier))  # the INVOKE is queued for it: it gets it first
    assert not env.invocations.idle()
    event = env.poll(again, 1.0)
    assert event is not None and event.request_id == invocation.id
    env.release(again)
    hold(env, EventNext(identifier), now=2.0)
    assert env.invocations.idle() and env.invocations.listed()[0].ended == 2.0


def test_an_error_report_of_an_extension_releases_the_open_invocation() -> None:
    env = environment()
    ((identifier, held),) = ready(env, extensions=1).items()
    invocation = submit(env)
    take(env)
    deliver(env, held)
    respond(env, invocation.id)
    hold(env, RuntimeNext(), now=1.0)
    assert not env.invocations.idle()
    assert answer(env, ExtensionError(identifier, "Extension.Crash"), now=2.0).status == 202
    assert env.invocations.idle() and env.invocations.listed()[0].ended == 2.0


def test_an_extension_that_reported_an_error_gets_no_invoke_and_is_not_waited_for() -> None:
    env = environment()
    failed, healthy = register(env, name="failed"), register(env, name="healthy")
    answer(env, ExtensionError(failed, "Extension.Crash"))
    held = hold(env, EventNext(healthy))
    hold(env, RuntimeNext())
    invocation = submit(env)
    take(env)
    assert invocation.waiting_for == {healthy}
    deliver(env, held)
    respond(env, invocation.id)
    hold(env, RuntimeNext())
    hold(env, EventNext(healthy), now=1.0)
    assert env.invocations.idle()


def test_on_demand_runs_one_invocation_at_a_time() -> None:
    env = environment()
    ready(env)
    first, second = submit(env), submit(env)
    take(env)
    runtime = hold(env, RuntimeNext())  # it has not posted a result: the first is still open
    assert env.poll(runtime, 0.0) is None
    respond(env, first.id)
    assert env.poll(runtime, 0.0) is None, "the runtime must call next again to end it"
    reply = env.poll(hold(env, RuntimeNext()), 1.0)
    assert reply is not None and reply.request_id == second.id


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("Unhandled", b'{"errorType": "KeyError"}', "Unhandled"),
        (None, b'{"errorType": "KeyError"}', "KeyError"),
        ("", b'{"errorMessage": "x"}', None),
        (None, b"not json", None),
    ],
)
def test_an_error_result_takes_its_type_from_the_header_else_the_body(
    header: str | None, body: bytes, expected: str | None
) -> None:
    env = environment()
    ready(env)
    invocation = submit(env)
    take(env)
    assert answer(env, InvocationResult(invocation.id, "error", body, header)).status == 202
    assert invocation.result == (
        "error",
        json.loads(body) if body != b"not json" else None,
        expected,
    )


def test_a_result_for_an_unknown_or_answered_request_is_400() -> None:
    env = environment()
    ready(env)
    invocation = submit(env)
    take(env)
    unknown = respond(env, "nope")
    assert (unknown.status, error_type(unknown), unknown.request_id) == (
        400,
        "InvalidRequestID",
        "nope",
    )
    assert respond(env, invocation.id).status == 202
    assert respond(env, invocation.id).status == 400


def test_an_oversized_response_is_413_before_its_request_id_is_looked_at() -> None:
    env = environment()
    call = InvocationResult("nope", "response", b"x" * (MAX_RESPONSE_BYTES + 1))
    reply = answer(env, call)
    assert (reply.status, error_type(reply)) == (413, "RequestEntityTooLarge")


# -- managed instances -----------------------------------------------------------------------------
def test_managed_instances_run_up_to_max_concurrency_and_end_each_at_its_response() -> None:
    env = environment(ManagedInstances(2))
    invocations = [submit(env) for _ in range(3)]
    workers = [hold(env, RuntimeNext()) for _ in range(3)]
    taken = [env.poll(worker, 1.0) for worker in workers]
    assert [r.request_id if r else None for r in taken] == [
        invocations[0].id,
        invocations[1].id,
        None,
    ]
    assert respond(env, invocations[1].id, now=2.0).status == 202
    (record,) = env.invocations.listed()[:1]
    assert (record.request_id, record.ended, record.post_response) == (invocations[1].id, 2.0, 0.0)
    reply = env.poll(workers[2], 3.0)
    assert reply is not None and reply.request_id == invocations[2].id


def test_managed_instances_enforce_no_deadline() -> None:
    env = environment(ManagedInstances(2))
    submit(env, deadline_ms=1)
    take(env)
    assert env.expire(1e9) is None and env.deadline_left(1e9) is None


@pytest.mark.parametrize(
    ("max_concurrency", "expected"),
    [
        (0, {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}),
        (1, {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}),
        (
            4,
            {
                "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
                "AWS_LAMBDA_MAX_CONCURRENCY": "4",
            },
        ),
    ],
)
def test_the_policy_follows_max_concurrency(max_concurrency: int, expected: dict[str, str]) -> None:
    assert policy_for(max_concurrency).environment() == expected


# -- deadlines -------------------------------------------------------------------------------------
def test_past_its_deadline_an_invocation_times_out_and_the_environment_resets() -> None:
    env = environment()
    run = Run()
    env.launched(run)
    (identifier,) = ready(env, extensions=1)
    invocation = submit(env, deadline_ms=1_000)
    take(env)
    assert env.deadline_left(0.25) == 0.75
    assert env.expire(0.999) is None
    expired = env.expire(1.0)
    assert expired is invocation and run.expected_exit and env.resetting
    assert respond(env, expired.id).status == 400, "nothing of it is accepted any more"
    submit(env)
    assert env.poll(hold(env, RuntimeNext()), 1.0) is None, "no work while the runtime is killed"
    env.timed_out(expired)
    assert expired.result == ("timeout", None, None)
    assert env.invocations.listed()[0].timed_out and env.resets == 1 and not env.resetting
    assert env.extensions.listed() == [] and env.extensions.registration_open
    assert not env.init_complete() and identifier not in env.extensions.by_id


class Wide(OnDemand):
    """A policy with room for two and a deadline: a runtime being killed gets no work even so."""

    capacity = 2


def test_no_work_is_handed_out_while_a_timed_out_runtime_is_being_killed() -> None:
    env = environment(Wide())
    env.launched(Run())
    ready(env)
    expired = submit(env, deadline_ms=1_000)
    take(env)
    submit(env)
    assert env.expire(1.0) is expired
    runtime = hold(env, RuntimeNext())
    assert env.poll(runtime, 1.0) is None, "there is room, but the runtime is going away"
    env.timed_out(expired)
    assert env.poll(runtime, 1.0) == ABANDONED, "a new runtime will ask after the reset"


def test_the_extensions_time_after_the_response_counts_toward_the_deadline() -> None:
    env = environment()
    ready(env, extensions=1)
    invocation = submit(env, deadline_ms=1_000)
    take(env)
    respond(env, invocation.id, now=0.5)
    hold(env, RuntimeNext())  # the extension never calls next again
    assert env.expire(1.0) is invocation
    env.timed_out(invocation)
    assert invocation.result == ("ok", {"ok": True}, None), "the caller had its response"
    (record,) = env.invocations.listed()
    assert record.timed_out and record.response == 0.5 and record.ended is None


def test_a_late_next_does_not_end_a_timed_out_invocation_which_is_recorded_once() -> None:
    env = environment()
    ((identifier, held),) = ready(env, extensions=1).items()
    invocation = submit(env, deadline_ms=1_000)
    take(env)
    deliver(env, held)
    respond(env, invocation.id)
    hold(env, RuntimeNext())
    assert env.expire(1.0) is invocation
    hold(env, EventNext(identifier), now=1.5)  # too late
    assert not env.invocations.idle(), "it stays open until its runtime is gone"
    env.timed_out(invocation)
    (record,) = env.invocations.listed()
    assert record.timed_out and record.ended is None


def test_no_deadline_is_watched_while_nothing_is_open() -> None:
    env = environment()
    submit(env, deadline_ms=1)  # queued, not taken: its clock is the caller's
    assert env.deadline_left(5.0) is None and env.expire(5.0) is None


# -- held requests and the environment going away --------------------------------------------------
@pytest.mark.parametrize("how", ["reset", "release_held", "stop"])
def test_held_requests_are_abandoned_when_the_environment_goes_away(how: str) -> None:
    env = environment()
    run = Run()
    env.launched(run)
    extension = hold(env, EventNext(register(env, [])))
    submit(env)
    take(env)  # the runtime works on it ...
    runtime = hold(env, RuntimeNext())  # ... and has asked for more without a result: held
    assert env.poll(runtime, 0.0) is None and env.poll(extension, 0.0) is None
    if how == "reset":
        assert env.run_ended(run, 1, 1.0)  # it died
    else:
        getattr(env, how)()
    assert env.poll(runtime, 1.0) == ABANDONED
    assert env.poll(extension, 1.0) == ABANDONED
    assert ABANDONED.hang_up and ABANDONED.status == 499


def test_an_injected_api_failure_answers_next_at_once_and_loses_the_queued_events() -> None:
    env = environment()
    ((identifier, held),) = ready(env, extensions=1).items()
    env.release_held()  # its /event/next was closed under it
    assert env.poll(held, 0.0) == ABANDONED
    env.release(held)
    extension = env.extensions.by_id[identifier]
    invocation = submit(env)
    take(env)
    assert extension.queue
    env.settings.extension_api_status = 500
    failed = hold(env, EventNext(identifier))
    reply = env.poll(failed, 0.0)
    assert reply is not None and (reply.status, error_type(reply)) == (500, "Extension.Failure")
    assert not extension.queue and identifier not in invocation.waiting_for


def test_an_injected_delay_travels_with_the_event() -> None:
    env = environment(extension_event_delay=0.25)
    (held,) = ready(env, extensions=1).values()
    submit(env)
    take(env)
    assert deliver(env, held).delay == 0.25


# -- the runtime process ---------------------------------------------------------------------------
def test_a_runtime_that_ends_before_its_first_invocation_failed_its_init() -> None:
    env = environment()
    run = Run()
    env.launched(run)
    invocation = submit(env)
    assert env.init_failed() is None
    assert env.run_ended(run, 1, 1.0) is False, "no reset: nothing to restart"
    assert env.init_failed() is run and run.returncode == 1
    assert env.withdraw_if_init_failed(invocation) is run
    assert env.invocations.idle(), "the invocation was taken back"


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        (b'{"errorType": "KeyError", "errorMessage": "x"}', "Ignored", "KeyError"),
        (b'{"errorMessage": "x"}', "Runtime.ImportModuleError", "Runtime.ImportModuleError"),
        (b"", None, "Runtime.Unknown"),
    ],
)
def test_an_init_error_report_is_an_init_failure(
    body: bytes, header: str | None, expected: str
) -> None:
    env = environment()
    run = Run()
    env.launched(run)
    assert answer(env, InitError(body, header)).status == 202
    assert env.init_error["errorType"] == expected and env.init_failed() is run
    env.launched(Run())
    assert env.init_error is None, "a new runtime starts with a clean slate"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", {"errorType": "Runtime.AfterRestoreError"}),
        (b'{"errorType": "X"}', {"errorType": "X"}),
    ],
)
def test_a_restore_error_is_an_init_failure(body: bytes, expected: dict[str, str]) -> None:
    env = environment()
    env.launched(Run())
    answer(env, RestoreError(body))
    assert env.init_error == expected and env.init_failed() is env.run


def test_restore_next_is_answered_at_once_and_an_unknown_path_is_404() -> None:
    env = environment()
    assert answer(env, RestoreNext()) == Reply(200, b"")
    reply = answer(env, NotFound("no such path /x"))
    assert (reply.status, reply.body["errorMessage"]) == (404, "no such path /x")
    with pytest.raises(TypeError):
        env.handle("GET /", 0.0)  # type: ignore[arg-type]


def test_a_runtime_that_dies_mid_invocation_answers_exit_error_and_resets() -> None:
    env = environment()
    run = Run()
    env.launched(run)
    ready(env, extensions=1)
    invocation = submit(env)
    take(env)
    assert run.served == 1
    assert env.run_ended(run, 3, 5.0) is True, "reset: start a new runtime"
    message = f"RequestId: {invocation.id} Error: Runtime exited with error: exit status 3"
    error = {"errorMessage": message, "errorType": "Runtime.ExitError"}
    assert invocation.result == ("error", error, "Runtime.ExitError")
    assert (
        env.invocations.listed()[0].response == 5.0 and env.invocations.idle() and env.resets == 1
    )
    assert env.extensions.registration_open and not env.runtime_asked


@pytest.mark.parametrize("how", ["expected", "replaced", "stopped"])
def test_an_exit_the_emulator_caused_or_of_an_old_run_is_no_failure(how: str) -> None:
    env = environment()
    run = Run()
    env.launched(run)
    ready(env)
    submit(env)
    take(env)
    if how == "expected":
        assert env.expect_exit() is run
    elif how == "replaced":
        env.launched(Run())
    else:
        env.stop()
    assert env.run_ended(run, -9, 1.0) is False
    assert env.resets == 0 and env.init_failed() is None and not env.invocations.idle()


# -- random orders ---------------------------------------------------------------------------------
class EnvironmentOrders(RuleBasedStateMachine):
    """A shell that follows the locking rules, fed random orders of requests, ticks and exits."""

    def __init__(self) -> None:
        super().__init__()
        self.env: ExecutionEnvironment = environment()
        self.now = 0.0
        self.submitted: dict[str, Invocation] = {}
        self.withdrawn: set[str] = set()
        self.held: list[Held] = []
        self.expired: Invocation | None = None

    def _tick(self) -> float:
        self.now += 1.0
        return self.now

    @initialize(concurrency=st.sampled_from([1, 3]))
    def launch(self, concurrency: int) -> None:
        """On demand, or on Managed Instances with three workers."""
        self.env = environment(policy_for(concurrency))
        self.env.launched(Run())

    @rule(deadline=st.integers(1, 40))
    def invoke(self, deadline: int) -> None:
        invocation = submit(self.env, deadline_ms=deadline * 1000, now=self._tick())
        self.submitted[invocation.id] = invocation

    @rule(events=st.sampled_from([[], ["INVOKE"]]))
    def register(self, events: list[str]) -> None:
        body = json.dumps({"events": events}).encode()
        self._handle(Register("ext", body))

    @rule(data=st.data())
    def extension_next(self, data: st.DataObject) -> None:
        identifiers = [*self.env.extensions.by_id, "unknown"]
        self._handle(EventNext(data.draw(st.sampled_from(identifiers))))

    @rule(data=st.data())
    def extension_error(self, data: st.DataObject) -> None:
        if self.env.extensions.by_id:
            identifier = data.draw(st.sampled_from(list(self.env.extensions.by_id)))
            self._handle(ExtensionError(identifier, "Extension.Crash"))

    @rule()
    def runtime_next(self) -> None:
        self._handle(RuntimeNext())

    @rule(data=st.data(), kind=st.sampled_from(["response", "error"]))
    def result(self, data: st.DataObject, kind: str) -> None:
        request_id = data.draw(st.sampled_from([*self.submitted, "unknown"]))
        reply = answer(self.env, InvocationResult(request_id, kind, b"{}"), self._tick())
        assert reply.status in (202, 400)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def poll(self, data: st.DataObject) -> None:
        """A held request wakes up; once answered, its answer is written."""
        held = data.draw(st.sampled_from(self.held))
        resetting, init_complete = self.env.resetting, self.env.init_complete()
        reply = self.env.poll(held, self._tick())
        if reply is None:
            return
        if held.extension is None and reply.status == 200:
            assert not resetting, "work was handed out while the runtime was being killed"
            assert init_complete or not self.env.policy.waits_for_extensions
            assert reply.request_id in self.env.invocations.open
        self.held.remove(held)
        self.env.release(held)

    @precondition(lambda self: self.expired is None)
    @rule(seconds=st.integers(0, 50))
    def tick(self, seconds: int) -> None:
        self.expired = self.env.expire(float(seconds))

    @precondition(lambda self: self.expired is not None)
    @rule()
    def runtime_killed(self) -> None:
        assert self.expired is not None
        self.env.timed_out(self.expired)
        self.expired = None
        self.env.launched(Run())  # the supervisor starts a new runtime

    @precondition(lambda self: self.env.run is not None)
    @rule(returncode=st.sampled_from([0, 1, -9]))
    def runtime_exits(self, returncode: int) -> None:
        run = self.env.run
        assert run is not None
        if self.env.run_ended(run, returncode, self._tick()):
            self.env.launched(Run())  # the supervisor starts a new runtime

    @rule(data=st.data())
    def caller_gives_up_on_a_failed_init(self, data: st.DataObject) -> None:
        if self.env.invocations.queue:
            invocation = data.draw(st.sampled_from(list(self.env.invocations.queue)))
            if self.env.withdraw_if_init_failed(invocation) is not None:
                self.withdrawn.add(invocation.id)

    def _handle(self, call: Call) -> None:
        answer_ = self.env.handle(call, self._tick())
        if isinstance(answer_, Held):
            self.held.append(answer_)

    @invariant()
    def every_invocation_is_in_exactly_one_place(self) -> None:
        queued = [i.id for i in self.env.invocations.queue]
        opened = list(self.env.invocations.open)
        over = [r.request_id for r in self.env.invocations.records]
        places = queued + opened + over + sorted(self.withdrawn)
        assert sorted(places) == sorted(self.submitted), "lost or counted twice"

    @invariant()
    def no_more_open_than_the_policy_allows(self) -> None:
        assert len(self.env.invocations.open) <= self.env.policy.capacity
        if self.env.policy.ends_at_response:
            assert all(i.result is None for i in self.env.invocations.open.values())

    @invariant()
    def registration_is_open_until_the_runtime_asks_for_work(self) -> None:
        assert self.env.extensions.registration_open is not self.env.runtime_asked
        assert not self.env.init_complete() or self.env.runtime_asked

    @invariant()
    def records_are_in_time_order(self) -> None:
        for record in self.env.invocations.listed():
            if record.response is not None:
                assert record.response >= record.started
            if record.ended is not None:
                assert record.response is not None and record.ended >= record.response
            assert not (record.timed_out and record.ended is not None)

    @invariant()
    def an_extension_waits_while_exactly_one_of_its_nexts_is_held(self) -> None:
        for extension in self.env.extensions.by_id.values():
            holding = [h for h in self.held if h.extension is extension]
            assert len(holding) == int(extension.waiting)

    @invariant()
    def open_invocations_wait_only_for_registered_extensions(self) -> None:
        for invocation in self.env.invocations.open.values():
            assert invocation.waiting_for <= set(self.env.extensions.by_id)


TestEnvironmentOrders = EnvironmentOrders.TestCase
TestEnvironmentOrders.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)


# -- the HTTP front's parsing ----------------------------------------------------------------------
def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"


@pytest.mark.parametrize(
    ("method", "path", "given", "expected"),
    [
        ("GET", f"{RUNTIME}/invocation/next", {}, RuntimeNext()),
        ("GET", f"{RUNTIME}/restore/next", {}, RestoreNext()),
        ("POST", f"{RUNTIME}/restore/error", {}, RestoreError(b"{}")),
        (
            "POST",
            f"{RUNTIME}/init/error",
            {"Lambda_Runtime_Function_Error_Type": "Runtime.X"},
            InitError(b"{}", "Runtime.X"),
        ),
        (
            "POST",
            f"{RUNTIME}/invocation/r1/error",
            {"lambda_runtime_function_error_type": "E"},  # header names are case-insensitive
            InvocationResult("r1", "error", b"{}", "E"),
        ),
        (
            "POST",
            f"{RUNTIME}/invocation/r1/response",
            {},
            InvocationResult("r1", "response", b"{}"),
        ),
        (
            "POST",
            f"{RUNTIME}/invocation/r1/other",
            {},
            NotFound("unknown runtime path /invocation/r1/other"),
        ),
        (
            "GET",
            f"{RUNTIME}/invocation/r1/response",
            {},
            NotFound("unknown runtime path /invocation/r1/response"),
        ),
        (
            "POST",
            f"{EXTENSION}/register",
            {"Lambda_Extension_Name": "x", "Lambda_Extension_Accept_Feature": "accountId"},
            Register("x", b"{}", True),
        ),
        ("GET", f"{EXTENSION}/event/next", {"Lambda_Extension_Identifier": "i"}, EventNext("i")),
        (
            "POST",
            f"{EXTENSION}/exit/error",
            {"Lambda_Extension_Identifier": "i", "Lambda_Extension_Function_Error_Type": "E"},
            ExtensionError("i", "E"),
        ),
        ("POST", f"{EXTENSION}/init/error", {}, ExtensionError(None, None)),
        ("GET", f"{EXTENSION}/register", {}, ExtensionPathUnknown(None, "/register")),
        ("GET", "/2022-07-01/telemetry", {}, NotFound("no such path /2022-07-01/telemetry")),
    ],
)
def test_requests_parse_into_the_calls_the_model_answers(
    method: str, path: str, given: dict[str, str], expected: Call
) -> None:
    assert parse(method, path, headers(**given), b"{}") == expected
