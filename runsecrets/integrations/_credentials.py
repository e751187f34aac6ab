"""Credentials that follow rotation: the part every database and cache integration shares.

- **Current credentials per new connection**, user and password from one snapshot
  (:meth:`CredentialSpec.build`, a pure function of it): never the user of one rotation with
  the password of another. A missing, unreadable or empty secret fails that connect with
  :class:`~runsecrets.CredentialsError`; open connections are left alone.
- **Drain on change**: connections made with older credentials are stale
  (:meth:`CredentialFollower.is_stale`) and the driver's drain callbacks run.
- **Bounded retry**: a refused login re-reads the store and is retried with backoff for
  ``retry_seconds`` (``_refusals.py`` tells refusals from other errors).

Driver modules stay thin: they map :class:`Credentials` onto their connect arguments and their
pool's hooks. The credentials are one of the store's derived values (``SecretStore.derive``,
ungated): built from each candidate that changes them, committed with the snapshot they come
from, so a connect never reads a pair newer or older than the store's; a half rotation is a
refusal that keeps the previous pair while the store publishes.
"""

from __future__ import annotations

import logging
import threading
import time

from .._callbacks import log_callback_error
from ..exceptions import CredentialsError, RunSecretsError
from ._refusals import RetryBudget, is_authentication_failure
from ._spec import Credentials, CredentialSpec, again

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from types import TracebackType
    from typing import Any, TypeVar

    from .._types import DirsArg
    from ..reload.derived import Derived
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore

    _T = TypeVar("_T")
    AuthFailureTest = Callable[[BaseException], bool]

__all__ = ["DEFAULT_RETRY_SECONDS", "CredentialFollower"]

logger = logging.getLogger("runsecrets.credentials")

#: How long a refused login is retried while a rotation completes, by default (seconds).
DEFAULT_RETRY_SECONDS = 5.0


