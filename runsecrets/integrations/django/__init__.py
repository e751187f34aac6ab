"""Django: secrets in ``settings.py`` and database credentials that follow rotation.

In ``settings.py``::

    from runsecrets.integrations.django import secret

    SECRET_KEY = secret("django_secret_key")
    DATABASES = {
        "default": {
            "ENGINE": "runsecrets.integrations.django.postgresql",  # or ...django.mysql
            "NAME": "app",
            "USER": "app",
            "HOST": "db",
            # Read at every new connection, so a rotated password needs no restart.
            "RUNSECRETS": {"password": "db_password"},
        }
    }

:func:`secret` raises Django's ``ImproperlyConfigured`` naming the secret and every place
searched (never a value). Its value is a :class:`SecretText`, a ``str`` whose ``repr`` hides
it: Django's error reports (``DEBUG = False``), which hide settings by name only, never show it
(a ``DATABASE_URL`` or ``SENTRY_DSN`` included), nor a frame local holding it.

The database engines are the stock PostgreSQL and MySQL/MariaDB backends plus
:class:`RotatingCredentialsMixin`; mix it into any other backend the same way.
``OPTIONS["pool"]`` (Django 5.1+, PostgreSQL) works too: the pool's connections follow the
credentials and a rotation drains it. :func:`follow_secret_key` keeps ``SECRET_KEY`` on its
secret, the previous key moved into ``SECRET_KEY_FALLBACKS``.
"""

from __future__ import annotations

from ._credentials import CredentialSettings, RotatingCredentialsMixin, close_credentials
from ._secret_key import SecretKeyFollower, follow_secret_key
from ._settings import secret, secret_bytes
from ._values import SecretBytes, SecretText

__all__ = [
    "CredentialSettings",
    "RotatingCredentialsMixin",
    "SecretBytes",
    "SecretKeyFollower",
    "SecretText",
    "close_credentials",
    "follow_secret_key",
    "secret",
    "secret_bytes",
]
