"""A store never feeds on its own writes (issue 12, finding 3).

The reported case: with ``names=None`` a store tracked every ``*_FILE`` variable, so
``LOG_FILE`` naming the application's own log made each "secrets updated" line a change: one
log line became 1,100 publishes in 3 s, until the file passed the size cap (a permanent
problem, health 503). Which variables name secrets is now a rule by name (overridable), a file
the process holds open for writing is never tracked, and the watcher's publish rate is bounded
whatever it tracks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runsecrets import SecretStore, is_secret_file_variable
from runsecrets.reload.own_writes import PUBLISH_BURST, PUBLISH_RATE
from runsecrets.testing import write_rename

from .._store_fixtures import wait_for

FEED_SECONDS = 3.0
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="open descriptors are read from /proc"
)


@contextlib.contextmanager
def logging_to(path: Path) -> Iterator[logging.Handler]:
    """runsecrets' INFO records written to ``path``, as an application logging to a file."""
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    root = logging.getLogger("runsecrets")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def _publishes_after_one_rotation(store: SecretStore, secrets: Path) -> int:
    """Start watching, rotate one secret, wait ``FEED_SECONDS``: the publishes made."""
    with store.watch():
        before = store.status.counters["publishes"]
        write_rename(secrets / "db_password", "v2")
        assert wait_for(lambda: store.get("db_password") == "v2")
        time.sleep(FEED_SECONDS)
        return store.status.counters["publishes"] - before


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    write_rename(directory / "db_password", "v1")
    return directory


def test_the_reported_case_log_file_is_not_fed_on(tmp_path: Path, secrets: Path) -> None:
    """Finding 3, as reported: ``LOG_FILE`` names the log the app writes runsecrets' records
    to; one rotation is one publish (it was 1,100 in 3 s), and the store stays healthy."""
    log = tmp_path / "app.log"
    with logging_to(log):
        store = SecretStore(secrets, environ={"LOG_FILE": str(log)})
        assert "log" not in store
        publishes = _publishes_after_one_rotation(store, secrets)
    assert publishes == 1
    assert store.status.healthy


@pytest.mark.parametrize(
    ("variable", "secret"),
    [
        ("DB_PASSWORD_FILE", True),
        ("APP_TOKEN_FILE", True),
        ("LOG_FILE", False),
        ("APP_LOG_FILE", False),
        ("GUNICORN_PID_FILE", False),
        ("WORKER_LOCK_FILE", False),
        ("SSL_CERT_FILE", False),
        ("AWS_SHARED_CREDENTIALS_FILE", False),
        ("LOGFILE", False),  # no _FILE suffix at all
        ("_FILE", False),
    ],
)
def test_the_rule_by_name(variable: str, secret: bool) -> None:
    """Finding 3: the documented rule, by the variable's name alone: every ``X_FILE`` except
    tool settings and files programs write (the word before ``_FILE``)."""
    assert is_secret_file_variable(variable) is secret


def test_the_rule_is_shared_and_overridable(tmp_path: Path, secrets: Path) -> None:
    """Finding 3: a store, ``exec`` and ``explain`` follow the same rule; a store's
    ``file_variables=`` replaces it (here: track ``LOG_FILE`` after all, or no variable)."""
    (tmp_path / "log").write_text("x")
    (tmp_path / "pw").write_text("p")
    env = {"LOG_FILE": str(tmp_path / "log"), "API_KEY_FILE": str(tmp_path / "pw")}
    assert SecretStore(secrets, environ=env).names == ["api_key", "db_password"]
    assert SecretStore(secrets, environ=env, file_variables=lambda v: True).names == [
        "api_key",
        "db_password",
        "log",
    ]
    assert SecretStore(secrets, environ=env, file_variables=lambda v: False).names == [
        "db_password"
    ]
    show = "import os; print(os.environ.get('LOG_FILE') is not None, os.environ['API_KEY'])"
    result = subprocess.run(
        [sys.executable, "-m", "runsecrets", "exec", "--", sys.executable, "-c", show],
        env={**{k: v for k, v in os.environ.items() if not k.endswith("_FILE")}, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.stdout == "True p\n", result.stderr


@linux_only
def test_a_file_this_process_writes_is_never_tracked(tmp_path: Path, secrets: Path) -> None:
    """Finding 3, the class: a variable no rule can know (``APP_AUDIT_FILE``) naming the log
    this process has open for writing: not tracked from the first read, said once, shown in
    ``status.skipped``; one rotation is one publish."""
    log = tmp_path / "audit.log"
    with logging_to(log):
        store = SecretStore(secrets, environ={"APP_AUDIT_FILE": str(log)})
        assert "app_audit" not in store
        assert store.status.skipped == ("app_audit",)
        assert "holds the file open for writing" in log.read_text()
        publishes = _publishes_after_one_rotation(store, secrets)
    assert publishes == 1
    assert store.status.healthy


@linux_only
def test_a_log_opened_after_the_store_stops_being_tracked(tmp_path: Path, secrets: Path) -> None:
    """Finding 3: the log handler is set up after the store (a store made at import time): the
    log is tracked at first, and dropped as soon as it keeps changing while this process holds
    it open for writing; a handful of publishes, not a storm."""
    log = tmp_path / "audit.log"
    log.write_text("")
    store = SecretStore(secrets, environ={"APP_AUDIT_FILE": str(log)})
    assert "app_audit" in store
    with logging_to(log):
        publishes = _publishes_after_one_rotation(store, secrets)
    assert publishes <= 6
    assert "app_audit" not in store
    assert store.status.skipped == ("app_audit",)


def test_a_publish_storm_is_bounded_whatever_feeds_it(
    tmp_path: Path, secrets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 3, the backstop: a subscriber that appends to a tracked file at every publish
    (opening and closing it, so no descriptor gives it away) gets at most the burst and the
    sustained rate of publishes, with one warning; the store stays healthy."""
    fed = secrets / "fed"
    fed.write_text("0")
    store = SecretStore(secrets, environ={})

    def feed(changes: object) -> None:
        with open(fed, "a") as f:
            f.write("x")

    store.subscribe(feed)
    with caplog.at_level(logging.WARNING, "runsecrets"):
        publishes = _publishes_after_one_rotation(store, secrets)
    bound = PUBLISH_BURST + PUBLISH_RATE * (FEED_SECONDS + 1.0)
    assert publishes <= bound
    storms = [r for r in caplog.records if "publishing at most" in r.getMessage()]
    assert len(storms) == 1
    assert store.status.healthy
