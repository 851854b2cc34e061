"""Instrumentation: the traced handler and what it describes (triggers, the cold start, the
resource), the zero-code configurator and the layer's handler wrapper.

Layer: above the processors and the lifecycle; it says "handler done" through :mod:`..signals`
and builds processors, but nothing below imports it. Nothing is imported here.
"""
