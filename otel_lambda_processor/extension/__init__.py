"""The Lambda lifecycle: the sans-IO model (:mod:`.lifecycle`), the internal extension that
does its I/O (:mod:`.coordinator`), the runtime client hooks and the SIGTERM watcher.

Layer: beside :mod:`..processors`: it publishes lifecycle signals (:mod:`..signals`) and never
imports a processor. Imported only inside Lambda, at the first processor's construction.
"""
