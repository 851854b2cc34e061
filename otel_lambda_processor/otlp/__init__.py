"""OTLP for Lambda: byte-identical fast encoders and the OTLP/HTTP exporters that use them.

``OTLPSpanExporter``, ``OTLPLogExporter`` and ``OTLPMetricExporter`` are drop-ins for the official
OTLP/HTTP protobuf exporters::

    from otel_lambda_processor.otlp import OTLPSpanExporter

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))

Importing them and constructing them load neither the encoders nor an HTTP client: the first
export does. The log and metric exporters (and the encoders) load on first use too.

Layer: below :mod:`..export` (whose encodability probe uses the encoders); it needs nothing of
the package but the warn-once rule of :mod:`..environment`.
"""

from typing import TYPE_CHECKING, Any

from .exporter import OTLPSpanExporter
from .releases import TESTED_RELEASES

if TYPE_CHECKING:
    from .encoder import encode_spans
    from .log_exporter import OTLPLogExporter
    from .logs_encoder import encode_logs
    from .metric_exporter import OTLPMetricExporter
    from .metrics_encoder import encode_metrics

_LAZY = {
    "encode_spans": "encoder",
    "encode_logs": "logs_encoder",
    "encode_metrics": "metrics_encoder",
    "OTLPLogExporter": "log_exporter",
    "OTLPMetricExporter": "metric_exporter",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)  # loaded on first use: not needed at init
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = [
    "TESTED_RELEASES",
    "OTLPLogExporter",
    "OTLPMetricExporter",
    "OTLPSpanExporter",
    "encode_logs",
    "encode_metrics",
    "encode_spans",
]
