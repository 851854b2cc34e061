"""The README's first command: the local demo runs a function under the emulator in every setup,
exports everything, prints its table, and cleans up after itself."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_lambda_processor", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_demo_prints_a_row_per_setup_and_loses_no_span() -> None:
    result = run_demo()
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        line.split()[0]: line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("sync", "async", "finalize", "BatchSpanProcessor"))
    }
    assert set(rows) == {"sync", "async", "finalize", "BatchSpanProcessor"}
    for cells in rows.values():
        produced, exported, dropped = (int(c) for c in cells[-3:])
        assert produced == exported and dropped == 0 and produced > 0
    assert "SELECT customers" in result.stdout and "faas.trigger=other" in result.stdout


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
