"""The README's first command: the local demo runs a function under the emulator in every setup,
exports its spans, log records and metrics, prints the table and one invocation's telemetry,
shows which invocations per-invocation sampling kept and why, draws the timeline when asked, and
cleans up after itself; without awslambdaric it says so in one line and runs the function under
the package's minimal loop, with the same result."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from otel_lambda_processor import demo as demo_module
from otel_lambda_processor.demo import (
    COLLECTOR_LATENCY,
    COUNTERS,
    FAILING_ORDER,
    INIT_SPANS,
    INVOCATIONS,
    KEEP_SLOWER_THAN_MS,
    LOGS_PER_INVOCATION,
    METRICS,
    ORDER_VALUES,
    SAMPLED_ORDERS,
    SETUPS,
    SLOW_ORDER,
    SPANS_PER_INVOCATION,
    Count,
    Outcome,
    Row,
    Sampling,
    run_setups,
)

# Run the CLI with these modules missing, as in an environment that does not have them.
WITHOUT = (
    "import sys; sys.modules.update(dict.fromkeys(sys.argv[1].split(','))); "
    "from otel_lambda_processor.__main__ import main; sys.exit(main(sys.argv[2:]))"
)


def run_demo(*args: str, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``python -m otel_lambda_processor demo *args``, as if the modules ``without`` were not
    installed."""
    command = ["-c", WITHOUT, ",".join(without)] if without else ["-m", "otel_lambda_processor"]
    return subprocess.run(
        [sys.executable, *command, "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


AWSLAMBDARIC = sys.platform == "linux" and importlib.util.find_spec("awslambdaric") is not None


# -- what it prints ---------------------------------------------------------------------------
# The demo runs once for these tests; each reads one part of what it printed.

ROW = re.compile(
    r"^(?P<setup>\S.*?) +(?P<p50>[\d.]+) ms +(?P<p95>[\d.]+) ms +(?:(?P<post>[\d.]+) ms|—) +"
    r"(?P<spans>\d+)/(?P<spans_produced>\d+) +(?P<logs>\d+)/(?P<logs_produced>\d+) +"
    r"(?P<points>\d+)/(?P<points_produced>\d+)$"
)
SYNC, ASYNC = "sync", "async"
FINALIZE, USUAL = "finalize + BatchSpanProcessor", "BatchSpanProcessor + force_flush"
SAMPLING = "async + sampling"
EVERY_SETUP = {SYNC, ASYNC, FINALIZE, USUAL, SAMPLING}
SPANS = INVOCATIONS * SPANS_PER_INVOCATION + INIT_SPANS  # every setup's function ends as many
ORDERS = [order.number for order in SAMPLED_ORDERS]
ERROR = Status.STATUS_CODE_ERROR
# The line under the sampling row: the rest of its spans, by the processor's counters.
ACCOUNTING = re.compile(
    r"^  spans: (?P<exported>\d+) exported \+ (?P<sampled_out>\d+) sampled out \+ "
    r"(?P<dropped>\d+) dropped = (?P<ended>\d+) ended \(the processor's counters\)$",
    flags=re.M,
)


class Run(NamedTuple):
    result: subprocess.CompletedProcess[str]
    picture: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo as the Quickstart runs it (with awslambdaric where it is installed)."""
    picture = tmp_path_factory.mktemp("demo") / "timeline.svg"
    return Run(run_demo("--plot", str(picture)), picture)


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo where awslambdaric is missing."""
    picture = tmp_path_factory.mktemp("fallback") / "timeline.svg"
    return Run(run_demo("--plot", str(picture), without=("awslambdaric",)), picture)


@pytest.fixture
def demo(run: Run) -> subprocess.CompletedProcess[str]:
    return run.result


def table(demo: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    rows = {}
    for line in demo.stdout.splitlines():
        match = ROW.match(line)
        if match:
            rows[match["setup"]] = match.groupdict()
    return rows


def tree(demo: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of the span tree, from the root span to the metrics line."""
    lines = demo.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("demo-orders"))
    end = next(i for i, line in enumerate(lines) if "metrics after the last invocation" in line)
    return lines[start : end + 1]


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def test_every_setup_exports_every_span_and_log_record(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert demo.returncode == 0, demo.stdout + demo.stderr
    rows = table(demo)
    assert set(rows) == EVERY_SETUP, demo.stdout
    for setup, row in rows.items():
        assert row["spans_produced"] == str(SPANS)  # the cold start's init span, once
        if setup != SAMPLING:  # that one exports the invocations it keeps
            assert row["spans"] == str(SPANS)
        # Log records are not sampled.
        assert row["logs"] == row["logs_produced"] == str(INVOCATIONS * LOGS_PER_INVOCATION)
    assert "was lost" not in demo.stdout
    assert "did not keep its promises" not in demo.stdout


@pytest.mark.parametrize(
    ("setup", "collections", "metrics"),
    [
        (SYNC, INVOCATIONS, METRICS),  # before every response, once however many say handler done
        (ASYNC, INVOCATIONS + 1, METRICS),  # after every response, and at SIGTERM
        (FINALIZE, 1, METRICS),  # at SIGTERM only
        (USUAL, INVOCATIONS, METRICS),  # at every force_flush
        (SAMPLING, INVOCATIONS + 1, METRICS + COUNTERS),  # async, and the processor's counters
    ],
)
def test_metric_points_are_one_per_metric_at_each_collection_of_the_setup(
    demo: subprocess.CompletedProcess[str],
    setup: str,
    collections: int,
    metrics: tuple[str, ...],
) -> None:
    row = table(demo)[setup]
    assert row["points"] == row["points_produced"] == str(collections * len(metrics)), row


def test_who_waits_for_the_collector(demo: subprocess.CompletedProcess[str]) -> None:
    """Lower bounds only: every export request takes the receiver's latency at least."""
    rows = table(demo)
    latency_ms = COLLECTOR_LATENCY * 1000
    assert float(rows[SYNC]["p50"]) >= latency_ms  # the export before the response
    # The usual setup flushes the tracer, meter and logger providers one after the other.
    assert float(rows[USUAL]["p50"]) >= 3 * latency_ms
    assert float(rows[ASYNC]["post"]) >= latency_ms  # the export after the response
    for setup in (ASYNC, FINALIZE):  # nobody waits for their exports
        assert float(rows[setup]["p50"]) < float(rows[USUAL]["p50"])


def test_the_span_tree_shows_each_log_record_under_the_span_it_was_emitted_in(
    demo: subprocess.CompletedProcess[str],
) -> None:
    lines = tree(demo)
    text = [line.strip() for line in lines]
    last_order = 1000 + INVOCATIONS
    for span, record in [
        ("validate order", f"[INFO] order {last_order} validated: {ORDER_VALUES[-1]:.2f} USD"),
        ("load customer", "[WARN] customer cache cold: reading 3 tables"),
        ("render", f"[INFO] order {last_order} rendered"),
    ]:
        at = next(i for i, t in enumerate(text) if t.startswith(span + "  "))
        assert text[at + 1] == record, lines  # emitted first thing in that span
        assert indent(lines[at + 1]) == indent(lines[at]) + 2, lines
    # The SELECTs follow the record in "load customer", at the same depth: ordered by time.
    warn = text.index("[WARN] customer cache cold: reading 3 tables")
    assert text[warn + 1].startswith("SELECT customers"), lines
    assert indent(lines[warn + 1]) == indent(lines[warn]), lines
    # Only the records of that invocation's trace.
    assert sum(t.startswith("[") for t in text) == LOGS_PER_INVOCATION, lines
    assert "faas.trigger=other" in demo.stdout


def test_the_metrics_line_counts_every_order(demo: subprocess.CompletedProcess[str]) -> None:
    line = tree(demo)[-1].strip()
    assert line == (
        f"metrics after the last invocation: orders = {INVOCATIONS}; order.value count "
        f"{INVOCATIONS}, sum {sum(ORDER_VALUES):.2f} USD"
    ), demo.stdout


def test_the_output_fits_100_columns(run: Run, fallback: Run) -> None:
    for result in (run.result, fallback.result):
        assert max(len(line) for line in result.stdout.splitlines()) <= 100, result.stdout


# -- per-invocation sampling ------------------------------------------------------------------
# async + sampling: ratio 0.2 and a threshold; order 1003 is slow, order 1005 fails, the others
# are ordinary. Which ordinary ones are kept is chance: the checks hold whichever they are.


def spans_of(order: int) -> int:
    """The spans an order's invocation ends: the first also has the cold start's init span."""
    return SPANS_PER_INVOCATION + (INIT_SPANS if order == ORDERS[0] else 0)


def sampling_section(result: subprocess.CompletedProcess[str]) -> tuple[dict[int, str], list[int]]:
    """The orders the demo says were kept (with why) and sampled out."""
    _, section = result.stdout.split(f"per-invocation sampling in {SAMPLING}", 1)
    text = " ".join(section.split())  # the lists may wrap
    match = re.search(r"kept: (.*?) sampled out: (.*?) \(an ordinary invocation", text)
    assert match, result.stdout
    kept = {int(order): why for order, why in re.findall(r"(\d+) \(([^)]*)\)", match[1])}
    return kept, [int(order) for order in re.findall(r"\d+", match[2])]


def slower_than_the_threshold(why: str) -> bool:
    slow = re.fullmatch(r"slow: (\d+) ms", why)
    return slow is not None and int(slow[1]) >= KEEP_SLOWER_THAN_MS  # rounded to the ms


@pytest.mark.parametrize("which", ["run", "fallback"])
def test_sampling_accounts_for_every_span_exported_sampled_out_or_dropped(
    which: str, request: pytest.FixtureRequest
) -> None:
    result: subprocess.CompletedProcess[str] = request.getfixturevalue(which).result
    assert result.returncode == 0, result.stdout + result.stderr
    row = table(result)[SAMPLING]
    accounting = ACCOUNTING.search(result.stdout)
    assert accounting, result.stdout
    exported, sampled_out, dropped, ended = (
        int(accounting[name]) for name in ("exported", "sampled_out", "dropped", "ended")
    )
    assert (exported, ended) == (int(row["spans"]), int(row["spans_produced"])) == (exported, SPANS)
    assert exported + dropped + sampled_out == ended
    assert dropped == 0
    # The processor's count is exactly the spans of the invocations the collector never got:
    # whole invocations, the first with its init span.
    _, out = sampling_section(result)
    assert sampled_out == sum(spans_of(order) for order in out), result.stdout


def test_sampling_keeps_the_failed_and_the_slow_invocation_and_says_why(
    demo: subprocess.CompletedProcess[str],
) -> None:
    kept, out = sampling_section(demo)
    assert sorted([*kept, *out]) == ORDERS, demo.stdout  # each order once, kept or not
    assert kept[FAILING_ORDER] == "error", demo.stdout
    assert slower_than_the_threshold(kept[SLOW_ORDER]), demo.stdout
    for order, why in kept.items():
        if order not in (SLOW_ORDER, FAILING_ORDER):  # by chance (or slow on a busy machine)
            assert why == "ordinary, by chance" or slower_than_the_threshold(why), demo.stdout
    assert "LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO=0.2" in demo.stdout
    assert f"LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS={KEEP_SLOWER_THAN_MS}" in demo.stdout


@pytest.fixture(scope="module")
def at_ratio_0() -> Row:
    """The sampling setup with ratio 0: only what the rules keep reaches the collector."""
    setup = next(s for s in SETUPS if s.name == SAMPLING)
    (row,) = run_setups([setup._replace(sample_ratio=0.0)])
    return row


def test_at_ratio_0_the_failed_and_the_slow_invocation_arrive_whole_and_no_ordinary_one(
    at_ratio_0: Row,
) -> None:
    row = at_ratio_0
    # Log records are not sampled: each order's first one names it and gives its trace.
    assert len(row.received_logs) == INVOCATIONS * LOGS_PER_INVOCATION
    trace_of = {
        int(match[1]): record.trace_id
        for record in row.received_logs
        if (match := re.match(r"order (\d+) validated", str(record.body)))
    }
    assert sorted(trace_of) == ORDERS
    arrived = {
        order: [s for s in row.received_spans if s.span.trace_id == trace_of[order]]
        for order in ORDERS
    }
    assert sum(len(spans) for spans in arrived.values()) == len(row.received_spans)

    def invocation_ms(order: int) -> float:
        (root,) = [s for s in arrived[order] if "faas.trigger" in s.attributes]
        return (root.span.end_time_unix_nano - root.span.start_time_unix_nano) / 1e6

    assert len(arrived[FAILING_ORDER]) == spans_of(FAILING_ORDER)
    errors = {s.name for s in arrived[FAILING_ORDER] if s.span.status.code == ERROR}
    assert errors == {"render", "demo-orders"}  # where it raised, and the invocation span
    assert len(arrived[SLOW_ORDER]) == spans_of(SLOW_ORDER)
    assert invocation_ms(SLOW_ORDER) > KEEP_SLOWER_THAN_MS
    ordinary = [order for order in ORDERS if order not in (SLOW_ORDER, FAILING_ORDER)]
    for order in ordinary:  # none arrives, unless it was slow itself (a busy machine)
        assert not arrived[order] or invocation_ms(order) > KEEP_SLOWER_THAN_MS, order
    # The processor counted exactly the ordinary invocations' spans as sampled out.
    sampling = row.sampling
    assert sampling is not None and sampling.dropped == 0
    missing = [order for order in ORDERS if not arrived[order]]
    assert sampling.sampled_out == sum(spans_of(order) for order in missing)
    assert len(row.received_spans) + sampling.sampled_out == SPANS
    assert not row.lost() and sampling.problems(row.spans) == []


def test_a_sampling_run_that_breaks_the_rules_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ratio 0 and no threshold: the slow order is sampled out, which the demo's sampling row
    promises never happens; the demo says so and exits with 1."""
    sync, async_, *_, sampling = SETUPS
    broken = sampling._replace(sample_ratio=0.0, keep_slower_than_ms=None)
    monkeypatch.setattr(demo_module, "SETUPS", (sync, async_, broken))
    assert demo_module.main() == 1
    out = capsys.readouterr().out
    assert (
        f"sampling did not keep its promises in {SAMPLING}: order {SLOW_ORDER} (slow) was " in out
    )
    assert "telemetry was lost" not in out  # sampled out, and counted: not lost


# What the demo itself checks of a sampling run, without running one: a healthy outcome at ratio
# 0 (the slow and the failed order kept whole, the rest sampled out) and ways to break it.


def healthy() -> tuple[Sampling, Count]:
    """14 spans exported (orders 1003 and 1005, 7 each), 29 sampled out (1001 with its init span,
    1002, 1004, 1006), none dropped: 43 ended."""
    kept = {SLOW_ORDER: 150.0, FAILING_ORDER: 10.0}  # their invocation spans' durations, in ms
    outcomes = [
        Outcome(order, spans_of(order.number), 0, False, None)
        if order.number not in kept
        else Outcome(
            order,
            spans_of(order.number),
            spans_of(order.number),
            order.number == FAILING_ORDER,
            kept[order.number],
        )
        for order in SAMPLED_ORDERS
    ]
    exported = sum(v.arrived for v in outcomes)
    return Sampling(0.0, KEEP_SLOWER_THAN_MS, SPANS - exported, 0, outcomes, 0), Count(
        exported, SPANS
    )


def test_a_healthy_sampling_outcome_has_no_problems() -> None:
    sampling, spans = healthy()
    assert (spans.exported, sampling.sampled_out) == (14, 29)
    assert sampling.problems(spans) == []
    assert [sampling.why(v) for v in sampling.outcomes if v.kept] == ["slow: 150 ms", "error"]


def healthy_but(order: int, spans: int) -> list[Outcome]:
    """The healthy outcomes, but ``spans`` of ``order``'s arrived."""
    return [
        v._replace(arrived=spans) if v.order.number == order else v for v in healthy()[0].outcomes
    ]


@pytest.mark.parametrize(
    ("exported", "changes", "says"),
    [
        (14, {"sampled_out": None}, "the processor's counters did not arrive"),
        (14, {"dropped": 1}, "exported + dropped + sampled out = 44, but 43 ended"),
        (
            14,
            {"sampled_out": 28, "dropped": 1},
            "29 spans of invocations that did not arrive, but 28 counted as sampled out",
        ),
        (
            7,
            {"outcomes": healthy_but(FAILING_ORDER, 0), "sampled_out": 36},
            f"order {FAILING_ORDER} (failed) was sampled out",
        ),
        (
            7,
            {"outcomes": healthy_but(SLOW_ORDER, 0), "sampled_out": 36},
            f"order {SLOW_ORDER} (slow) was sampled out",
        ),
        (
            10,
            {"outcomes": healthy_but(SLOW_ORDER, 3), "dropped": 4},
            f"order {SLOW_ORDER}: 3 of its 7 spans arrived",
        ),
        (16, {"strays": 2}, "2 spans arrived outside the trace of any invocation"),
    ],
    ids=[
        "no counters",
        "more accounted than ended",
        "counted but arrived",
        "error sampled out",
        "slow sampled out",
        "partial trace",
        "strays",
    ],
)
def test_the_demo_says_where_sampling_broke_its_promises(
    exported: int, changes: dict[str, Any], says: str
) -> None:
    sampling, spans = healthy()
    problems = sampling._replace(**changes).problems(spans._replace(exported=exported))
    assert says in problems, problems


# -- without awslambdaric ---------------------------------------------------------------------


def test_without_awslambdaric_one_line_says_so_and_how_to_get_it(fallback: Run) -> None:
    result = fallback.result
    first, *rest = result.stdout.splitlines()
    assert "awslambdaric" in first and "using the minimal runtime loop" in first, first
    assert "[demo]" in first, first  # the extra that installs it
    assert rest[0].startswith("otel-lambda-processor demo:"), result.stdout  # one line only
    assert "the package's minimal runtime loop" in result.stdout


def test_with_awslambdaric_installed_no_fallback_line(
    demo: subprocess.CompletedProcess[str],
) -> None:
    if not AWSLAMBDARIC:
        pytest.skip("awslambdaric is not installed here")
    assert demo.stdout.startswith("otel-lambda-processor demo:"), demo.stdout
    assert "AWS's runtime client (awslambdaric) under the local Lambda emulator" in demo.stdout
    assert "minimal runtime loop" not in demo.stdout


def test_without_awslambdaric_every_setup_still_exports_everything(fallback: Run) -> None:
    result = fallback.result
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table(result)
    assert set(rows) == EVERY_SETUP, result.stdout
    for setup, row in rows.items():
        for signal_ in ("spans", "logs", "points") if setup != SAMPLING else ("logs", "points"):
            assert row[signal_] == row[f"{signal_}_produced"], row
    assert float(rows[ASYNC]["post"]) >= COLLECTOR_LATENCY * 1000  # exported after the response
    assert float(rows[ASYNC]["p50"]) < float(rows[USUAL]["p50"])


# -- the picture ------------------------------------------------------------------------------
# Every mark of the picture has an SVG id: handler:<setup>, export:<setup>:<signal>:<n>,
# response-sent:<setup>, extension-next:<setup>, sigterm:<setup>; and legend, plot-area.

SVG = "{http://www.w3.org/2000/svg}"
KEYS = {SYNC: "sync", ASYNC: "async", FINALIZE: "finalize+batch", USUAL: "batch+flush"}


def marks(picture: Path) -> dict[str, list[tuple[float, float]]]:
    """The points (x, y, in the picture's coordinates) of each mark with an id of ours."""
    found: dict[str, list[tuple[float, float]]] = {}
    for group in ET.parse(picture).getroot().iter(f"{SVG}g"):
        gid = group.get("id", "")
        if ":" not in gid and gid not in ("legend", "plot-area"):
            continue
        shapes = {id(e) for defs in group.iter(f"{SVG}defs") for e in defs.iter()}  # markers
        points: list[tuple[float, float]] = []
        for element in group.iter():
            if id(element) in shapes:
                continue
            if element.tag == f"{SVG}path":
                numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d", ""))]
                points += zip(numbers[::2], numbers[1::2], strict=True)
            elif element.tag == f"{SVG}use" and element.get("x") is not None:
                points.append((float(element.get("x", 0)), float(element.get("y", 0))))
        found[gid] = points
    return found


def xs(found: dict[str, list[tuple[float, float]]], prefix: str) -> list[float]:
    return [x for gid, points in found.items() if gid.startswith(prefix) for x, _ in points]


@pytest.fixture(params=["awslambdaric", "minimal loop"])
def picture(request: pytest.FixtureRequest) -> Path:
    if request.param == "awslambdaric" and not AWSLAMBDARIC:
        pytest.skip("awslambdaric is not installed here")
    run: Run = request.getfixturevalue("run" if request.param == "awslambdaric" else "fallback")
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    assert f"timeline written to {run.picture}" in run.result.stdout
    return run.picture


def test_the_picture_says_what_it_shows(picture: Path) -> None:
    text = picture.read_text()
    assert "<!-- When each setup exports an invocation's telemetry, and who waits for it" in text
    assert f"the last of {INVOCATIONS} invocations per setup" in text
    for label in ("response sent", "export request: spans", "extension calls next"):
        assert f"<!-- {label}" in text


def test_the_legend_is_clear_of_the_bars(picture: Path) -> None:
    found = marks(picture)
    plot_area = found["plot-area"]
    bottom = max(y for _, y in plot_area)  # SVG: y grows downwards
    assert found["legend"], "the legend has no swatches"
    assert min(y for _, y in found["legend"]) > bottom


def test_extension_marks_only_where_an_extension_registered(picture: Path) -> None:
    found = marks(picture)
    for setup, key in KEYS.items():
        assert f"response-sent:{key}" in found, setup
        assert f"handler:{key}" in found, setup
    # sync and the usual setup register no extension; finalize one for no events (no next).
    assert {gid.split(":")[1] for gid in found if gid.startswith("extension-next:")} == {"async"}
    # SIGTERM comes only where an extension registered.
    assert {gid.split(":")[1] for gid in found if gid.startswith("sigterm:")} == {
        "async",
        "finalize+batch",
    }


def test_the_picture_leaves_out_the_sampling_row(picture: Path) -> None:
    """Sampling decides what is exported, not when: its timing is async's."""
    assert not [gid for gid in marks(picture) if ":async+sampling" in gid]
    assert "async + sampling" not in picture.read_text()


def test_the_picture_shows_who_waits_for_the_export(picture: Path) -> None:
    """The headline: async exports after the response; sync and the usual setup before it;
    finalize at SIGTERM."""
    found = marks(picture)

    def response(key: str) -> float:
        ((x, _),) = {point for point in found[f"response-sent:{key}"]}
        return x

    assert min(xs(found, "export:async:")) >= response("async")
    for key in ("sync", "batch+flush"):
        assert max(xs(found, f"export:{key}:")) <= response(key), key
    assert min(xs(found, "export:finalize+batch:")) >= min(xs(found, "sigterm:finalize+batch"))


def test_the_picture_can_be_a_png(tmp_path: Path) -> None:
    picture = tmp_path / "timeline.png"
    result = run_demo("--plot", str(picture))
    assert result.returncode == 0, result.stdout + result.stderr
    assert picture.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("name", "without", "says"),
    [
        ("missing/timeline.png", (), "there is no directory"),
        ("timeline.txt", (), "must end in .png, .svg or .pdf"),
        ("timeline", (), "must end in .png, .svg or .pdf"),
        ("pictures.svg", (), "that is a directory"),
        ("timeline.png", ("matplotlib",), "needs matplotlib: pip install"),
    ],
    ids=["no such directory", "unknown extension", "no extension", "a directory", "no matplotlib"],
)
def test_a_picture_that_cannot_be_written_fails_before_the_demo_runs(
    tmp_path: Path, name: str, without: tuple[str, ...], says: str
) -> None:
    (tmp_path / "pictures.svg").mkdir()
    result = run_demo("--plot", str(tmp_path / name), without=without)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", "the demo ran"
    (line,) = result.stderr.splitlines()
    assert line.startswith("otel-lambda-processor demo: --plot") and says in line, line
    assert [p.name for p in tmp_path.iterdir()] == ["pictures.svg"], "something was written"
    assert not any((tmp_path / "pictures.svg").iterdir())


# -- Ctrl-C -----------------------------------------------------------------------------------
# The demo runs as a real process in its own session; the processes it starts are found by
# walking /proc, each remembered by (pid, start time) so that a reused pid is never mistaken for
# one of them.

RUNTIME_MARK = "otel_lambda_processor.demo_function"  # in the command line of every runtime
STARTUP_LIMIT = 30.0  # seconds; the first runtime starts within one on an idle machine
EXIT_LIMIT = 20.0
GONE_LIMIT = 10.0


class Process(NamedTuple):
    pid: int
    started: int  # clock ticks after boot: with the pid, names one process for good
    parent: int
    state: str


def _processes() -> dict[int, Process]:
    table: dict[int, Process] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
        table[int(entry)] = Process(int(entry), int(fields[19]), int(fields[1]), fields[0])
    return table


def _descendants(root: int) -> list[Process]:
    table = _processes()
    found: list[Process] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for process in table.values():
            if process.parent == parent:
                found.append(process)
                frontier.append(process.pid)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(started: set[tuple[int, int]]) -> list[Process]:
    """Those of ``started`` still running; a zombie has ended and only waits to be reaped."""
    return [
        p for p in _processes().values() if (p.pid, p.started) in started and p.state not in "ZX"
    ]


def _wait_stopped(pids: list[int]) -> None:
    deadline = time.monotonic() + EXIT_LIMIT
    while time.monotonic() < deadline:
        table = _processes()
        if all(pid not in table or table[pid].state in "tT" for pid in pids):
            return
        time.sleep(0.01)
    pytest.fail(f"SIGSTOP did not stop {pids}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes in /proc (Linux)")
@pytest.mark.parametrize(
    ("to_group", "freeze"),
    [
        # What a terminal does: every process of the foreground job gets SIGINT, the runtime too.
        pytest.param(True, False, id="Ctrl-C in a terminal"),
        # A frozen runtime (as Lambda freezes one between invocations) notices neither a SIGINT
        # nor its Runtime API going away: only the demo's own cleanup can end it. A running one
        # exits by itself within milliseconds of losing the API, and would hide a missing kill.
        pytest.param(False, True, id="SIGINT to the demo alone, its runtime frozen"),
    ],
)
def test_ctrl_c_stops_the_demo_and_every_process_it_started(
    to_group: bool, freeze: bool, tmp_path: Path
) -> None:
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        demo = subprocess.Popen(
            [sys.executable, "-m", "otel_lambda_processor", "demo"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, as a shell gives a foreground job
        )
    started: set[tuple[int, int]] = set()
    try:
        runtimes: list[int] = []
        deadline = time.monotonic() + STARTUP_LIMIT
        while not runtimes and demo.poll() is None and time.monotonic() < deadline:
            seen = _descendants(demo.pid)
            started.update((p.pid, p.started) for p in seen)
            runtimes = [p.pid for p in seen if RUNTIME_MARK in _command_line(p.pid)]
            time.sleep(0.02)
        assert runtimes, f"no function runtime started:\n{stderr.read_text()}"
        if freeze:
            for pid in runtimes:
                os.kill(pid, signal.SIGSTOP)
            _wait_stopped(runtimes)
        started.update((p.pid, p.started) for p in _descendants(demo.pid))
        assert demo.poll() is None, "the demo ended before it could be interrupted"

        if to_group:
            os.killpg(demo.pid, signal.SIGINT)
        else:
            os.kill(demo.pid, signal.SIGINT)

        try:
            returncode = demo.wait(EXIT_LIMIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo still ran {EXIT_LIMIT:.0f} s after Ctrl-C")
        assert returncode == 130, stderr.read_text()
        assert "Traceback" not in stderr.read_text()
        assert "demo interrupted" in stderr.read_text()
        deadline = time.monotonic() + GONE_LIMIT
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [f"{p.pid} {_command_line(p.pid)}" for p in _alive(started)]
        assert not survivors, f"still running after the demo ended: {survivors}"
    finally:  # leave nothing behind, whatever failed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)  # the group outlives its leader
        for survivor in _alive(started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(survivor.pid, signal.SIGKILL)
        demo.wait()
