"""The Lambda resource: semantic-convention units, and the user's OTEL_* variables win."""

from __future__ import annotations

import logging

import pytest

from otel_lambda_processor import lambda_resource

LAMBDA = {
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]abc",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
}


@pytest.fixture(autouse=True)
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in LAMBDA.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)


def test_the_function_is_described_with_memory_in_bytes() -> None:
    attributes = lambda_resource().attributes
    assert attributes["cloud.provider"] == "aws" and attributes["cloud.platform"] == "aws_lambda"
    assert attributes["cloud.region"] == "eu-west-1" and attributes["faas.name"] == "orders"
    assert attributes["faas.version"] == "$LATEST"
    assert attributes["faas.instance"] == "2026/11/25/[$LATEST]abc"
    assert attributes["faas.max_memory"] == 512 * 1024 * 1024
    assert attributes["service.name"] == "orders", "the function name, not unknown_service"
    assert attributes["telemetry.sdk.name"] == "opentelemetry"


def test_otel_service_name_and_resource_attributes_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,faas.name=x")
    attributes = lambda_resource({"team": "payments"}).attributes
    assert attributes["service.name"] == "checkout"
    assert attributes["deployment.environment.name"] == "prod"
    assert attributes["faas.name"] == "x" and attributes["team"] == "payments"


def test_outside_lambda_only_what_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in LAMBDA:
        monkeypatch.delenv(key)
    attributes = lambda_resource().attributes
    assert "faas.name" not in attributes and "faas.max_memory" not in attributes
    assert str(attributes["service.name"]).startswith("unknown_service")


@pytest.mark.parametrize("raw", ["²", "1e3", "-512", "0", "9" * 5000, "lots"])
def test_a_malformed_memory_size_is_left_out_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raw)
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        attributes = lambda_resource().attributes
        lambda_resource()
    assert "faas.max_memory" not in attributes and attributes["faas.name"] == "orders"
    (record,) = [r for r in caplog.records if "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" in r.getMessage()]
    assert "faas.max_memory" in record.getMessage()
