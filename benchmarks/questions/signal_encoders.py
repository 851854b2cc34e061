"""Owns the log and metric encoder question: ms per batch, ours and the official, both workloads.
Must not build the batches (workloads.py) nor time an encoder whose bytes differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, ratio, timed
from workloads import WORKLOADS, lambda_logs, lambda_metrics, no_hand_over

GOAL = Goal(5, "× faster", at_most=False)
WHAT = {"logs": "10,000 log records", "metrics": "200 metrics × 50 points"}


def _encoders(signal: str) -> tuple[Callable[[Any], bytes], Callable[[Any], bytes], Any]:
    """The official encoder (to bytes), ours, and our encoder's module, for ``signal``."""
    if signal == "logs":
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official

        from otel_lambda_processor.otlp import encode_logs, logs_encoder

        return (lambda batch: official(batch).SerializeToString()), encode_logs, logs_encoder
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    from otel_lambda_processor.otlp import encode_metrics as ours
    from otel_lambda_processor.otlp import metrics_encoder

    return (lambda batch: encode_metrics(batch).SerializeToString()), ours, metrics_encoder


def _times(rounds: Rounds, signal: str, batch: Any, workload: str) -> dict[str, list[float]]:
    """Seconds per encoding of ``batch``, official and ours, in interleaved rounds."""
    official, ours, module = _encoders(signal)
    with no_hand_over(module):  # ours must encode the batch itself
        assert ours(batch) == official(batch), f"{signal}, {workload}: not identical"
    return rounds.interleave(
        {
            "official encoder": lambda: timed(lambda: official(batch)),
            "our encoder": lambda: timed(lambda: ours(batch)),
        },
        label=f"{signal}, {workload}",
    )


def run(rounds: Rounds, quick: bool) -> Answer:
    times: dict[str, dict[str, dict[str, list[float]]]] = {"logs": {}, "metrics": {}}
    for workload, distinct in WORKLOADS.items():
        records = lambda_logs(10_000, distinct)
        times["logs"][workload] = _times(rounds, "logs", records, workload)
        del records
        data = lambda_metrics(distinct)
        times["metrics"][workload] = _times(rounds, "metrics", data, workload)
        del data
    rows = []
    for signal, workloads in times.items():
        for workload, encoders in workloads.items():
            ours, theirs = encoders["our encoder"], encoders["official encoder"]
            rows.append(
                Row(
                    f"encode {WHAT[signal]}, {workload} (byte-identical)",
                    fmt(ours, "ms", 1e3),
                    f"official encoder {fmt(theirs, 'ms', 1e3)}",
                    f"{ratio(theirs, ours):.1f}× faster",
                    GOAL,
                    ratio(theirs, ours),
                )
            )
    return Answer(rows)


QUESTION = Question(
    name="signal_encoders",
    measures="ms to encode log records and metrics, ours against the official encoders",
    goals=(GOAL,),
    rounds=Counts(quick=3, full=7),
    run=run,
)
