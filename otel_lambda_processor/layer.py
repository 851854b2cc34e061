"""``python -m otel_lambda_processor layer``: a Lambda layer zip of this package and its
dependencies for Lambda's platform, with hash-based bytecode for the target Python (``/opt`` is
read-only: without it every cold start compiles), and ``otel-lambda-wrapper`` at its root."""

from __future__ import annotations

import csv
import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Lambda's names for its instruction sets, and the wheel platform suffix of each.
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
WRAPPER = "otel-lambda-wrapper"
PACKAGE = "otel-lambda-processor"
#: Distributions never shipped: the managed runtimes have them (AWS's runtime client, the AWS
#: SDK and the SnapStart hooks), or only builds and tests use them.
EXCLUDED_DISTRIBUTIONS = frozenset(
    {
        "awslambdaric",
        "boto3",
        "botocore",
        "s3transfer",
        "snapshot-restore-py",
        "pytest",
        "pluggy",
        "iniconfig",
        "hypothesis",
        "trustme",
        "coverage",
        "pip",
        "setuptools",
        "wheel",
    }
)
#: Parts of this package that only tests and the demo use.
EXCLUDED_PACKAGE_PARTS = ("testing", "demo", "demo_function.py")
#: Files nothing imports at run time: type stubs and protobuf schema sources.
EXCLUDED_SUFFIXES = (".pyi", ".proto")
#: Where Lambda unpacks layers: the path recorded in the bytecode (Python corrects it on load
#: should the layer sit elsewhere).
LAYER_ROOT = "/opt"
#: The highest glibc of the runtimes' Amazon Linux: 2 for Python 3.10 and 3.11, 2023 after.
_GLIBC_AL2 = 26
_GLIBC_AL2023 = 34
#: Zip entries' time: a fixed one, so that the same inputs give the same zip.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class LayerError(Exception):
    """The layer cannot be built; the message says why and what to do."""


@dataclass
class LayerReport:
    """What was built."""

    output: Path
    python_version: str
    architecture: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    bytecode_files: int
    compiled_with: str | None  # the interpreter that compiled the bytecode; None: not compiled
    distributions: list[str] = field(default_factory=list)  # "name version", sorted


def parse_python_version(text: str) -> tuple[int, int]:
    """``"3.12"`` → ``(3, 12)``; anything else but a Python 3.10+ ``major.minor`` raises."""
    match = re.fullmatch(r"\s*3\.(\d{1,2})\s*", text)
    if match is None or int(match.group(1)) < 10:
        raise LayerError(f"--python-version {text!r}: expected 3.10 or later, as 3.12")
    return 3, int(match.group(1))


def platforms(python_version: tuple[int, int], architecture: str) -> list[str]:
    """The wheel platform tags that run on the Lambda runtime for this Python: manylinux up to
    the glibc of its Amazon Linux, newest first (pip matches ``--platform`` tags exactly)."""
    if architecture not in ARCHITECTURES:
        raise LayerError(f"--architecture {architecture!r}: expected x86_64 or arm64")
    arch = ARCHITECTURES[architecture]
    newest = _GLIBC_AL2023 if python_version >= (3, 12) else _GLIBC_AL2
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)]
    tags.append(f"manylinux2014_{arch}")
    return tags


