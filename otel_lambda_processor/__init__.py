"""OpenTelemetry span processing for AWS Lambda: fast, bounded and lossless.

Add :class:`LambdaSpanProcessor` to the ``TracerProvider`` you already have::

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))

and call :func:`handler_done` (or let the extension coordinator notice) when the handler finishes.
"""

from .config import ProcessorMode, ProcessorSettings
from .processor import LambdaSpanProcessor
from .signals import HUB as _HUB
from .signals import LifecycleDriver as _LifecycleDriver
from .signals import handler_done


def _start_coordinator(mode: str) -> _LifecycleDriver | None:
    # Imported on first use: the coordinator (and urllib3) cost nothing until a processor exists.
    from .coordinator import start_for_mode

    return start_for_mode(mode)


_HUB.set_driver_factory(_start_coordinator)

__version__ = "0.1.0"

__all__ = [
    "LambdaSpanProcessor",
    "ProcessorMode",
    "ProcessorSettings",
    "__version__",
    "handler_done",
]
