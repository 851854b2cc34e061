"""OpenTelemetry for AWS Lambda: spans, logs and metrics exported after the response, losslessly.

Add :class:`LambdaSpanProcessor` to the ``TracerProvider`` you already have (and, for logs and
metrics, :class:`LambdaLogRecordProcessor` and :class:`LambdaMetricReader`)::

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))

and call :func:`handler_done` (or let the extension coordinator notice) when the handler finishes.
"""

from typing import TYPE_CHECKING, Any

from .config import ProcessorMode, ProcessorSettings
from .config import coordinator_environment as _coordinator_environment
from .processor import LambdaSpanProcessor
from .signals import HUB as _HUB
from .signals import handler_done

if TYPE_CHECKING:
    from .config import MetricReaderSettings
    from .handler import AttributesExtractor, traced_handler
    from .log_processor import LambdaLogRecordProcessor
    from .metric_reader import LambdaMetricReader
    from .resource import lambda_resource
    from .signals import LifecycleDriver
    from .triggers import TriggerSpan

_IMPORTED_NS: int = __import__("time").time_ns()  # at the latest, the process start (cold_start)


def _start_coordinator(mode: str) -> "LifecycleDriver | None":
    # The coordinator (and urllib3) cost nothing until a processor exists, and nothing at all
    # outside Lambda: the environment is checked before the module is imported.
    if _coordinator_environment() is None:
        return None
    from .coordinator import start_for_mode

    return start_for_mode(mode)


_HUB.set_driver_factory(_start_coordinator)

# Logs and metrics load the SDK's logs and metrics modules: only for those who use them.
_LAZY = {
    "LambdaLogRecordProcessor": "log_processor",
    "LambdaMetricReader": "metric_reader",
    "MetricReaderSettings": "config",
    "traced_handler": "handler",
    "AttributesExtractor": "handler",
    "TriggerSpan": "triggers",
    "lambda_resource": "resource",
}


def __getattr__(name: str) -> Any:
    # The handler wrapper pulls in propagators and the resource machinery: only on first use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


__version__ = "0.1.0"

__all__ = [
    "AttributesExtractor",
    "LambdaLogRecordProcessor",
    "LambdaMetricReader",
    "LambdaSpanProcessor",
    "MetricReaderSettings",
    "ProcessorMode",
    "ProcessorSettings",
    "TriggerSpan",
    "__version__",
    "handler_done",
    "lambda_resource",
    "traced_handler",
]
