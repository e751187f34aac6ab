"""The running side of ``watch``: the action, the store, the main loop, the stop signals."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from ..exceptions import UsageError
from ._exit import EXIT_OK, EXIT_USAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from types import FrameType

    from ..reload.snapshot import Changes
    from ..reload.store import SecretStore

    Action = Callable[[Changes], str]

logger = logging.getLogger("runsecrets.cli.watch")  # the watcher thread logs as runsecrets.watch


def build_action(args: argparse.Namespace, stop: threading.Event | None = None) -> Action:
    """The action the options ask for (``stop``: set when the watch is stopping).

    Raises:
        UsageError: The options do not name one complete action.
    """
    if args.exec_timeout is not None and args.exec_command is None:
        raise UsageError("--exec-timeout goes with --exec")
    if args.signal is not None or _signal_options(args):
        return _signal_action(args)
    if args.exec_command is not None:
        return _exec_action(args, stop)
    from ._actions import ALLOWED_HOSTS_ENV, PostAction, check_post_url

    allowed = [*args.allow_host, *os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")]
    try:
        return PostAction(check_post_url(args.post, allowed))
    except ValueError as e:
        raise UsageError(str(e)) from None


def _signal_options(args: argparse.Namespace) -> list[str]:
    """The signal-only options given."""
    given = {
        "--pid": args.pid is not None,
        "--pidfile": bool(args.pidfile),
        "--process-name": bool(args.process_name),
        "--full": args.full,
        "--all": args.all_matches,
        "--allow-pid-1": args.allow_pid_1,
    }
    return [option for option, present in given.items() if present]


def _signal_action(args: argparse.Namespace) -> Action:
    from ._signal_action import SignalAction, parse_signal

    if args.signal is None:
        raise UsageError(f"{', '.join(_signal_options(args))}: these options go with --signal")
    if args.pid is None and not args.pidfile and not args.process_name:
        raise UsageError("--signal needs --pid, --pidfile or --process-name")
    if (args.full or args.all_matches) and not args.process_name:
        raise UsageError("--full and --all go with --process-name")
    try:
        signum = parse_signal(args.signal)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.pid is not None:
        if args.pid <= 0:
            raise UsageError("--pid must be a positive process id")
        if args.pid == os.getpid():
            raise UsageError("--pid is this watcher's own process id")
        if args.pid == 1 and not args.allow_pid_1:
            raise UsageError("--pid 1 is the init of this PID namespace; add --allow-pid-1")
    return SignalAction(
        signum,
        pid=args.pid,
        pidfile=args.pidfile,
        process_name=args.process_name,
        full=args.full,
        all_matches=args.all_matches,
        allow_pid_1=args.allow_pid_1,
    )


def _exec_action(args: argparse.Namespace, stop: threading.Event | None) -> Action:
    import shlex

    from ._actions import EXEC_TIMEOUT, ExecAction

    try:
        command = shlex.split(args.exec_command)
    except ValueError as e:  # "No closing quotation": shlex's words, not the command's
        raise UsageError(f"--exec cannot be split like a shell would: {e}") from None
    if not command:
        raise UsageError("--exec needs a command")
    timeout = EXEC_TIMEOUT if args.exec_timeout is None else args.exec_timeout
    if not timeout > 0:
        raise UsageError("--exec-timeout must be a positive number of seconds")
    return ExecAction(command, timeout=timeout, stop=stop)


class _Pending:
    """Changes published by the watcher thread, waiting for the main thread to act on them."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._changes: Changes | None = None
        self._names: set[str] = set()
        self.stopping = False
        #: Set at once by a stop signal, for an action that is running (see ExecAction).
        self.stopped = threading.Event()

    def add(self, changes: Changes) -> None:
        with self._condition:
            self._names |= changes.names
            self._changes = changes
            self._condition.notify()

    def stop(self) -> None:
        self.stopped.set()
        with self._condition:
            self.stopping = True
            self._condition.notify()

    def take(self, timeout: float) -> tuple[Changes, set[str]] | None:
        with self._condition:
            if self._changes is None and not self.stopping:
                self._condition.wait(timeout)
            if self._changes is None or self.stopping:
                return None
            changes, names = self._changes, self._names
            self._changes, self._names = None, set()
            return changes, names


