"""A minimal Lambda runtime loop of our own: ``python -m otel_lambda_processor.testing.runtime
[--hooks] module.handler``.

It speaks the Runtime API as AWS's runtime client does, in plain Python, through a client with
the methods of awslambdaric's (``wait_next_invocation``, ``post_invocation_result``,
``post_invocation_error``).

By default it offers no hooks: tests and benchmarks use it where awslambdaric would hide
something, a runtime that reports no "response sent" (so "handler done" is the signal to export,
or without it the deadline). With ``--hooks`` it puts its client where the package's runtime
hooks look for awslambdaric's (:data:`HOOKED_MODULE`), so that the coordinator learns when the
handler has returned and when the response has been posted, and ``async`` exports after the
response, as under AWS's runtime client (which the managed Python runtimes bundle). The demo
runs it that way where awslambdaric is missing (it ships Linux wheels only).
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import sys
import time
import traceback
import types
from typing import Any, cast

PREFIX = "/2018-06-01/runtime"
HOOKS_FLAG = "--hooks"
#: Where the runtime hooks look for AWS's runtime client (``runtime_hooks.MODULE``; not imported
#: from there, which would load the package before the handler does).
HOOKED_MODULE = "awslambdaric.lambda_runtime_client"
#: The client's methods that the runtime hooks wrap.
HOOKED_METHODS = ("wait_next_invocation", "post_invocation_result", "post_invocation_error")


class Context:
    """The parts of Lambda's context object that handlers use."""

    def __init__(self, headers: Any) -> None:
        self.aws_request_id: str = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn: str = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class InvocationRequest:
    """One invocation, with the attributes of awslambdaric's ``InvocationRequest`` that the
    runtime hooks read (``invoke_id``, ``deadline_time_in_ms``, ``x_amzn_trace_id``)."""

    def __init__(self, headers: Any, event_body: bytes) -> None:
        self.headers = headers
        self.invoke_id: str | None = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.deadline_time_in_ms: str | None = headers.get("Lambda-Runtime-Deadline-Ms")
        self.x_amzn_trace_id: str | None = headers.get("Lambda-Runtime-Trace-Id")
        self.event_body = event_body


class RuntimeClient:
    """The Runtime API calls, one HTTP connection each; failures raise (the loop then ends)."""

    def __init__(self, api: str) -> None:
        self.api = api

    def _call(
        self, method: str, path: str, body: bytes | None = None, headers: Any = None
    ) -> tuple[Any, bytes]:
        connection = http.client.HTTPConnection(self.api)
        try:
            connection.request(method, PREFIX + path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response, response.read()
        finally:
            connection.close()

    def wait_next_invocation(self) -> InvocationRequest:
        response, data = self._call("GET", "/invocation/next")
        return InvocationRequest(response.headers, data)

    def post_invocation_result(
        self, invoke_id: str, result_data: bytes, content_type: str = "application/json"
    ) -> None:
        self._call(
            "POST", f"/invocation/{invoke_id}/response", result_data, {"Content-Type": content_type}
        )

    def post_invocation_error(
        self, invoke_id: str, error_response_data: str, xray_fault: str = ""
    ) -> None:
        self._call(
            "POST",
            f"/invocation/{invoke_id}/error",
            error_response_data.encode(),
            {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
        )

    def post_init_error(self, error_response_data: str, error_type: str) -> None:
        self._call(
            "POST",
            "/init/error",
            error_response_data.encode(),
            {"Lambda-Runtime-Function-Error-Type": error_type},
        )


def hookable_client() -> type[RuntimeClient]:
    """The client class, put where the runtime hooks find awslambdaric's; call before the
    handler's module is imported (the coordinator hooks the runtime when it starts, at the first
    processor). Where awslambdaric's module is loaded already, it is left alone."""
    if HOOKED_MODULE in sys.modules:
        return RuntimeClient
    module = types.ModuleType(
        HOOKED_MODULE, "Stand-in for AWS's runtime client: otel_lambda_processor.testing.runtime."
    )
    namespace: dict[str, Any] = {name: vars(RuntimeClient)[name] for name in HOOKED_METHODS}
    namespace["__module__"] = HOOKED_MODULE
    client = cast("type[RuntimeClient]", type("LambdaRuntimeClient", (RuntimeClient,), namespace))
    module.LambdaRuntimeClient = client  # type: ignore[attr-defined]
    sys.modules[HOOKED_MODULE] = module
    return client


def runtime_command(handler: str, *, hooks: bool = False) -> list[str]:
    """The command that runs ``handler`` under this loop; ``hooks``: report "response sent" as
    AWS's runtime client does (without, it is ``minimal_runtime_command``)."""
    flag = [HOOKS_FLAG] if hooks else []
    return [sys.executable, "-m", "otel_lambda_processor.testing.runtime", *flag, handler]


def main(argv: list[str]) -> int:
    args = argv[1:]
    hooks = bool(args) and args[0] == HOOKS_FLAG
    if hooks:
        args = args[1:]
    if len(args) != 1 or args[0].startswith("-"):
        print(
            f"usage: python -m otel_lambda_processor.testing.runtime [{HOOKS_FLAG}] module.handler"
        )
        return 2
    client = (hookable_client() if hooks else RuntimeClient)(os.environ["AWS_LAMBDA_RUNTIME_API"])
    module_name, _, function_name = args[0].rpartition(".")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:
        body = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
        client.post_init_error(body, "Runtime.ImportModuleError")
        return 1
    while True:
        request = client.wait_next_invocation()
        request_id = request.invoke_id or ""
        if request.x_amzn_trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = request.x_amzn_trace_id
        try:
            event = json.loads(request.event_body or b"null")
            result = json.dumps(handler(event, Context(request.headers))).encode()
        except Exception as error:
            error_body = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error),
            }
            client.post_invocation_error(request_id, json.dumps(error_body))
        else:
            client.post_invocation_result(request_id, result)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
