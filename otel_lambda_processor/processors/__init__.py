"""The three processors: spans (:mod:`.spans`, with per-invocation :mod:`.sampling`), log
records (:mod:`.logs`) and metrics (:mod:`.metrics`), each the OpenTelemetry SDK interface
over the shared :mod:`..export` pipeline.

Layer: above :mod:`..export`, beside :mod:`..extension`: processors listen to lifecycle signals
(:mod:`..signals`) and never import what publishes them. Nothing is imported here.
"""
