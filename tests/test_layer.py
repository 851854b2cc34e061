"""The Lambda layer end to end (built from this repository, a plain function traced through its
wrapper under the emulator, in a virtual environment with no OpenTelemetry), and its parts: the
wrapper script, the handler module and the builder."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from otel_lambda_processor import lambda_wrapper, layer
from otel_lambda_processor.cold_start import INIT_SPAN
from otel_lambda_processor.testing import LambdaEmulator, OTLPReceiver

from . import events

REPOSITORY = Path(__file__).resolve().parent.parent
WRAPPER_SOURCE = REPOSITORY / "otel_lambda_processor" / "otel-lambda-wrapper"
ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower()
)
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
RUNTIME_CLIENT = ("awslambdaric", "simplejson", "snapshot-restore-py")
NEVER_IN_THE_LAYER = (
    "awslambdaric",
    "boto3",
    "botocore",
    "s3transfer",
    "pytest",
    "_pytest",
    "pluggy",
    "hypothesis",
    "pip",
    "setuptools",
)
WRAPPER_HANDLER = "otel_lambda_processor.lambda_wrapper.handler"

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ARCHITECTURE is None,
    reason="Lambda layers are for Linux on x86_64 or arm64",
)


# -- the layer, built once per test session ---------------------------------------------------
class Built:
    def __init__(self, zip_path: Path, output: str, root: Path) -> None:
        self.zip_path = zip_path
        self.output = output  # what the command printed
        self.root = root  # the zip unpacked as Lambda does, modes kept


def unpack(zip_path: Path, into: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = archive.extract(info, into)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if not sys.platform.startswith("linux") or ARCHITECTURE is None:
        pytest.skip("Lambda layers are for Linux on x86_64 or arm64")
    where = tmp_path_factory.mktemp("layer")
    zip_path = where / "layer.zip"
    command = [sys.executable, "-m", "otel_lambda_processor", "layer", "--output", str(zip_path)]
    result = subprocess.run(
        [*command, "--architecture", ARCHITECTURE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=where,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    unpack(zip_path, where / "opt")
    return Built(zip_path, result.stdout, where / "opt")


def test_the_zip_has_the_wrapper_at_its_root_and_everything_else_in_python(built: Built) -> None:
    with zipfile.ZipFile(built.zip_path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    wrapper = infos["otel-lambda-wrapper"]
    assert wrapper.create_system == 3, "Unix modes, so that Lambda keeps the executable bit"
    assert (wrapper.external_attr >> 16) & 0o777 == 0o755
    assert os.access(built.root / "otel-lambda-wrapper", os.X_OK)
    assert sorted({name.split("/")[0] for name in infos}) == ["otel-lambda-wrapper", "python"]
    assert "python/otel_lambda_processor/instrumentation/lambda_wrapper.py" in infos
    assert "python/otel_lambda_processor/instrumentation/configurator.py" in infos


def test_the_layer_has_the_runtime_dependencies_for_the_lambda_platform(built: Built) -> None:
    site = built.root / "python"
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    for needed in ("opentelemetry_sdk", "opentelemetry_exporter_otlp_proto_http", "urllib3"):
        assert needed in installed
    assert "otel_lambda_processor" in installed
    natives = sorted(site.rglob("*.so"))
    assert natives, "protobuf has a native module: the platform's wheels were installed"
    assert ARCHITECTURE is not None
    for native in natives:
        header = native.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", native
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[ARCHITECTURE], native


def test_the_layer_leaves_out_what_the_runtime_has_and_what_only_tests_need(built: Built) -> None:
    site = built.root / "python"
    top = {p.name for p in site.iterdir()}
    for name in NEVER_IN_THE_LAYER:
        assert name not in top
        assert not list(site.glob(f"{name}-*.dist-info")), name
    assert "bin" not in top, "no console scripts"
    assert not (site / "otel_lambda_processor" / "testing").exists()
    assert not (site / "otel_lambda_processor" / "demo").exists()
    assert not list(site.rglob("*.pyi")) and not list(site.rglob("*.proto"))


def test_every_module_has_unchecked_hash_bytecode_for_the_target_python(built: Built) -> None:
    site = built.root / "python"
    tag = sys.implementation.cache_tag
    sources = sorted(site.rglob("*.py"))
    assert len(sources) > 100
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        data = pyc.read_bytes()
        assert data[:4] == importlib.util.MAGIC_NUMBER, pyc
        assert int.from_bytes(data[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash"
        assert data[8:16] == importlib.util.source_hash(source.read_bytes()), pyc
    pycs = list(site.rglob("*.pyc"))
    assert len(pycs) == len(sources), "bytecode for the target Python only, and only beside code"


def test_the_printed_sizes_are_the_layers(built: Built) -> None:
    zipped = re.search(r"zipped: +[\d.]+ MiB \(([\d,]+) bytes\)", built.output)
    unzipped = re.search(r"unzipped: +[\d.]+ MiB \(([\d,]+) bytes\)", built.output)
    assert zipped is not None and unzipped is not None, built.output
    with zipfile.ZipFile(built.zip_path) as archive:
        total = sum(info.file_size for info in archive.infolist())
    assert int(zipped.group(1).replace(",", "")) == built.zip_path.stat().st_size
    assert int(unzipped.group(1).replace(",", "")) == total
    assert total < 16 * 1024 * 1024, "the layer stays small"


# -- end to end: a function with no OpenTelemetry code, traced through the wrapper -----------
FUNCTION = textwrap.dedent(
    """
    import os
    import sys

    SEEN = ("_HANDLER", "ORIG_HANDLER", "PYTHONPATH", "OTEL_PYTHON_CONFIGURATOR",
            "OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_METRICS_EXPORTER",
            "OTEL_SERVICE_NAME", "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE")


    def handler(event, context):
        package = sys.modules.get("otel_lambda_processor")
        return {
            "statusCode": 201,
            "body": "created",
            "package": getattr(package, "__file__", None),
            "environment": {name: os.environ.get(name) for name in SEEN},
        }
    """
)

# Like the managed runtime's bootstrap: the handler comes from _HANDLER, the task root first.
BOOTSTRAP = textwrap.dedent(
    """
    import os
    import sys

    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    from awslambdaric.__main__ import main

    main([sys.argv[0], os.environ["_HANDLER"]])
    """
)


def plain_virtual_environment(where: Path) -> Path:
    """A virtual environment with AWS's runtime client and nothing else (copied from this one's
    installed files, which the same base interpreter can load)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name in RUNTIME_CLIENT:
        distribution = metadata.distribution(name)
        for file in distribution.files or []:
            relative = Path(str(file))
            source = Path(str(distribution.locate_file(file)))
            if relative.is_absolute() or ".." in relative.parts or not source.is_file():
                continue
            target = Path(purelib) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return python


