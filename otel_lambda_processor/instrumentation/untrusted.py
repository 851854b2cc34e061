"""Values read out of what callers send (events, headers, context objects) without trusting
them: text that UTF-8 can encode, dicts and lists copied through the built-in types' own
methods, header names lower-cased, trace context headers parsed.

Owns that defensive reading; must not decide what a value means for the span (that is
:mod:`.triggers`) nor raise: anything of the wrong type reads as missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` as a plain ``str`` that UTF-8 can encode: each surrogate becomes U+FFFD.

    Every string copied from user data into a span goes through here: one string the OTLP
    encoder cannot encode loses the whole batch it is in. File names decoded with
    ``os.fsdecode`` carry such surrogates. A ``str`` subclass is copied without calling any of
    its methods. ASCII, the usual case, costs one check; the replacement is linear even for a
    string of millions of surrogates.
    """
    if type(text) is not str:
        text = str.__str__(text)
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:  # UTF-8 encodes every code point but the surrogates
        return _SURROGATE.sub("\ufffd", text)
    return text


def as_text(value: Any) -> str | None:
    """A string read from user data, cleaned; ``None`` for anything else."""
    if type(value) is str and value.isascii():  # the usual case, first: this runs per field
        return value
    return clean_text(value) if issubclass(type(value), str) else None


def text_or_none(value: Any) -> str | None:
    """A non-empty string read from user data, cleaned; ``None`` for anything else."""
    if type(value) is str and value.isascii():
        return value or None
    return (clean_text(value) or None) if issubclass(type(value), str) else None


def as_dict(value: Any) -> dict[str, Any]:
    """A dict read from user data; a subclass is copied through ``dict``'s own methods."""
    if type(value) is dict:
        return value
    return dict(dict.items(value)) if issubclass(type(value), dict) else {}


def as_list(value: Any) -> list[Any]:
    """A list read from user data; a subclass is copied through ``list``'s own iterator."""
    if type(value) is list:
        return value
    return list(list.__iter__(value)) if issubclass(type(value), list) else []


def lower_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Headers with lower-case names; single-value ``headers`` win over ``multiValueHeaders``."""
    out: dict[str, str] = {}
    for name, values in as_dict(event.get("multiValueHeaders")).items():
        key = as_text(name)
        strings = [v for v in as_list(values) if issubclass(type(v), str)]
        if key is not None and strings:
            joined = ",".join(strings)  # a plain str, whatever the items' types
            out[key.lower()] = joined if joined.isascii() else clean_text(joined)
    for name, value in as_dict(event.get("headers")).items():
        if type(name) is str and type(value) is str and name.isascii() and value.isascii():
            out[name.lower()] = value  # the usual header, without a call: there may be many
            continue
        key, text = as_text(name), as_text(value)
        if key is not None and text is not None:
            out[key.lower()] = text
    return out


def items_of(mapping: Any) -> list[tuple[Any, Any]]:
    """A mapping's items; a dict (subclass) read through ``dict``'s own method."""
    if issubclass(type(mapping), dict):
        return list(dict.items(mapping))
    return list(mapping.items()) if isinstance(mapping, Mapping) else []


def xray_span_context(header: Any) -> SpanContext | None:
    """The span context in an ``X-Amzn-Trace-Id`` value (``Root=1-…;Parent=…;Sampled=…``)."""
    text = as_text(header)
    if text is None:
        return None
    fields = {}
    for part in text.split(";"):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    root, parent = fields.get("Root", ""), fields.get("Parent", "")
    pieces = root.split("-")
    if len(pieces) != 3 or pieces[0] != "1" or len(pieces[1]) != 8 or len(pieces[2]) != 24:
        return None
    try:
        trace_id = int(pieces[1] + pieces[2], 16)
        span_id = int(parent, 16) if len(parent) == 16 else 0
    except ValueError:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if fields.get("Sampled") == "1" else 0)
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return context if context.is_valid else None


def traceparent_span_context(value: Any) -> SpanContext | None:
    text = as_text(value)
    if text is None:
        return None
    parts = text.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or parts[0] == "ff":
        return None
    try:
        context = SpanContext(
            int(parts[1], 16),
            int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3][:2], 16) & TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return context if context.is_valid else None
