"""Real parts for testing Lambda telemetry locally: an OTLP/HTTP receiver with fault injection."""

from .receiver import Fault, OTLPReceiver, ReceivedRequest, ReceivedSpan

__all__ = ["Fault", "OTLPReceiver", "ReceivedRequest", "ReceivedSpan"]
