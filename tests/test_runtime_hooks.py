"""The runtime-client hooks: wrap what looks right, leave alone what does not."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from otel_lambda_processor import runtime_hooks


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def runtime_invocation(
        self, request_id: str, deadline_ms: int | None, trace_header: str | None, thread: int
    ) -> None:
        self.events.append(("invocation", request_id, deadline_ms, trace_header, thread))

    def runtime_result_ready(self, request_id: str) -> None:
        self.events.append(("ready", request_id))

    def runtime_response_sent(self, request_id: str) -> None:
        self.events.append(("sent", request_id))


def make_module(*, good: bool = True) -> types.ModuleType:
    """A module shaped like awslambdaric.lambda_runtime_client (or not, with good=False)."""
    module = types.ModuleType(runtime_hooks.MODULE)

    class Request:
        invoke_id = "req-1"
        deadline_time_in_ms = "1700000000000"
        x_amzn_trace_id = "Root=1-abc"

    class BaseLambdaRuntimeClient:
        posted: list[str]

        def __init__(self) -> None:
            self.posted = []

        def wait_next_invocation(self) -> Request:
            return Request()

        if good:

            def post_invocation_result(
                self, invoke_id: str, result_data: bytes, content_type: str = "json"
            ) -> None:
                self.posted.append(invoke_id)

        else:

            def post_invocation_result(self, payload: bytes) -> None:  # type: ignore[misc]
                self.posted.append("?")

        def post_invocation_error(
            self, invoke_id: str, error_response_data: str, xray_fault: str
        ) -> None:
            raise ConnectionError("runtime API gone")

    BaseLambdaRuntimeClient.__module__ = module.__name__
    module.BaseLambdaRuntimeClient = BaseLambdaRuntimeClient  # type: ignore[attr-defined]
    return module


@pytest.fixture
def installed_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = make_module()
    monkeypatch.setitem(sys.modules, runtime_hooks.MODULE, module)
    yield module


def test_wrapped_calls_report_invocation_result_and_response(
    installed_module: types.ModuleType,
) -> None:
    listener = Listener()
    assert runtime_hooks.install(listener) is True
    client = installed_module.BaseLambdaRuntimeClient()
    client.wait_next_invocation()
    client.post_invocation_result("req-1", b"{}")
    assert client.posted == ["req-1"], "the original still runs"
    assert listener.events == [
        ("invocation", "req-1", 1700000000000, "Root=1-abc", threading.get_ident()),
        ("ready", "req-1"),
        ("sent", "req-1"),
    ]


def test_the_runtime_clients_own_errors_pass_through_after_reporting(
    installed_module: types.ModuleType,
) -> None:
    listener = Listener()
    runtime_hooks.install(listener)
    client = installed_module.BaseLambdaRuntimeClient()
    with pytest.raises(ConnectionError):
        client.post_invocation_error("req-2", "{}", "")
    assert listener.events == [("ready", "req-2"), ("sent", "req-2")]


class _Raises:
    def __get__(self, instance: object, owner: object) -> str:
        raise RuntimeError("lazily built and broken")


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        (float("inf"), None),
        (float("nan"), None),
        ("1e999", None),
        ("\u00b2", None),
        (10**400, None),
        (True, None),
        (1700000000000.0, 1700000000000),
        (" 1700000000000 ", 1700000000000),
    ],
)
def test_a_malformed_deadline_is_reported_as_none_never_raised(
    installed_module: types.ModuleType, deadline: object, expected: int | None
) -> None:
    listener = Listener()
    runtime_hooks.install(listener)
    client = installed_module.BaseLambdaRuntimeClient()
    request = client.wait_next_invocation()
    type(request).deadline_time_in_ms = deadline
    assert isinstance(client.wait_next_invocation(), type(request))
    assert listener.events[-1][:3] == ("invocation", "req-1", expected)


def test_a_request_whose_fields_raise_is_handed_on_untouched(
    installed_module: types.ModuleType,
) -> None:
    listener = Listener()
    runtime_hooks.install(listener)
    client = installed_module.BaseLambdaRuntimeClient()
    request = client.wait_next_invocation()
    type(request).invoke_id = _Raises()
    assert isinstance(client.wait_next_invocation(), type(request))
    assert len(listener.events) == 1, "nothing reported for the unreadable request"


def test_installing_twice_wraps_once(installed_module: types.ModuleType) -> None:
    first, second = Listener(), Listener()
    runtime_hooks.install(first)
    runtime_hooks.install(second)
    installed_module.BaseLambdaRuntimeClient().post_invocation_result("r", b"")
    assert len(first.events) == 2 and second.events == []


def test_a_listener_that_raises_never_breaks_the_runtime(
    installed_module: types.ModuleType,
) -> None:
    class Broken(Listener):
        def runtime_result_ready(self, request_id: str) -> None:
            raise RuntimeError("boom")

    runtime_hooks.install(Broken())
    client = installed_module.BaseLambdaRuntimeClient()
    client.post_invocation_result("req-3", b"{}")
    assert client.posted == ["req-3"]


def test_a_client_that_looks_different_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    module = make_module(good=False)
    monkeypatch.setitem(sys.modules, runtime_hooks.MODULE, module)
    original = module.BaseLambdaRuntimeClient.wait_next_invocation  # type: ignore[attr-defined]
    with caplog.at_level("DEBUG", logger="otel_lambda_processor"):
        assert runtime_hooks.install(Listener()) is False
    assert module.BaseLambdaRuntimeClient.wait_next_invocation is original  # type: ignore[attr-defined]
    assert "left alone" in caplog.text


def test_no_runtime_client_loaded_means_no_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, runtime_hooks.MODULE, raising=False)
    assert runtime_hooks.install(Listener()) is False


@pytest.mark.skipif(sys.platform != "linux", reason="awslambdaric ships Linux only")
def test_the_real_awslambdaric_client_has_the_shape_we_hook() -> None:
    import awslambdaric.lambda_runtime_client as real

    for name, leading in runtime_hooks._EXPECTED.items():
        assert runtime_hooks._looks_right(getattr(real.BaseLambdaRuntimeClient, name), leading)
