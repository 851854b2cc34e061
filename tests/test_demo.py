"""The README's first command: the local demo runs, exports everything, and prints its table."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_prints_a_row_per_setup_and_loses_no_span() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "otel_lambda_processor", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        line.split()[0]: line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("sync", "async", "finalize", "BatchSpanProcessor"))
    }
    assert set(rows) == {"sync", "async", "finalize", "BatchSpanProcessor"}
    for cells in rows.values():
        produced, exported, dropped = (int(c) for c in cells[-3:])
        assert produced == exported + dropped and produced > 0
    assert "handler" in result.stdout and "step-0" in result.stdout
