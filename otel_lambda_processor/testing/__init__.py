"""Real parts for testing Lambda telemetry locally: a Lambda Runtime + Extensions API emulator,
the runtime commands to run a handler under it, and an OTLP/HTTP receiver with fault injection."""

from .emulator import (
    Exchange,
    InvocationRecord,
    InvokeResult,
    LambdaEmulator,
    ShutdownResult,
    awslambdaric_command,
    minimal_runtime_command,
)
from .receiver import Fault, OTLPReceiver, ReceivedRequest, ReceivedSpan

__all__ = [
    "Exchange",
    "Fault",
    "InvocationRecord",
    "InvokeResult",
    "LambdaEmulator",
    "OTLPReceiver",
    "ReceivedRequest",
    "ReceivedSpan",
    "ShutdownResult",
    "awslambdaric_command",
    "minimal_runtime_command",
]
