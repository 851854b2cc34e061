"""OpenTelemetry for AWS Lambda: spans, logs and metrics exported after the response, losslessly.

Add :class:`LambdaSpanProcessor` to the ``TracerProvider`` you already have (and, for logs and
metrics, :class:`LambdaLogRecordProcessor` and :class:`LambdaMetricReader`)::

    provider.add_span_processor(LambdaSpanProcessor(OTLPSpanExporter()))

and call :func:`handler_done` (or let the extension coordinator notice) when the handler finishes.

The package is laid out by layer, each importing only from those below it: :mod:`.signals` (the
seam), :mod:`.environment`, :mod:`.otlp`, :mod:`.export` (the pipeline the processors share),
:mod:`.processors` beside :mod:`.extension` (the Lambda lifecycle), :mod:`.instrumentation`,
then this API and the tools (command line, layer builder, demo, :mod:`.testing`).
"""

import sys
from typing import TYPE_CHECKING, Any

from .environment import coordinator_environment as _coordinator_environment
from .export.settings import ProcessorMode, ProcessorSettings
from .processors.spans import LambdaSpanProcessor
from .signals import HUB as _HUB
from .signals import handler_done

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    from .export.settings import MetricReaderSettings
    from .instrumentation.handler import AttributesExtractor, traced_handler
    from .instrumentation.resource import lambda_resource
    from .instrumentation.triggers import TriggerSpan
    from .processors.logs import LambdaLogRecordProcessor
    from .processors.metrics import LambdaMetricReader
    from .signals import LifecycleDriver


def _start_coordinator(mode: str) -> "LifecycleDriver | None":
    # The coordinator (and urllib3) cost nothing until a processor exists, and nothing at all
    # outside Lambda: the environment is checked before the module is imported.
    if _coordinator_environment() is None:
        return None
    from .extension.coordinator import start_for_mode

    return start_for_mode(mode)


_HUB.set_driver_factory(_start_coordinator)

# Logs and metrics load the SDK's logs and metrics modules: only for those who use them.
_LAZY = {
    "LambdaLogRecordProcessor": "processors.logs",
    "LambdaMetricReader": "processors.metrics",
    "MetricReaderSettings": "export.settings",
    "traced_handler": "instrumentation.handler",
    "AttributesExtractor": "instrumentation.handler",
    "TriggerSpan": "instrumentation.triggers",
    "lambda_resource": "instrumentation.resource",
}


def __getattr__(name: str) -> Any:
    # The handler wrapper pulls in propagators and the resource machinery: only on first use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


# -- the import paths from before the layout by layer -----------------------------------------
#: Each module's path before the package was laid out by layer, and where it is now. The old
#: path gives the same module object (loaded on first use), so ``import``, ``from ... import``,
#: ``_HANDLER=otel_lambda_processor.lambda_wrapper.handler`` and monkeypatching keep working.
_MOVED = {
    "buffer": "export.buffer",
    "config": "export.config",
    "exporting": "export.worker",
    "pipeline": "export.pipeline",
    "processor": "processors.spans",
    "log_processor": "processors.logs",
    "metric_reader": "processors.metrics",
    "sampling": "processors.sampling",
    "lifecycle": "extension.lifecycle",
    "coordinator": "extension.coordinator",
    "sigterm": "extension.sigterm",
    "runtime_hooks": "extension.runtime_hooks",
    "handler": "instrumentation.handler",
    "triggers": "instrumentation.triggers",
    "resource": "instrumentation.resource",
    "configurator": "instrumentation.configurator",
    "cold_start": "instrumentation.cold_start",
    "lambda_wrapper": "instrumentation.lambda_wrapper",
}


class _OldPaths:
    """Finds ``otel_lambda_processor.<old>`` and loads it as the module now at its new path.

    Last on ``sys.meta_path``: it answers only what no other finder found (a real module always
    wins), and it imports nothing itself until an old path is asked for.
    """

    _prefix = __name__ + "."
    _spec_class: Any = type(__spec__)  # ModuleSpec, without importing importlib.machinery

    @classmethod
    def find_spec(cls, fullname: str, path: object = None, target: object = None) -> Any:
        if not fullname.startswith(cls._prefix):
            return None
        moved = _MOVED.get(fullname[len(cls._prefix) :])
        if moved is None:
            return None
        return cls._spec_class(fullname, cls, origin=cls._prefix + moved)

    @staticmethod
    def create_module(spec: "ModuleSpec") -> "ModuleType":
        assert spec.origin is not None
        __import__(spec.origin)
        module = sys.modules[spec.origin]
        # The import system sets ``__spec__`` to the alias's spec next: keep the real one.
        spec.loader_state = module.__spec__
        return module

    @staticmethod
    def exec_module(module: "ModuleType") -> None:
        # Already executed under its own name; give it back its own spec.
        module.__spec__ = module.__spec__.loader_state  # type: ignore[union-attr]


if not any(getattr(finder, "_prefix", None) == _OldPaths._prefix for finder in sys.meta_path):
    sys.meta_path.append(_OldPaths)

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
