"""The README's first command: the local demo runs a function under the emulator in every setup,
exports its spans, log records and metrics, prints the table and one invocation's telemetry,
draws the timeline when asked, and cleans up after itself; without awslambdaric it says so in
one line and runs the function under the package's minimal loop, with the same result."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import pytest

from otel_lambda_processor.demo import (
    COLLECTOR_LATENCY,
    INIT_SPANS,
    INVOCATIONS,
    LOGS_PER_INVOCATION,
    METRICS,
    ORDER_VALUES,
    SPANS_PER_INVOCATION,
)

# Run the CLI with these modules missing, as in an environment that does not have them.
WITHOUT = (
    "import sys; sys.modules.update(dict.fromkeys(sys.argv[1].split(','))); "
    "from otel_lambda_processor.__main__ import main; sys.exit(main(sys.argv[2:]))"
)


def run_demo(*args: str, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``python -m otel_lambda_processor demo *args``, as if the modules ``without`` were not
    installed."""
    command = ["-c", WITHOUT, ",".join(without)] if without else ["-m", "otel_lambda_processor"]
    return subprocess.run(
        [sys.executable, *command, "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


AWSLAMBDARIC = sys.platform == "linux" and importlib.util.find_spec("awslambdaric") is not None


# -- what it prints ---------------------------------------------------------------------------
# The demo runs once for these tests; each reads one part of what it printed.

ROW = re.compile(
    r"^(?P<setup>\S.*?) +(?P<p50>[\d.]+) ms +(?P<p95>[\d.]+) ms +(?:(?P<post>[\d.]+) ms|—) +"
    r"(?P<spans>\d+)/(?P<spans_produced>\d+) +(?P<logs>\d+)/(?P<logs_produced>\d+) +"
    r"(?P<points>\d+)/(?P<points_produced>\d+)$"
)
SYNC, ASYNC = "sync", "async"
FINALIZE, USUAL = "finalize + BatchSpanProcessor", "BatchSpanProcessor + force_flush"


class Run(NamedTuple):
    result: subprocess.CompletedProcess[str]
    picture: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo as the Quickstart runs it (with awslambdaric where it is installed)."""
    picture = tmp_path_factory.mktemp("demo") / "timeline.svg"
    return Run(run_demo("--plot", str(picture)), picture)


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo where awslambdaric is missing."""
    picture = tmp_path_factory.mktemp("fallback") / "timeline.svg"
    return Run(run_demo("--plot", str(picture), without=("awslambdaric",)), picture)


@pytest.fixture
def demo(run: Run) -> subprocess.CompletedProcess[str]:
    return run.result


def table(demo: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    rows = {}
    for line in demo.stdout.splitlines():
        match = ROW.match(line)
        if match:
            rows[match["setup"]] = match.groupdict()
    return rows


def tree(demo: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of the span tree, from the root span to the metrics line."""
    lines = demo.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("demo-orders"))
    end = next(i for i, line in enumerate(lines) if "metrics after the last invocation" in line)
    return lines[start : end + 1]


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def test_every_setup_exports_every_span_and_log_record(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert demo.returncode == 0, demo.stdout + demo.stderr
    rows = table(demo)
    assert set(rows) == {SYNC, ASYNC, FINALIZE, USUAL}, demo.stdout
    for row in rows.values():
        spans = INVOCATIONS * SPANS_PER_INVOCATION + INIT_SPANS  # the cold start's, once
        assert row["spans"] == row["spans_produced"] == str(spans)
        assert row["logs"] == row["logs_produced"] == str(INVOCATIONS * LOGS_PER_INVOCATION)
    assert "was lost" not in demo.stdout


@pytest.mark.parametrize(
    ("setup", "collections"),
    [
        (SYNC, INVOCATIONS),  # before every response, once however many say handler done
        (ASYNC, INVOCATIONS + 1),  # after every response, and at SIGTERM
        (FINALIZE, 1),  # at SIGTERM only
        (USUAL, INVOCATIONS),  # at every force_flush
    ],
)
def test_metric_points_are_one_per_metric_at_each_collection_of_the_setup(
    demo: subprocess.CompletedProcess[str], setup: str, collections: int
) -> None:
    row = table(demo)[setup]
    assert row["points"] == row["points_produced"] == str(collections * len(METRICS)), row


def test_who_waits_for_the_collector(demo: subprocess.CompletedProcess[str]) -> None:
    """Lower bounds only: every export request takes the receiver's latency at least."""
    rows = table(demo)
    latency_ms = COLLECTOR_LATENCY * 1000
    assert float(rows[SYNC]["p50"]) >= latency_ms  # the export before the response
    # The usual setup flushes the tracer, meter and logger providers one after the other.
    assert float(rows[USUAL]["p50"]) >= 3 * latency_ms
    assert float(rows[ASYNC]["post"]) >= latency_ms  # the export after the response
    for setup in (ASYNC, FINALIZE):  # nobody waits for their exports
        assert float(rows[setup]["p50"]) < float(rows[USUAL]["p50"])


def test_the_span_tree_shows_each_log_record_under_the_span_it_was_emitted_in(
    demo: subprocess.CompletedProcess[str],
) -> None:
    lines = tree(demo)
    text = [line.strip() for line in lines]
    last_order = 1000 + INVOCATIONS
    for span, record in [
        ("validate order", f"[INFO] order {last_order} validated: {ORDER_VALUES[-1]:.2f} USD"),
        ("load customer", "[WARN] customer cache cold: reading 3 tables"),
        ("render", f"[INFO] order {last_order} rendered"),
    ]:
        at = next(i for i, t in enumerate(text) if t.startswith(span + "  "))
        assert text[at + 1] == record, lines  # emitted first thing in that span
        assert indent(lines[at + 1]) == indent(lines[at]) + 2, lines
    # The SELECTs follow the record in "load customer", at the same depth: ordered by time.
    warn = text.index("[WARN] customer cache cold: reading 3 tables")
    assert text[warn + 1].startswith("SELECT customers"), lines
    assert indent(lines[warn + 1]) == indent(lines[warn]), lines
    # Only the records of that invocation's trace.
    assert sum(t.startswith("[") for t in text) == LOGS_PER_INVOCATION, lines
    assert "faas.trigger=other" in demo.stdout


def test_the_metrics_line_counts_every_order(demo: subprocess.CompletedProcess[str]) -> None:
    line = tree(demo)[-1].strip()
    assert line == (
        f"metrics after the last invocation: orders = {INVOCATIONS}; order.value count "
        f"{INVOCATIONS}, sum {sum(ORDER_VALUES):.2f} USD"
    ), demo.stdout


def test_the_output_fits_100_columns(run: Run, fallback: Run) -> None:
    for result in (run.result, fallback.result):
        assert max(len(line) for line in result.stdout.splitlines()) <= 100, result.stdout


# -- without awslambdaric ---------------------------------------------------------------------


def test_without_awslambdaric_one_line_says_so_and_how_to_get_it(fallback: Run) -> None:
    result = fallback.result
    first, *rest = result.stdout.splitlines()
    assert "awslambdaric" in first and "using the minimal runtime loop" in first, first
    assert "[demo]" in first, first  # the extra that installs it
    assert rest[0].startswith("otel-lambda-processor demo:"), result.stdout  # one line only
    assert "the package's minimal runtime loop" in result.stdout


def test_with_awslambdaric_installed_no_fallback_line(
    demo: subprocess.CompletedProcess[str],
) -> None:
    if not AWSLAMBDARIC:
        pytest.skip("awslambdaric is not installed here")
    assert demo.stdout.startswith("otel-lambda-processor demo:"), demo.stdout
    assert "AWS's runtime client (awslambdaric) under the local Lambda emulator" in demo.stdout
    assert "minimal runtime loop" not in demo.stdout


def test_without_awslambdaric_every_setup_still_exports_everything(fallback: Run) -> None:
    result = fallback.result
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table(result)
    assert set(rows) == {SYNC, ASYNC, FINALIZE, USUAL}, result.stdout
    for row in rows.values():
        for signal_ in ("spans", "logs", "points"):
            assert row[signal_] == row[f"{signal_}_produced"], row
    assert float(rows[ASYNC]["post"]) >= COLLECTOR_LATENCY * 1000  # exported after the response
    assert float(rows[ASYNC]["p50"]) < float(rows[USUAL]["p50"])


# -- the picture ------------------------------------------------------------------------------
# Every mark of the picture has an SVG id: handler:<setup>, export:<setup>:<signal>:<n>,
# response-sent:<setup>, extension-next:<setup>, sigterm:<setup>; and legend, plot-area.

SVG = "{http://www.w3.org/2000/svg}"
KEYS = {SYNC: "sync", ASYNC: "async", FINALIZE: "finalize+batch", USUAL: "batch+flush"}


def marks(picture: Path) -> dict[str, list[tuple[float, float]]]:
    """The points (x, y, in the picture's coordinates) of each mark with an id of ours."""
    found: dict[str, list[tuple[float, float]]] = {}
    for group in ET.parse(picture).getroot().iter(f"{SVG}g"):
        gid = group.get("id", "")
        if ":" not in gid and gid not in ("legend", "plot-area"):
            continue
        shapes = {id(e) for defs in group.iter(f"{SVG}defs") for e in defs.iter()}  # markers
        points: list[tuple[float, float]] = []
        for element in group.iter():
            if id(element) in shapes:
                continue
            if element.tag == f"{SVG}path":
                numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d", ""))]
                points += zip(numbers[::2], numbers[1::2], strict=True)
            elif element.tag == f"{SVG}use" and element.get("x") is not None:
                points.append((float(element.get("x", 0)), float(element.get("y", 0))))
        found[gid] = points
    return found


def xs(found: dict[str, list[tuple[float, float]]], prefix: str) -> list[float]:
    return [x for gid, points in found.items() if gid.startswith(prefix) for x, _ in points]


@pytest.fixture(params=["awslambdaric", "minimal loop"])
def picture(request: pytest.FixtureRequest) -> Path:
    if request.param == "awslambdaric" and not AWSLAMBDARIC:
        pytest.skip("awslambdaric is not installed here")
    run: Run = request.getfixturevalue("run" if request.param == "awslambdaric" else "fallback")
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    assert f"timeline written to {run.picture}" in run.result.stdout
    return run.picture


def test_the_picture_says_what_it_shows(picture: Path) -> None:
    text = picture.read_text()
    assert "<!-- When each setup exports an invocation's telemetry, and who waits for it" in text
    assert f"the last of {INVOCATIONS} invocations per setup" in text
    for label in ("response sent", "export request: spans", "extension calls next"):
        assert f"<!-- {label}" in text


def test_the_legend_is_clear_of_the_bars(picture: Path) -> None:
    found = marks(picture)
    plot_area = found["plot-area"]
    bottom = max(y for _, y in plot_area)  # SVG: y grows downwards
    assert found["legend"], "the legend has no swatches"
    assert min(y for _, y in found["legend"]) > bottom


def test_extension_marks_only_where_an_extension_registered(picture: Path) -> None:
    found = marks(picture)
    for setup, key in KEYS.items():
        assert f"response-sent:{key}" in found, setup
        assert f"handler:{key}" in found, setup
    # sync and the usual setup register no extension; finalize one for no events (no next).
    assert {gid.split(":")[1] for gid in found if gid.startswith("extension-next:")} == {"async"}
    # SIGTERM comes only where an extension registered.
    assert {gid.split(":")[1] for gid in found if gid.startswith("sigterm:")} == {
        "async",
        "finalize+batch",
    }


def test_the_picture_shows_who_waits_for_the_export(picture: Path) -> None:
    """The headline: async exports after the response; sync and the usual setup before it;
    finalize at SIGTERM."""
    found = marks(picture)

    def response(key: str) -> float:
        ((x, _),) = {point for point in found[f"response-sent:{key}"]}
        return x

    assert min(xs(found, "export:async:")) >= response("async")
    for key in ("sync", "batch+flush"):
        assert max(xs(found, f"export:{key}:")) <= response(key), key
    assert min(xs(found, "export:finalize+batch:")) >= min(xs(found, "sigterm:finalize+batch"))


def test_the_picture_can_be_a_png(tmp_path: Path) -> None:
    picture = tmp_path / "timeline.png"
    result = run_demo("--plot", str(picture))
    assert result.returncode == 0, result.stdout + result.stderr
    assert picture.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("name", "without", "says"),
    [
        ("missing/timeline.png", (), "there is no directory"),
        ("timeline.txt", (), "must end in .png, .svg or .pdf"),
        ("timeline", (), "must end in .png, .svg or .pdf"),
        ("pictures.svg", (), "that is a directory"),
        ("timeline.png", ("matplotlib",), "needs matplotlib: pip install"),
    ],
    ids=["no such directory", "unknown extension", "no extension", "a directory", "no matplotlib"],
)
def test_a_picture_that_cannot_be_written_fails_before_the_demo_runs(
    tmp_path: Path, name: str, without: tuple[str, ...], says: str
) -> None:
    (tmp_path / "pictures.svg").mkdir()
    result = run_demo("--plot", str(tmp_path / name), without=without)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", "the demo ran"
    (line,) = result.stderr.splitlines()
    assert line.startswith("otel-lambda-processor demo: --plot") and says in line, line
    assert [p.name for p in tmp_path.iterdir()] == ["pictures.svg"], "something was written"
    assert not any((tmp_path / "pictures.svg").iterdir())


# -- Ctrl-C -----------------------------------------------------------------------------------
# The demo runs as a real process in its own session; the processes it starts are found by
# walking /proc, each remembered by (pid, start time) so that a reused pid is never mistaken for
# one of them.

RUNTIME_MARK = "otel_lambda_processor.demo_function"  # in the command line of every runtime
STARTUP_LIMIT = 30.0  # seconds; the first runtime starts within one on an idle machine
EXIT_LIMIT = 20.0
GONE_LIMIT = 10.0


class Process(NamedTuple):
    pid: int
    started: int  # clock ticks after boot: with the pid, names one process for good
    parent: int
    state: str


def _processes() -> dict[int, Process]:
    table: dict[int, Process] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
        table[int(entry)] = Process(int(entry), int(fields[19]), int(fields[1]), fields[0])
    return table


def _descendants(root: int) -> list[Process]:
    table = _processes()
    found: list[Process] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for process in table.values():
            if process.parent == parent:
                found.append(process)
                frontier.append(process.pid)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(started: set[tuple[int, int]]) -> list[Process]:
    """Those of ``started`` still running; a zombie has ended and only waits to be reaped."""
    return [
        p for p in _processes().values() if (p.pid, p.started) in started and p.state not in "ZX"
    ]


def _wait_stopped(pids: list[int]) -> None:
    deadline = time.monotonic() + EXIT_LIMIT
    while time.monotonic() < deadline:
        table = _processes()
        if all(pid not in table or table[pid].state in "tT" for pid in pids):
            return
        time.sleep(0.01)
    pytest.fail(f"SIGSTOP did not stop {pids}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes in /proc (Linux)")
@pytest.mark.parametrize(
    ("to_group", "freeze"),
    [
        # What a terminal does: every process of the foreground job gets SIGINT, the runtime too.
        pytest.param(True, False, id="Ctrl-C in a terminal"),
        # A frozen runtime (as Lambda freezes one between invocations) notices neither a SIGINT
        # nor its Runtime API going away: only the demo's own cleanup can end it. A running one
        # exits by itself within milliseconds of losing the API, and would hide a missing kill.
        pytest.param(False, True, id="SIGINT to the demo alone, its runtime frozen"),
    ],
)
def test_ctrl_c_stops_the_demo_and_every_process_it_started(
    to_group: bool, freeze: bool, tmp_path: Path
) -> None:
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        demo = subprocess.Popen(
            [sys.executable, "-m", "otel_lambda_processor", "demo"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, as a shell gives a foreground job
        )
    started: set[tuple[int, int]] = set()
    try:
        runtimes: list[int] = []
        deadline = time.monotonic() + STARTUP_LIMIT
        while not runtimes and demo.poll() is None and time.monotonic() < deadline:
            seen = _descendants(demo.pid)
            started.update((p.pid, p.started) for p in seen)
            runtimes = [p.pid for p in seen if RUNTIME_MARK in _command_line(p.pid)]
            time.sleep(0.02)
        assert runtimes, f"no function runtime started:\n{stderr.read_text()}"
        if freeze:
            for pid in runtimes:
                os.kill(pid, signal.SIGSTOP)
            _wait_stopped(runtimes)
        started.update((p.pid, p.started) for p in _descendants(demo.pid))
        assert demo.poll() is None, "the demo ended before it could be interrupted"

        if to_group:
            os.killpg(demo.pid, signal.SIGINT)
        else:
            os.kill(demo.pid, signal.SIGINT)

        try:
            returncode = demo.wait(EXIT_LIMIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo still ran {EXIT_LIMIT:.0f} s after Ctrl-C")
        assert returncode == 130, stderr.read_text()
        assert "Traceback" not in stderr.read_text()
        assert "demo interrupted" in stderr.read_text()
        deadline = time.monotonic() + GONE_LIMIT
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [f"{p.pid} {_command_line(p.pid)}" for p in _alive(started)]
        assert not survivors, f"still running after the demo ended: {survivors}"
    finally:  # leave nothing behind, whatever failed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)  # the group outlives its leader
        for survivor in _alive(started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(survivor.pid, signal.SIGKILL)
        demo.wait()
