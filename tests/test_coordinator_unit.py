"""The coordinator in-process: SnapStart restore, driver answers, and nothing started outside
Lambda."""

from __future__ import annotations

import random
import threading

import pytest

from otel_lambda_processor.config import LambdaEnvironment
from otel_lambda_processor.coordinator import Coordinator, start_for_mode
from otel_lambda_processor.signals import SignalHub
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
