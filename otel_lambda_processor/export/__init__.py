"""The export pipeline the three processors share: their settings, the ring buffer, the export
worker, and :class:`~.pipeline.ExportPipeline`, which turns lifecycle signals into exports.

Layer: above :mod:`..otlp` (the encodability probe), below :mod:`..processors`. It knows
nothing of spans, log records or metrics, nor of how the signals are produced. Nothing is
imported here: each module is loaded by whoever needs it.
"""
