"""Real parts for testing Lambda telemetry locally: a Lambda Runtime + Extensions API emulator,
the runtime commands to run a handler under it, and an OTLP/HTTP receiver for traces, logs and
metrics with fault injection.

Layer: a tool at the top, like the demo and the layer builder: nothing in the package imports
it, and the Lambda layer leaves it out.
"""

from .emulator import (
    Exchange,
    InvocationRecord,
    InvokeResult,
    LambdaEmulator,
    RuntimeInitError,
    ShutdownResult,
    awslambdaric_command,
    minimal_runtime_command,
)
from .receiver import (
    ExponentialBuckets,
    Fault,
    OTLPReceiver,
    ReceivedLogRecord,
    ReceivedMetricPoint,
    ReceivedRequest,
    ReceivedSpan,
)

__all__ = [
    "Exchange",
    "ExponentialBuckets",
    "Fault",
    "InvocationRecord",
    "InvokeResult",
    "LambdaEmulator",
    "OTLPReceiver",
    "ReceivedLogRecord",
    "ReceivedMetricPoint",
    "ReceivedRequest",
    "ReceivedSpan",
    "RuntimeInitError",
    "ShutdownResult",
    "awslambdaric_command",
    "minimal_runtime_command",
]
