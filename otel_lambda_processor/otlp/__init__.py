"""OTLP for Lambda: a byte-identical fast trace encoder and the OTLP/HTTP exporter that uses it.

``OTLPSpanExporter`` is a drop-in for the official OTLP/HTTP protobuf span exporter::

    from otel_lambda_processor.otlp import OTLPSpanExporter

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))
"""

from .encoder import encode_spans
from .exporter import OTLPSpanExporter
from .releases import TESTED_RELEASES

__all__ = ["TESTED_RELEASES", "OTLPSpanExporter", "encode_spans"]
