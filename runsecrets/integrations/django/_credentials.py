"""Database credentials read at every new connection, so a rotated password needs no restart.

Django opens a connection with ``get_connection_params()`` then ``get_new_connection()``. The
mixin re-reads the password (and the user, when it is a secret too) in the first, which costs
one small file read (tens of microseconds) against a connection's milliseconds. Connections
already open keep working: servers do not re-authenticate a live session.

A rotation has two steps that never happen at the same instant: the server learns the new
password, and the file is rewritten. A connection attempted between them is refused, so on an
authentication failure the mixin watches the credentials for a bounded time (``retry_seconds``)
before giving up with the driver's error: new credentials are tried as soon as they are read,
the refused ones again only after a pause that doubles, so that a login that cannot succeed
costs the server a handful of failed attempts, not dozens.

The methods that handle credentials (``connect``, ``get_connection_params``,
``get_new_connection``, and the reading and applying of the secrets) are wrapped in Django's
``sensitive_variables()``: Django's ``SafeExceptionReporterFilter`` then shows every local of
those frames, and of every frame they call (Django's own ``connect()``, the driver's
``connect(**params)``), as stars in error reports. Django applies that filter when ``DEBUG`` is
off (the 500 report e-mailed or logged by ``django.request``); with ``DEBUG = True`` its
technical 500 page shows every local by design. The decorator is imported on first use of a
method (``django.views.decorators.debug`` pulls in ``django.http``, which ``settings.py``
should not have to load); see :func:`sensitive`.
"""

from __future__ import annotations

import logging
import time

from django.core.exceptions import ImproperlyConfigured

from ..._secrets import Secrets
from ...exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    _F = TypeVar("_F", bound=Callable[..., Any])

logger = logging.getLogger("runsecrets.django")

