"""The sans-IO lifecycle: every legal and illegal transition, and random orders of events."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from otel_lambda_processor.lifecycle import Flush, Lifecycle, LifecycleError, Phase
from otel_lambda_processor.signals import ExportReason

DEADLINE = 10_000


def idle(response_hook: bool = False) -> Lifecycle:
    machine = Lifecycle(response_hook=response_hook)
    machine.next_called()
    return machine


def test_registration_then_first_next_makes_it_idle() -> None:
    machine = Lifecycle()
    assert machine.phase is Phase.INIT
    machine.next_called()
    assert machine.phase is Phase.IDLE


def test_invoke_then_handler_done_flushes_once_then_next_returns_to_idle() -> None:
    machine = idle()
    assert machine.invoke("a", DEADLINE, "Root=1") is None
    assert machine.phase is Phase.INVOKED and machine.current is not None
    assert machine.current.trace_header == "Root=1"
    assert machine.handler_done("a") == Flush(ExportReason.HANDLER_DONE, "a", DEADLINE)
    assert machine.phase is Phase.FLUSHING
    assert machine.handler_done("a") is None
    machine.flush_finished("a")
    assert machine.phase is Phase.WAITING_NEXT
    machine.next_called()
    assert machine.phase is Phase.IDLE and machine.current is None


def test_with_a_response_hook_done_alone_waits_for_the_response() -> None:
    machine = idle(response_hook=True)
    machine.invoke("a", DEADLINE)
    assert machine.handler_done("a") is None
    assert machine.phase is Phase.INVOKED
    assert machine.response_sent("a") == Flush(ExportReason.RESPONSE_SENT, "a", DEADLINE)


def test_response_sent_flushes_even_without_done() -> None:
    machine = idle(response_hook=True)
    machine.invoke("a", DEADLINE)
    assert machine.response_sent("a") == Flush(ExportReason.RESPONSE_SENT, "a", DEADLINE)


@pytest.mark.parametrize("hook", [False, True])
def test_done_before_invoke_flushes_at_once_when_the_invoke_arrives(hook: bool) -> None:
    machine = idle(response_hook=hook)
    machine.handler_done("a")
    machine.response_sent("a")
    assert machine.phase is Phase.IDLE
    flush = machine.invoke("a", DEADLINE)
    assert flush is not None and flush.request_id == "a"


def test_an_early_signal_of_another_request_does_not_flush_the_open_one() -> None:
    machine = idle()
    machine.invoke("a", DEADLINE)
    assert machine.handler_done("b") is None
    assert machine.phase is Phase.INVOKED
    assert machine.handler_done("a") is not None
    machine.flush_finished("a")
    machine.next_called()
    assert machine.invoke("b", DEADLINE) is not None, "b's early done was remembered"


def test_done_without_a_request_id_applies_to_the_open_invocation() -> None:
    machine = idle()
    machine.invoke("a", DEADLINE)
    assert machine.handler_done(None) == Flush(ExportReason.HANDLER_DONE, "a", DEADLINE)


def test_done_without_a_request_id_before_invoke_applies_to_the_next_invoke() -> None:
    machine = idle()
    machine.handler_done(None)
    assert machine.invoke("a", DEADLINE) is not None
    machine.flush_finished("a")
    machine.next_called()
    assert machine.invoke("b", DEADLINE) is None, "used once only"


def test_the_deadline_fallback_fires_only_at_its_time() -> None:
    machine = Lifecycle(fallback_lead_ms=300)
    machine.next_called()
    machine.invoke("a", DEADLINE)
    assert machine.flush_at_ms() == DEADLINE - 300
    assert machine.deadline_near(DEADLINE - 301) is None
    assert machine.deadline_near(DEADLINE - 300) == Flush(ExportReason.DEADLINE, "a", DEADLINE)
    assert machine.handler_done("a") is None, "a late done does not flush twice"


def test_no_deadline_means_no_fallback() -> None:
    machine = idle()
    machine.invoke("a", None)
    assert machine.flush_at_ms() is None
    assert machine.deadline_near(10**15) is None


def test_deadline_outside_an_invocation_does_nothing() -> None:
    machine = idle()
    assert machine.deadline_near(10**15) is None


@pytest.mark.parametrize("phase_setup", ["init", "idle", "invoked", "flushing", "waiting"])
def test_shutdown_from_any_phase_flushes_once(phase_setup: str) -> None:
    machine = Lifecycle()
    steps = ["init", "idle", "invoked", "flushing", "waiting"]
    upto = steps.index(phase_setup)
    if upto >= 1:
        machine.next_called()
    if upto >= 2:
        machine.invoke("a", DEADLINE)
    if upto >= 3:
        machine.handler_done("a")
    if upto >= 4:
        machine.flush_finished("a")
    flush = machine.shutdown()
    assert flush is not None and flush.reason is ExportReason.SHUTDOWN
    assert machine.phase is Phase.SHUTDOWN
    assert machine.shutdown() is None
    assert machine.handler_done("a") is None and machine.response_sent("a") is None
    assert machine.deadline_near(10**15) is None
    machine.flush_finished("a")  # a flush that was running when SIGTERM came may still end


def test_shutdown_carries_the_open_invocation_deadline() -> None:
    machine = idle()
    machine.invoke("a", DEADLINE)
    assert machine.shutdown() == Flush(ExportReason.SHUTDOWN, None, DEADLINE)


def test_illegal_transitions_raise() -> None:
    machine = Lifecycle()
    with pytest.raises(LifecycleError):
        machine.invoke("a", DEADLINE)  # before the first /event/next
    with pytest.raises(LifecycleError):
        machine.flush_finished("a")
    machine.next_called()
    with pytest.raises(LifecycleError):
        machine.next_called()  # already waiting
    machine.invoke("a", DEADLINE)
    with pytest.raises(LifecycleError):
        machine.invoke("b", DEADLINE)  # one invocation at a time
    with pytest.raises(LifecycleError):
        machine.next_called()  # not before the flush
    with pytest.raises(LifecycleError):
        machine.flush_finished("a")  # no flush started
    machine.handler_done("a")
    with pytest.raises(LifecycleError):
        machine.flush_finished("b")
    with pytest.raises(LifecycleError):
        machine.next_called()
    machine.shutdown()
    with pytest.raises(LifecycleError):
        machine.next_called()
    with pytest.raises(LifecycleError):
        machine.invoke("c", DEADLINE)


class LifecycleOrders(RuleBasedStateMachine):
    """A protocol-following shell fed random orders of signals, across many invocations."""

    def __init__(self) -> None:
        super().__init__()
        self.machine = Lifecycle(response_hook=False)
        self.machine.next_called()
        self.next_id = 0
        self.invoked: list[str] = []
        self.flushes: list[Flush] = []
        self.flushing: str | None = None
        self.shut = False

    def _record(self, flush: Flush | None) -> None:
        if flush is None:
            return
        self.flushes.append(flush)
        if flush.reason is not ExportReason.SHUTDOWN:
            assert flush.request_id == self.invoked[-1]
            self.flushing = flush.request_id

    @precondition(lambda self: self.machine.phase is Phase.IDLE)
    @rule()
    def invoke(self) -> None:
        request_id = f"r{self.next_id}"
        self.next_id += 1
        self.invoked.append(request_id)
        self._record(self.machine.invoke(request_id, DEADLINE))

    @rule(offset=st.integers(-2, 1), kind=st.sampled_from(["done", "response"]))
    def signal(self, offset: int, kind: str) -> None:
        """A signal for the last, the one before, or the next (not yet invoked) request."""
        request_id = f"r{max(0, self.next_id - 1 + offset)}"
        call = self.machine.handler_done if kind == "done" else self.machine.response_sent
        self._record(call(request_id))

    @rule()
    def anonymous_done(self) -> None:
        self._record(self.machine.handler_done(None))

    @rule(late=st.booleans())
    def deadline(self, late: bool) -> None:
        self._record(self.machine.deadline_near(DEADLINE if late else 0))

    @precondition(lambda self: self.flushing is not None)
    @rule()
    def finish_and_next(self) -> None:
        assert self.flushing is not None
        self.machine.flush_finished(self.flushing)
        self.flushing = None
        if not self.shut:
            self.machine.next_called()

    @rule()
    def sigterm(self) -> None:
        self._record(self.machine.shutdown())
        self.shut = True

    @invariant()
    def phase_is_defined_and_no_invocation_flushed_twice(self) -> None:
        assert isinstance(self.machine.phase, Phase)
        ids = [f.request_id for f in self.flushes if f.reason is not ExportReason.SHUTDOWN]
        assert len(ids) == len(set(ids)), "an invocation was flushed twice"
        assert sum(f.reason is ExportReason.SHUTDOWN for f in self.flushes) <= 1

    @invariant()
    def no_invocation_is_skipped(self) -> None:
        """Every invocation before the open one was flushed (or shutdown came)."""
        flushed = {f.request_id for f in self.flushes}
        if not self.shut:
            assert all(r in flushed for r in self.invoked[:-1])
            if self.machine.phase in (Phase.IDLE, Phase.WAITING_NEXT) and self.invoked:
                assert self.invoked[-1] in flushed


TestLifecycleOrders = LifecycleOrders.TestCase
TestLifecycleOrders.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
