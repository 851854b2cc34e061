"""OTLP for Lambda: a byte-identical fast trace encoder and the OTLP/HTTP exporter that uses it.

``OTLPSpanExporter`` is a drop-in for the official OTLP/HTTP protobuf span exporter::

    from otel_lambda_processor.otlp import OTLPSpanExporter

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))

Importing it and constructing it load neither the encoder nor an HTTP client: the first export
does.
"""

from typing import TYPE_CHECKING, Any

from .exporter import OTLPSpanExporter
from .releases import TESTED_RELEASES

if TYPE_CHECKING:
    from .encoder import encode_spans


def __getattr__(name: str) -> Any:
    if name == "encode_spans":  # loaded on first use: the encoder is not needed at init
        from .encoder import encode_spans

        return encode_spans
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TESTED_RELEASES", "OTLPSpanExporter", "encode_spans"]
