"""The README's first command: the local demo runs a function under the emulator in every setup,
exports its spans, log records and metrics, prints the table and one invocation's telemetry, and
cleans up after itself."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from otel_lambda_processor.demo import (
    COLLECTOR_LATENCY,
    INVOCATIONS,
    LOGS_PER_INVOCATION,
    METRICS,
    ORDER_VALUES,
    SPANS_PER_INVOCATION,
)


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_lambda_processor", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- what it prints ---------------------------------------------------------------------------
# The demo runs once for these tests; each reads one part of what it printed.

ROW = re.compile(
    r"^(?P<setup>\S.*?) +(?P<p50>[\d.]+) ms +(?P<p95>[\d.]+) ms +(?:(?P<post>[\d.]+) ms|—) +"
    r"(?P<spans>\d+)/(?P<spans_produced>\d+) +(?P<logs>\d+)/(?P<logs_produced>\d+) +"
    r"(?P<points>\d+)/(?P<points_produced>\d+)$"
)
SYNC, ASYNC = "sync", "async"
FINALIZE, USUAL = "finalize + BatchSpanProcessor", "BatchSpanProcessor + force_flush"


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    return run_demo()


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
        assert row["spans"] == row["spans_produced"] == str(INVOCATIONS * SPANS_PER_INVOCATION)
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


def test_the_output_fits_100_columns(demo: subprocess.CompletedProcess[str]) -> None:
    assert max(len(line) for line in demo.stdout.splitlines()) <= 100


def test_the_demo_draws_the_timeline_when_asked(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    picture = tmp_path / "timeline.png"
    result = run_demo("--plot", str(picture))
    assert result.returncode == 0, result.stdout + result.stderr
    assert picture.read_bytes().startswith(b"\x89PNG")


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
