"""The internal extension: follows the Lambda lifecycle and publishes signals to the processors.

One per process. It registers through the Extensions API synchronously during init (from a
background thread it would lose the race with the runtime's first ``/runtime/invocation/next``),
runs one daemon thread that waits in ``/event/next`` with no read timeout, hooks the runtime
client for "response sent", and watches for SIGTERM. The decisions are the sans-IO
:class:`~.lifecycle.Lifecycle`'s; this module only does the I/O.

Owns the one coordinator per process, its event loop and what it publishes; must not hold the
lifecycle's rules (:mod:`.lifecycle`), speak HTTP itself (:mod:`.client`) or import a processor.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from typing import Any

from ..environment import (
    DEADLINE_MARGIN_MILLIS,
    FALLBACK_FLUSH_LEAD_MILLIS,
    SIGTERM_BUDGET_MILLIS,
    LambdaEnvironment,
    coordinator_environment,
)
from ..signals import (
    HUB,
    ExportDue,
    ExportReason,
    HandlerDone,
    InvocationStarted,
    SignalHub,
    bounded_wait,
    deadline_from_epoch_ms,
    epoch_ms_or_none,
)
from . import runtime_hooks
from .client import API_PATH as API_PATH  # as before the split
from .client import EXTENSION_NAME, ExtensionsApi, ExtensionsApiError
from .client import MAX_RESPONSE_BYTES as MAX_RESPONSE_BYTES  # as before the split
from .lifecycle import Flush, Lifecycle, LifecycleError, Phase
from .sigterm import SigtermWatcher

_logger = logging.getLogger("otel_lambda_processor.coordinator")  # named as before the layout

#: The metric reader's module, looked up by name and never imported (see _other_providers).
_METRIC_READER_MODULE = "otel_lambda_processor.processors.metrics"
#: Backoff after a failed Extensions API call: at most two requests a second, then slower.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def _describe(event: dict[str, Any]) -> str:
    """What an unexpected event was, without echoing its content (it may hold anything)."""
    kind = event.get("eventType")
    if isinstance(kind, str) and kind.isascii() and kind.isidentifier() and len(kind) <= 32:
        return f"a {kind} event"
    return "a JSON object that is not an event"


def _monotonic_deadline(deadline_ms: int | None) -> float | None:
    if deadline_ms is None:
        return None
    return deadline_from_epoch_ms(deadline_ms, margin_millis=DEADLINE_MARGIN_MILLIS)


class Coordinator:
    """Follows one Lambda execution environment and tells the processors when to export.

    ``events``: what to register for (``["INVOKE"]`` for ``async``, ``[]`` for ``finalize``);
    ``None`` registers nothing (``sync`` mode, managed instances).
    """

    def __init__(
        self,
        environment: LambdaEnvironment,
        *,
        events: list[str] | None,
        hub: SignalHub = HUB,
        handle_sigterm: bool = True,
        hook_runtime: bool = True,
    ) -> None:
        self._env = environment
        self._events = events
        self._hub = hub
        self._handle_sigterm = handle_sigterm
        self._hook_runtime = hook_runtime
        self._cond = threading.Condition()
        self._machine = Lifecycle(fallback_lead_ms=FALLBACK_FLUSH_LEAD_MILLIS)
        self._pending: Flush | None = None
        self._api: ExtensionsApi | None = None
        self._identifier: str | None = None
        self._thread: threading.Thread | None = None
        self._degraded = False
        self._closing = False
        self._hooked = False
        self._runtime_invocation: tuple[str, int | None] | None = None
        self._sigterm: SigtermWatcher | None = None

    # -- start --------------------------------------------------------------------------------
    def start(self) -> None:
        """Hook the runtime, register (synchronously), start the event loop and SIGTERM watcher."""
        if self._hook_runtime:
            self._hooked = runtime_hooks.install(self)
            self._machine.response_hook = self._hooked
        if self._events is not None and self._env.runtime_api is not None:
            self._register(self._env.runtime_api, self._events)
        if self._identifier is not None and self._handle_sigterm:
            # Lambda sends SIGTERM before shutdown only because an extension registered.
            self._sigterm = SigtermWatcher(self._on_sigterm, budget=SIGTERM_BUDGET_MILLIS / 1000)
            self._sigterm.install()
        if self._env.snap_start:
            self._register_snapstart_hooks()

    def _register(self, runtime_api: str, events: list[str]) -> None:
        try:
            self._api = ExtensionsApi(runtime_api)
            self._identifier = self._api.register(events)
        except Exception as error:
            _logger.warning(
                "could not register the %s extension (%s): spans are exported inline when the "
                "handler is done instead of after the response",
                EXTENSION_NAME,
                error,
            )
            self._identifier = None
            return
        _logger.debug("registered extension %s for %s", EXTENSION_NAME, events)
        self._thread = threading.Thread(
            target=self._event_loop, name="otel-lambda-extension", daemon=True
        )
        self._thread.start()

    def _register_snapstart_hooks(self) -> None:
        try:
            from snapshot_restore_py import register_after_restore
        except ImportError:
            _logger.debug("snapshot_restore_py is not importable: no SnapStart restore hook")
            return
        register_after_restore(self._after_restore)

    def _after_restore(self) -> None:
        # The SDK's id generator uses the module-level random: clones must not share ids.
        random.seed()
        if self._api is not None:
            self._api.reset()

    def close(self) -> None:
        """Stop following the lifecycle (tests; the process normally just ends)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    @property
    def registered(self) -> bool:
        return self._identifier is not None

    @property
    def exports_after_response(self) -> bool:
        """An ``ExportDue`` follows each invocation (we get INVOKE and the API works)."""
        return (
            self._identifier is not None
            and self._events is not None
            and "INVOKE" in self._events
            and not self._degraded
            and self._thread is not None
            and self._thread.is_alive()
        )

    # -- the LifecycleDriver side -------------------------------------------------------------
    def on_handler_done(self, request_id: str | None) -> HandlerDone:
        if self._sigterm is not None:
            self._sigterm.check()
        runtime = self._runtime_invocation
        if request_id is None and runtime is not None:
            request_id = runtime[0]
        deadline_ms = runtime[1] if runtime is not None and runtime[0] == request_id else None
        with self._cond:
            current = self._machine.current
            if deadline_ms is None and current is not None and current.request_id == request_id:
                deadline_ms = current.deadline_ms
            self._feed(self._machine.handler_done, request_id)
        return HandlerDone(
            request_id=request_id,
            deadline=_monotonic_deadline(deadline_ms),
            export_follows=self.exports_after_response,
            freezes=not self._env.managed_instances,
        )

    # -- the RuntimeListener side (called from the runtime client's thread) ------------------
    def runtime_invocation(
        self, request_id: str, deadline_ms: int | None, trace_header: str | None, thread: int
    ) -> None:
        self._runtime_invocation = (request_id, deadline_ms)
        self._hub.publish(
            InvocationStarted(request_id, _monotonic_deadline(deadline_ms), trace_header, thread)
        )

    def runtime_result_ready(self, request_id: str) -> None:
        """The handler returned; the response is about to be posted: "handler done"."""
        self._hub.handler_done(request_id)

    def runtime_response_sent(self, request_id: str) -> None:
        with self._cond:
            self._feed(self._machine.response_sent, request_id)

    def _feed(self, event: Any, request_id: str | None) -> None:
        """Give the machine a signal (lock held); wake the loop if it says flush."""
        flush = event(request_id)
        if flush is not None:
            self._pending = flush
            self._cond.notify_all()

    # -- the event loop -----------------------------------------------------------------------
    def _event_loop(self) -> None:
        assert self._api is not None and self._identifier is not None
        delay = 0.0
        while True:
            with self._cond:
                if self._closing or self._machine.phase is Phase.SHUTDOWN:
                    return
                if self._machine.phase in (Phase.INIT, Phase.WAITING_NEXT):
                    self._machine.next_called()
            try:
                event = self._api.next_event(self._identifier)
                # Internal extensions get nothing but INVOKE: any other answer (or one the
                # lifecycle refuses) is a failure, so that an API answering at once with it
                # cannot make this loop spin.
                if event.get("eventType") != "INVOKE":
                    raise ExtensionsApiError(f"event/next answered {_describe(event)}")
                if not self._on_invoke(event):
                    raise ExtensionsApiError("event/next answered an INVOKE out of turn")
            except Exception as error:
                delay = BACKOFF_FIRST if delay == 0 else min(delay * 2, BACKOFF_MAX)
                first = not self._degraded
                self._degraded = True
                # A connection closed or a call cut short while the environment shuts down is
                # no failure: SIGTERM and the closing may come in either order, so the failure
                # is judged after the backoff (which the retry waits for anyway).
                with self._cond:
                    self._cond.wait_for(self._ending, timeout=delay)
                    ending = self._ending()
                if ending or sys.is_finalizing():
                    _logger.debug("the Extensions API call ended during shutdown (%s)", error)
                    return
                if first:
                    _logger.warning(
                        "the Extensions API failed (%s): exporting inline at handler done "
                        "until it answers again (trying again now, then with backoff)",
                        error,
                    )
                continue
            if self._degraded:
                _logger.info("the Extensions API answers again: exporting after the response")
            self._degraded, delay = False, 0.0

    def _ending(self) -> bool:
        """The environment is shutting down (SIGTERM) or we were closed (lock held)."""
        return self._closing or self._machine.phase is Phase.SHUTDOWN

    def _on_invoke(self, event: dict[str, Any]) -> bool:
        """Follow one invocation to its flush; ``False`` if the lifecycle refused the INVOKE."""
        request_id = event.get("requestId")
        request_id = request_id if isinstance(request_id, str) else ""
        deadline_ms = epoch_ms_or_none(event.get("deadlineMs"))
        tracing = event.get("tracing")
        trace = tracing.get("value") if isinstance(tracing, dict) else None
        trace = trace if isinstance(trace, str) else None
        with self._cond:
            try:
                flush = self._machine.invoke(request_id, deadline_ms, trace)
            except LifecycleError:
                _logger.debug("unexpected INVOKE %s in phase %s", request_id, self._machine.phase)
                return False
            self._pending = None
        if not self._hooked:
            self._hub.publish(
                InvocationStarted(request_id, _monotonic_deadline(deadline_ms), trace, None)
            )
        with self._cond:
            while flush is None and not self._closing:
                flush, self._pending = self._pending, None
                if flush is not None or self._machine.phase is not Phase.INVOKED:
                    break
                at = self._machine.flush_at_ms()
                wait = None if at is None else at / 1000.0 - time.time()
                if wait is not None and wait <= 0:
                    flush = self._machine.deadline_near(int(time.time() * 1000))
                    break
                self._cond.wait(bounded_wait(wait))
        if flush is None or flush.reason is ExportReason.SHUTDOWN:
            return True
        self._hub.publish(
            ExportDue(flush.reason, _monotonic_deadline(flush.deadline_ms), flush.request_id)
        )
        with self._cond:
            try:
                self._machine.flush_finished(request_id)
            except LifecycleError:
                _logger.debug("flush of %s finished in phase %s", request_id, self._machine.phase)
        return True

    # -- SIGTERM ------------------------------------------------------------------------------
    def _on_sigterm(self) -> None:
        """Within the budget: our processors and reader first (spans, logs, metrics, all at
        once), then whatever else the global providers hold, in the same order."""
        end = time.monotonic() + SIGTERM_BUDGET_MILLIS / 1000.0
        with self._cond:
            self._machine.shutdown()
            self._cond.notify_all()
        self._hub.publish(ExportDue(ExportReason.SHUTDOWN, end, None))
        _flush_other_providers(end)


