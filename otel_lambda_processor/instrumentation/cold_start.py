"""The cold start: whether an invocation is the process's first, and which start-up phase it
waited for (the init since the process started, or a SnapStart restore).

``traced_handler`` asks :data:`COLD_START` once per invocation and, when a phase comes back,
puts one span for it in that invocation's trace. The process start comes from the operating
system (``/proc/self/stat``), at the latest the moment the package was imported, so imports
that ran before ours count too. Nothing here raises: the answer is only less precise.

Owns the cold-start state and the process start; must not create a span (the traced handler
does) nor raise.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from ..environment import IMPORTED_NS

#: Span names. The semantic conventions define no span for the start-up phases; the OpenTelemetry
#: Lambda layer's Telemetry API receiver names its init span ``faas.runtimeInit`` (a child of the
#: invocation span) and the restore span follows it.
INIT_SPAN = "faas.runtimeInit"
RESTORE_SPAN = "faas.runtimeRestore"

ON_DEMAND = ("", "on-demand")  # unset counts as on-demand (emulators, older runtimes)
PROVISIONED = "provisioned-concurrency"
SNAP_START = "snap-start"

#: Lambda bounds an on-demand init (and SnapStart's after-restore hooks) at 10 s. Inside Lambda,
#: a first invocation that begins later than this after its phase began did not wait for it:
#: Lambda initialized the environment ahead of the request (proactive initialization).
PHASE_LIMIT_NS = 10_000_000_000

_NS = 1_000_000_000


class Phase:
    """A start-up phase the first invocation waited for: its span name and start (epoch ns)."""

    __slots__ = ("name", "start_ns")

    def __init__(self, name: str, start_ns: int) -> None:
        self.name = name
        self.start_ns = start_ns

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Phase):
            return NotImplemented
        return (self.name, self.start_ns) == (other.name, other.start_ns)

    def __hash__(self) -> int:
        return hash((self.name, self.start_ns))

    def __repr__(self) -> str:
        return f"Phase({self.name!r}, {self.start_ns})"


def os_process_start_ns() -> int | None:
    """When this process started (epoch ns) as Linux tells it, or ``None`` where it cannot.

    ``/proc/self/stat`` gives the start in whole clock ticks since boot (10 ms each, rounded
    down); the boot time comes from ``CLOCK_BOOTTIME`` against the wall clock, to the
    microsecond (``/proc/stat``'s ``btime`` has whole seconds only). The end of the tick is
    taken: never before the process existed, at most one tick after it started.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            raw = stat.read()
        # The command name (field 2) may hold spaces and parentheses: count after the last ")".
        ticks = int(raw[raw.rindex(b")") + 2 :].split()[19])
        hertz = os.sysconf("SC_CLK_TCK")
        booted_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    if ticks < 0 or hertz <= 0:  # nonsense: the import time will do
        return None
    return booted_ns + (ticks + 1) * _NS // hertz


def imported_ns() -> int:
    """When the package was imported (epoch ns)."""
    return IMPORTED_NS


def process_start_ns() -> int:
    """The process start from the operating system, at the latest the package's import.

    After a fork the child's own start is later than the import in its parent: the import it
    inherited is the earlier one.
    """
    imported = imported_ns()
    found = os_process_start_ns()
    return imported if found is None or found <= 0 else min(found, imported)


class ColdStart:
    """``faas.coldstart`` and the start-up phase span, once per cold start.

    A small state machine, safe across threads: the first :meth:`take` of a process (and the
    first after each SnapStart restore) is cold, every other one warm, however many handlers or
    threads ask. Provisioned concurrency is never a cold start; the phase span belongs to
    on-demand cold starts (the init, since the process started) and SnapStart restores (since
    the restore hook ran), and never to a phase that ended long before the request arrived.
    """

    def __init__(self, process_start: Callable[[], int] = process_start_ns) -> None:
        self._process_start = process_start
        self._lock = threading.Lock()
        self._cold = True
        self._restored_ns: int | None = None
        self._hooked = False

    def arm(self, initialization_type: str) -> None:
        """Under SnapStart, register the after-restore hook (once). Call during init: a hook
        registered after the restore would never run."""
        if initialization_type != SNAP_START:
            return
        with self._lock:
            if self._hooked:
                return
            self._hooked = True
        try:
            from snapshot_restore_py import register_after_restore

            register_after_restore(self.restored)
        except Exception:  # not installed (outside AWS's runtimes) or not as we know it
            return

    def take(
        self, initialization_type: str, now_ns: int, *, in_lambda: bool = False
    ) -> tuple[bool, Phase | None]:
        """``(faas.coldstart, the phase to show or None)`` for an invocation starting at
        ``now_ns``; the process is warm afterwards. ``in_lambda``: the phase limit applies."""
        self.arm(initialization_type)
        with self._lock:
            cold, self._cold = self._cold, False
            restored_ns, self._restored_ns = self._restored_ns, None
        if not cold or initialization_type == PROVISIONED:
            return False, None
        if initialization_type in ON_DEMAND:
            name, start_ns = INIT_SPAN, self._start_or_none()
        elif initialization_type == SNAP_START:
            name, start_ns = RESTORE_SPAN, restored_ns
        else:  # Lambda Managed Instances and what may come: initialized ahead of requests
            return True, None
        if start_ns is None or (in_lambda and now_ns - start_ns > PHASE_LIMIT_NS):
            return True, None
        return True, Phase(name, min(start_ns, now_ns))

    def _start_or_none(self) -> int | None:
        try:
            return self._process_start()
        except Exception:
            return None

    def restored(self, now_ns: int | None = None) -> None:
        """The SnapStart after-restore hook, at ``now_ns`` (default: the wall clock): the next
        invocation is cold again."""
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            self._cold = True
            self._restored_ns = now

    def reset(self, *, cold: bool = True) -> None:
        """Back to a fresh process (tests): cold, or already warm with ``cold=False``; no
        restore seen, the restore hook not registered."""
        with self._lock:
            self._cold = cold
            self._restored_ns = None
            self._hooked = False


#: The process's cold start, shared by every traced handler.
COLD_START = ColdStart()
