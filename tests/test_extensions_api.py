"""The Extensions API client against the emulator: the protocol facts of shared/LAMBDA.md."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_lambda_processor.coordinator import EXTENSION_NAME, ExtensionsApi, ExtensionsApiError
from otel_lambda_processor.testing.emulator import LambdaEmulator


@pytest.fixture
def emulator() -> Iterator[LambdaEmulator]:
    with LambdaEmulator(function_name="fn", handler="app.handler") as e:
        yield e


def runtime_call(emulator: LambdaEmulator, method: str, path: str, body: bytes = b"") -> Any:
    connection = http.client.HTTPConnection(emulator.runtime_api, timeout=10)
    connection.request(method, "/2018-06-01/runtime" + path, body=body or None)
    response = connection.getresponse()
    data = response.read()
    return response, json.loads(data) if data else None


def runtime_waits_for_work(emulator: LambdaEmulator) -> None:
    """A runtime blocked in /invocation/next on a thread, until the emulator stops."""

    def wait() -> None:
        try:
            runtime_call(emulator, "GET", "/invocation/next")
        except (OSError, http.client.HTTPException):
            pass  # the emulator stopped under it

    threading.Thread(target=wait, daemon=True).start()


def test_register_sends_our_name_and_events_and_returns_the_identifier(
    emulator: LambdaEmulator,
) -> None:
    api = ExtensionsApi(emulator.runtime_api)
    identifier = api.register(["INVOKE"])
    assert len(identifier) == 36
    assert emulator.extensions() == [(EXTENSION_NAME, ["INVOKE"])]


def test_internal_extensions_may_not_subscribe_to_shutdown(emulator: LambdaEmulator) -> None:
    with pytest.raises(ExtensionsApiError) as caught:
        ExtensionsApi(emulator.runtime_api).register(["INVOKE", "SHUTDOWN"])
    assert caught.value.status == 403
    assert caught.value.error_type == "Extension.InvalidEventType"


def test_registration_closes_when_the_runtime_first_asks_for_work(
    emulator: LambdaEmulator,
) -> None:
    runtime_waits_for_work(emulator)
    assert emulator.wait_ready(5)
    with pytest.raises(ExtensionsApiError) as caught:
        ExtensionsApi(emulator.runtime_api).register(["INVOKE"])
    assert caught.value.error_type == "Extension.RegistrationClosed"


def test_init_waits_for_every_extensions_first_next(emulator: LambdaEmulator) -> None:
    api = ExtensionsApi(emulator.runtime_api)
    identifier = api.register([])
    runtime_waits_for_work(emulator)
    assert not emulator.wait_ready(0.5), "the extension has not called next yet"

    def extension_waits() -> None:
        try:
            api.next_event(identifier)
        except ExtensionsApiError:
            pass  # the emulator stopped under it

    threading.Thread(target=extension_waits, daemon=True).start()
    assert emulator.wait_ready(5)


def test_next_event_delivers_invoke_with_deadline_request_id_and_tracing(
    emulator: LambdaEmulator,
) -> None:
    api = ExtensionsApi(emulator.runtime_api)
    identifier = api.register(["INVOKE"])
    events: list[dict[str, Any]] = []

    def extension() -> None:
        try:
            while True:
                events.append(api.next_event(identifier))
        except ExtensionsApiError:
            pass  # the emulator stopped under it

    threading.Thread(target=extension, daemon=True).start()

    def runtime() -> None:
        response, _ = runtime_call(emulator, "GET", "/invocation/next")
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        runtime_call(emulator, "POST", f"/invocation/{request_id}/response", b'{"ok": true}')
        runtime_waits_for_work(emulator)

    threading.Thread(target=runtime, daemon=True).start()
    result = emulator.invoke({"x": 1}, trace_header="Root=1-5759e988-bd862e3fe1be46a994272793")
    assert result.status == "ok" and result.payload == {"ok": True}
    # The response leaves before the extension is done: the invocation ends when it calls next
    # again, which it does only after it has kept the INVOKE.
    assert emulator.wait_idle(10)
    assert events and events[0]["eventType"] == "INVOKE"
    assert events[0]["requestId"] == result.request_id
    assert events[0]["deadlineMs"] > 0 and events[0]["invokedFunctionArn"].endswith(":fn")
    assert events[0]["tracing"] == {
        "type": "X-Amzn-Trace-Id",
        "value": "Root=1-5759e988-bd862e3fe1be46a994272793",
    }


def test_a_second_next_while_one_is_held_is_refused(emulator: LambdaEmulator) -> None:
    identifier = ExtensionsApi(emulator.runtime_api).register(["INVOKE"])
    answers: list[tuple[int, str]] = []
    answered = threading.Condition()

    def next_event() -> None:
        connection = http.client.HTTPConnection(emulator.runtime_api, timeout=30)
        try:
            connection.request(
                "GET",
                "/2020-01-01/extension/event/next",
                headers={"Lambda-Extension-Identifier": identifier},
            )
            response = connection.getresponse()
            body = json.loads(response.read() or b"{}")
        except (OSError, http.client.HTTPException):
            return  # the held one, cut off when the emulator stops
        with answered:
            answers.append((response.status, body.get("errorType", "")))
            answered.notify_all()

    for _ in range(2):
        threading.Thread(target=next_event, daemon=True).start()
    with answered:
        assert answered.wait_for(lambda: answers, timeout=10)
    # Whichever came second was refused; the first is still held, waiting for an event.
    assert answers == [(403, "Extension.InvalidExtensionState")]


def test_an_unknown_identifier_is_refused(emulator: LambdaEmulator) -> None:
    api = ExtensionsApi(emulator.runtime_api)
    with pytest.raises(ExtensionsApiError) as caught:
        api.next_event("00000000-0000-0000-0000-000000000000")
    assert caught.value.error_type == "Extension.UnknownExtensionIdentifier"


def test_a_response_to_the_wrong_request_id_is_a_400(emulator: LambdaEmulator) -> None:
    response, body = runtime_call(emulator, "POST", "/invocation/nope/response", b"{}")
    assert response.status == 400 and body["errorType"] == "InvalidRequestID"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_oversized_answers_are_refused_not_read_whole(declared: bool) -> None:
    class Huge(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Lambda-Extension-Identifier", "id")
            chunk = b"x" * 65536
            try:
                if declared:
                    self.send_header("Content-Length", str(32 * len(chunk)))
                    self.end_headers()
                    for _ in range(32):
                        self.wfile.write(chunk)
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(32):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client hung up early: what the test wants
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Huge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = ExtensionsApi(f"127.0.0.1:{server.server_address[1]}")
        with pytest.raises(ExtensionsApiError, match="larger than"):
            api.register(["INVOKE"])
    finally:
        server.shutdown()
        server.server_close()


def test_a_dead_api_is_an_error_not_a_hang() -> None:
    api = ExtensionsApi("127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(ExtensionsApiError):
        api.register(["INVOKE"])
