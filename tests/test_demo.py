"""The README's first command: the local demo runs a function under the emulator in every setup,
exports everything, prints its table, and cleans up after itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
