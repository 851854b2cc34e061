"""Settings: explicit argument > environment > default; bad values warn once, never crash."""

from __future__ import annotations

import logging

import pytest

from otel_lambda_processor import LambdaSpanProcessor, ProcessorMode, ProcessorSettings, config
from otel_lambda_processor.config import (
    BATCH_SIZE_ENV,
    EXPORT_TIMEOUT_ENV,
    MAX_EXPORT_TIMEOUT_MILLIS,
    MAX_QUEUE_SIZE,
    MODE_ENV,
    QUEUE_SIZE_ENV,
    load_lambda_environment,
    load_settings,
    parse_mode,
    parse_runtime_api,
)

from .conftest import ScriptedExporter


def test_defaults_follow_the_specification_batching_defaults() -> None:
    s = load_settings({})
    assert s == ProcessorSettings(ProcessorMode.ASYNC, 2048, 512, 30000, False)


def test_mode_values_are_the_documented_strings() -> None:
    assert [m.value for m in ProcessorMode] == ["sync", "async", "finalize"]
    assert [m.name for m in ProcessorMode] == ["SYNC", "ASYNC", "FINALIZE"]


@pytest.mark.parametrize("raw", ["sync", "SYNC", " Sync "])
def test_mode_from_environment_is_case_insensitive(raw: str) -> None:
    assert load_settings({MODE_ENV: raw}).mode is ProcessorMode.SYNC


def test_environment_values_are_used() -> None:
    env = {
        MODE_ENV: "finalize",
        QUEUE_SIZE_ENV: "100",
        BATCH_SIZE_ENV: "10",
        EXPORT_TIMEOUT_ENV: "0",
        "OTEL_SDK_DISABLED": "TRUE",
    }
    assert load_settings(env) == ProcessorSettings(ProcessorMode.FINALIZE, 100, 10, 0, True)


def test_explicit_arguments_win_over_the_environment() -> None:
    env = {MODE_ENV: "finalize", QUEUE_SIZE_ENV: "100", BATCH_SIZE_ENV: "10"}
    s = load_settings(
        env, mode="SYNC", max_queue_size=50, max_export_batch_size=5, export_timeout_millis=7
    )
    assert s == ProcessorSettings(ProcessorMode.SYNC, 50, 5, 7, False)


