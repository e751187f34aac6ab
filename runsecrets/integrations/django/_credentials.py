"""Database credentials read at every new connection, so a rotated password needs no restart.

Django opens a connection with ``get_connection_params()`` then ``get_new_connection()``. The
mixin takes the password (and the user, when it is a secret too) from one snapshot of a store
that follows the secrets, one store per database alias and process, started at the first
connection (:func:`close_credentials` stops them). Reading it costs a dictionary lookup against
a connection's milliseconds. Connections already open keep working: servers do not
re-authenticate a live session.

A rotation has two steps that never happen at the same instant: the server learns the new
password, and the file is rewritten. A connection attempted between them is refused, so on an
authentication failure the credentials are re-read and the login retried for a bounded time
(``retry_seconds``) before :class:`~runsecrets.CredentialsError` says so (the shared logic is
in ``runsecrets.integrations._credentials``): new credentials are tried as soon as they are read,
the refused ones again only after a pause that doubles, so that a login that cannot succeed
costs the server a handful of failed attempts, not dozens. With ``OPTIONS["pool"]`` (Django
5.1+, PostgreSQL, psycopg_pool) the pool's own connections follow the credentials the same way,
and a rotation drains it: see :mod:`runsecrets.integrations.psycopg`.

The methods that handle credentials (``connect``, ``get_connection_params``,
``get_new_connection``, and the applying of the secrets) are wrapped in Django's
``sensitive_variables()``: Django's ``SafeExceptionReporterFilter`` then shows every local of
those frames, and of every frame they call (Django's own ``connect()``, the driver's
``connect(**params)``), as stars in error reports. Django applies that filter when ``DEBUG`` is
off (the 500 report e-mailed or logged by ``django.request``); with ``DEBUG = True`` its
technical 500 page shows every local by design. The decorator is imported on first use of a
method (``django.views.decorators.debug`` pulls in ``django.http``, which ``settings.py``
should not have to load); see :func:`sensitive`.
"""

from __future__ import annotations

import threading

from django.core.exceptions import ImproperlyConfigured

from ...exceptions import CredentialsError
from .._credentials import DEFAULT_RETRY_SECONDS, CredentialFollower
from .._refusals import is_authentication_failure
from .._spec import CredentialSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    from .._spec import Credentials

    _F = TypeVar("_F", bound=Callable[..., Any])

#: The key of a ``DATABASES`` entry that configures the mixin.
SETTINGS_KEY = "RUNSECRETS"
_KNOWN_KEYS = frozenset(("password", "user", "dirs", "prefix", "retry_seconds"))


class _SensitiveMethod:
    """A method wrapped in Django's ``sensitive_variables(*variables)`` on first access.

    What a class attribute lookup returns is Django's own ``sensitive_variables_wrapper``
    (bound), so the frames Django's reporter inspects are exactly those of the eager decorator:
    the wrapper, then the method, with nothing of ours in between.
    """

    __slots__ = ("_func", "_variables", "_wrapped")

    def __init__(self, func: Callable[..., Any], variables: tuple[str, ...]) -> None:
        self._func = func
        self._variables = variables
        self._wrapped: Callable[..., Any] | None = None

    def wrapped(self) -> Callable[..., Any]:
        """The function wrapped by Django's decorator (imported and applied once)."""
        wrapped = self._wrapped
        if wrapped is None:
            from django.views.decorators.debug import sensitive_variables

            wrapped = self._wrapped = sensitive_variables(*self._variables)(self._func)
        return wrapped

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self.wrapped().__get__(instance, owner)


def sensitive(*variables: str) -> Callable[[_F], _F]:
    """Mark a method's ``variables`` (all of its locals when none are named) as sensitive.

    Django's ``sensitive_variables()``, applied lazily: see :class:`_SensitiveMethod`. Django's
    reporter applies the names to the method's frame and to every frame below it, up to the
    next decorated one.
    """

    def decorate(func: _F) -> _F:
        method: Any = _SensitiveMethod(func, variables)
        return method  # type: ignore[no-any-return]

    return decorate


