"""Django's MySQL/MariaDB backend with credentials re-read from secrets for each new connection."""

from __future__ import annotations

from django.db.backends.mysql import base

from .._credentials import RotatingCredentialsMixin


class DatabaseWrapper(RotatingCredentialsMixin, base.DatabaseWrapper):  # type: ignore[misc]
    """The stock MySQL/MariaDB wrapper plus :class:`RotatingCredentialsMixin`."""