def test_a_small_queue_lowers_the_default_batch_size_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        s = load_settings({QUEUE_SIZE_ENV: "100"})
    assert (s.max_queue_size, s.max_export_batch_size) == (100, 100)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("variable", "raw", "used", "field"),
    [
        (MODE_ENV, "turbo", "async", "mode"),
        (QUEUE_SIZE_ENV, "lots", "2048", "max_queue_size"),
        (QUEUE_SIZE_ENV, "0", "2048", "max_queue_size"),
        (QUEUE_SIZE_ENV, "-5", "2048", "max_queue_size"),
        (BATCH_SIZE_ENV, "1.5", "512", "max_export_batch_size"),
        (BATCH_SIZE_ENV, "0", "512", "max_export_batch_size"),
        (EXPORT_TIMEOUT_ENV, "-1", "30000", "export_timeout_millis"),
        (EXPORT_TIMEOUT_ENV, "soon", "30000", "export_timeout_millis"),
    ],
)
def test_a_bad_environment_value_warns_once_naming_variable_value_and_fallback(
    caplog: pytest.LogCaptureFixture, variable: str, raw: str, used: str, field: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        first = load_settings({variable: raw})
        second = load_settings({variable: raw})
    assert first == second == load_settings({})
    assert len(caplog.records) == 1, "warned once, not once per construction"
    message = caplog.records[0].getMessage()
    assert variable in message and repr(raw) in message and used in message
    assert getattr(first, field) == getattr(load_settings({}), field)


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        (QUEUE_SIZE_ENV, "99999999999999999999", "max_queue_size", MAX_QUEUE_SIZE),
        (QUEUE_SIZE_ENV, "9" * 5000, "max_queue_size", MAX_QUEUE_SIZE),
        (BATCH_SIZE_ENV, "99999999999999999999", "max_export_batch_size", 2048),
        (
            EXPORT_TIMEOUT_ENV,
            "9223372036854775807",
            "export_timeout_millis",
            MAX_EXPORT_TIMEOUT_MILLIS,
        ),
    ],
)
def test_an_oversized_number_is_clamped_to_the_maximum_with_one_warning(
    caplog: pytest.LogCaptureFixture, variable: str, raw: str, field: str, expected: int
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        settings = load_settings({variable: raw})
        load_settings({variable: raw})
    assert getattr(settings, field) == expected
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert variable in message and f"using {expected}" in message and len(message) < 300


@pytest.mark.parametrize("raw", ["²", "١٢٣", "12 34", "0x10", "1e3", "--5", "+-5", "٣"])
def test_only_ascii_decimal_integers_are_numbers(raw: str) -> None:
    assert load_settings({QUEUE_SIZE_ENV: raw}).max_queue_size == 2048


def test_oversized_settings_never_break_the_processor_or_its_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(QUEUE_SIZE_ENV, "99999999999999999999")
    monkeypatch.setenv(EXPORT_TIMEOUT_ENV, "9223372036854775807")
    exporter = ScriptedExporter()
    processor = LambdaSpanProcessor(exporter, mode="finalize")
    assert processor.force_flush(100) is True
    processor.shutdown()
    assert exporter.shut_down


def test_a_batch_size_larger_than_the_queue_is_clamped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        s = load_settings({QUEUE_SIZE_ENV: "64", BATCH_SIZE_ENV: "100"})
    assert (s.max_queue_size, s.max_export_batch_size) == (64, 64)
    (record,) = caplog.records
    assert BATCH_SIZE_ENV in record.getMessage() and "'100'" in record.getMessage()
    assert "using 64" in record.getMessage()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"mode": "turbo"}, "'turbo'"),
        ({"mode": 3}, "3"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"max_queue_size": -1}, "-1"),
        ({"max_queue_size": True}, "True"),
        ({"max_export_batch_size": 0}, "max_export_batch_size"),
        ({"max_queue_size": 10, "max_export_batch_size": 11}, "larger than"),
        ({"export_timeout_millis": -1}, "export_timeout_millis"),
        ({"export_timeout_millis": 1.5}, "1.5"),
        ({"max_queue_size": MAX_QUEUE_SIZE + 1}, "max_queue_size"),
        ({"export_timeout_millis": 2**63 - 1}, "export_timeout_millis"),
    ],
)
def test_an_invalid_explicit_argument_raises_value_error_naming_it(
    kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        LambdaSpanProcessor(ScriptedExporter(), **kwargs)  # type: ignore[arg-type]


def test_parse_mode_accepts_members_and_names() -> None:
    assert parse_mode(ProcessorMode.FINALIZE) is ProcessorMode.FINALIZE
    assert parse_mode("Async") is ProcessorMode.ASYNC


def test_processor_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "sync")
    monkeypatch.setenv(QUEUE_SIZE_ENV, "32")
    p = LambdaSpanProcessor(ScriptedExporter())
    try:
        assert p.mode is ProcessorMode.SYNC
        assert p.settings.max_queue_size == 32
        assert p.settings.max_export_batch_size == 32
    finally:
        p.shutdown()


def test_settings_are_frozen() -> None:
    s = load_settings({})
    with pytest.raises(AttributeError):
        s.mode = ProcessorMode.SYNC  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:9001", "127.0.0.1:9001"),
        ("localhost:8080", "localhost:8080"),
        ("[::1]:9001", "[::1]:9001"),
        (" 169.254.100.1:9001 ", "169.254.100.1:9001"),
        ("", None),
        (None, None),
    ],
)
def test_the_runtime_api_must_be_host_and_port(raw: str | None, expected: str | None) -> None:
    assert parse_runtime_api(raw) == expected


