"""Init stays cheap: importing the package and constructing a processor outside Lambda loads
nothing that only Lambda needs, and builds no class through typing's slow machinery.

Each check runs in a fresh interpreter (what a cold start is) and asserts what is loaded or
built, never how long it took: timings are the benchmarks' job (``benchmarks/run.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from otel_lambda_processor.testing.emulator import LambdaEmulator

#: Needed only to follow the Lambda lifecycle: imported at construction inside Lambda only (every
#: module of the extension/ layer, and the HTTP client).
LAMBDA_ONLY = ("otel_lambda_processor.extension", "urllib3")

SCRIPT = """
import json, re, sys, typing

import opentelemetry.sdk.trace

class Null:
    def export(self, spans):
        return None

    def shutdown(self):
        pass

before = set(sys.modules)
from otel_lambda_processor import LambdaSpanProcessor
processor = LambdaSpanProcessor(Null())

ours = [m for m in sys.modules if m.startswith("otel_lambda_processor")]
slow = []
for name in ours:
    for attribute, value in vars(sys.modules[name]).items():
        if isinstance(value, re.Pattern):
            slow.append(f"{name}.{attribute}: a pattern compiled at import")
        if not isinstance(value, type) or value.__module__ != name:
            continue
        if getattr(value, "_is_protocol", False):
            slow.append(f"{name}.{attribute}: a typing.Protocol")
        new = vars(value).get("__new__")
        if issubclass(value, tuple) and getattr(new, "__code__", None) is not None:
            if new.__code__.co_filename.startswith("<"):  # namedtuple's compiled __new__
                slow.append(f"{name}.{attribute}: a NamedTuple")
print(json.dumps({"new": sorted(set(sys.modules) - before), "slow": slow}))
"""


def run(**env: str) -> dict[str, list[str]]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_", "LAMBDA_"))
    }
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def lambda_only(loaded: list[str]) -> list[str]:
    inside = tuple(f"{name}." for name in LAMBDA_ONLY)
    return [m for m in loaded if m in LAMBDA_ONLY or m.startswith(inside)]


def test_outside_lambda_construction_imports_nothing_only_lambda_needs() -> None:
    seen = run()
    assert lambda_only(seen["new"]) == []


def test_with_the_sdk_disabled_in_lambda_the_coordinator_is_not_imported() -> None:
    seen = run(AWS_LAMBDA_RUNTIME_API="127.0.0.1:9", OTEL_SDK_DISABLED="true")
    assert lambda_only(seen["new"]) == []


def test_inside_lambda_construction_starts_the_coordinator() -> None:
    with LambdaEmulator() as emulator:
        seen = run(AWS_LAMBDA_RUNTIME_API=emulator.runtime_api)
        assert emulator.extensions() != [], "registered during construction"
    assert "otel_lambda_processor.extension.coordinator" in seen["new"]
    assert "urllib3" in seen["new"]


@pytest.mark.parametrize("runtime_api", [None, "inside"])
def test_init_builds_no_protocol_namedtuple_generic_or_pattern(runtime_api: str | None) -> None:
    if runtime_api is None:
        seen = run()
    else:
        with LambdaEmulator() as emulator:
            seen = run(AWS_LAMBDA_RUNTIME_API=emulator.runtime_api)
    assert seen["slow"] == [], "each costs cold start; see signals.Record and the module notes"
