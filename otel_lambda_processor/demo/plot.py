"""``demo --plot FILE``: each setup's last invocation on a timeline, when the response left and
when each export request went out (matplotlib, imported only to draw).

Owns the picture and the checks of its file before the demo runs; must not run the setups nor
print.
"""

from __future__ import annotations

import importlib.util
import io
import os
from typing import Any

from .model import COLLECTOR_LATENCY, INVOCATIONS, PLOT_FORMATS, SIGNALS, Row


def _plot_problem(path: str) -> str | None:
    """Why ``--plot path`` cannot be written, found before the demo runs; ``None`` if it can."""
    if os.path.isdir(path):
        return f"--plot {path}: that is a directory"
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in PLOT_FORMATS:
        return f"--plot {path}: the file name must end in .png, .svg or .pdf"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"--plot {path}: there is no directory {directory}"
    if not os.access(directory, os.W_OK):
        return f"--plot {path}: the directory {directory} is not writable"
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib: pip install 'otel-lambda-processor[plot]'"
    return None


def _extension_note(extensions: list[tuple[str, list[str]]]) -> str:
    if not extensions:
        return "no extension"
    events = sorted({event for _, subscribed in extensions for event in subscribed})
    return f"extension for {', '.join(events)}" if events else "extension, no events"


COLORS = {
    "handler": "#9ecae1",
    SIGNALS[0]: "#dd8452",
    SIGNALS[1]: "#55a868",
    SIGNALS[2]: "#8172b3",
    "response": "black",
    "next": "#2ca02c",
    "sigterm": "#c44e52",
}
LANES = {SIGNALS[0]: 0.22, SIGNALS[1]: 0.0, SIGNALS[2]: -0.22}  # export bars, around the row


def _figure(rows: list[Row], runtime: str) -> Any:
    """The timeline of each setup's last invocation. Every mark has an SVG id (its gid):
    ``handler:<setup>``, ``export:<setup>:<signal>:<n>``, ``response-sent:<setup>``,
    ``extension-next:<setup>`` and ``sigterm:<setup>``, with ``<setup>`` the row's key."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    figure = Figure(figsize=(10, 1.9 + 0.9 * len(rows)), layout="constrained")
    axis = figure.add_subplot()
    shown: set[str] = set()
    right = 0.0
    for y, row in enumerate(reversed(rows)):
        t = row.timeline
        if t is None:
            continue
        ms = {"response": t.response * 1000, "ended": t.ended * 1000}
        axis.barh(y, ms["response"], height=0.75, color=COLORS["handler"], gid=f"handler:{row.key}")
        for n, export in enumerate(t.exports):
            axis.barh(
                y + LANES[export.signal],
                (export.end - export.start) * 1000,
                left=export.start * 1000,
                height=0.18,
                color=COLORS[export.signal],
                gid=f"export:{row.key}:{export.signal.split()[0]}:{n}",
            )
            shown.add(export.signal)
            right = max(right, export.end * 1000)
        axis.plot(
            [ms["response"]],
            [y],
            marker="|",
            markersize=30,
            markeredgewidth=2.5,
            color=COLORS["response"],
            gid=f"response-sent:{row.key}",
        )
        right = max(right, ms["ended"])
        if any("INVOKE" in events for _, events in row.extensions):
            # Only an extension subscribed to INVOKE calls next after each invocation.
            axis.plot(
                [ms["ended"]],
                [y],
                marker=">",
                markersize=9,
                linestyle="none",
                color=COLORS["next"],
                gid=f"extension-next:{row.key}",
            )
            shown.add("next")
        if t.sigterm is not None:
            at = t.sigterm * 1000
            axis.plot(
                [at, at],
                [y - 0.42, y + 0.42],
                linestyle="--",
                linewidth=1.5,
                color=COLORS["sigterm"],
                gid=f"sigterm:{row.key}",
            )
            shown.add("sigterm")
            right = max(right, at)
    axis.set_xlim(0, right * 1.04 + 1)
    axis.set_ylim(-0.6, len(rows) - 0.4)
    axis.set_yticks(
        range(len(rows)),
        [f"{r.setup}\n({_extension_note(r.extensions)})" for r in reversed(rows)],
    )
    axis.set_xlabel("ms since the invocation started")
    axis.grid(axis="x", alpha=0.3)
    axis.set_title(
        "When each setup exports an invocation's telemetry, and who waits for it",
        fontsize="large",
        pad=20,
    )
    axis.text(
        0.5,
        1.015,
        f"the last of {INVOCATIONS} invocations per setup; collector "
        f"{COLLECTOR_LATENCY * 1000:.0f} ms away; run by {runtime}",
        transform=axis.transAxes,
        horizontalalignment="center",
        verticalalignment="bottom",
        fontsize="small",
    )
    handles: list[Any] = [
        Patch(color=COLORS["handler"], label="invocation until the response"),
        Line2D(
            [],
            [],
            marker="|",
            markersize=12,
            markeredgewidth=2.5,
            linestyle="none",
            color=COLORS["response"],
            label="response sent",
        ),
    ]
    handles += [
        Patch(color=COLORS[signal], label=f"export request: {signal}")
        for signal in SIGNALS
        if signal in shown
    ]
    if "next" in shown:
        handles.append(
            Line2D(
                [],
                [],
                marker=">",
                linestyle="none",
                color=COLORS["next"],
                label="extension calls next (the invocation ends)",
            )
        )
    if "sigterm" in shown:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="--",
                color=COLORS["sigterm"],
                label="SIGTERM (the environment shuts down)",
            )
        )
    legend = figure.legend(
        handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize="small"
    )
    legend.set_gid("legend")
    axis.patch.set_gid("plot-area")
    return figure


def _plot(rows: list[Row], path: str, runtime: str) -> str | None:
    """Draw the timeline to ``path``; the reason it could not, or ``None``."""
    try:
        figure = _figure(rows, runtime)
    except ImportError as error:
        return f"--plot needs matplotlib ({error}): pip install 'otel-lambda-processor[plot]'"
    picture = io.BytesIO()  # drawn in full first: a file is either written whole or not at all
    figure.savefig(picture, format=os.path.splitext(path)[1].lower().lstrip("."))
    try:
        with open(path, "wb") as file:
            file.write(picture.getvalue())
    except OSError as error:
        return f"--plot {path}: {error.strerror or error}"
    return None