def _flush_other_providers(end: float) -> None:
    """Flush the global providers (:func:`_other_providers`) in turn, until ``end``."""
    for provider in _other_providers():
        left = end - time.monotonic()
        if left <= 0:
            return
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            try:
                force_flush(int(left * 1000))
            except Exception:  # SIGTERM is no time to raise
                _logger.debug("flushing %r at SIGTERM failed", provider, exc_info=True)


def _other_providers() -> list[object]:
    """The global tracer, logger and meter providers; a meter provider whose readers are all
    ours is left out (its metrics have just been exported, and a flush would collect again)."""
    from opentelemetry import _logs, metrics, trace

    providers: list[object] = [trace.get_tracer_provider(), _logs.get_logger_provider()]
    meters = metrics.get_meter_provider()
    ours = sys.modules.get(_METRIC_READER_MODULE)  # never imported here: no time
    readers = getattr(meters, "_all_metric_readers", None)
    if not (ours and readers and all(isinstance(r, ours.LambdaMetricReader) for r in readers)):
        providers.append(meters)
    return providers


_started = threading.Lock()
_coordinator: Coordinator | None = None


def start_for_mode(mode: str) -> Coordinator | None:
    """Start this process's coordinator for the first processor's mode, if Lambda needs one."""
    global _coordinator
    environment = coordinator_environment()
    if environment is None:  # outside Lambda, or the SDK is disabled
        return None
    if environment.managed_instances:
        _logger.info(
            "Lambda Managed Instances: no extension is registered; each process exports on its "
            "own thread after its handler finishes"
        )
        events = None
    else:
        events = {"async": ["INVOKE"], "finalize": []}.get(mode)
    with _started:
        if _coordinator is None:
            _coordinator = Coordinator(environment, events=events)
            _coordinator.start()
        return _coordinator