class CredentialFollower:
    """Credentials for one pool, following a store: read per connect, retried, drained.

    Made by each integration's ``follow_credentials``; the handle it returns. Use it as a
    context manager, or call :meth:`detach` to stop following (a store it made is closed).

    Args:
        spec: Which secrets hold the credentials.
        store: The store to read (you start and close it). ``None``: one is made for
            ``spec.names`` in ``dirs`` and started; :meth:`detach` closes it.
        dirs: Secrets directories for the store made here.
        retry_seconds: How long a refused login is retried (0: not at all).
        is_authentication_failure: Tells a refused login from other errors (default: the
            drivers it knows: PostgreSQL's, MySQL's and MariaDB's, redis-py).
        label: What the credentials are for, in log lines (``"sqlalchemy"``...).
        store_options: More keyword arguments for the store made here (``prefix``...).

    Attributes:
        connects: Connections opened with these credentials.
        refusals: Logins the server refused (each retried or, at the end, raised).
        failures: Connects that failed with :class:`~runsecrets.CredentialsError`.
        changes: Rotations of the credentials seen (each drains the pool).
    """

    def __init__(
        self,
        spec: CredentialSpec,
        *,
        store: SecretStore | None = None,
        dirs: DirsArg | None = None,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        is_authentication_failure: AuthFailureTest | None = None,
        label: str = "database",
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(retry_seconds, (int, float)) or retry_seconds < 0:
            raise ValueError(f"retry_seconds must be a number >= 0, not {retry_seconds!r}")
        if store is not None and dirs is not None:
            raise ValueError("give a store or dirs for a new one, not both")
        self.spec = spec
        self.retry_seconds = float(retry_seconds)
        self.label = label
        self._is_auth_failure = is_authentication_failure or _known_refusal
        self._lock = threading.Lock()
        self._on_change: tuple[Callable[[], object], ...] = ()
        self._on_detach: list[Callable[[], object]] = []
        self.connects = 0
        self.refusals = 0
        self.failures = 0
        self.changes = 0
        self._owns_store = store is None
        if store is None:
            from ..reload.store import SecretStore

            store = SecretStore(dirs, names=spec.names, **(store_options or {})).start()
        self.store = store
        self._first_version = store.snapshot.version
        # Ungated: a pair the spec refuses (half a rotation, a missing half) never holds the
        # store back; the previous pair stays, and a connect without one raises why.
        self._derived: Derived[Credentials] | None = None
        derived = store.derive(
            self._build, names=spec.names, gate=False, label=f"{label} credentials"
        )
        derived.subscribe(self._changed)
        self._derived = derived

    # ------------------------------------------------------------------------ reading
    def credentials(self) -> Credentials:
        """The credentials for a new connection: the pair committed with the store's
        published snapshot.

        Raises:
            CredentialsError: A credential secret is missing, unreadable or empty.
        """
        derived = self._current()
        error = derived.last_error
        if error is not None and not (derived.ready and _keeps_the_pair(error)):
            self.failures += 1
            raise again(error) if isinstance(error, CredentialsError) else error
        return derived.value

    def is_stale(self, version: int) -> bool:
        """Whether a connection made with credentials of snapshot ``version`` is out of date:
        the credentials changed in a later snapshot."""
        return version < self._since

    @property
    def _since(self) -> int:
        derived = self._current()
        return derived.value.version if derived.ready else self._first_version

    def _current(self) -> Derived[Credentials]:
        derived = self._derived
        assert derived is not None
        return derived

    def _build(self, snapshot: Snapshot) -> Credentials:
        """The store's builder: the pair in ``snapshot``; the same pair keeps its object (and
        version), so connections made with it stay current."""
        derived = self._derived
        current = derived.value if derived is not None and derived.ready else None
        try:
            fresh = self.spec.build(snapshot, previous=current)
        except CredentialsError as e:
            self._log_refusal(e)
            raise
        return current if current is not None and fresh.same_as(current) else fresh

    def _log_refusal(self, error: RunSecretsError) -> None:
        if isinstance(error, CredentialsError) and error.reason == "half_rotation":
            logger.info("%s %s", self.label, error.message)
        else:
            logger.warning(
                "%s credentials incomplete (%s): new connections fail until they are whole, "
                "open ones keep working",
                self.label,
                error.message,
            )

    def _changed(self, old: Credentials | None, fresh: Credentials) -> None:
        # Told once the store's lock is released, in the thread that published.
        self.changes += 1
        logger.info(
            "%s credentials %s rotated (secrets version %d): older connections are drained",
            self.label,
            "/".join(self.spec.names),
            fresh.version,
        )
        for callback in self._on_change:
            try:
                callback()
            except Exception as e:  # noqa: BLE001  (a drain that fails must not fail a connect)
                log_callback_error(logger, "credentials drain callbacks", callback, e)

    # ------------------------------------------------------------------------ rotation
    def on_change(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` after each change of the credentials (the driver's drain).

        It runs in the thread that published the change (the store's watcher, or a
        ``reload()``). A change to a half-missing pair is no change: the pool keeps serving.
        """
        with self._lock:
            self._on_change = (*self._on_change, callback)

    # ------------------------------------------------------------------------ connecting
    def connect_with(
        self,
        attempt: Callable[[Credentials], _T],
        *,
        sleep: Callable[[float], object] = time.sleep,
    ) -> _T:
        """``attempt(credentials)``, retried with re-read credentials while the server refuses
        the login, for ``retry_seconds`` at most.

        Args:
            attempt: Opens one connection with the given credentials.
            sleep: Waits between attempts (an async driver run in a greenlet passes its own).

        Raises:
            CredentialsError: The credentials are incomplete, or still refused at the end.
            Exception: Whatever else ``attempt`` raises, unchanged.
        """
        budget = RetryBudget(self.retry_seconds)
        credentials = self.credentials()
        while True:
            try:
                connection = attempt(credentials)
            except Exception as error:
                if not self._is_auth_failure(error):
                    raise
                self._refused(budget, error)
            else:
                self.connects += 1
                return connection
            # Outside the handler, so the driver's error (its frames hold the password) is
            # neither the context nor the cause of what is raised.
            fresh = self._reread()
            for step in budget.watch():
                if not fresh.same_as(credentials):
                    break
                sleep(step)
                fresh = self._reread()
            if fresh.same_as(credentials) and budget.expired:
                raise self._gave_up(budget)
            credentials = fresh

    async def aconnect_with(self, attempt: Callable[[Credentials], Awaitable[_T]]) -> _T:
        """The asyncio form of :meth:`connect_with` (``attempt`` is a coroutine function)."""
        budget = RetryBudget(self.retry_seconds)
        credentials = self.credentials()
        while True:
            try:
                connection = await attempt(credentials)
            except Exception as error:
                if not self._is_auth_failure(error):
                    raise
                self._refused(budget, error)
            else:
                self.connects += 1
                return connection
            import asyncio

            fresh = self._reread()
            for step in budget.watch():
                if not fresh.same_as(credentials):
                    break
                await asyncio.sleep(step)
                fresh = self._reread()
            if fresh.same_as(credentials) and budget.expired:
                raise self._gave_up(budget)
            credentials = fresh

    def _refused(self, budget: RetryBudget, error: BaseException) -> None:
        self.refusals += 1
        budget.refused(error)
        if budget.attempts == 1 and not budget.expired:
            logger.info(
                "%s refused the login with secrets %s; retrying for up to %.1fs while a "
                "rotation completes",
                self.label,
                "/".join(self.spec.names),
                self.retry_seconds,
            )

    def _reread(self) -> Credentials:
        # A refused login may mean the files changed a moment ago: read them now rather
        # than wait for the watcher.
        self.store.reload()
        return self.credentials()

    def _gave_up(self, budget: RetryBudget) -> CredentialsError:
        self.failures += 1
        return budget.error(self.label, self.spec.names, self._places())

    def _places(self) -> str:
        snapshot = self.store.snapshot
        places = []
        for name in self.spec.names:
            try:
                places.append(snapshot.provenance(name).describe())
            except RunSecretsError:
                places.append(f"{name}: not found")
        return ", ".join(places)

    # ------------------------------------------------------------------------ lifetime
    def on_detach(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` once, at :meth:`detach` (the driver removes its hooks)."""
        self._on_detach.append(callback)

    @property
    def attached(self) -> bool:
        """Whether it still follows the store."""
        return self._current().attached

    def detach(self) -> None:
        """Stop following: the driver's hooks are removed, a store made here is closed.

        Connections already open stay open; new ones use the driver's own settings again.
        Safe to call twice.
        """
        derived = self._current()
        with self._lock:
            if not derived.attached:
                return
            callbacks, self._on_detach = self._on_detach, []
            derived.close()
        for callback in reversed(callbacks):
            callback()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> CredentialFollower:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.detach()

    def status(self) -> dict[str, Any]:
        """Counters and state for a health endpoint; never a value."""
        return {
            "secrets": list(self.spec.names),
            "attached": self.attached,
            "complete": self._complete(),
            "since_version": self._since,
            "connects": self.connects,
            "refusals": self.refusals,
            "failures": self.failures,
            "changes": self.changes,
        }

    def _complete(self) -> bool:
        derived = self._current()
        error = derived.last_error
        return derived.ready and (error is None or _keeps_the_pair(error))

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return f"CredentialFollower({self.label}, secrets={list(self.spec.names)!r}, {state})"


def _known_refusal(error: BaseException) -> bool:
    return is_authentication_failure(error)


def _keeps_the_pair(error: RunSecretsError) -> bool:
    """Whether a refusal leaves the previous pair in use (half a rotation), or fails connects."""
    return isinstance(error, CredentialsError) and error.reason == "half_rotation"