# -- the interpreter that compiles the bytecode ------------------------------------------------
def _interpreter_version(executable: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a CPython interpreter, ``None`` if it is not one or does not run."""
    probe = "import sys; print(sys.implementation.name, *sys.version_info[:2])"
    try:
        result = subprocess.run(
            [executable, "-I", "-c", probe], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = result.stdout.split()
    if result.returncode != 0 or len(words) != 3 or words[0] != "cpython":
        return None
    return int(words[1]), int(words[2])


def _candidates(version: tuple[int, int]) -> Iterator[str]:
    name = f"python{version[0]}.{version[1]}"
    yield sys.executable
    found = shutil.which(name)
    if found:
        yield found
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    uv_root = os.path.expanduser("~/.local/share/uv/python")
    patterns = [
        os.path.join(pyenv_root, "versions", f"{version[0]}.{version[1]}.*", "bin", name),
        os.path.join(uv_root, f"cpython-{version[0]}.{version[1]}.*", "bin", name),
        f"/usr/local/bin/{name}",
        f"/usr/bin/{name}",
    ]
    for pattern in patterns:
        yield from sorted(glob.glob(pattern), reverse=True)


def find_interpreter(version: tuple[int, int]) -> str | None:
    """A CPython ``major.minor`` interpreter: this one if it matches, else ``pythonX.Y`` on the
    PATH, pyenv's and uv's installations, ``/usr/local/bin`` and ``/usr/bin``."""
    if sys.implementation.name == "cpython" and sys.version_info[:2] == version:
        return sys.executable
    seen: set[str] = set()
    for candidate in _candidates(version):
        if candidate in seen:
            continue
        seen.add(candidate)
        if _interpreter_version(candidate) == version:
            return candidate
    return None


# -- the package to put in the layer -----------------------------------------------------------
def _checkout() -> Path | None:
    """The source checkout this module runs from, if it runs from one."""
    root = Path(__file__).resolve().parent.parent
    setup_cfg = root / "setup.cfg"
    try:
        text = setup_cfg.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if re.search(rf"^name\s*=\s*{PACKAGE}\s*$", text, re.MULTILINE) else None


def default_package() -> str:
    """This checkout when running from one, else this version from the package index."""
    checkout = _checkout()
    if checkout is not None:
        return str(checkout)
    from . import __version__

    return f"{PACKAGE}=={__version__}"


def _ignore_in_source(directory: str, names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if name.startswith(".")
        or name in {"__pycache__", "build", "dist", "node_modules"}
        or name.endswith((".egg-info", ".pyc"))
    }


def _pip(arguments: Sequence[str], what: str) -> None:
    command = [sys.executable, "-m", "pip", *arguments]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise LayerError(f"{what} failed (pip exit code {result.returncode}):\n{output}")


def _wheel_or_requirement(package: str, work: Path) -> str:
    """A source folder becomes a wheel (built from a copy, so the folder is left untouched); a
    wheel file or a requirement is used as it is."""
    path = Path(package)
    if not path.is_dir():
        return str(path.resolve()) if path.is_file() else package
    source = work / "source"
    shutil.copytree(path, source, ignore=_ignore_in_source)
    wheels = work / "wheels"
    _pip(
        ["wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(source)],
        f"building a wheel of {path}",
    )
    built = sorted(wheels.glob("*.whl"))
    if len(built) != 1:
        raise LayerError(f"building a wheel of {path} gave {[w.name for w in built]}")
    return str(built[0])


# -- trimming -----------------------------------------------------------------------------------
def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(dist_info: Path) -> tuple[str, str]:
    name = version = ""
    try:
        lines = (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return dist_info.name.split("-")[0], ""
    for line in lines.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        if key == "Name":
            name = value.strip()
        elif key == "Version":
            version = value.strip()
    return name, version


def remove_distribution(site: Path, dist_info: Path) -> None:
    """Remove an installed distribution: the files its RECORD lists (inside ``site`` only), its
    metadata, and the folders that leaves empty."""
    site = site.resolve()
    record = dist_info / "RECORD"
    folders: set[Path] = set()
    if record.is_file():
        text = record.read_text(encoding="utf-8", errors="replace")
        for row in csv.reader(text.splitlines()):
            if not row or not row[0]:
                continue
            target = (site / row[0]).resolve()
            if site not in target.parents or not target.is_file():
                continue
            target.unlink()
            folders.update(p for p in target.parents if site in p.parents)
    shutil.rmtree(dist_info, ignore_errors=True)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def trim(site: Path) -> list[str]:
    """Take out of an installed ``python/`` folder what the layer must not ship; returns the
    distributions taken out."""
    removed: list[str] = []
    for dist_info in sorted(site.glob("*.dist-info")):
        name, _ = _metadata(dist_info)
        if _normalized(name) in EXCLUDED_DISTRIBUTIONS:
            remove_distribution(site, dist_info)
            removed.append(name)
    for generated in ("bin", "__pycache__"):  # console scripts; bytecode not ours to trust
        shutil.rmtree(site / generated, ignore_errors=True)
    for pycache in list(site.rglob("__pycache__")):
        shutil.rmtree(pycache, ignore_errors=True)
    package = site / "otel_lambda_processor"
    for part in EXCLUDED_PACKAGE_PARTS:
        path = package / part
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for path in list(site.rglob("*")):
        if path.suffix in EXCLUDED_SUFFIXES and path.is_file():
            path.unlink()
    return removed


# -- bytecode and the zip ------------------------------------------------------------------------
def compile_bytecode(interpreter: str, site: Path) -> None:
    """Hash-based ``.pyc`` beside every module, never checked against the source: timestamps
    change when Lambda unzips the layer, and ``/opt`` cannot be written to refresh them."""
    command = [
        interpreter,
        "-I",
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(site.parent),
        "-p",
        LAYER_ROOT,
        str(site),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise LayerError(f"compiling the bytecode with {interpreter} failed:\n{output}")


def write_zip(root: Path, output: Path) -> tuple[int, int, int]:
    """Zip ``root``'s contents (sorted, fixed times, Unix modes kept: the wrapper stays
    executable); returns (files, unzipped bytes, bytecode files)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    unzipped = bytecode = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            name = path.relative_to(root).as_posix()
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.create_system = 3  # Unix: the mode bits below are honoured
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            archive.writestr(info, data, compresslevel=9)
            unzipped += len(data)
            bytecode += name.endswith(".pyc")
    partial.replace(output)
    return len(files), unzipped, bytecode


