"""gunicorn: config-file hooks for secrets, and a TLS context that follows rotation.

In ``gunicorn.conf.py``::

    from runsecrets.integrations import gunicorn as runsecrets_hooks

    hooks = runsecrets_hooks.Hooks(require=["db_password"], restart_workers_on=["app_config"])
    on_starting = hooks.on_starting    # refuse to start when a required secret is missing
    when_ready = hooks.when_ready      # the master watches restart_workers_on (HUP on change)
    post_fork = hooks.post_fork        # log the secret watchers re-armed in each worker
    on_exit = hooks.on_exit

    certfile = runsecrets_hooks.secret_path("tls.crt")  # gunicorn's switch for TLS
    keyfile = runsecrets_hooks.secret_path("tls.key")
    ssl_context = runsecrets_hooks.rotating_ssl_context("tls.crt", "tls.key")

A :class:`~runsecrets.SecretStore` made before the fork (``preload_app = True``) re-arms its
watcher in every worker by itself; ``post_fork`` says so in the log. Secrets that are read once
at import time cannot follow rotation inside a worker: list them in ``restart_workers_on`` and
the master sends itself ``SIGHUP`` (gunicorn's graceful reload) when they change.
"""

from __future__ import annotations

import logging
import os
import signal

from .._secrets import Secrets
from ..exceptions import RunSecretsError
from ._tls_per_process import PerProcessContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .._types import DirsArg
    from ..reload.snapshot import Changes
    from ..reload.store import SecretStore

__all__ = ["Hooks", "rotating_ssl_context", "secret_path"]

logger = logging.getLogger("runsecrets.gunicorn")


def secret_path(name: str, *, dirs: DirsArg | None = None, prefix: str = "") -> str:
    """The file that holds secret ``name`` (for gunicorn's ``certfile``/``keyfile`` switches).

    Raises:
        SecretNotFoundError: No file holds it (the message lists every place searched).
        ValueError: It comes from an environment variable, not a file.
    """
    provenance = Secrets(dirs, prefix=prefix).explain(name)
    if provenance.path is None:
        raise ValueError(f"secret {name!r} comes from {provenance.describe()}, not a file")
    return provenance.path


def rotating_ssl_context(
    cert: str, key: str | None = None, ca: str | None = None, **options: Any
) -> PerProcessContext:
    """A gunicorn ``ssl_context`` hook serving a certificate that follows rotation.

    Each worker builds one :class:`~runsecrets.tls.RotatingServerContext` on its first
    connection (the arguments are passed on) and keeps it; new handshakes get the newest valid
    certificate, and a mismatched pair is never served.
    """
    return PerProcessContext(cert, key, ca, **options)


class Hooks:
    """gunicorn server hooks; assign the methods to the names gunicorn looks for.

    Args:
        require: Secrets that must resolve before gunicorn starts (``on_starting``).
        restart_workers_on: Secrets the master watches; a change reloads the workers
            gracefully (``SIGHUP`` to the master).
        dirs: Secrets directories (default ``RUNSECRETS_DIR``, else ``/run/secrets``).
        prefix: Prefix of the environment variables.
    """

    def __init__(
        self,
        *,
        require: Iterable[str] = (),
        restart_workers_on: Iterable[str] = (),
        dirs: DirsArg | None = None,
        prefix: str = "",
    ) -> None:
        self.require = tuple(require)
        self.restart_workers_on = tuple(restart_workers_on)
        self._dirs = dirs
        self._prefix = prefix
        self._master_store: SecretStore | None = None
        self._master_pid: int | None = None

    def on_starting(self, server: Any) -> None:
        """Stop gunicorn before it binds when a required secret is missing or unreadable."""
        secrets = Secrets(self._dirs, prefix=self._prefix)
        problems = []
        for name in self.require:
            try:
                secrets.explain(name)
            except RunSecretsError as e:
                problems.append(e.message)  # names and places only, never a value
        if problems:
            for problem in problems:
                server.log.error("runsecrets: %s", problem)
            raise SystemExit(f"runsecrets: {len(problems)} required secret(s) missing")
        if self.require:
            server.log.info("runsecrets: required secrets present: %s", ", ".join(self.require))

    def when_ready(self, server: Any) -> None:
        """In the master: watch ``restart_workers_on`` and reload the workers on a change."""
        if not self.restart_workers_on:
            return
        if getattr(server.cfg, "preload_app", False):
            # The reload keeps the app the master imported: the workers would not see it.
            server.log.warning(
                "runsecrets: restart_workers_on has no effect with preload_app = True "
                "(a reload does not re-import the app); read those secrets from a SecretStore"
            )
        from ..reload.store import SecretStore

        # rearm_after_fork=False: this watcher belongs to the master, not to its workers.
        store = SecretStore(
            self._dirs, names=self.restart_workers_on, prefix=self._prefix, rearm_after_fork=False
        )
        master = os.getpid()

        def reload_workers(changes: Changes) -> None:
            server.log.info(
                "runsecrets: %s changed; reloading the workers", ", ".join(sorted(changes.names))
            )
            os.kill(master, signal.SIGHUP)

        store.subscribe(reload_workers)
        store.start()
        self._master_store = store
        self._master_pid = master
        server.log.info(
            "runsecrets: the master watches %s (%s)",
            ", ".join(self.restart_workers_on),
            store.status.mode,
        )

    def post_fork(self, server: Any, worker: Any) -> None:
        """In each new worker: report the secret watchers re-armed after the fork."""
        from ..reload.watch import fork

        # The store's fork handler has already restarted them when this hook runs.
        modes = sorted(watcher.mode for watcher in fork.running())
        if modes:
            server.log.info(
                "runsecrets: worker %s re-armed %d secret watcher(s): %s",
                worker.pid,
                len(modes),
                ", ".join(modes),
            )

    def on_exit(self, server: Any) -> None:
        """Stop the master's watcher."""
        store, self._master_store = self._master_store, None
        if store is not None and self._master_pid == os.getpid():
            store.close()
