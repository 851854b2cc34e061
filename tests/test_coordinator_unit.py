"""The coordinator in-process: SnapStart restore, driver answers, and nothing started outside
Lambda."""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_lambda_processor.config import LambdaEnvironment
from otel_lambda_processor.coordinator import Coordinator, start_for_mode
from otel_lambda_processor.signals import ExportDue, InvocationStarted, Signal, SignalHub
from otel_lambda_processor.testing.emulator import LambdaEmulator


def environment(runtime_api: str | None, init_type: str = "on-demand") -> LambdaEnvironment:
    return LambdaEnvironment(runtime_api, init_type, None, False)


def test_after_a_snapstart_restore_ids_are_reseeded_and_connections_dropped() -> None:
    snapshot_restore_py = pytest.importorskip("snapshot_restore_py")
    with LambdaEmulator() as emulator:
        coordinator = Coordinator(
            environment(emulator.runtime_api, "snap-start"),
            events=[],
            hub=SignalHub(),
            handle_sigterm=False,
            hook_runtime=False,
        )
        coordinator.start()
        hooks = [entry[0] for entry in snapshot_restore_py._after_restore_registry]
        assert coordinator._after_restore in hooks
        api = coordinator._api
        assert api is not None
        pool_before = api._pool
        random.seed(1234)
        cloned = random.random()
        random.seed(1234)
        coordinator._after_restore()
        assert random.random() != cloned, "a restored clone must not repeat the snapshot's ids"
        assert api._pool is not pool_before
        coordinator.close()
        snapshot_restore_py._after_restore_registry.clear()


def test_the_driver_answer_says_whether_an_export_follows() -> None:
    with LambdaEmulator() as emulator:
        hub = SignalHub()
        async_mode = Coordinator(
            environment(emulator.runtime_api),
            events=["INVOKE"],
            hub=hub,
            handle_sigterm=False,
            hook_runtime=False,
        )
        async_mode.start()
        done = async_mode.on_handler_done("req-1")
        assert done.request_id == "req-1" and done.export_follows and done.freezes
        sync_mode = Coordinator(
            environment(emulator.runtime_api), events=None, hub=hub, hook_runtime=False
        )
        sync_mode.start()
        done = sync_mode.on_handler_done(None)
        assert not done.export_follows and done.freezes
        managed = Coordinator(
            environment(emulator.runtime_api, "lambda-managed-instances"),
            events=None,
            hub=hub,
            hook_runtime=False,
        )
        managed.start()
        assert not managed.on_handler_done(None).freezes
        for c in (async_mode, sync_mode, managed):
            c.close()


def test_nothing_is_started_outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    assert start_for_mode("async") is None


def test_nothing_is_started_with_the_sdk_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    with LambdaEmulator() as emulator:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api)
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        threads_before = {t.name for t in threading.enumerate()}
        assert start_for_mode("async") is None
        assert emulator.extensions() == []
        assert {t.name for t in threading.enumerate()} == threads_before


class ScriptedExtensionsApi:
    """An Extensions API that answers ``/event/next`` from a script, then holds the caller.

    ``repeat_last``: keep answering the script's last body at once, forever (a broken API).
    """

    def __init__(self, bodies: list[bytes], *, repeat_last: bool = False) -> None:
        self.bodies = list(bodies)
        self.repeat_last = repeat_last
        self.next_calls = 0
        self.release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(b'{"functionName":"f"}', {"Lambda-Extension-Identifier": "ext-1"})

            def do_GET(self) -> None:
                api.next_calls += 1
                if api.bodies:
                    body = api.bodies[0] if api.repeat_last and len(api.bodies) == 1 else None
                    self._answer(body if body is not None else api.bodies.pop(0), {})
                    return
                api.release.wait(10)
                self._answer(b"{}", {})

            def _answer(self, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.runtime_api = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"eventType": "SHUTDOWN", "shutdownReason": "spindown"}', b'{"eventType": 7}'],
    ids=["empty object", "an event not asked for", "a malformed event type"],
)
def test_answers_that_are_not_an_invoke_back_off_instead_of_spinning(body: bytes) -> None:
    api = ScriptedExtensionsApi([body], repeat_last=True)
    coordinator = Coordinator(
        environment(api.runtime_api),
        events=["INVOKE"],
        hub=SignalHub(),
        handle_sigterm=False,
        hook_runtime=False,
    )
    try:
        coordinator.start()
        time.sleep(1.2)  # the backoff waits 0.5 s, then 1 s: three calls at most by now
        assert 1 <= api.next_calls <= 4, f"{api.next_calls} calls in 1.2 s"
        assert not coordinator.exports_after_response, "degraded: export inline meanwhile"
    finally:
        coordinator.close()
        api.close()


def test_invokes_with_malformed_deadlines_are_followed_and_the_loop_goes_on() -> None:
    deadlines = [b"1e999", b"NaN", b"1" + b"0" * 400, b'"\xc2\xb2"', b"-5", b"true"]
    good_deadline = int(time.time() * 1000) + 60_000
    bodies = [
        b'{"eventType":"INVOKE","requestId":"r%d","deadlineMs":%s}' % (i, raw)
        for i, raw in enumerate(deadlines)
    ]
    bodies.append(b'{"eventType":"INVOKE","requestId":"good","deadlineMs":%d}' % good_deadline)
    api = ScriptedExtensionsApi(bodies)
    hub = SignalHub()
    flushed: list[tuple[str | None, float | None]] = []
    all_flushed = threading.Event()

    class HandlerDoneOnStart:
        def on_signal(self, signal: Signal) -> None:
            if isinstance(signal, InvocationStarted):
                coordinator.on_handler_done(signal.request_id)
            elif isinstance(signal, ExportDue):
                flushed.append((signal.request_id, signal.deadline))
                if signal.request_id == "good":
                    all_flushed.set()

    listener = HandlerDoneOnStart()
    hub.subscribe(listener)  # type: ignore[arg-type]
    coordinator = Coordinator(
        environment(api.runtime_api),
        events=["INVOKE"],
        hub=hub,
        handle_sigterm=False,
        hook_runtime=False,
    )
    try:
        coordinator.start()
        assert all_flushed.wait(10), f"flushed so far: {flushed}"
        assert [request for request, _ in flushed] == [f"r{i}" for i in range(6)] + ["good"]
        assert all(deadline is None for _, deadline in flushed[:-1])
        good = flushed[-1][1]
        assert good is not None and 50 < good - time.monotonic() < 61
        assert coordinator.exports_after_response
    finally:
        coordinator.close()
        api.close()
