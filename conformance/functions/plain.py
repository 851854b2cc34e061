"""A plain handler with no telemetry: the emulator must run it under awslambdaric as Lambda does."""

import os


def handler(event, context):
    if event.get("raise"):
        raise ValueError("asked to raise")
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function": context.function_name,
    }