def build_layer(
    output: str | os.PathLike[str],
    *,
    python_version: str | None = None,
    architecture: str = "x86_64",
    package: str | None = None,
    interpreter: str | None = None,
    compile_bytecode_files: bool = True,
    say: Callable[[str], None] = print,
) -> LayerReport:
    """Build the layer zip at ``output``; see the module's docstring. ``package`` is a source
    folder, a wheel or a requirement (default: :func:`default_package`); ``interpreter`` the
    Python that compiles the bytecode (default: :func:`find_interpreter`)."""
    version = parse_python_version(python_version) if python_version else sys.version_info[:2]
    version_text = f"{version[0]}.{version[1]}"
    tags = platforms((version[0], version[1]), architecture)
    compiler: str | None = None
    if compile_bytecode_files:
        if interpreter is not None:
            if _interpreter_version(interpreter) != version:
                raise LayerError(f"--python {interpreter} is not a CPython {version_text}")
            compiler = interpreter
        else:
            compiler = find_interpreter((version[0], version[1]))
        if compiler is None:
            raise LayerError(
                f"no Python {version_text} interpreter found to compile the layer's bytecode "
                f"(looked at this one, python{version_text} on the PATH, pyenv, uv, /usr/local/bin "
                f"and /usr/bin). Install Python {version_text}, name one with --python PATH, or "
                "build without bytecode with --no-compile (then every cold start compiles the "
                "layer's modules, about a second more)."
            )
    package = package or default_package()
    with tempfile.TemporaryDirectory(prefix="otel-lambda-layer-") as work_dir:
        work = Path(work_dir)
        say(f"building the layer for Python {version_text} on {architecture} from {package}")
        requirement = _wheel_or_requirement(package, work)
        root = work / "layer"
        site = root / "python"
        platform_options = [option for tag in tags for option in ("--platform", tag)]
        _pip(
            [
                "install",
                "--quiet",
                "--target",
                str(site),
                *platform_options,
                "--implementation",
                "cp",
                "--python-version",
                version_text,
                "--only-binary=:all:",
                "--no-compile",
                "--no-warn-conflicts",
                "--no-warn-script-location",
                requirement,
            ],
            f"installing {requirement} for Python {version_text} on {architecture}",
        )
        installed = site / "otel_lambda_processor"
        script = installed / WRAPPER
        # The handler module: in instrumentation/ since the layout by layer, at the top before.
        handlers = ("instrumentation/lambda_wrapper.py", "lambda_wrapper.py")
        if not any((installed / handler).is_file() for handler in handlers):
            raise LayerError(f"{requirement} has no lambda_wrapper module: too old for a layer")
        if not script.is_file():
            raise LayerError(f"{requirement} has no {WRAPPER} script: too old for a layer")
        trim(site)
        shutil.copyfile(script, root / WRAPPER)
        (root / WRAPPER).chmod(0o755)
        if compiler is not None:
            say(f"compiling bytecode (unchecked-hash) with {compiler}")
            compile_bytecode(compiler, site)
        else:
            say(
                "WARNING: --no-compile: the layer has no bytecode; every cold start compiles "
                "its modules (about a second more)"
            )
        distributions = sorted(
            " ".join(_metadata(dist_info)) for dist_info in site.glob("*.dist-info")
        )
        target = Path(output)
        files, unzipped, bytecode = write_zip(root, target)
    report = LayerReport(
        output=target,
        python_version=version_text,
        architecture=architecture,
        zipped_bytes=target.stat().st_size,
        unzipped_bytes=unzipped,
        files=files,
        bytecode_files=bytecode,
        compiled_with=compiler,
        distributions=distributions,
    )
    say(describe(report))
    return report


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB ({size:,} bytes)"


def describe(report: LayerReport) -> str:
    """The summary printed after a build."""
    lines = [
        f"layer: {report.output}",
        f"  zipped:   {_mib(report.zipped_bytes)}",
        f"  unzipped: {_mib(report.unzipped_bytes)} in {report.files} files, "
        f"{report.bytecode_files} of them bytecode "
        f"(Lambda allows 250 MiB unzipped for a function and all its layers)",
        f"  runtime:  python{report.python_version}, architecture {report.architecture}",
        "  contents: " + ", ".join(report.distributions),
        "  use:      AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-lambda-wrapper and "
        "OTEL_EXPORTER_OTLP_ENDPOINT=<your collector>",
        "  publish:  aws lambda publish-layer-version --layer-name otel-lambda-processor "
        f"--zip-file fileb://{report.output} --compatible-runtimes "
        f"python{report.python_version} --compatible-architectures {report.architecture}",
    ]
    return "\n".join(lines)