def bytecode_state(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*.pyc")}


@linux_only
@pytest.mark.parametrize("runtime_command", ["managed", "container"])
def test_a_function_with_no_opentelemetry_code_is_traced_through_the_layer(
    built: Built,
    receiver: OTLPReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runtime_command: str,
) -> None:
    """``managed``: the handler comes from ``_HANDLER``, as in Lambda's managed runtimes;
    ``container``: from the runtime client's last argument, as container images run it."""
    try:
        for name in RUNTIME_CLIENT:
            metadata.distribution(name)
    except metadata.PackageNotFoundError:
        pytest.skip("AWS's runtime client is not installed (it comes with the test extra)")
    python = plain_virtual_environment(tmp_path / "venv")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import awslambdaric, importlib.util as u; "
            "print(u.find_spec('opentelemetry'), u.find_spec('otel_lambda_processor'))",
        ],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
    )
    assert probe.stdout.split() == ["None", "None"], probe.stdout + probe.stderr
    task = tmp_path / "task"
    (task / "orders").mkdir(parents=True)
    (task / "orders" / "app.py").write_text(FUNCTION)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "bootstrap.py").write_text(BOOTSTRAP)
    for name in list(os.environ):
        if name.startswith(("OTEL_", "LAMBDA_", "AWS_", "PYTHON")) or name in (
            "_HANDLER",
            "ORIG_HANDLER",
        ):
            monkeypatch.delenv(name)
    site = built.root / "python"
    before = bytecode_state(built.root)

    with LambdaEmulator(handler="orders/app.handler", function_name="orders-api") as emulator:
        if runtime_command == "managed":
            command = [str(python), str(runtime / "bootstrap.py")]
        else:
            command = [str(python), "-m", "awslambdaric", "orders/app.handler"]
        emulator.launch(
            [str(built.root / "otel-lambda-wrapper"), *command],
            cwd=str(task),
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_endpoint},
        )
        assert emulator.wait_ready(timeout=30), emulator.output
        results = []
        for _ in range(2):
            result = emulator.invoke(events.api_gateway_v2())
            assert result.status == "ok", (result, emulator.output)
            assert emulator.wait_idle(), emulator.output
            results.append(result)
        assert receiver.wait_for_spans(2), emulator.output
        records = emulator.invocations()
        extensions = emulator.extensions()
        shutdown = emulator.shutdown()

    payload = results[0].payload
    assert payload["statusCode"] == 201 and payload["body"] == "created"
    assert payload["package"] == str(site / "otel_lambda_processor" / "__init__.py")
    assert payload["environment"] == {
        "_HANDLER": WRAPPER_HANDLER,
        "ORIG_HANDLER": "orders/app.handler",
        "PYTHONPATH": str(site),
        "OTEL_PYTHON_CONFIGURATOR": "otel_lambda_processor",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "orders-api",
        "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "async",
    }
    assert extensions == [("otel-lambda-processor", ["INVOKE"])], "async mode, coordinator on"

    (init,) = [s for s in receiver.spans if s.name == INIT_SPAN]
    spans = [s for s in receiver.spans if s.name != INIT_SPAN]
    assert [s.name for s in spans] == ["POST /orders/{orderId}"] * 2
    assert init.span.parent_span_id == spans[0].span.span_id, "the cold start, in the first trace"
    for span, result, record, cold in zip(spans, results, records, (True, False), strict=True):
        assert span.attributes["faas.invocation_id"] == result.request_id == record.request_id
        assert span.attributes["faas.coldstart"] is cold
        assert span.attributes["http.response.status_code"] == 201
        assert span.span.trace_id.hex() == events.TRACEPARENT.split("-")[1]
        assert span.scope_name == "otel_lambda_processor"
        assert span.resource["service.name"] == "orders-api"
        assert span.resource["faas.name"] == "orders-api"
        assert span.resource["cloud.provider"] == "aws"
        assert record.response is not None and span.received_at > record.response, (
            "exported after the response"
        )
        assert record.post_response is not None and record.post_response > 0
    assert shutdown.sigterm_sent and not shutdown.killed
    assert "Traceback" not in emulator.output, emulator.output
    assert bytecode_state(built.root) == before, "the layer's bytecode was used, none written"


