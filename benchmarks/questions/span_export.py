"""Owns the span export question: encode, encode + gzip, export, force_flush and gzip levels for
10,000 spans. Must not build the spans (workloads.py) nor time an export the receiver missed.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from typing import Any

from fixtures import ReceiverProcess
from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, ratio, timed
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from workloads import WORKLOADS, lambda_spans, no_hand_over

from otel_lambda_processor import LambdaSpanProcessor

ENCODER = Goal(5, "× faster", at_most=False)
EXPORTER = Goal(4, "× faster", at_most=False)
FLUSH = Goal(1.1)
SPANS = 10_000
BATCH = 512
GZIP_LEVELS = (1, 6, 9)  # ours by default, zlib's default, the official exporter's


def _exports(
    rounds: Rounds, spans: list[ReadableSpan], receiver: ReceiverProcess, workload: str
) -> dict[str, list[float]]:
    """Seconds to export ``spans`` in 512-span batches to the receiver: the official exporter,
    ours (without compression, and with gzip at the official exporter's fixed level 9), and ours
    through LambdaSpanProcessor.force_flush. Every round checks that all spans arrived."""
    from otel_lambda_processor.otlp import OTLPSpanExporter as FastExporter

    endpoint, count = receiver.endpoint, len(spans)
    exporters: dict[str, Callable[[], Any]] = {
        "official exporter": lambda: OTLPSpanExporter(endpoint=endpoint, timeout=30),
        "our exporter": lambda: FastExporter(endpoint=endpoint, timeout=30),
        "official exporter, gzip": lambda: OTLPSpanExporter(
            endpoint=endpoint, timeout=30, compression=Compression.Gzip
        ),
        "our exporter, gzip": lambda: FastExporter(  # the official level: not settable there
            endpoint=endpoint, timeout=30, compression=Compression.Gzip, compression_level=9
        ),
    }

    def export(name: str) -> float:
        exporter = exporters[name]()

        def batches() -> None:
            for i in range(0, count, BATCH):
                assert exporter.export(spans[i : i + BATCH]) == SpanExportResult.SUCCESS

        seconds = timed(batches)
        exporter.shutdown()
        assert receiver.received(count), name
        return seconds

    def force_flush() -> float:
        processor = LambdaSpanProcessor(
            FastExporter(endpoint=endpoint, timeout=30), mode="finalize", max_queue_size=count
        )
        for span in spans:
            processor.on_end(span)
        flushed: list[bool] = []
        seconds = timed(lambda: flushed.append(processor.force_flush(60_000)))
        assert flushed == [True] and processor.dropped_spans == 0
        processor.shutdown()
        assert receiver.received(count), "force_flush"
        return seconds

    setups: dict[str, Callable[[], float]] = {
        name: functools.partial(export, name) for name in exporters
    }
    setups["force_flush"] = force_flush
    return rounds.interleave(setups, label=workload)


def _encoders(rounds: Rounds, spans: list[ReadableSpan], workload: str) -> dict[str, list[float]]:
    """Seconds to encode the spans with the official encoder and with ours (byte-identical:
    checked first), alone and followed by the same ``gzip.compress`` at our default level 1."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official

    from otel_lambda_processor.otlp import encode_spans, encoder

    with no_hand_over(encoder):
        assert encode_spans(spans) == official(spans).SerializeToString(), "not identical"
    return rounds.interleave(
        {
            "official encoder": lambda: timed(lambda: official(spans).SerializeToString()),
            "our encoder": lambda: timed(lambda: encode_spans(spans)),
            "official + gzip 1": lambda: timed(
                lambda: gzip.compress(official(spans).SerializeToString(), compresslevel=1)
            ),
            "ours + gzip 1": lambda: timed(
                lambda: gzip.compress(encode_spans(spans), compresslevel=1)
            ),
        },
        label=workload,
    )


def _workload_rows(workload: str, times: dict[str, list[float]]) -> list[Row]:
    def ms(name: str) -> str:
        return fmt(times[name], "ms", 1e3)

    faster = ratio(times["official encoder"], times["our encoder"])
    gzipped = ratio(times["official + gzip 1"], times["ours + gzip 1"])
    rows = [
        Row(
            f"encode 10,000 spans, {workload} (byte-identical)",
            ms("our encoder"),
            f"official encoder {ms('official encoder')}",
            f"{faster:.1f}× faster",
            ENCODER,
            faster,
        ),
        Row(
            f"encode + gzip level 1 (both), 10,000 spans, {workload}",
            ms("ours + gzip 1"),
            f"official encoder + the same gzip {ms('official + gzip 1')}",
            f"{gzipped:.1f}× faster",
        ),
    ]
    for suffix, how in (("", "no compression"), (", gzip", "gzip level 9 both")):
        ours, theirs = f"our exporter{suffix}", f"official exporter{suffix}"
        exported = ratio(times[theirs], times[ours])
        rows.append(
            Row(
                f"export 10,000 spans to the local receiver, {workload}, {how}",
                ms(ours),
                f"official exporter {ms(theirs)}",
                f"{exported:.1f}× faster",
                None if suffix else EXPORTER,
                exported,
            )
        )
    flushed = ratio(times["force_flush"], times["our exporter"])
    rows.append(
        Row(
            f"`force_flush` of 10,000 spans (our exporter), {workload}",
            ms("force_flush"),
            f"`export()` directly {ms('our exporter')}",
            f"{flushed:.2f}×",
            FLUSH,
            flushed,
        )
    )
    return rows


def _gzip_rows(rounds: Rounds, spans: list[ReadableSpan], encoding: list[float]) -> list[Row]:
    """gzip of the encoded spans per level: time against the encoding's, and the size."""
    from otel_lambda_processor.otlp import encode_spans

    data = encode_spans(spans)
    raw = len(data)
    sizes = {level: len(gzip.compress(data, compresslevel=level)) for level in GZIP_LEVELS}
    times = rounds.interleave(
        {
            f"gzip level {level}": functools.partial(
                timed, functools.partial(gzip.compress, data, compresslevel=level)
            )
            for level in GZIP_LEVELS
        }
    )
    rows = []
    for level in GZIP_LEVELS:
        seconds, size = times[f"gzip level {level}"], sizes[level]
        rows.append(
            Row(
                f"gzip level {level} of 10,000 encoded spans, repeated values "
                f"({raw / 1024:,.0f} KiB)",
                fmt(seconds, "ms", 1e3),
                f"our encoder {fmt(encoding, 'ms', 1e3)}",
                f"{ratio(seconds, encoding):.2f}× the encoding; "
                f"{size / 1024:,.0f} KiB ({size / raw:.1%})",
                "our default" if level == 1 else None,
            )
        )
    return rows


def run(rounds: Rounds, quick: bool) -> Answer:
    rows: list[Row] = []
    compression: list[Row] = []
    with ReceiverProcess() as receiver:
        for workload, distinct in WORKLOADS.items():
            spans = lambda_spans(SPANS, distinct)
            times = {
                **_exports(rounds, spans, receiver, workload),
                **_encoders(rounds, spans, workload),
            }
            rows += _workload_rows(workload, times)
            if not distinct:
                compression = _gzip_rows(rounds, spans, times["our encoder"])
            del spans
    return Answer(rows + compression)


QUESTION = Question(
    name="span_export",
    measures="encoding and exporting 10,000 spans, force_flush, gzip levels; both workloads",
    goals=(ENCODER, EXPORTER, FLUSH),
    rounds=Counts(quick=3, full=7),
    run=run,
)
