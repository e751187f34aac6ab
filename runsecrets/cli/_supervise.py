"""``exec --restart-on-change``: runsecrets stays as the command's parent and restarts it when
the environment it would get changes.

Most programs read ``DB_PASSWORD`` once, at start. For them a rotation means a restart, and
this mode does it inside the container: the command gets the environment plain ``exec``
prepares, a :class:`~runsecrets.SecretStore` watches the files that feed it (``_feeds.py``),
and after each published change (debounced), the environment is prepared again and compared
with the one the command has. Only a different environment restarts it: the stop signal to its
process group, ``SIGKILL`` after the grace period, then the new command. A new environment
that is not valid (a file unreadable, a NUL byte) keeps the command running, and says why.

As PID 1 it does what an init must: forwards the usual signals to the command, reaps every
zombie (orphans included; outside PID 1 it asks to be their subreaper), and exits with the
command's status. Everything happens in one loop in the main thread, which sleeps in
``select`` on one pipe until a signal or a change arrives: idle, it costs nothing.

The rules for a command that ends by itself: runsecrets ends with it (its exit code, or 128 +
the signal that killed it), as plain ``exec`` would, so that the orchestrator's restart policy
and exit-status checks keep working. The one exception is a command runsecrets has just
restarted that dies within :data:`SETTLE` seconds (a new password the database does not take
yet, say): it is started again after a delay that doubles from :data:`FIRST_BACKOFF` up to
:data:`MAX_BACKOFF`, and at once when the environment changes again. A crash loop therefore
never spins, and never hides a command that fails on its own from the orchestrator.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from ..exceptions import RunSecretsError
from ._child import Child, Terminal, become_subreaper, exit_code, reap, spawn
from ._exec import report_start_failure
from ._exec_env import prepare_environment
from ._output import describe_command
from ._wakeup import ForwardedSignals, Wakeup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..reload.store import SecretStore
    from ._exec import ExecRequest

logger = logging.getLogger("runsecrets.exec")

#: Seconds between the stop signal and ``SIGKILL`` at a restart, by default.
DEFAULT_GRACE = 10.0
#: Seconds without a further change before a restart, by default.
DEFAULT_DEBOUNCE = 1.0
#: A change that never settles restarts at most this many debounce periods after it began.
DEBOUNCE_CAP = 10
#: A command restarted by runsecrets that ends within this many seconds is started again.
SETTLE = 10.0
#: The first delay before starting such a command again, in seconds; it doubles up to the next.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
#: Forwarded signals after which the command's end is the supervisor's end.
ENDING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})


class SupervisorOptions:
    """How ``--restart-on-change`` restarts: ``--grace``, ``--stop-signal``, ``--debounce``.

    Attributes:
        grace: Seconds between the stop signal and ``SIGKILL``.
        stop_signal: The signal that stops the command at a restart.
        debounce: Seconds without a further change before restarting.
    """

    __slots__ = ("debounce", "grace", "stop_signal")

    def __init__(self, *, grace: float, stop_signal: signal.Signals, debounce: float) -> None:
        self.grace = grace
        self.stop_signal = stop_signal
        self.debounce = debounce

    @classmethod
    def create(
        cls, *, grace: float | None, stop_signal: str | None, debounce: float | None
    ) -> SupervisorOptions:
        """Check the options as given on the command line (``None``: the default).

        Raises:
            ValueError: A negative or non-finite number of seconds, or an unknown signal.
        """
        from ._signal_action import parse_signal

        return cls(
            grace=_seconds("--grace", DEFAULT_GRACE if grace is None else grace),
            stop_signal=parse_signal(stop_signal or "TERM"),
            debounce=_seconds("--debounce", DEFAULT_DEBOUNCE if debounce is None else debounce),
        )

    def __repr__(self) -> str:
        return (
            f"SupervisorOptions(grace={self.grace}, stop_signal={self.stop_signal.name}, "
            f"debounce={self.debounce})"
        )


def _seconds(option: str, value: float) -> float:
    if not 0 <= value < float("inf"):
        raise ValueError(f"{option} must be a number of seconds, 0 or more")
    return value


def run_supervised(
    request: ExecRequest, options: SupervisorOptions, environ: Mapping[str, str] | None = None
) -> int:
    """Run the command under supervision until it ends; return the exit code.

    Raises:
        RunSecretsError: The environment cannot be prepared at start (as plain ``exec``).
    """
    from ._feeds import open_store, watch_plan

    given = dict(os.environ if environ is None else environ)
    first = prepare_environment(request, given)
    _configure_logging()
    plan = watch_plan(request, given, first)
    become_subreaper()
    with Wakeup() as wake, ForwardedSignals(wake) as signals:
        store: SecretStore | None = None
        if plan.store_names:
            # Opened before the environment the command gets is read: a change between the
            # two is then seen as a change, never lost.
            with signals.blocked():  # the watcher thread inherits the mask: signals come here
                store = open_store(plan, wake.changed)
        else:
            logger.warning("no variable comes from a file: nothing to watch, no restart")
        try:
            supervisor = Supervisor(request, options, given, first, wake, signals)
            return supervisor.run(_describe_watch(plan, store))
        finally:
            if store is not None:
                store.close()


def _describe_watch(plan: object, store: SecretStore | None) -> str:
    from ._feeds import WatchPlan

    assert isinstance(plan, WatchPlan)
    if store is None:
        return "nothing"
    sources = [f"{path} ({variable})" for variable, path in plan.files.items()]
    sources += [f"{name} in {', '.join(plan.dirs)}" for name in plan.dir_names]
    return f"{', '.join(sources)}; {store.status.mode}"


class Supervisor:
    """The loop: one command at a time, restarted when its environment changes.

    Args:
        request: The command and how to prepare its environment.
        options: Grace, stop signal, debounce.
        given: The environment runsecrets was started with (never changed).
        first: The environment prepared from it at start.
        wake: Where signals and changes wake the loop.
        signals: The signals received, to forward.
    """

    def __init__(
        self,
        request: ExecRequest,
        options: SupervisorOptions,
        given: dict[str, str],
        first: dict[str, str],
        wake: Wakeup,
        signals: ForwardedSignals,
    ) -> None:
        self.request = request
        self.options = options
        self.given = given
        self.wake = wake
        self.signals = signals
        self.label = describe_command(request.command)
        self.terminal = Terminal()
        self.child: Child | None = None
        self.good_env = first  # the newest valid environment
        self.last_env = first  # the environment of the last command started
        self.result: int | None = None
        self.ending: int | None = None  # a forwarded SIGTERM, SIGINT or SIGQUIT
        self.stopping = False  # stopping the command to restart it
        self.kill_at: float | None = None
        self.changed_since: tuple[float, float] | None = None  # (first, last) change
        self.restart_at: float | None = None
        self.backoff = FIRST_BACKOFF

    def run(self, watching: str) -> int:
        """Start the command and supervise it; its exit code (126, 127: it could not start)."""
        code = self._start(self._fresh_env(), after_restart=False)
        if code is not None:
            return code
        logger.info("watching %s", watching)
        while self.result is None:
            self.wake.wait(self._timeout())
            self._on_signals()
            self._on_exits()
            if self.wake.take_changed():
                now = time.monotonic()
                first = now if self.changed_since is None else self.changed_since[0]
                self.changed_since = (first, now)
            if self.result is None:
                self._on_timers(time.monotonic())
        return self.result

    # ------------------------------------------------------------------ events
    def _on_signals(self) -> None:
        for signum in self.signals.take():
            name = signal.Signals(signum).name
            if signum in ENDING:
                self.ending = signum
            child = self.child
            if child is None:
                if signum in ENDING:
                    logger.info("%s received while no command runs: exiting", name)
                    self.result = 128 + signum
                continue
            child.send(signum)
            if signum in ENDING:
                logger.info("%s received: forwarded to %s (pid %d)", name, self.label, child.pid)

    def _on_exits(self) -> None:
        for pid, status in reap():
            child = self.child
            if child is not None and pid == child.pid:
                self._ended(child, status)

    def _ended(self, child: Child, status: int) -> None:
        self.child = None
        self.last_env = child.env
        self.terminal.take_back()
        child.send_group(signal.SIGKILL)  # what it left in its group goes with it
        code = exit_code(status)
        how = f"{self.label} (pid {child.pid}) ended with exit code {code}"
        if self.ending is not None:
            self._exit_with(child, how, code)
        elif self.stopping:
            self.stopping, self.kill_at = False, None
            self._start(self._fresh_env(), after_restart=True)
        elif os.WIFSIGNALED(status) and (
            os.WTERMSIG(status) in child.signalled or os.WTERMSIG(status) in ENDING
        ):
            # Told to end (a terminal's Ctrl-C goes to the command's group directly): never
            # a crash to restart.
            self._exit_with(child, how, code)
        elif child.after_restart and child.uptime() < SETTLE:
            delay = self._next_backoff()
            logger.warning(
                "%s %.1f s after a restart: starting it again in %.1f s",
                how,
                child.uptime(),
                delay,
            )
            self.restart_at = time.monotonic() + delay
        else:
            self._exit_with(child, how, code)

    def _exit_with(self, child: Child, how: str, code: int) -> None:
        logger.info("%s: exiting with it", how)
        child.end_group()
        self.result = code

    def _on_timers(self, now: float) -> None:
        if self.kill_at is not None and now >= self.kill_at:
            self._kill()
        if self._change_due(now):
            self.changed_since = None
            self._evaluate()
        if self.restart_at is not None and now >= self.restart_at and self.child is None:
            self.restart_at = None
            self._start(self._fresh_env(), after_restart=True)

    def _change_due(self, now: float) -> bool:
        if self.changed_since is None:
            return False
        first, last = self.changed_since
        debounce = self.options.debounce
        return now >= last + debounce or now >= first + DEBOUNCE_CAP * debounce

    def _timeout(self) -> float | None:
        deadlines = [self.kill_at, self.restart_at]
        if self.changed_since is not None:
            first, last = self.changed_since
            debounce = self.options.debounce
            deadlines.append(min(last + debounce, first + DEBOUNCE_CAP * debounce))
        due = [deadline for deadline in deadlines if deadline is not None]
        return max(0.0, min(due) - time.monotonic()) if due else None

    # ----------------------------------------------------------------- actions
    def _evaluate(self) -> None:
        """A change has settled: restart the command if its environment is now different."""
        if self.ending is not None:
            return  # on the way out: no new command
        env = self._prepare()
        if env is None:
            return
        reference = self.child.env if self.child is not None else self.last_env
        if env == reference:
            logger.info("secrets changed, but not the environment of %s: no restart", self.label)
            return
        changed = ", ".join(changed_variables(reference, env))
        self.backoff = FIRST_BACKOFF  # a new environment: a crash loop's delays start over
        if self.child is None:
            if self.restart_at is not None:  # waiting to start it again: start it now
                self.restart_at = None
                logger.info("%s changed: starting %s", changed, self.label)
                self._start(env, after_restart=True)
        elif not self.stopping:
            self._stop(self.child, changed)

    def _stop(self, child: Child, changed: str) -> None:
        options = self.options
        logger.info(
            "%s changed: restarting %s: %s to pid %d (SIGKILL after %g s)",
            changed,
            self.label,
            options.stop_signal.name,
            child.pid,
            options.grace,
        )
        self.stopping = True
        self.kill_at = time.monotonic() + options.grace
        child.send_group(options.stop_signal)

    def _kill(self) -> None:
        self.kill_at = None
        child = self.child
        if child is not None:
            logger.warning(
                "%s (pid %d) still running %g s after %s: SIGKILL",
                self.label,
                child.pid,
                self.options.grace,
                self.options.stop_signal.name,
            )
            child.send_group(signal.SIGKILL)

    def _start(self, env: dict[str, str], *, after_restart: bool) -> int | None:
        """Start the command; the exit code when the first start fails (None otherwise)."""
        try:
            pid = spawn(self.request.command, env)
        except OSError as e:
            if not after_restart:
                return report_start_failure(e, self.request.command[0], env, self.given)
            delay = self._next_backoff()
            logger.warning(
                "cannot start %s (%s): trying again in %.1f s",
                self.label,
                e.strerror or type(e).__name__,
                delay,
            )
            self.restart_at = time.monotonic() + delay
            return None
        self.child = Child(pid, env, after_restart=after_restart)
        self.last_env = env
        self.terminal.give(pid)
        logger.info("started %s (pid %d)", self.label, pid)
        return None

    def _next_backoff(self) -> float:
        delay, self.backoff = self.backoff, min(self.backoff * 2, MAX_BACKOFF)
        return delay

    def _prepare(self) -> dict[str, str] | None:
        """The environment as the files are now; ``None`` (said why) when it is not valid."""
        try:
            env = prepare_environment(self.request, self.given)
        except RunSecretsError as e:  # its message names files and variables, never values
            logger.warning(
                "secrets changed, but the environment they give is not valid (%s); keeping "
                "the current one",
                e.message,
            )
            return None
        except Exception as e:  # noqa: BLE001 - the supervisor outlives one bad read
            logger.warning(
                "secrets changed, but preparing the environment failed (%s); keeping the "
                "current one",
                type(e).__name__,
            )
            return None
        self.good_env = env
        return env

    def _fresh_env(self) -> dict[str, str]:
        """For a start: the environment as the files are now, else the newest valid one."""
        env = self._prepare()
        return self.good_env if env is None else env


def changed_variables(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The variables set, removed or given another value between two environments, sorted."""
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _configure_logging() -> None:
    root = logging.getLogger("runsecrets")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("runsecrets exec: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