# -- the wrapper script ----------------------------------------------------------------------
SHOW = (
    "import json, os, sys; print(json.dumps({'pid': os.getpid(), 'argv': sys.argv[1:], "
    "'env': {k: os.environ.get(k) for k in ('PYTHONPATH', '_HANDLER', 'ORIG_HANDLER')}}))"
)


def fake_layer(where: Path, *, with_python: bool = True) -> Path:
    where.mkdir(parents=True)
    wrapper = where / "otel-lambda-wrapper"
    shutil.copyfile(WRAPPER_SOURCE, wrapper)
    wrapper.chmod(0o755)
    if with_python:
        (where / "python").mkdir()
    return wrapper


def run_wrapper(
    wrapper: Path | str, *command: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, Any], str]:
    environment = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    process = subprocess.Popen(
        [str(wrapper), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    out, err = process.communicate(timeout=30)
    shown = json.loads(out) if out.strip().startswith("{") else {}
    return process, shown, err


@linux_only
def test_the_wrapper_sets_the_path_and_the_handler_and_execs_the_command(tmp_path: Path) -> None:
    wrapper = fake_layer(tmp_path / "layer")
    process, shown, err = run_wrapper(
        wrapper,
        sys.executable,
        "-c",
        SHOW,
        "app.handler",
        "last",
        env={"_HANDLER": "app.handler", "PYTHONPATH": "/var/task/lib"},
    )
    assert process.returncode == 0, err
    assert err == ""
    assert shown["pid"] == process.pid, "exec: the command replaces the wrapper's process"
    assert shown["env"] == {
        "PYTHONPATH": f"{tmp_path / 'layer' / 'python'}:/var/task/lib",
        "_HANDLER": WRAPPER_HANDLER,
        "ORIG_HANDLER": "app.handler",
    }
    assert shown["argv"] == ["app.handler", "last"], "only a last argument names the handler"


@linux_only
def test_the_wrapper_swaps_a_handler_given_as_the_last_argument(tmp_path: Path) -> None:
    wrapper = fake_layer(tmp_path / "layer")
    _, shown, _ = run_wrapper(
        wrapper,
        sys.executable,
        "-c",
        SHOW,
        "with spaces",
        "src/app.handler",
        env={"_HANDLER": "src/app.handler"},
    )
    assert shown["argv"] == ["with spaces", WRAPPER_HANDLER]
    assert shown["env"]["PYTHONPATH"] == str(tmp_path / "layer" / "python")
    assert shown["env"]["ORIG_HANDLER"] == "src/app.handler"


@linux_only
def test_the_wrapper_twice_changes_nothing_more(tmp_path: Path) -> None:
    wrapper = fake_layer(tmp_path / "layer")
    _, shown, _ = run_wrapper(
        wrapper, str(wrapper), sys.executable, "-c", SHOW, env={"_HANDLER": "app.handler"}
    )
    assert shown["env"] == {
        "PYTHONPATH": str(tmp_path / "layer" / "python"),
        "_HANDLER": WRAPPER_HANDLER,
        "ORIG_HANDLER": "app.handler",
    }


@linux_only
def test_the_wrapper_finds_its_layer_through_a_symlink(tmp_path: Path) -> None:
    wrapper = fake_layer(tmp_path / "somewhere" / "layer")
    (tmp_path / "bin").mkdir()
    link = tmp_path / "bin" / "otel-lambda-wrapper"
    link.symlink_to(wrapper)
    _, shown, _ = run_wrapper(link, sys.executable, "-c", SHOW, env={"_HANDLER": "app.handler"})
    assert shown["env"]["PYTHONPATH"] == str(tmp_path / "somewhere" / "layer" / "python")


@linux_only
def test_the_wrapper_without_its_python_folder_changes_nothing(tmp_path: Path) -> None:
    wrapper = fake_layer(tmp_path / "layer", with_python=False)
    process, shown, err = run_wrapper(
        wrapper, sys.executable, "-c", SHOW, env={"_HANDLER": "app.handler"}
    )
    assert process.returncode == 0
    assert shown["env"] == {"PYTHONPATH": None, "_HANDLER": "app.handler", "ORIG_HANDLER": None}
    assert "no python/ folder" in err and "without OpenTelemetry" in err


@linux_only
def test_the_wrapper_passes_the_exit_status_on_and_needs_a_command(tmp_path: Path) -> None:
    wrapper = fake_layer(tmp_path / "layer")
    process, _, _ = run_wrapper(wrapper, sys.executable, "-c", "raise SystemExit(7)")
    assert process.returncode == 7
    process, _, err = run_wrapper(wrapper)
    assert process.returncode == 2
    assert "no command to run" in err


# -- the handler module ----------------------------------------------------------------------
@pytest.fixture
def clean_wrapper_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """What ``apply_defaults`` may write starts empty here and is restored afterwards."""
    for name in (*lambda_wrapper.DEFAULTS, "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.setenv(name, "")
    for name in ("ORIG_HANDLER", "OTEL_SDK_DISABLED", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_fill_in_only_what_the_user_left_unset() -> None:
    environ = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "OTEL_LOGS_EXPORTER": "otlp"}
    applied = lambda_wrapper.apply_defaults(environ)
    assert applied == {
        "OTEL_PYTHON_CONFIGURATOR": "otel_lambda_processor",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "async",
        "OTEL_SERVICE_NAME": "orders",
    }
    assert environ["OTEL_LOGS_EXPORTER"] == "otlp", "the user's choice stays"
    assert lambda_wrapper.apply_defaults(environ) == {}, "a second time changes nothing"


def test_an_empty_variable_counts_as_unset() -> None:
    environ = {"OTEL_TRACES_EXPORTER": " ", "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "sync"}
    lambda_wrapper.apply_defaults(environ)
    assert environ["OTEL_TRACES_EXPORTER"] == "otlp"
    assert environ["LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE"] == "sync"
    assert "OTEL_SERVICE_NAME" not in environ, "no function name, no service name"


@pytest.mark.parametrize(
    "attributes", ["service.name=billing", "team=x, service.name = billing ,tier=1"]
)
def test_a_service_name_in_the_resource_attributes_is_kept(attributes: str) -> None:
    environ = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "OTEL_RESOURCE_ATTRIBUTES": attributes}
    lambda_wrapper.apply_defaults(environ)
    assert "OTEL_SERVICE_NAME" not in environ


def test_a_service_name_set_by_the_user_is_kept() -> None:
    environ = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "OTEL_SERVICE_NAME": "checkout"}
    lambda_wrapper.apply_defaults(environ)
    assert environ["OTEL_SERVICE_NAME"] == "checkout"


@pytest.fixture
def functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A task root on sys.path whose modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write_module(root: Path, dotted: str, text: str) -> None:
    path = root.joinpath(*dotted.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.mark.parametrize(
    "name", ["lw_app.handler", "lw_src/lw_orders/app.handler", "lw_src.lw_orders.app.handler"]
)
def test_handler_names_resolve_as_lambda_resolves_them(functions: Path, name: str) -> None:
    write_module(functions, "lw_app", "def handler(event, context):\n    return 'app'\n")
    write_module(
        functions, "lw_src.lw_orders.app", "def handler(event, context):\n    return 'nested'\n"
    )
    expected = "app" if name.startswith("lw_app") else "nested"
    assert lambda_wrapper.resolve_handler(name)({}, None) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("handler", "Bad handler"),
        ("lw_bad.", "Bad handler"),
        (".handler", "Bad handler"),
        ("sys.exit", "built-in module"),
        ("lw_bad.missing", "Handler 'missing' missing on module 'lw_bad'"),
        ("lw_bad.CONSTANT", "Handler 'CONSTANT' missing"),
    ],
)
def test_handler_names_that_name_nothing_callable_say_so(
    functions: Path, name: str, message: str
) -> None:
    write_module(functions, "lw_bad", "CONSTANT = 1\n")
    with pytest.raises(lambda_wrapper.HandlerError, match=re.escape(message)):
        lambda_wrapper.resolve_handler(name)


def test_errors_in_the_functions_module_propagate_unchanged(functions: Path) -> None:
    write_module(functions, "lw_raises", "raise ValueError('bad config')\n")
    with pytest.raises(ValueError, match="bad config"):
        lambda_wrapper.resolve_handler("lw_raises.handler")
    with pytest.raises(ModuleNotFoundError):
        lambda_wrapper.resolve_handler("lw_nowhere.handler")
    write_module(functions, "lw_attribute", "import os\nos.nothing_here\n")
    with pytest.raises(lambda_wrapper.HandlerError, match="AttributeError") as raised:
        lambda_wrapper.resolve_handler("lw_attribute.handler")
    assert isinstance(raised.value.__cause__, AttributeError), "not taken for a missing handler"


def test_without_orig_handler_the_wrapper_says_what_to_set(
    clean_wrapper_environment: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(lambda_wrapper.HandlerError, match="AWS_LAMBDA_EXEC_WRAPPER"):
        lambda_wrapper.load()
    clean_wrapper_environment.setenv("ORIG_HANDLER", WRAPPER_HANDLER)
    with pytest.raises(lambda_wrapper.HandlerError, match="this wrapper itself"):
        lambda_wrapper.load()
    with pytest.raises(AttributeError):
        lambda_wrapper.something_else  # noqa: B018


def test_with_the_sdk_disabled_the_handler_is_served_as_it_is(
    functions: Path, clean_wrapper_environment: pytest.MonkeyPatch
) -> None:
    write_module(functions, "lw_plain", "def handler(event, context):\n    return 1\n")
    clean_wrapper_environment.setenv("ORIG_HANDLER", "lw_plain.handler")
    clean_wrapper_environment.setenv("OTEL_SDK_DISABLED", "TRUE")
    import lw_plain  # type: ignore[import-not-found]

    assert lambda_wrapper.load() is lw_plain.handler


HANDLER_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from opentelemetry import trace
    from otel_lambda_processor import lambda_wrapper
    import app

    handler = lambda_wrapper.handler
    print("wrapped:", getattr(handler, "__wrapped__", None) is app.handler)
    processors = getattr(trace.get_tracer_provider(), "_active_span_processor", None)
    processors = getattr(processors, "_span_processors", ())
    print("processors:", [type(p).__name__ for p in processors])
    print("exporter:", [type(p.span_exporter).__module__ for p in processors])
    print("result:", handler({"n": 1}, None))
    trace.get_tracer_provider().force_flush() if processors else None
    """
)


def run_handler_module(
    tmp_path: Path, receiver: OTLPReceiver, **variables: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return event['n'] + 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "LAMBDA_"))}
    env.update(
        {
            "ORIG_HANDLER": "app.handler",
            "AWS_LAMBDA_FUNCTION_NAME": "orders",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_endpoint,
            **variables,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", HANDLER_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("configurator", ["", "otel_lambda_processor", "not-installed"])
def test_the_handler_module_sets_up_what_the_configurator_sets_up(
    tmp_path: Path, receiver: OTLPReceiver, configurator: str
) -> None:
    result = run_handler_module(tmp_path, receiver, OTEL_PYTHON_CONFIGURATOR=configurator)
    assert result.returncode == 0, result.stderr
    assert "wrapped: True" in result.stdout
    assert "processors: ['LambdaSpanProcessor']" in result.stdout
    assert "exporter: ['otel_lambda_processor.otlp.exporter']" in result.stdout
    assert "result: 2" in result.stdout
    assert receiver.wait_for_spans(1)
    assert receiver.spans[0].resource["service.name"] == "orders"
    assert ("no such configurator" in result.stderr) == (configurator == "not-installed")


def test_a_failed_set_up_leaves_the_function_working_untraced(
    tmp_path: Path, receiver: OTLPReceiver
) -> None:
    result = run_handler_module(tmp_path, receiver, OTEL_TRACES_EXPORTER="no_such_exporter")
    assert result.returncode == 0, result.stderr
    assert "OpenTelemetry set-up failed" in result.stderr
    assert "wrapped: False" in result.stdout and "result: 2" in result.stdout


# -- the builder's parts ---------------------------------------------------------------------
def test_platform_tags_follow_the_runtimes_amazon_linux() -> None:
    arm = layer.platforms((3, 12), "arm64")
    assert arm[0] == "manylinux_2_34_aarch64" and "manylinux2014_aarch64" in arm
    assert all(tag.endswith("_aarch64") for tag in arm)
    older = layer.platforms((3, 11), "x86_64")
    assert older[0] == "manylinux_2_26_x86_64" and older[-1] == "manylinux2014_x86_64"
    assert "manylinux_2_17_x86_64" in older
    with pytest.raises(layer.LayerError, match="x86_64 or arm64"):
        layer.platforms((3, 12), "aarch64")


@pytest.mark.parametrize("text", ["3.9", "2.7", "3", "3.12.1", "three", ""])
def test_python_versions_are_major_dot_minor_from_3_10(text: str) -> None:
    with pytest.raises(layer.LayerError, match="--python-version"):
        layer.parse_python_version(text)


def test_python_version_parsing() -> None:
    assert layer.parse_python_version("3.12") == (3, 12)
    assert layer.parse_python_version(" 3.10 ") == (3, 10)


def test_the_running_interpreter_compiles_for_its_own_version() -> None:
    version = (sys.version_info[0], sys.version_info[1])
    found = layer.find_interpreter(version)
    assert found is not None
    assert layer._interpreter_version(found) == version
    assert layer.find_interpreter((3, 99)) is None


@pytest.mark.parametrize("minor", [10, 11, 12, 13])
def test_an_interpreter_found_for_another_version_is_of_that_version(minor: int) -> None:
    found = layer.find_interpreter((3, minor))  # pyenv's shims of other versions fail: skipped
    if found is not None:
        assert layer._interpreter_version(found) == (3, minor), found


def run_layer_command(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_lambda_processor", "layer", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_without_an_interpreter_of_the_target_version_the_build_refuses(tmp_path: Path) -> None:
    result = run_layer_command("--output", "layer.zip", "--python-version", "3.99", cwd=tmp_path)
    assert result.returncode == 1
    assert "no Python 3.99 interpreter found" in result.stderr
    assert "--no-compile" in result.stderr and "--python PATH" in result.stderr
    assert not (tmp_path / "layer.zip").exists()
    result = run_layer_command(
        "--output",
        "layer.zip",
        "--python-version",
        "3.99",
        "--python",
        sys.executable,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "is not a CPython 3.99" in result.stderr


def make_distribution(site: Path, name: str, files: dict[str, str]) -> None:
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for relative, text in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    record = [f"{relative},," for relative in files]
    record += [f"{dist_info.name}/METADATA,,", f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


def test_trimming_removes_the_runtimes_packages_by_their_record(tmp_path: Path) -> None:
    site = tmp_path / "python"
    make_distribution(
        site,
        "boto3",
        {"boto3/__init__.py": "", "boto3/data/x.json": "{}", "../outside.txt": "not the layer's"},
    )
    make_distribution(site, "Py_Test", {"pytest/__init__.py": ""})  # not an excluded name
    make_distribution(site, "PyTest", {"pytest2/__init__.py": ""})
    make_distribution(site, "opentelemetry-api", {"opentelemetry/trace/__init__.py": ""})
    make_distribution(site, "protobuf", {"google/protobuf/x.pyi": "", "google/a.proto": ""})
    package = site / "otel_lambda_processor"
    (package / "testing").mkdir(parents=True)
    (package / "testing" / "__init__.py").write_text("")
    (package / "demo").mkdir()
    (package / "demo" / "__init__.py").write_text("")
    (package / "handler.py").write_text("")
    (site / "bin").mkdir()
    (site / "bin" / "script").write_text("")
    (site / "lib" / "__pycache__").mkdir(parents=True)
    (site / "lib" / "__pycache__" / "x.cpython-39.pyc").write_bytes(b"")

    removed = layer.trim(site)

    assert removed == ["PyTest", "boto3"]
    left = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert left == {
        "opentelemetry-api-1.0.dist-info/METADATA",
        "opentelemetry-api-1.0.dist-info/RECORD",
        "opentelemetry/trace/__init__.py",
        "otel_lambda_processor/handler.py",
        "protobuf-1.0.dist-info/METADATA",
        "protobuf-1.0.dist-info/RECORD",
        "Py_Test-1.0.dist-info/METADATA",
        "Py_Test-1.0.dist-info/RECORD",
        "pytest/__init__.py",
    }
    assert not (site / "boto3").exists(), "folders left empty go too"
    assert (tmp_path / "outside.txt").exists(), "nothing outside python/ is touched"


def test_the_zip_is_reproducible_and_keeps_the_executable_bit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "python" / "pkg").mkdir(parents=True)
    (root / "python" / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "tool").write_text("#!/bin/sh\n")
    (root / "tool").chmod(0o755)
    first = layer.write_zip(root, tmp_path / "a.zip")
    layer.write_zip(root, tmp_path / "b.zip")
    assert first == (2, len("x = 1\n") + len("#!/bin/sh\n"), 0)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
    assert modes == {"python/pkg/__init__.py": 0o644, "tool": 0o755}


def fake_install(site_modules: dict[str, str]) -> Any:
    """A stand-in for pip: "installs" a package tree and a runtime package into --target."""

    def pip(arguments: list[str], what: str) -> None:
        site = Path(arguments[arguments.index("--target") + 1])
        make_distribution(site, "otel-lambda-processor", site_modules)
        make_distribution(site, "awslambdaric", {"awslambdaric/__init__.py": ""})

    return pip


@pytest.mark.parametrize("compile_bytecode", [True, False])
def test_the_build_puts_the_parts_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compile_bytecode: bool
) -> None:
    modules = {
        "otel_lambda_processor/__init__.py": "",
        "otel_lambda_processor/lambda_wrapper.py": "handler = None\n",
        "otel_lambda_processor/otel-lambda-wrapper": WRAPPER_SOURCE.read_text(),
    }
    monkeypatch.setattr(layer, "_pip", fake_install(modules))
    said: list[str] = []
    wheel = tmp_path / "fake.whl"
    wheel.write_bytes(b"")
    report = layer.build_layer(
        tmp_path / "out" / "layer.zip",
        architecture="arm64",
        package=str(wheel),
        compile_bytecode_files=compile_bytecode,
        say=said.append,
    )
    with zipfile.ZipFile(report.output) as archive:
        names = sorted(archive.namelist())
        total = sum(i.file_size for i in archive.infolist())
    tag = sys.implementation.cache_tag
    expected = [
        "otel-lambda-wrapper",
        "python/otel-lambda-processor-1.0.dist-info/METADATA",
        "python/otel-lambda-processor-1.0.dist-info/RECORD",
        "python/otel_lambda_processor/__init__.py",
        "python/otel_lambda_processor/lambda_wrapper.py",
        "python/otel_lambda_processor/otel-lambda-wrapper",
    ]
    if compile_bytecode:
        expected += [
            f"python/otel_lambda_processor/__pycache__/__init__.{tag}.pyc",
            f"python/otel_lambda_processor/__pycache__/lambda_wrapper.{tag}.pyc",
        ]
    assert names == sorted(expected)
    assert report.unzipped_bytes == total and report.zipped_bytes == report.output.stat().st_size
    assert report.bytecode_files == (2 if compile_bytecode else 0)
    assert report.architecture == "arm64"
    assert report.distributions == ["otel-lambda-processor 1.0"]
    assert (report.compiled_with is not None) == compile_bytecode
    warned = any("WARNING: --no-compile" in line for line in said)
    assert warned != compile_bytecode
    assert "--compatible-architectures arm64" in said[-1]


def test_the_command_line_says_its_version() -> None:
    import subprocess
    import sys

    import otel_lambda_processor

    result = subprocess.run(
        [sys.executable, "-m", "otel_lambda_processor", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"otel-lambda-processor {otel_lambda_processor.__version__} ")
