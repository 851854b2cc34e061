"""A minimal Lambda runtime loop of our own: ``python -m otel_lambda_processor.testing.runtime
module.handler``.

It speaks the Runtime API as AWS's runtime client does, but it is plain Python with no hooks to
offer: tests use it where awslambdaric would hide something (a runtime that reports no
"response sent"), and the demo uses it where awslambdaric has no wheels (it ships Linux only).
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

PREFIX = "/2018-06-01/runtime"


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


def _call(api: str, method: str, path: str, body: bytes | None = None, headers: Any = None) -> Any:
    connection = http.client.HTTPConnection(api)
    connection.request(method, PREFIX + path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m otel_lambda_processor.testing.runtime module.handler")
        return 2
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    module_name, _, function_name = argv[1].rpartition(".")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:
        body = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
        _call(
            api,
            "POST",
            "/init/error",
            body.encode(),
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
        )
        return 1
    while True:
        response, data = _call(api, "GET", "/invocation/next")
        request_id = response.headers.get("Lambda-Runtime-Aws-Request-Id")
        trace = response.headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        try:
            result = handler(json.loads(data or b"null"), Context(response.headers))
            _call(api, "POST", f"/invocation/{request_id}/response", json.dumps(result).encode())
        except Exception as error:
            error_body = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error),
            }
            _call(
                api,
                "POST",
                f"/invocation/{request_id}/error",
                json.dumps(error_body).encode(),
                {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
            )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
