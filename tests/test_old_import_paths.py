"""The flat import paths from before the layout by layer keep working.

Each old path (``otel_lambda_processor.config``, ``.processor``, ``.lambda_wrapper``...) gives the
very module now at its new path, loaded only when asked for, so imports, monkeypatching and the
``_HANDLER`` of deployed functions are unchanged. The rest of the suite imports by the old paths
on purpose; these tests pin the mechanism itself.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import otel_lambda_processor

PACKAGE = "otel_lambda_processor"
ROOT = Path(otel_lambda_processor.__file__).parent
MOVED: dict[str, str] = otel_lambda_processor._MOVED
FINDER = otel_lambda_processor._OldPaths

#: Every public name the flat ``config`` module had (and the warn-once memory the suite clears).
CONFIG_NAMES = (
    "BATCH_SIZE_ENV DEADLINE_MARGIN_MILLIS DEFAULT_BATCH_SIZE DEFAULT_EXPORT_TIMEOUT_MILLIS "
    "DEFAULT_MODE DEFAULT_OTLP_TIMEOUT_SECONDS DEFAULT_QUEUE_SIZE DEFAULT_SAMPLE_RATIO "
    "EXECUTION_ENV EXPORT_TIMEOUT_ENV FALLBACK_FLUSH_LEAD_MILLIS INITIALIZATION_TYPE_ENV "
    "KEEP_SLOWER_THAN_ENV LOG_BATCH_SIZE_ENV LOG_EXPORT_TIMEOUT_ENV LOG_MODE_ENV "
    "LOG_QUEUE_SIZE_ENV LOG_VARIABLES LambdaEnvironment MANAGED_INSTANCES "
    "MAX_EXPORT_TIMEOUT_MILLIS MAX_KEEP_SLOWER_THAN_MILLIS MAX_MEMORY_MB MAX_MIN_INTERVAL_MILLIS "
    "MAX_OTLP_TIMEOUT_SECONDS "
    "MAX_QUEUE_SIZE MEMORY_SIZE_ENV METRIC_EXPORT_TIMEOUT_ENV METRIC_MIN_INTERVAL_ENV "
    "METRIC_MODE_ENV MODE_ENV MetricReaderSettings OTLP_TIMEOUT_ENVS ProcessorMode "
    "ProcessorSettings QUEUE_SIZE_ENV RUNTIME_API_ENV SAMPLE_RATIO_ENV SDK_DISABLED_ENV "
    "SDK_FALLBACKS SIGTERM_BUDGET_MILLIS SNAP_START SPAN_VARIABLES SignalVariables "
    "coordinator_environment lambda_environment lambda_function_environment "
    "load_lambda_environment load_metric_reader_settings load_settings memory_size_mb "
    "otlp_timeout_seconds parse_mode parse_runtime_api sdk_disabled settings_from_environment "
    "warn_once _warned"
).split()


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_gives_the_module_at_its_new_path(old: str) -> None:
    new = importlib.import_module(f"{PACKAGE}.{MOVED[old]}")
    assert importlib.import_module(f"{PACKAGE}.{old}") is new
    assert getattr(otel_lambda_processor, old) is new
    assert new.__spec__ is not None and new.__spec__.name == new.__name__, "its own spec kept"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_no_file_is_left_at_an_old_path(old: str) -> None:
    # One would be imported instead of the module at the new path: two copies of its state.
    assert not (ROOT / f"{old}.py").exists() and not (ROOT / old).exists()


def test_the_finder_answers_only_the_old_paths() -> None:
    assert FINDER in sys.meta_path
    assert FINDER.find_spec(f"{PACKAGE}.config").name == f"{PACKAGE}.config"
    assert FINDER.find_spec(f"{PACKAGE}.signals") is None  # a real module: found as it is
    assert FINDER.find_spec(f"{PACKAGE}.no_such_module") is None
    assert FINDER.find_spec("config") is None and FINDER.find_spec("json") is None
    spec = importlib.util.find_spec(f"{PACKAGE}.export.settings")
    assert spec is not None and spec.origin == str(ROOT / "export" / "settings.py")


def test_monkeypatching_an_old_path_changes_the_module_everyone_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otel_lambda_processor.export import pipeline

    monkeypatch.setattr(f"{PACKAGE}.pipeline.SHUTDOWN_TIMEOUT_MILLIS", 5)
    assert pipeline.SHUTDOWN_TIMEOUT_MILLIS == 5


SCRIPT = """
import importlib, importlib.util, json, sys
import opentelemetry.sdk.trace

