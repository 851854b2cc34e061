"""Hooks on AWS's runtime client: know when an invocation starts and when its response leaves.

The runtime client (``awslambdaric`` in container images; the managed Python runtimes bundle the
same package) calls ``wait_next_invocation`` to get work and ``post_invocation_result`` /
``post_invocation_error`` right after the handler returns. Wrapping those gives the coordinator
its best signals without any handler wrapper. Everything here is defensive: if the module, class
or method is missing or looks different, nothing is touched and one debug line says why.

Owns the wrapping of the runtime client's methods; must not publish a signal itself (it tells
its listener, the coordinator) nor change what the runtime client returns or raises.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..signals import epoch_ms_or_none

if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # for type checkers only: a real one costs cold start (see signals)

_logger = logging.getLogger("otel_lambda_processor.runtime_hooks")  # named as before the layout

MODULE = "awslambdaric.lambda_runtime_client"
_MARK = "__otel_lambda_processor_hook__"

# method name -> the parameters it must take first (after self)
_EXPECTED = {
    "wait_next_invocation": (),
    "post_invocation_result": ("invoke_id", "result_data"),
    "post_invocation_error": ("invoke_id", "error_response_data"),
}


class RuntimeListener(Protocol):
    def runtime_invocation(
        self, request_id: str, deadline_ms: int | None, trace_header: str | None, thread: int
    ) -> None: ...

    def runtime_result_ready(self, request_id: str) -> None: ...

    def runtime_response_sent(self, request_id: str) -> None: ...


def _looks_right(function: Any, leading: tuple[str, ...]) -> bool:
    if not callable(function):
        return False
    try:
        params = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return False
    return params[: len(leading) + 1] == ["self", *leading]


def install(listener: RuntimeListener) -> bool:
    """Wrap the runtime client's methods to report to ``listener``; ``True`` if it did."""
    module = sys.modules.get(MODULE)
    if module is None:
        _logger.debug("%s is not loaded: no response-sent signal from the runtime", MODULE)
        return False
    targets: list[tuple[type, str]] = []
    for name, leading in _EXPECTED.items():
        owners = [
            cls
            for cls in vars(module).values()
            if isinstance(cls, type) and cls.__module__ == module.__name__ and name in vars(cls)
        ]
        if not owners or not all(_looks_right(vars(c)[name], leading) for c in owners):
            _logger.debug("%s has no usable %s: runtime hooks left alone", MODULE, name)
            return False
        targets.extend((cls, name) for cls in owners)
    for cls, name in targets:
        original = vars(cls)[name]
        if getattr(original, _MARK, False):
            continue
        setattr(cls, name, _wrap(name, original, listener))
    _logger.debug("runtime client hooked: %s", ", ".join(f"{c.__name__}.{n}" for c, n in targets))
    return True


def _wrap(name: str, original: Callable[..., Any], listener: RuntimeListener) -> Callable[..., Any]:
    if name == "wait_next_invocation":

        @functools.wraps(original)
        def wait_next_invocation(self: Any, *args: Any, **kwargs: Any) -> Any:
            request = original(self, *args, **kwargs)
            try:
                request_id = getattr(request, "invoke_id", None)
                deadline_ms = epoch_ms_or_none(getattr(request, "deadline_time_in_ms", None))
                trace_header = getattr(request, "x_amzn_trace_id", None)
            except Exception:  # whatever the runtime hands back, its loop goes on
                _logger.debug("could not read the invocation request", exc_info=True)
                return request
            _report(
                listener.runtime_invocation,
                request_id,
                deadline_ms,
                trace_header if isinstance(trace_header, str) else None,
                threading.get_ident(),
            )
            return request

        wrapper = wait_next_invocation
    else:

        @functools.wraps(original)
        def post(self: Any, invoke_id: str, *args: Any, **kwargs: Any) -> Any:
            _report(listener.runtime_result_ready, invoke_id)
            try:
                return original(self, invoke_id, *args, **kwargs)
            finally:
                _report(listener.runtime_response_sent, invoke_id)

        wrapper = post
    setattr(wrapper, _MARK, True)
    return wrapper


def _report(callback: Callable[..., None], request_id: Any, *args: Any) -> None:
    if not isinstance(request_id, str):
        return
    try:
        callback(request_id, *args)
    except Exception:  # telemetry must never break the runtime loop
        _logger.debug("runtime hook callback failed", exc_info=True)