@pytest.mark.parametrize(
    "raw", ["http://127.0.0.1:9001", "127.0.0.1", "host:0", "host:99999", "a b:1", "evil.com:80/x"]
)
def test_a_bad_runtime_api_is_refused_with_one_warning(
    caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_runtime_api(raw) is None
        assert parse_runtime_api(raw) is None
    assert len(caplog.records) == 1 and "AWS_LAMBDA_RUNTIME_API" in caplog.text


def test_the_lambda_environment_is_read_in_one_place() -> None:
    env = {
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "Lambda-Managed-Instances",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    }
    lambda_env = load_lambda_environment(env)
    assert lambda_env.in_lambda and lambda_env.managed_instances and not lambda_env.snap_start
    assert lambda_env.execution_env == "AWS_Lambda_python3.12"
    assert not load_lambda_environment({}).in_lambda


@pytest.mark.parametrize(
    ("ours", "sdks", "field"),
    [
        ("LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE", "max_queue_size"),
        (
            "LAMBDA_SPAN_PROCESSOR_BATCH_SIZE",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "max_export_batch_size",
        ),
        (
            "LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT",
            "OTEL_BSP_EXPORT_TIMEOUT",
            "export_timeout_millis",
        ),
    ],
)
def test_the_sdks_batch_processor_variables_apply_below_ours_and_above_the_defaults(
    ours: str, sdks: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert getattr(config.load_settings({sdks: "300"}), field) == 300
    assert getattr(config.load_settings({sdks: "300", ours: "200"}), field) == 200
    assert getattr(config.load_settings({sdks: "300", ours: " "}), field) == 300
    assert getattr(config.load_settings({sdks: "lots"}), field) == getattr(
        config.load_settings({}), field
    )
    assert f"{sdks}='lots' is not an integer" in caplog.text, "the warning names the SDK's"


def test_the_log_processor_and_metric_reader_honour_the_sdks_variables_too() -> None:
    env = {
        "OTEL_BLRP_MAX_QUEUE_SIZE": "64",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_BLRP_EXPORT_TIMEOUT": "700",
        "OTEL_BSP_MAX_QUEUE_SIZE": "8",  # the spans', not the logs'
        "OTEL_METRIC_EXPORT_TIMEOUT": "900",
    }
    logs = config.load_settings(env, variables=config.LOG_VARIABLES)
    assert (logs.max_queue_size, logs.max_export_batch_size, logs.export_timeout_millis) == (
        64,
        16,
        700,
    )
    assert config.load_metric_reader_settings(env).export_timeout_millis == 900
    assert config.load_settings(env).max_queue_size == 8


# -- sampling ----------------------------------------------------------------------------------
SAMPLE_RATIO_ENV = config.SAMPLE_RATIO_ENV
KEEP_SLOWER_THAN_ENV = config.KEEP_SLOWER_THAN_ENV


def test_sampling_is_off_by_default_every_invocation_kept_no_threshold() -> None:
    s = load_settings({})
    assert (s.sample_ratio, s.keep_slower_than_millis) == (1.0, None)
    assert s == ProcessorSettings(ProcessorMode.ASYNC, 2048, 512, 30000, False, 1.0, None)


@pytest.mark.parametrize(
    ("ratio", "slower", "expected"),
    [
        ("0.1", "250", (0.1, 250.0)),
        (" 0 ", "0", (0.0, 0.0)),
        ("1", "1.5", (1.0, 1.5)),
        (".25", "2e3", (0.25, 2000.0)),
        ("1e-2", "", (0.01, None)),
    ],
)
def test_sampling_settings_come_from_the_environment(
    ratio: str, slower: str, expected: tuple[float, float | None]
) -> None:
    s = load_settings({SAMPLE_RATIO_ENV: ratio, KEEP_SLOWER_THAN_ENV: slower})
    assert (s.sample_ratio, s.keep_slower_than_millis) == expected


def test_explicit_sampling_arguments_win_over_the_environment() -> None:
    env = {SAMPLE_RATIO_ENV: "0.5", KEEP_SLOWER_THAN_ENV: "100"}
    s = load_settings(env, sample_ratio=0, keep_slower_than_millis=7)
    assert (s.sample_ratio, s.keep_slower_than_millis) == (0.0, 7.0)


@pytest.mark.parametrize(
    ("variable", "raw", "used", "field", "expected"),
    [
        (SAMPLE_RATIO_ENV, "half", "using 1 (keep every invocation)", "sample_ratio", 1.0),
        (SAMPLE_RATIO_ENV, "nan", "using 1 (keep every invocation)", "sample_ratio", 1.0),
        (SAMPLE_RATIO_ENV, "10%", "using 1 (keep every invocation)", "sample_ratio", 1.0),
        (SAMPLE_RATIO_ENV, "-0.1", "using 1 (keep every invocation)", "sample_ratio", 1.0),
        (SAMPLE_RATIO_ENV, "1.5", "using 1 instead", "sample_ratio", 1.0),
        (SAMPLE_RATIO_ENV, "٠.٥", "using 1 (keep every invocation)", "sample_ratio", 1.0),
        (KEEP_SLOWER_THAN_ENV, "soon", "no threshold", "keep_slower_than_millis", None),
        (KEEP_SLOWER_THAN_ENV, "inf", "no threshold", "keep_slower_than_millis", None),
        (KEEP_SLOWER_THAN_ENV, "-5", "no threshold", "keep_slower_than_millis", None),
        (KEEP_SLOWER_THAN_ENV, "1e999", "using 86400000", "keep_slower_than_millis", 86_400_000),
    ],
)
def test_a_bad_sampling_value_warns_once_naming_variable_value_and_what_is_used(
    caplog: pytest.LogCaptureFixture,
    variable: str,
    raw: str,
    used: str,
    field: str,
    expected: float | None,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        first = load_settings({variable: raw})
        second = load_settings({variable: raw})
    assert getattr(first, field) == getattr(second, field) == expected
    assert len(caplog.records) == 1, "warned once, not once per construction"
    message = caplog.records[0].getMessage()
    assert variable in message and repr(raw) in message and used in message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"sample_ratio": 1.01}, "sample_ratio"),
        ({"sample_ratio": -0.5}, "-0.5"),
        ({"sample_ratio": float("nan")}, "nan"),
        ({"sample_ratio": True}, "True"),
        ({"sample_ratio": "0.5"}, "'0.5'"),
        ({"keep_slower_than_millis": -1}, "keep_slower_than_millis"),
        ({"keep_slower_than_millis": float("inf")}, "inf"),
        ({"keep_slower_than_millis": 10**9}, "keep_slower_than_millis"),
    ],
)
def test_an_invalid_sampling_argument_raises_value_error_naming_it(
    kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        LambdaSpanProcessor(ScriptedExporter(), **kwargs)  # type: ignore[arg-type]


def test_the_log_processor_never_reads_the_sampling_variables(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {SAMPLE_RATIO_ENV: "oops", KEEP_SLOWER_THAN_ENV: "100"}
    with caplog.at_level(logging.WARNING):
        logs = config.load_settings(env, variables=config.LOG_VARIABLES)
    assert (logs.sample_ratio, logs.keep_slower_than_millis) == (1.0, None)
    assert caplog.records == []


def test_the_processor_reads_the_sampling_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SAMPLE_RATIO_ENV, "0.2")
    monkeypatch.setenv(KEEP_SLOWER_THAN_ENV, "300")
    p = LambdaSpanProcessor(ScriptedExporter(), mode="finalize")
    try:
        assert (p.settings.sample_ratio, p.settings.keep_slower_than_millis) == (0.2, 300.0)
        assert p._sampling is not None and p._sampling.sampler.keep_slower_than_ns == 300_000_000
        assert p.sampled_out_spans == 0
    finally:
        p.shutdown()