class CredentialSettings:
    """The ``"RUNSECRETS"`` entry of one ``DATABASES`` alias, checked.

    Keys: ``password`` (secret name, required), ``user`` (secret name, optional), ``dirs``
    (secrets directories), ``prefix`` (environment variable prefix), ``retry_seconds`` (how
    long to retry a refused login while a rotation completes; default 5, 0 disables).
    """

    __slots__ = ("dirs", "password", "prefix", "retry_seconds", "user")

    def __init__(self, alias: str, options: Mapping[str, Any]) -> None:
        where = f"settings.DATABASES[{alias!r}][{SETTINGS_KEY!r}]"
        unknown = set(options) - _KNOWN_KEYS
        if unknown:
            raise ImproperlyConfigured(
                f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}"
            )
        password = options.get("password")
        if not isinstance(password, str) or not password:
            raise ImproperlyConfigured(
                f"{where} needs 'password': the name of the secret holding the password"
            )
        user = options.get("user")
        if user is not None and not isinstance(user, str):
            raise ImproperlyConfigured(f"{where}['user'] must be a secret name")
        retry = options.get("retry_seconds", DEFAULT_RETRY_SECONDS)
        if not isinstance(retry, (int, float)) or retry < 0:
            raise ImproperlyConfigured(f"{where}['retry_seconds'] must be a number >= 0")
        dirs = options.get("dirs")
        self.password: str = password
        self.user: str | None = user
        self.dirs: tuple[str, ...] | None = None if dirs is None else tuple(map(str, dirs))
        self.prefix: str = options.get("prefix", "")
        self.retry_seconds = float(retry)

    def key(self) -> tuple[object, ...]:
        """Every setting, to tell whether an alias's settings changed (tests override them)."""
        return (self.password, self.user, self.dirs, self.prefix, self.retry_seconds)


class _Followers:
    """One :class:`CredentialFollower` per database alias in this process, made on first use
    (Django's own pools are kept the same way, per alias and process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_alias: dict[str, tuple[tuple[object, ...], CredentialFollower]] = {}

    def get(
        self, alias: str, key: tuple[object, ...], make: Callable[[], CredentialFollower]
    ) -> CredentialFollower:
        """The alias's follower made for ``key`` (a new one when the key changed)."""
        entry = self._by_alias.get(alias)
        if entry is not None and entry[0] == key and entry[1].attached:
            return entry[1]
        with self._lock:
            entry = self._by_alias.get(alias)
            if entry is not None and entry[0] == key and entry[1].attached:
                return entry[1]
            if entry is not None:
                entry[1].detach()
            follower = make()
            self._by_alias[alias] = (key, follower)
            return follower

    def close(self, alias: str | None = None) -> None:
        with self._lock:
            aliases = list(self._by_alias) if alias is None else [alias]
            entries = [self._by_alias.pop(a) for a in aliases if a in self._by_alias]
        for _, follower in entries:
            follower.detach()


_FOLLOWERS = _Followers()


def close_credentials(alias: str | None = None) -> None:
    """Stop following the credentials of ``alias`` (every alias when ``None``) in this process.

    Each alias's store (and its watcher thread) is closed; the next connection starts a new one.
    Call it at shut-down, or between tests that change the ``"RUNSECRETS"`` settings.
    """
    _FOLLOWERS.close(alias)