def run_watch(args: argparse.Namespace) -> int:
    """Watch until SIGTERM or SIGINT; fire the action once per published change."""
    pending = _Pending()
    try:
        action = build_action(args, pending.stopped)
    except UsageError as e:
        parser: argparse.ArgumentParser = args.watch_parser
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    _configure_logging(quiet=args.quiet)
    from ..reload.store import SecretStore

    store = SecretStore(
        args.dirs,
        names=args.names,
        prefix=args.prefix,
        watcher="poll" if args.poll else "auto",
    )
    store.subscribe(pending.add)
    previous = _install_stop_handlers(pending)
    try:
        store.start()
        status = store.status
        logger.info(
            "watching %s (%s) for %d secrets; action: %s",
            ", ".join(status.watched) or "(nothing yet)",
            status.mode,
            len(store.names),
            _describe(args),
        )
        _warn_at_start(action)
        _serve(store, pending, action)
    finally:
        store.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("stopped")
    return EXIT_OK


def _warn_at_start(action: Action) -> None:
    """Log what is already wrong with a signal's target (the app may not have started yet)."""
    from ._signal_action import SignalAction

    if isinstance(action, SignalAction):
        for warning in action.startup_warnings():
            logger.warning("%s; the watch goes on", warning)


def _serve(store: SecretStore, pending: _Pending, action: Action) -> None:
    """Fire ``action`` once per taken change until stopped.

    A failed action is one error line and the watch goes on: an :class:`ActionError` with its
    message (which never holds a value), anything else by its type only (its message might).
    """
    from ..exceptions import ActionError

    while not pending.stopping:
        taken = pending.take(timeout=1.0)
        if taken is None:
            continue
        changes, names = taken
        label = ", ".join(sorted(names))
        try:
            outcome = action(changes)
        except ActionError as e:
            logger.error("secrets changed: %s (version %d); %s", label, changes.snapshot.version, e)
            continue
        except Exception as e:  # noqa: BLE001  (the sidecar outlives one failed firing)
            logger.error(
                "secrets changed: %s (version %d); the action failed with %s",
                label,
                changes.snapshot.version,
                type(e).__name__,
            )
            continue
        logger.info(
            "secrets changed: %s (version %d); %s", label, changes.snapshot.version, outcome
        )


def _install_stop_handlers(pending: _Pending) -> dict[int, Callable[..., object] | int | None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info("%s received, stopping", signal.Signals(signum).name)
        pending.stop()

    previous: dict[int, Callable[..., object] | int | None] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, stop)
    return previous


def _describe(args: argparse.Namespace) -> str:
    """The action for the start-up log line: a URL redacted, a command by its program only."""
    from ._actions import redact_url
    from ._output import describe_command

    if args.signal is not None:
        if args.pid is not None:
            target = f"pid {args.pid}"
        elif args.pidfile:
            target = f"pid file {args.pidfile}"
        elif getattr(args, "full", False):
            target = "the process with the command line given"  # it may hold a token
        else:
            every = "every process" if getattr(args, "all_matches", False) else "the process"
            target = f"{every} named {args.process_name}"
        return f"signal {args.signal} to {target}"
    if args.exec_command is not None:
        import shlex

        return f"run {describe_command(shlex.split(args.exec_command))}"
    return f"POST {redact_url(args.post)}"


def _configure_logging(*, quiet: bool) -> None:
    root = logging.getLogger("runsecrets")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("runsecrets watch: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    # The store logs each publish too; this command's own line says the same with the outcome.
    logging.getLogger("runsecrets.store").setLevel(logging.WARNING)
