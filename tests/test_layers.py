"""The package is laid out by layer and its imports run one way: down.

Every import in every module is read with ``ast`` (at module level, inside functions and under
``TYPE_CHECKING`` alike) and must go to the module's own layer or to one below it. Two groups side
by side in one layer (the processors and the extension) meet only through the signals: neither
imports the other. The old flat paths are for users; inside the package the new ones are used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import otel_lambda_processor

PACKAGE = "otel_lambda_processor"
ROOT = Path(otel_lambda_processor.__file__).parent

#: From the bottom up; a group is the first name under the package ("" is the package itself, its
#: public API). A module may import its own group and every group of a lower layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("signals",),  # the seam: lifecycle signals and their hub; imports nothing of ours
    ("environment",),  # Lambda's variables, SDK disabled, the warn-once rule
    ("otlp",),  # encoders and exporters: need nothing above the environment
    ("export",),  # the pipeline the processors share: settings, ring, worker, pipeline
    ("processors", "extension"),  # listen to signals / publish them: never each other
    ("instrumentation",),  # the traced handler, the configurator, the layer's wrapper
    ("",),  # the public API
    ("tools",),  # what no module below may need
)
#: The tools' modules and packages: the command line, the layer builder, the demo, the emulator.
TOOLS = ("__main__", "layer", "demo", "demo_function", "testing")
LAYER = {group: level for level, groups in enumerate(LAYERS) for group in groups}
#: Layers whose ``__init__`` only says what the layer is: importing one loads nothing else.
EMPTY_PACKAGES = ("export", "processors", "extension", "instrumentation")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def is_module(name: str) -> bool:
    return name in MODULES


def group(name: str) -> str:
    first = name.split(".")[1] if name.count(".") else ""
    return "tools" if first in TOOLS else first


def imports(name: str, path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for each of our modules that ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from pkg import module`` imports pkg.module
                target = f"{base}.{alias.name}"
                found.append((node.lineno, target if is_module(target) else base))
    return [(line, target) for line, target in found if target.split(".")[0] == PACKAGE]


def test_every_module_belongs_to_a_layer() -> None:
    assert [name for name in MODULES if group(name) not in LAYER] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_to_the_same_layer_or_below(name: str) -> None:
    here = group(name)
    wrong = []
    for line, target in imports(name, MODULES[name]):
        there = group(target)
        if there not in LAYER:
            wrong.append(f"line {line}: {target} is no module of the package (an old path?)")
        elif LAYER[there] > LAYER[here]:
            wrong.append(f"line {line}: {target} ({there or 'the API'}) is above {here}")
        elif LAYER[there] == LAYER[here] and there != here:
            wrong.append(f"line {line}: {target} ({there}) is beside {here}: use the signals")
    assert wrong == [], f"{name} imports upwards"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_package_imports_itself_by_the_new_paths(name: str) -> None:
    old = {f"{PACKAGE}.{flat}" for flat in otel_lambda_processor._MOVED}
    used = [f"line {line}: {t}" for line, t in imports(name, MODULES[name]) if t in old]
    assert used == []


@pytest.mark.parametrize("package", EMPTY_PACKAGES)
def test_a_layer_package_imports_nothing(package: str) -> None:
    tree = ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree)
    assert docstring and "Layer:" in docstring, "its docstring says what the layer is"
    assert [type(node).__name__ for node in tree.body[1:]] == []


OWNED = sorted(
    name
    for name, path in MODULES.items()
    if group(name) in (*EMPTY_PACKAGES, "signals", "environment") and path.name != "__init__.py"
)


@pytest.mark.parametrize("name", OWNED)
def test_every_module_of_the_layers_says_what_it_owns_and_must_not_touch(name: str) -> None:
    docstring = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))) or ""
    words = " ".join(docstring.split())
    assert "Owns " in words and "must not " in words


def test_the_metric_exporter_and_the_reader_count_data_points_alike() -> None:
    # Each counts on its own side of the layers (the exporter may not import the reader).
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_lambda_processor.otlp.metric_exporter import _data_points
    from otel_lambda_processor.processors.metric_exports import data_points

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader], shutdown_on_exit=False).get_meter("count")
    for kind in ("a", "b", "c"):
        meter.create_counter("calls").add(1, {"kind": kind})
    meter.create_histogram("duration").record(2.5)
    data = reader.get_metrics_data()
    assert data is not None
    assert _data_points(data) == data_points(data) == 4


def test_the_reader_finds_relative_imports_of_modules_and_of_names() -> None:
    # The checks above are only as good as this reading: pin it on known imports.
    found = {t for _, t in imports(f"{PACKAGE}.export.worker", MODULES[f"{PACKAGE}.export.worker"])}
    assert {f"{PACKAGE}.export.buffer", f"{PACKAGE}.otlp"} <= found  # incl. one in a function
    api = {t for _, t in imports(PACKAGE, MODULES[PACKAGE])}
    assert f"{PACKAGE}.extension.coordinator" in api  # lazily, inside a function
    assert f"{PACKAGE}.processors.logs" in api  # under TYPE_CHECKING
    main = {t for _, t in imports(f"{PACKAGE}.__main__", MODULES[f"{PACKAGE}.__main__"])}
    assert PACKAGE in main  # ``from . import __version__``: the package itself


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    source = "def f():\n    from ..instrumentation.handler import traced_handler\n"
    (tmp_path / "probe.py").write_text(source)
    found = imports(f"{PACKAGE}.export.probe", tmp_path / "probe.py")
    assert found == [(2, f"{PACKAGE}.instrumentation.handler")]
    there, here = group(found[0][1]), group(f"{PACKAGE}.export.probe")
    assert LAYER[there] > LAYER[here]