class RotatingCredentialsMixin:
    """Mix into a Django ``DatabaseWrapper`` to read credentials from secrets per connection.

    Works with every backend whose ``get_connection_params()`` returns the driver's keyword
    arguments with ``user`` and ``password`` keys (PostgreSQL, MySQL/MariaDB)::

        class DatabaseWrapper(RotatingCredentialsMixin, postgresql.base.DatabaseWrapper):
            pass

    Override :meth:`is_authentication_failure` for a driver whose errors it does not know.
    """

    settings_dict: dict[str, Any]
    alias: str

    @property
    def runsecrets_credentials(self) -> CredentialSettings:
        """The parsed ``"RUNSECRETS"`` settings of this alias."""
        options = self.settings_dict.get(SETTINGS_KEY)
        if not isinstance(options, dict):
            raise ImproperlyConfigured(
                f"settings.DATABASES[{self.alias!r}] uses a runsecrets engine but has no "
                f"{SETTINGS_KEY!r} entry such as {{'password': 'db_password'}}"
            )
        return CredentialSettings(self.alias, options)

    @property
    def runsecrets_follower(self) -> CredentialFollower:
        """This alias's credentials, following the secrets (made on first use)."""
        settings = self.runsecrets_credentials
        return _FOLLOWERS.get(self.alias, settings.key(), lambda: self._new_follower(settings))

    def runsecrets_follow_pool(self, pool: Any) -> CredentialFollower:
        """Make ``pool`` (psycopg_pool's, from ``OPTIONS["pool"]``) follow the credentials."""

        def make() -> CredentialFollower:
            from ..psycopg import follow_credentials

            settings = self.runsecrets_credentials
            return follow_credentials(
                pool,
                password=settings.password,
                user=settings.user,
                dirs=settings.dirs,
                retry_seconds=settings.retry_seconds,
                is_authentication_failure=self.is_authentication_failure,
                store_options={"prefix": settings.prefix},
            )

        # Keyed by the pool alone: Django makes a new pool when its settings change.
        return _FOLLOWERS.get(self.alias, ("pool", id(pool)), make)

    def _new_follower(self, settings: CredentialSettings) -> CredentialFollower:
        return CredentialFollower(
            CredentialSpec(settings.password, settings.user),
            dirs=settings.dirs,
            retry_seconds=settings.retry_seconds,
            is_authentication_failure=self.is_authentication_failure,
            label=f"django database {self.alias!r}",
            store_options={"prefix": settings.prefix},
        )

    @sensitive()
    def connect(self) -> None:
        """Django's ``connect()``, under ``sensitive_variables()``.

        Django's own ``connect()`` keeps the parameters (password included) in a local, and so
        do the driver's frames below it; an error report hides all of them.
        """
        super().connect()  # type: ignore[misc]

    def _pooled(self) -> bool:
        return bool((self.settings_dict.get("OPTIONS") or {}).get("pool"))

    @sensitive()
    def get_connection_params(self) -> dict[str, Any]:
        """The stock parameters with the current user and password from the secrets.

        With ``OPTIONS["pool"]`` they are the pool's fixed arguments: the pool adds the
        credentials to each of its connections itself.
        """
        params: dict[str, Any] = super().get_connection_params()  # type: ignore[misc]
        if not self._pooled():
            self._apply_credentials(params, self._credentials())
        return params

    @sensitive()
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        """Connect; on a refused login, re-read the credentials and retry for a bounded time."""
        if self._pooled():
            return super().get_new_connection(conn_params)  # type: ignore[misc]

        def attempt(credentials: Credentials) -> Any:
            self._apply_credentials(conn_params, credentials)
            return super(RotatingCredentialsMixin, self).get_new_connection(conn_params)  # type: ignore[misc]

        try:
            return self.runsecrets_follower.connect_with(attempt)
        except CredentialsError as e:
            if e.reason == "refused":
                raise  # not a settings problem: the server said no for retry_seconds
            raise ImproperlyConfigured(f"database {e.message}") from e

    def _credentials(self) -> Credentials:
        try:
            return self.runsecrets_follower.credentials()
        except CredentialsError as e:
            raise ImproperlyConfigured(f"database {e.message}") from e

    @sensitive()
    def _apply_credentials(self, params: dict[str, Any], credentials: Credentials) -> None:
        """Put the user (when it is a secret) and the password into the driver's parameters."""
        params.update(credentials.as_kwargs())

    def is_authentication_failure(self, error: BaseException) -> bool:
        """Whether ``error`` is the server refusing the user name or password."""
        return is_authentication_failure(error)
