"""Owns the list of questions in report order: one module each, each defining ``QUESTION``.
Must not import a question when imported itself: a pyperf worker loads only its own.
"""

from __future__ import annotations

import importlib

from harness import Question

#: module names, in report order; each module defines ``QUESTION``
ORDER = (
    "on_end",
    "sampling",
    "span_overhead",
    "span_export",
    "import_time",
    "init",
    "memory",
    "registration",
    "wrapper",
    "log_emit",
    "metric_add",
    "signal_encoders",
    "response_latency",
    "signals_latency",
)


def load() -> list[Question]:
    """Every question, in report order."""
    questions = [importlib.import_module(f"questions.{name}").QUESTION for name in ORDER]
    for name, question in zip(ORDER, questions, strict=True):
        assert question.name == name, f"questions.{name} names itself {question.name!r}"
    return questions
