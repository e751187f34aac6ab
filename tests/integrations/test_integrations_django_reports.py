"""Django's own error reports (``DEBUG = False``) never show a value read with ``secret()``.

A real project under gunicorn, a view that fails with a ``DATABASE_URL`` and a ``SENTRY_DSN``
from secrets in its settings and locals, and Django's ``AdminEmailHandler`` mailing the report
(text and HTML) to files: the values are in no part, while the settings are listed by name.
"""

from __future__ import annotations

import copy
import email
import os
import pickle
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("django")
pytest.importorskip("gunicorn")

from runsecrets.integrations.django import SecretBytes, SecretText, secret, secret_bytes
from runsecrets.testing import write_rename

from .._servers import BIN, free_port, running, server_env

SETTINGS = """
from runsecrets.integrations.django import secret

SECRET_KEY = secret("django_secret_key")
DATABASE_URL = secret("database_url")
SENTRY_DSN = secret("sentry_dsn")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "reportproject.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
ADMINS = [("ops", "ops@example.invalid")]
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = {mail!r}
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {{
        "mail_admins": {{
            "class": "django.utils.log.AdminEmailHandler",
            "include_html": True,
        }},
    }},
    "loggers": {{"django.request": {{"handlers": ["mail_admins"], "level": "ERROR"}}}},
}}
"""

URLS = """
from django.conf import settings
from django.http import JsonResponse
from django.urls import path


def ok(request):
    return JsonResponse({"ok": True})


def fail(request):
    dsn = settings.SENTRY_DSN  # a local holding a secret's value
    database_url = settings.DATABASE_URL
    raise RuntimeError(f"the view failed with {len(dsn) + len(database_url)} characters")


urlpatterns = [path("ok/", ok), path("fail/", fail)]
"""

WSGI = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportproject.settings")
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
"""


def _project(root: Path, mail: Path) -> None:
    package = root / "reportproject"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS.format(mail=str(mail)))
    (package / "urls.py").write_text(URLS)
    (package / "wsgi.py").write_text(WSGI)


def _mailed_parts(mail: Path) -> list[str]:
    """Every decoded text part of every message the file backend wrote."""
    parts: list[str] = []
    for path in sorted(mail.iterdir()):
        for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if not raw.strip():
                continue
            message = email.message_from_bytes(raw)
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return parts


def test_a_real_500_report_shows_no_secret_value(tmp_path: Path, sentinel: str) -> None:
    """DEBUG=False, a view fails: the mailed report (text and HTML) lists DATABASE_URL and
    SENTRY_DSN, and the view's locals, without their values (Django hides neither by name)."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    database_url = f"postgres://app:{sentinel}@db:5432/app"
    dsn = f"https://{sentinel}@sentry.example.invalid/1"
    write_rename(secrets_dir / "database_url", database_url)
    write_rename(secrets_dir / "sentry_dsn", dsn)
    write_rename(secrets_dir / "django_secret_key", "k" * 50)
    mail = tmp_path / "mail"
    mail.mkdir()
    _project(tmp_path / "site", mail)
    port = free_port()
    command = [os.path.join(BIN, "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with running(
        [*command, "reportproject.wsgi"],
        port=port,
        ready_path="/ok/",
        env=server_env(secrets_dir),
        cwd=str(tmp_path / "site"),
        log_path=str(tmp_path / "server.log"),
    ) as server:
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(server.url("/fail/"), timeout=10)
        assert failed.value.code == 500
        failed.value.close()
        parts = _mailed_parts(mail)
        log = server.log()
    html = [part for part in parts if "</html>" in part]
    text = [part for part in parts if "</html>" not in part]
    assert html, parts  # the HTML report
    assert text, parts  # and the text one
    for report in parts:
        assert "SENTRY_DSN" in report
        assert "DATABASE_URL" in report
        assert "the view failed with" in report
        assert "value hidden" in report
        assert sentinel not in report
    assert "database_url" in text[0]  # the settings row says which secret it is
    assert sentinel not in log


def test_secret_text_is_a_str_everywhere_but_its_repr(tmp_path: Path, sentinel: str) -> None:
    """Equal, hashed, formatted, copied and pickled as its text; only repr hides it."""
    (tmp_path / "sentry_dsn").write_text(sentinel + "\n")
    value = secret("sentry_dsn", dirs=[tmp_path], environ={})
    assert isinstance(value, SecretText)
    assert value == sentinel
    assert hash(value) == hash(sentinel)
    assert f"{value}" == str(value) == sentinel
    assert type(str(value)) is str
    assert repr(value) == "<secret 'sentry_dsn': value hidden>"
    assert sentinel not in repr([value, {"dsn": value}])
    unpickled = pickle.loads(pickle.dumps(value))  # noqa: S301  (our own bytes)
    for copied in (copy.deepcopy(value), unpickled):
        assert copied == sentinel
        assert repr(copied) == repr(value)
    raw = secret_bytes("sentry_dsn", dirs=[tmp_path], environ={})
    assert isinstance(raw, SecretBytes)
    assert raw == sentinel.encode() + b"\n"
    assert sentinel not in repr(raw)
    assert pickle.loads(pickle.dumps(raw)) == raw  # noqa: S301
    assert secret("missing", default="plain", dirs=[tmp_path], environ={}) == "plain"
    assert type(secret("missing", default="plain", dirs=[tmp_path], environ={})) is str
