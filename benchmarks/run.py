"""The runner: the command line, the order of the run and the report around the rows (RESULTS.md).
Must not measure or format a figure itself: the questions measure, the harness times and formats.

Every figure is a median of rounds, every comparison a ratio taken in the same run:

    python benchmarks/run.py [--quick] [--out PATH] [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from harness import HERE, Answer, Noise, Question, Rounds, installed, quiet_logs
from questions import load

NEEDS = ("pyperf",)  # beyond the test extra: the bench extra (pip install -e '.[bench]')


def report(answers: list[Answer], noise: Noise) -> str:
    """The results file: the run's setting, the table of every row, then the sections."""
    lines = [
        "# Benchmark results",
        "",
        f"{datetime.date.today().isoformat()} · Python {platform.python_version()} · "
        f"{platform.machine()} · {os.cpu_count()} cores · {platform.platform()}",
        "",
        "Medians of rounds ± half the interquartile range; ratios are of medians from this run.",
    ]
    note = noise.note()
    if note:
        lines += ["", note]
    lines += [
        "",
        "| measurement | ours | reference | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    lines += [row.markdown() for answer in answers for row in answer.rows]
    for answer in answers:
        for section in answer.sections:
            lines += ["", *section]
    return "\n".join(lines) + "\n"


def main() -> None:
    questions = load()
    names = [question.name for question in questions]
    parser = argparse.ArgumentParser(
        description="Benchmarks for otel-lambda-processor: every figure a median of rounds, every "
        "comparison a ratio taken in the same run. Writes benchmarks/RESULTS.md and prints it."
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument(
        "--out",
        help="where to write the results (default: benchmarks/RESULTS.md, none with --only)",
    )
    parser.add_argument(
        "--only", action="append", choices=names, metavar="NAME", help="run only NAME (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the questions and exit")
    args = parser.parse_args()
    if args.list:
        for question in questions:
            print(f"{question.name:<18} {question.measures}")
        return
    missing = [name for name in NEEDS if not installed(name)]
    if missing:
        sys.exit(f"benchmarks/run.py needs {', '.join(missing)}: pip install -e '.[bench]'")
    quiet_logs()
    chosen: list[Question] = [q for q in questions if not args.only or q.name in args.only]
    noise = Noise()
    answers = []
    for question in chosen:
        count = question.rounds.quick if args.quick else question.rounds.full
        started = time.monotonic()
        answers.append(question.run(Rounds(count, noise, question.name), args.quick))
        print(f"{question.name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    text = report(answers, noise)
    out = args.out or (None if args.only else str(HERE / "RESULTS.md"))
    if out:
        Path(out).write_text(text)
    print(text)
    for answer in answers:
        for row in answer.rows:
            if row.missed():
                print(
                    f"goal missed ({row.goal}): {row.measurement} | {row.ours} | "
                    f"{row.reference} | {row.ratio}",
                    file=sys.stderr,
                )


if __name__ == "__main__":
    main()