before = set(sys.modules)
import otel_lambda_processor as package
at_import = sorted(set(sys.modules) - before)

from otel_lambda_processor import config
import otel_lambda_processor.coordinator as coordinator
from otel_lambda_processor.lambda_wrapper import WRAPPER_HANDLER
handler = importlib.import_module("otel_lambda_processor.handler")
print(json.dumps({
    "at_import": at_import,
    "config": config.__name__,
    "config_spec": config.__spec__.name,
    "same": config is sys.modules["otel_lambda_processor.export.config"],
    "coordinator": coordinator.__name__,
    "handler": handler.__name__,
    "wrapper_handler": WRAPPER_HANDLER,
    "found": importlib.util.find_spec("otel_lambda_processor.triggers") is not None,
}))
"""


def test_old_paths_in_every_form_and_nothing_loaded_before_they_are_asked_for() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(result.stdout)
    outside = [name for name in seen["at_import"] if name.split(".")[0] != PACKAGE]
    assert outside == [], "the package (after the SDK) loads its own modules only"
    old = {f"{PACKAGE}.{flat}" for flat in MOVED}
    assert old.isdisjoint(seen["at_import"]), "no old path is loaded before it is asked for"
    assert seen["config"] == seen["config_spec"] == f"{PACKAGE}.export.config"
    assert seen["same"] is True
    assert seen["coordinator"] == f"{PACKAGE}.extension.coordinator"
    assert seen["handler"] == f"{PACKAGE}.instrumentation.handler"
    assert seen["wrapper_handler"] == f"{PACKAGE}.lambda_wrapper.handler"
    assert seen["found"] is True


def test_the_flat_config_module_still_has_every_public_name() -> None:
    from otel_lambda_processor import config

    assert [name for name in CONFIG_NAMES if not hasattr(config, name)] == []
    with pytest.raises(AttributeError):
        config.no_such_name  # noqa: B018


def test_the_flat_coordinator_still_has_the_client_constants() -> None:
    from otel_lambda_processor import coordinator
    from otel_lambda_processor.extension import client

    assert coordinator.API_PATH == client.API_PATH
    assert coordinator.MAX_RESPONSE_BYTES == client.MAX_RESPONSE_BYTES
    assert coordinator.ExtensionsApi is client.ExtensionsApi


def test_the_entry_points_name_the_modules_where_they_are() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT.parent / "setup.cfg")
    targets = []
    for group in setup["options.entry_points"].values():
        for line in filter(None, group.splitlines()):
            targets.append(line.partition("=")[2].strip())
    assert targets
    for target in targets:
        module, _, attribute = target.partition(":")
        relative = Path(*module.split(".")[1:])
        assert (ROOT / relative).with_suffix(".py").is_file(), f"{target}: not an old path"
        assert getattr(importlib.import_module(module), attribute)


def test_the_wrapper_handler_refuses_itself_by_either_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_lambda_processor.instrumentation import lambda_wrapper

    script = (ROOT / "otel-lambda-wrapper").read_text()
    assert f"wrapper_handler={lambda_wrapper.WRAPPER_HANDLER}\n" in script
    for name in (lambda_wrapper.WRAPPER_HANDLER, f"{lambda_wrapper.__name__}.handler"):
        monkeypatch.setenv("ORIG_HANDLER", name)
        with pytest.raises(lambda_wrapper.HandlerError, match="this wrapper itself"):
            lambda_wrapper.load()
