"""The running side of ``watch``: the action, the store, the main loop, the stop signals."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from ..exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from types import FrameType

    from .._snapshot import Changes
    from .._store import SecretStore

    Action = Callable[[Changes], str]

logger = logging.getLogger("runsecrets.watch")

EXIT_OK = 0
EXIT_USAGE = 2


class UsageError(RunSecretsError, ValueError):
    """A combination of options that does not make sense (exit 2)."""


def build_action(args: argparse.Namespace) -> Action:
    """The action the options ask for.

    Raises:
        UsageError: The options do not name one complete action.
    """
    from ._actions import (
        ALLOWED_HOSTS_ENV,
        ExecAction,
        PostAction,
        SignalAction,
        check_post_url,
        parse_signal,
    )

    has_target = args.pid is not None or args.pidfile or args.process_name
    if args.signal is None and has_target:
        raise UsageError("--pid, --pidfile and --process-name go with --signal")
    if args.signal is not None:
        if not has_target:
            raise UsageError("--signal needs --pid, --pidfile or --process-name")
        try:
            signum = parse_signal(args.signal)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.pid is not None and args.pid <= 0:
            raise UsageError("--pid must be a positive process id")
        return SignalAction(
            signum, pid=args.pid, pidfile=args.pidfile, process_name=args.process_name
        )
    if args.exec_command is not None:
        import shlex

        try:
            command = shlex.split(args.exec_command)
        except ValueError as e:  # "No closing quotation": shlex's words, not the command's
            raise UsageError(f"--exec cannot be split like a shell would: {e}") from None
        if not command:
            raise UsageError("--exec needs a command")
        return ExecAction(command)
    allowed = [*args.allow_host, *os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")]
    try:
        return PostAction(check_post_url(args.post, allowed))
    except ValueError as e:
        raise UsageError(str(e)) from None


class _Pending:
    """Changes published by the watcher thread, waiting for the main thread to act on them."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._changes: Changes | None = None
        self._names: set[str] = set()
        self.stopping = False

    def add(self, changes: Changes) -> None:
        with self._condition:
            self._names |= changes.names
            self._changes = changes
            self._condition.notify()

    def stop(self) -> None:
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
    try:
        action = build_action(args)
    except UsageError as e:
        parser: argparse.ArgumentParser = args.watch_parser
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    _configure_logging(quiet=args.quiet)
    from .._store import SecretStore

    store = SecretStore(
        args.dirs,
        names=args.names,
        prefix=args.prefix,
        watcher="poll" if args.poll else "auto",
    )
    pending = _Pending()
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
        _serve(store, pending, action)
    finally:
        store.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("stopped")
    return EXIT_OK


def _serve(store: SecretStore, pending: _Pending, action: Action) -> None:
    """Fire ``action`` once per taken change until stopped.

    A failed action is one error line and the watch goes on: an :class:`ActionError` with its
    message (which never holds a value), anything else by its type only (its message might).
    """
    from ._actions import ActionError

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
    from ._actions import describe_command, redact_url

    if args.signal is not None:
        target = (
            f"pid {args.pid}"
            if args.pid is not None
            else f"pid file {args.pidfile}"
            if args.pidfile
            else f"processes named {args.process_name}"
        )
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
