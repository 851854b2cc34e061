"""OpenTelemetry span processing for AWS Lambda: fast, bounded and lossless.

Add :class:`LambdaSpanProcessor` to the ``TracerProvider`` you already have::

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))

and call :func:`handler_done` (or let the extension coordinator notice) when the handler finishes.
"""

from .config import ProcessorMode, ProcessorSettings
from .processor import LambdaSpanProcessor
from .signals import handler_done

__version__ = "0.1.0"

__all__ = [
    "LambdaSpanProcessor",
    "ProcessorMode",
    "ProcessorSettings",
    "__version__",
    "handler_done",
]
