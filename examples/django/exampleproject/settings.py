"""Settings of the example project: every credential comes from a secret.

The secrets directory is ``RUNSECRETS_DIR`` (``/run/secrets`` in a container). The database
password is not read here: the runsecrets engine reads it for every new connection, so a rotated
password is used without a restart.
"""

import os

from runsecrets.integrations.django import secret

SECRET_KEY = secret("django_secret_key")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
USE_TZ = True

DATABASES = {
    "default": {
        "ENGINE": "runsecrets.integrations.django.postgresql",
        "NAME": os.environ.get("DB_NAME", "app"),
        "USER": secret("db_user", default="app"),
        "HOST": os.environ.get("DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DB_PORT", "5432"),
        # Keep connections open between requests, and check them before reuse: a connection
        # opened before a rotation keeps working, a new one logs in with the current password.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
        "RUNSECRETS": {"password": "db_password"},
    }
}

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "runsecrets": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
