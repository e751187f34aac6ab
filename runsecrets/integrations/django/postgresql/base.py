"""Django's PostgreSQL backend with credentials re-read from secrets for each new connection.

With ``OPTIONS["pool"]`` (Django 5.1+, psycopg_pool), the pool Django makes follows the
credentials: each of its new connections logs in with the current ones, and a rotation drains
it (see :mod:`runsecrets.integrations.psycopg`).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from .._credentials import RotatingCredentialsMixin, close_credentials


class DatabaseWrapper(RotatingCredentialsMixin, base.DatabaseWrapper):  # type: ignore[misc]
    """The stock PostgreSQL wrapper plus :class:`RotatingCredentialsMixin`."""

    @property
    def pool(self) -> Any:
        """Django's pool for this alias (``None`` without ``OPTIONS["pool"]``), following the
        credentials from its first use."""
        pool = super().pool
        if pool is not None:
            self.runsecrets_follow_pool(pool)
        return pool

    def close_pool(self) -> None:
        """Close Django's pool, and stop following the credentials for it."""
        super().close_pool()
        close_credentials(self.alias)
