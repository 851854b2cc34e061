"""The distributions are complete: the sdist carries its tests and they run from it; the wheel
carries the license, the typing marker and the layer wrapper."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, built as the README says (setuptools' own backend, no extra tool)."""
    out = tmp_path_factory.mktemp("sdist")
    code = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out / result.stdout.strip().splitlines()[-1]


def test_the_sdist_carries_the_license_the_suites_and_the_readme(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for expected in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "tox.ini",
        "tests/conftest.py",
        "conformance/harness.py",
        "benchmarks/run.py",
        "otel_lambda_processor/otel-lambda-wrapper",
    ):
        assert expected in names, expected
    assert not any(name.endswith(".pyc") for name in names)


def test_tests_run_from_the_unpacked_sdist_against_its_own_package(
    sdist: Path, tmp_path: Path
) -> None:
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (tree,) = tmp_path.iterdir()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    script = (
        "import otel_lambda_processor, sys; "
        "assert otel_lambda_processor.__file__.startswith(sys.argv[1]), "
        "otel_lambda_processor.__file__"
    )
    subprocess.run([sys.executable, "-c", script, str(tree)], env=env, check=True, cwd=tree)
    tests = ["tests/test_config.py", "tests/test_readme.py", "tests/test_buffer.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_the_wheel_carries_the_license_the_typing_marker_and_the_wrapper(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("otel_lambda_processor-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        wrapper = archive.getinfo("otel_lambda_processor/otel-lambda-wrapper")
    assert "otel_lambda_processor/py.typed" in names
    assert any(name.endswith("/LICENSE") for name in names), names
    assert (wrapper.external_attr >> 16) & 0o111, "the wrapper stays executable"
