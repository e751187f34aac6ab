"""Telling a refused login from other connect errors, and the bounded retry's budget.

What may be said of a driver's error is its type and its code (SQLSTATE, error number): never
its text, which is about secret material.
"""

from __future__ import annotations

import time

from ..exceptions import CredentialsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["RetryBudget", "describe", "is_authentication_failure"]

# Refused credentials are tried again only after this pause, doubled after each refusal (never
# longer than the last): a login that cannot succeed costs the server a handful of attempts
# (four in 5 s), not dozens. New credentials do not wait: the secrets are re-read this often
# during a pause, and a change is tried at once.
_FIRST_PAUSE = 0.5
_MAX_PAUSE = 4.0
_WATCH_EVERY = 0.05

# PostgreSQL: invalid_password, invalid_authorization_specification (a role that may not log
# in). libpq gives no SQLSTATE for a failed connection, so its message is the fallback.
_PG_STATES = frozenset(("28P01", "28000"))
_PG_TEXTS = (
    "password authentication failed",
    "no password supplied",
    "is not permitted to log in",
)
# MySQL/MariaDB: ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR, and an account
# locked (MySQL 3118, MariaDB 4151: the old user of an alternating rotation, once disabled).
_MYSQL_CODES = frozenset((1045, 1698, 3118, 4151))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, what it wraps (SQLAlchemy's ``orig``) and its causes, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def _code(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(state, str):
        return state
    args: tuple[object, ...] = getattr(error, "args", ())
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        return str(args[0])
    return None


def _one_is_authentication_failure(error: BaseException) -> bool:
    code = _code(error)
    if code in _PG_STATES or (code is not None and code.isdigit() and int(code) in _MYSQL_CODES):
        return True
    module = type(error).__module__
    if module.startswith(("psycopg", "asyncpg")):
        text = str(error)
        return any(marker in text for marker in _PG_TEXTS)
    # redis-py: WRONGPASS, or a user that is off or unknown.
    return module.startswith("redis") and type(error).__name__ == "AuthenticationError"


def is_authentication_failure(error: BaseException) -> bool:
    """Whether ``error`` is the server refusing the user name or password.

    Known: psycopg and asyncpg (SQLSTATE ``28P01``, ``28000``, or libpq's message), PyMySQL,
    aiomysql, asyncmy and mysqlclient (errors 1045, 1698, and an account locked: 3118, 4151),
    redis-py's ``AuthenticationError``; a SQLAlchemy error is judged by the driver error it
    wraps.
    """
    return any(_one_is_authentication_failure(e) for e in _chain(error))


def describe(error: BaseException) -> tuple[str, str | None]:
    """The type and code of a driver's error: what may be said of it (never its text)."""
    for e in _chain(error):
        code = _code(e)
        if code is not None:
            return f"{type(e).__module__}.{type(e).__qualname__}", code
    return f"{type(error).__module__}.{type(error).__qualname__}", None


class RetryBudget:
    """One connect's retry budget: the deadline, the next pause, what was refused."""

    __slots__ = ("attempts", "code", "deadline", "driver_error", "pause", "started")

    def __init__(self, retry_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + retry_seconds
        self.pause = _FIRST_PAUSE
        self.attempts = 0
        self.driver_error: str | None = None
        self.code: str | None = None

    def refused(self, error: BaseException) -> None:
        """Note a refusal: its count, and the type and code of the driver's error."""
        self.attempts += 1
        self.driver_error, self.code = describe(error)

    @property
    def expired(self) -> bool:
        """Whether the retry time is over."""
        return time.monotonic() >= self.deadline

    def watch(self) -> Iterator[float]:
        """The sleeps before the refused credentials are due again (or the deadline, if that
        comes first); the caller re-reads the secrets between them. The next pause doubles."""
        due = min(time.monotonic() + self.pause, self.deadline)
        self.pause = min(self.pause * 2, _MAX_PAUSE)
        while (left := due - time.monotonic()) > 0:
            yield min(_WATCH_EVERY, left)

    def error(self, label: str, names: tuple[str, ...], places: str) -> CredentialsError:
        """The error that ends the retry: the secrets, where they came from, the attempts and
        the type and code of the driver's last refusal."""
        elapsed = time.monotonic() - self.started
        code = f" ({self.code})" if self.code else ""
        return CredentialsError(
            f"{label} refused the login with secrets {', '.join(map(repr, names))} (from "
            f"{places}) {self.attempts} times over {elapsed:.1f}s; last error: "
            f"{self.driver_error}{code}",
            reason="refused",
            secrets=names,
            attempts=self.attempts,
            elapsed=elapsed,
            driver_error=self.driver_error,
            code=self.code,
        )
