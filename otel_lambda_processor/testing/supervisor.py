"""The emulator's runtime process: start, output, exit, SIGTERM and SIGKILL, and the watchdog.

Owns the process, its output and the threads that watch it and the clock; it must not answer
HTTP requests, nor decide what an exit or a deadline means (it asks the model).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from .model import ExecutionEnvironment, Run
from .records import RuntimeInitError, ShutdownResult, exit_status

#: SIGTERM-to-SIGKILL grace for the runtime when an internal extension is registered.
GRACE_INTERNAL = 0.5
#: How many lines of the runtime's output a :class:`RuntimeInitError` quotes.
OUTPUT_TAIL_LINES = 20
#: After an init error, how long to wait for the runtime to exit and its output to be read.
_SETTLE_AFTER_INIT_ERROR = 1.0
#: The longest the watchdog sleeps before it looks at the deadlines again (changes wake it).
_TICK = 0.05


class Launch(Run):
    """One runtime process: the model's :class:`~.model.Run` and the process itself."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.process = process
        self.failure: RuntimeInitError | None = None  # built once, when first reported


class Supervisor:
    """Starts the runtime with the Lambda environment, restarts it after a reset, ends it.

    ``lock`` guards the model (every change wakes its waiters); ``environment`` gives the
    variables Lambda sets, asked again at each start.
    """

    def __init__(
        self,
        model: ExecutionEnvironment,
        lock: threading.Condition,
        environment: Callable[[], dict[str, str]],
    ) -> None:
        self._model = model
        self._cond = lock
        self._environment = environment
        self.command: list[str] | None = None
        self.cwd: str | None = None
        self._launch_env: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._output: list[str] = []
        self._output_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._watchdog = threading.Thread(target=self._enforce_timeouts, daemon=True)

    def start(self) -> None:
        self._watchdog.start()

    def launch(
        self, command: Sequence[str], env: Mapping[str, str] | None, cwd: str | None
    ) -> None:
        self.command = list(command)
        self._launch_env = dict(env or {})
        self.cwd = cwd
        self._spawn()

    # -- output -------------------------------------------------------------------------------
    @property
    def output(self) -> str:
        with self._output_lock:
            return "\n".join(self._output)

    def wait_output(self, timeout: float) -> bool:
        reader = self._reader
        if reader is None:
            return True
        reader.join(timeout)
        return not reader.is_alive()

    # -- ending it ----------------------------------------------------------------------------
    def kill(self, run: Run | None) -> None:
        """Kill ``run``'s process if it still runs (and wait for it)."""
        if isinstance(run, Launch) and run.process.poll() is None:
            run.process.kill()
            run.process.wait(5)

    def shutdown(self, grace: float | None, hold_next: bool) -> ShutdownResult:
        """SIGTERM if an extension registered, the grace, then SIGKILL; otherwise SIGKILL.

        ``hold_next``: the held ``/next`` requests stay open until the process is gone (as in
        Lambda: only the signal tells the process that the environment ends), or close at SIGTERM.
        """
        process = self.process
        if process is None:
            raise RuntimeError("no runtime process was launched")
        started = time.monotonic()
        with self._cond:
            registered = bool(self._model.extensions.by_id)
            self._model.expect_exit()
        try:
            if process.poll() is not None:
                return ShutdownResult(process.returncode, False, False, 0.0)
            if not registered:
                process.kill()
                process.wait(5)
                return ShutdownResult(process.returncode, False, True, time.monotonic() - started)
            process.send_signal(signal.SIGTERM)
            if not hold_next:
                self._release_held()
            try:
                process.wait(GRACE_INTERNAL if grace is None else grace)
                killed = False
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                killed = True
            return ShutdownResult(process.returncode, True, killed, time.monotonic() - started)
        finally:
            self._release_held()  # what the process left blocked

    # -- init failures ------------------------------------------------------------------------
    def init_failure(self, run: Run) -> RuntimeInitError:
        """A new exception for a failed init (each raise has its own traceback), described once
        per run: outside the lock, after a brief wait for the runtime to exit and for its last
        output to be read."""
        assert isinstance(run, Launch)
        known = run.failure or self._describe_init_failure(run)
        return RuntimeInitError(
            known.error_type,
            known.message,
            known.output_tail,
            returncode=known.returncode,
            payload=known.payload,
            hint=known.hint,
        )

    def _describe_init_failure(self, run: Launch) -> RuntimeInitError:
        process = run.process
        try:  # awslambdaric exits right after reporting; its last words come with the exit
            process.wait(_SETTLE_AFTER_INIT_ERROR)
        except subprocess.TimeoutExpired:
            pass
        if process.poll() is not None and self._reader is not None:
            self._reader.join(_SETTLE_AFTER_INIT_ERROR)
        with self._cond:
            if run.failure is not None:
                return run.failure
            reported = self._model.init_error
            returncode = process.poll()
            tail = self._output_tail()
            asked = self._model.runtime_asked
        if reported is not None:
            error_type = str(reported.get("errorType") or "Runtime.Unknown")
            message = str(reported.get("errorMessage") or "(no message)")
        else:
            error_type = "Runtime.ExitError"
            when = "while idle, before its first invocation" if asked else "before init was over"
            status = "?" if returncode is None else exit_status(returncode)
            message = f"Runtime exited with error: {status} ({when}, no init error reported)"
        failure = RuntimeInitError(
            error_type,
            message,
            tail,
            returncode=returncode,
            payload=reported,
            hint=self._hint(error_type, message, tail),
        )
        with self._cond:
            if run.failure is None:
                run.failure = failure
            return run.failure

    def _output_tail(self) -> str:
        with self._output_lock:
            text = "\n".join(self._output[-4 * OUTPUT_TAIL_LINES :])
        # awslambdaric keeps a multi-line record on one line, its line breaks written as \r.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(_shorten(line) for line in lines[-OUTPUT_TAIL_LINES:])

    def _hint(self, error_type: str, message: str, tail: str) -> str | None:
        """What a newcomer most likely needs to do about the commonest failures."""
        command = self.command or []
        if re.search(r"No module named '?awslambdaric'?", tail) and "awslambdaric" in command:
            return (
                f"awslambdaric is not installed for {command[0]} (pip install awslambdaric; it "
                "ships Linux wheels only), or run the handler with minimal_runtime_command()"
            )
        found = re.match(r"Unable to import module '([^']+)': No module named '([^']+)'", message)
        if error_type == "Runtime.ImportModuleError" and found:
            module, missing = found.groups()
            if module == missing or module.startswith(missing + "."):
                where = self.cwd or os.getcwd()
                return (
                    f"{module!r} is not importable from {where}: launch(..., cwd=...) must be "
                    "the directory that holds the handler's module (or put it on PYTHONPATH)"
                )
        return None

    # -- threads ------------------------------------------------------------------------------
    def _spawn(self) -> None:
        assert self.command is not None
        environment = dict(os.environ)
        environment.update(self._environment())
        environment.update(self._launch_env)
        process = subprocess.Popen(
            self.command,
            env=environment,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        launch = Launch(process)
        with self._cond:
            self.process = process
            self._model.launched(launch)
        self._reader = threading.Thread(target=self._collect_output, args=(process,), daemon=True)
        self._reader.start()
        threading.Thread(target=self._watch_exit, args=(launch,), daemon=True).start()

    def _collect_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._output_lock:
                self._output.append(line.decode("utf-8", "replace").rstrip("\n"))

    def _watch_exit(self, launch: Launch) -> None:
        """When the process ends, tell the model; start a new one if the model was reset."""
        returncode = launch.process.wait()
        with self._cond:
            reset = self._model.run_ended(launch, returncode, time.monotonic())
            self._cond.notify_all()
        if reset:
            self._restart()

    def _enforce_timeouts(self) -> None:
        """The watchdog: past an invocation's deadline, kill the runtime, then reset."""
        while True:
            with self._cond:
                if self._model.stopped:
                    return
                epoch = time.time()
                expired = self._model.expire(epoch)
                if expired is None:
                    left = self._model.deadline_left(epoch)
                    self._cond.wait(_TICK if left is None else min(left, _TICK))
                    continue
                run = self._model.run
            # The process goes first, as in Lambda: it never sees its held requests closed.
            # The caller learns of the timeout with the reset, a few milliseconds later.
            self.kill(run)
            with self._cond:
                self._model.timed_out(expired)
                self._cond.notify_all()
            self._restart()

    def _restart(self) -> None:
        with self._cond:
            run = self._model.expect_exit()
        self.kill(run)
        if self.command is not None and not self._model.stopped:
            self._spawn()

    def _release_held(self) -> None:
        with self._cond:
            self._model.release_held()
            self._cond.notify_all()


def _shorten(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
