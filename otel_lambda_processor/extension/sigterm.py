"""See SIGTERM even while the main thread is blocked in native code, act once, then pass it on.

AWS's runtime client waits for the next invocation in a native call; a Python signal handler
only runs when the main thread executes bytecode, so it would never run there. A wakeup fd
(``signal.set_wakeup_fd``) is written by the C-level handler at once, and a watcher thread reads
it. After the callback (the flush), the signal goes on to what was there before: the previous
Python handler, or the default action, which ends the process by SIGTERM.

Owns the wakeup fd, the watcher thread and the hand-over to the previous handler; must not know
what the callback does (the coordinator's flush).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

_logger = logging.getLogger("otel_lambda_processor.sigterm")  # named as before the layout

#: How long the watcher lets a main thread that is running Python take over the re-raise.
_MAIN_THREAD_GRACE = 0.05


class SigtermWatcher:
    """Runs ``on_sigterm`` once on SIGTERM, within the main thread or without it."""

    def __init__(self, on_sigterm: Callable[[], None], *, budget: float = 0.45) -> None:
        self._on_sigterm = on_sigterm
        self._budget = budget
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self._main_took_over = threading.Event()
        self._reraised = False
        self._previous: Any = signal.SIG_DFL
        self._read_fd = -1
        self._write_fd = -1
        self._chained_fd = -1
        self.installed = False

    def install(self) -> bool:
        """Set the handler and the wakeup fd; only possible on the main thread."""
        if threading.current_thread() is not threading.main_thread():
            _logger.debug("not on the main thread: SIGTERM watcher not installed yet")
            return False
        try:
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._write_fd, False)
            self._previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._python_handler)
            old = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
            self._chained_fd = old if old != self._write_fd else -1
        except (OSError, ValueError) as error:
            _logger.debug("SIGTERM watcher not installed: %s", error)
            return False
        threading.Thread(target=self._watch, name="otel-lambda-sigterm", daemon=True).start()
        self.installed = True
        return True

    def check(self) -> None:
        """Put the wakeup fd and handler back if something replaced them (main thread only)."""
        if not self.installed or threading.current_thread() is not threading.main_thread():
            return
        try:
            old = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
            if old not in (-1, self._write_fd):
                self._chained_fd = old
            current = signal.getsignal(signal.SIGTERM)
            if current != self._python_handler:  # bound methods: equal, never identical
                self._previous = current
                signal.signal(signal.SIGTERM, self._python_handler)
        except (OSError, ValueError):
            _logger.debug("could not restore the SIGTERM watcher", exc_info=True)

    # -- the two ways SIGTERM reaches us ------------------------------------------------------
    def _python_handler(self, signum: int, frame: FrameType | None) -> None:
        self._main_took_over.set()
        self._run_once()
        self._reraise_on_main(signum)

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._read_fd, 64)
            except InterruptedError:
                continue
            except OSError:
                return
            if not data:
                return
            if self._chained_fd != -1:
                try:  # whoever had the wakeup fd before us still gets their bytes
                    os.write(self._chained_fd, data)
                except OSError:
                    pass
            if signal.SIGTERM in data:
                self._run_once()
                if not self._main_took_over.wait(_MAIN_THREAD_GRACE):
                    self._reraise_from_thread()

    # -- acting once --------------------------------------------------------------------------
    def _run_once(self) -> None:
        with self._lock:
            first = not self._started
            self._started = True
        if not first:
            self._done.wait(self._budget)
            return
        try:
            self._on_sigterm()
        except Exception:
            _logger.exception("flushing on SIGTERM failed")
        finally:
            self._done.set()

    def _claim_reraise(self) -> bool:
        with self._lock:
            if self._reraised:
                return False
            self._reraised = True
            return True

    def _reraise_on_main(self, signum: int) -> None:
        if not self._claim_reraise():
            return
        previous = self._previous
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        signal.raise_signal(signum)

    def _reraise_from_thread(self) -> None:
        """The main thread is stuck in native code: act for it."""
        if not self._claim_reraise():
            return
        previous = self._previous
        if previous is signal.SIG_IGN:
            return
        if callable(previous):
            previous(signal.SIGTERM, None)  # a Python handler can only run here now
            return
        _die_by_signal(signal.SIGTERM)


def _die_by_signal(signum: int) -> None:
    """Restore the default action at the C level (Python allows it on the main thread only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.signal.restype = ctypes.c_void_p
        libc.signal(signum, 0)  # SIG_DFL
        signal.pthread_kill(threading.get_ident(), signum)  # delivered before it returns
        time.sleep(1.0)
    except Exception:
        _logger.debug("could not restore the default SIGTERM action", exc_info=True)
    os._exit(128 + signum)