#: The key of a ``DATABASES`` entry that configures the mixin.
SETTINGS_KEY = "RUNSECRETS"
_KNOWN_KEYS = frozenset(("password", "user", "dirs", "prefix", "retry_seconds"))
_DEFAULT_RETRY_SECONDS = 5.0
#: How often the secrets are re-read while a refused login waits for new credentials.
_POLL = 0.05
#: The first pause before the same refused credentials are tried again (then doubled).
_FIRST_SAME_RETRY = 0.5


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
        retry = options.get("retry_seconds", _DEFAULT_RETRY_SECONDS)
        if not isinstance(retry, (int, float)) or retry < 0:
            raise ImproperlyConfigured(f"{where}['retry_seconds'] must be a number >= 0")
        self.password: str = password
        self.user: str | None = user
        self.dirs = options.get("dirs")
        self.prefix: str = options.get("prefix", "")
        self.retry_seconds = float(retry)

    @sensitive()
    def read(self) -> tuple[str | None, str]:
        """The current ``(user, password)``; user is ``None`` when it is not a secret.

        Raises:
            ImproperlyConfigured: A secret is missing or unreadable (names and places only).
        """
        secrets = Secrets(self.dirs, prefix=self.prefix)
        user = None
        try:
            user = None if self.user is None else secrets.get(self.user)
            return user, secrets.get(self.password)
        except RunSecretsError as e:
            error = e
        # Raised past the handler, the user name read before the password failed dropped (it
        # is a secret too): this frame keeps no value for an error reporter.
        del user
        raise ImproperlyConfigured(f"database credentials: {error.message}") from error


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

    @sensitive()
    def connect(self) -> None:
        """Django's ``connect()``, under ``sensitive_variables()``.

        Django's own ``connect()`` keeps the parameters (password included) in a local, and so
        do the driver's frames below it; an error report hides all of them.
        """
        super().connect()  # type: ignore[misc]

    @sensitive()
    def get_connection_params(self) -> dict[str, Any]:
        """The stock parameters with the current user and password from the secrets."""
        options = self.settings_dict.get("OPTIONS") or {}
        if options.get("pool"):
            # A pool fixes its connect arguments once, which would freeze the password.
            raise ImproperlyConfigured(
                f"settings.DATABASES[{self.alias!r}]: OPTIONS['pool'] cannot follow a rotated "
                "password; use persistent connections (CONN_MAX_AGE) instead"
            )
        params: dict[str, Any] = super().get_connection_params()  # type: ignore[misc]
        self._apply_credentials(params, self.runsecrets_credentials.read())
        return params

    @sensitive()
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        """Connect; on a refused login, wait for new credentials and retry, for a bounded time.

        A refused login is retried at once when the secrets hold new credentials (checked
        every 50 ms), and with the same ones only after a pause that doubles (0.5 s, 1 s, 2 s,
        ...): the server may learn the new password after the file changed. So with
        ``retry_seconds=5`` and credentials that never change, the server sees four failed
        logins, not one every few tens of milliseconds.
        """
        credentials = self.runsecrets_credentials
        retry = _LoginRetry(credentials)
        while True:
            try:
                return super().get_new_connection(conn_params)  # type: ignore[misc]
            except Exception as e:
                if not self.is_authentication_failure(e):
                    raise
                if retry.attempts == 1 and credentials.retry_seconds > 0:
                    logger.warning(
                        "database %r refused the login with secret %r; retrying for up to "
                        "%.1fs while a rotation completes",
                        self.alias,
                        credentials.password,
                        credentials.retry_seconds,
                    )
                fresh = retry.wait(_current(conn_params))
                if fresh is None:
                    raise
            self._apply_credentials(conn_params, fresh)

    @sensitive()
    def _apply_credentials(
        self, params: dict[str, Any], credentials: tuple[str | None, str]
    ) -> None:
        """Put the ``(user, password)`` read from the secrets into the driver's parameters."""
        user, password = credentials
        if user is not None:
            params["user"] = user
        params["password"] = password

    def is_authentication_failure(self, error: BaseException) -> bool:
        """Whether ``error`` is the server refusing the user name or password."""
        # PostgreSQL: SQLSTATE 28P01 (invalid_password) or 28000; libpq often has no SQLSTATE
        # for a failed connection, so its message is the fallback.
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if state in ("28P01", "28000"):
            return True
        text = str(error)
        if "password authentication failed" in text or "no password supplied" in text:
            return True
        # MySQL/MariaDB: ER_ACCESS_DENIED_ERROR (1045).
        args: tuple[object, ...] = getattr(error, "args", ())
        return bool(args) and args[0] == 1045


def _current(params: Mapping[str, Any]) -> tuple[str | None, str]:
    """The ``(user, password)`` the driver was just given."""
    return params.get("user"), params.get("password", "")


class _LoginRetry:
    """When to try a refused login again, and with which credentials.

    New credentials in the secrets are tried as soon as they are seen; the refused ones only
    again after a pause that doubles. Nothing is retried after ``retry_seconds``.
    """

    __slots__ = ("_credentials", "_deadline", "_pause", "attempts")

    def __init__(self, credentials: CredentialSettings) -> None:
        self._credentials = credentials
        self._deadline = time.monotonic() + credentials.retry_seconds
        self._pause = _FIRST_SAME_RETRY
        self.attempts = 1

    @sensitive()
    def wait(self, refused: tuple[str | None, str]) -> tuple[str | None, str] | None:
        """Block until the next attempt is due; its credentials, or ``None``: give up."""
        same_due = min(time.monotonic() + self._pause, self._deadline)
        while True:
            now = time.monotonic()
            if now >= self._deadline:
                return None
            time.sleep(max(0.0, min(_POLL, same_due - now, self._deadline - now)))
            try:
                user, password = self._credentials.read()
            except ImproperlyConfigured:
                user, password = refused  # gone for a moment, as in the middle of a swap
            if (refused[0] if user is None else user, password) != refused:
                break  # a rotation: try the new credentials now
            if time.monotonic() >= same_due:
                if same_due >= self._deadline:
                    return None
                self._pause *= 2
                break
        self.attempts += 1
        return user, password
