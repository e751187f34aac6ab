"""How subscribers are called: outside every lock, in publish order, ending on the newest
(issue 12, findings 7 and 9).

A subscriber is the application's code: it may block (waiting on a lock, a queue, a thread),
or publish again (call ``reload()``). Neither may stall the store for other threads, and
neither may leave a subscriber holding an older snapshot than the store publishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import SettingsConfigDict

from runsecrets import Changes, SecretStore
from runsecrets.pydantic import SecretsSettings, live
from runsecrets.testing import write_rename

from .._store_fixtures import wait_for

NO_BACKUP_POLL = 3600.0


def _in_thread(action: Callable[[], object], timeout: float) -> tuple[bool, object]:
    """Run ``action`` in a helper thread; whether it finished within ``timeout``, and its
    result. A call that hangs is reported, never waited for by the test."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(action()), daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive(), result[0] if result else None


class Blocker:
    """A subscriber that blocks at its first call until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            self.released.wait(30)


def test_a_blocked_subscriber_blocks_no_other_thread(tmp_path: Path) -> None:
    """Finding 7: while a subscriber blocks in the watcher thread, ``reload()`` (which
    publishes and returns), ``subscribe()``, ``add_validator()`` and a bounded ``close()`` all
    return in other threads; the blocked one then gets the later publish too."""
    write_rename(tmp_path / "a", "1")
    store = SecretStore(tmp_path, environ={}, backup_poll_interval=NO_BACKUP_POLL)
    blocker = Blocker()
    store.subscribe(blocker)
    store.start()
    try:
        write_rename(tmp_path / "a", "2")
        assert blocker.entered.wait(10)
        write_rename(tmp_path / "a", "3")
        done, changes = _in_thread(store.reload, 5)
        assert done, "reload() waited for a blocked subscriber"
        assert isinstance(changes, Changes)
        assert store.get("a") == "3"
        done, _ = _in_thread(lambda: store.subscribe(lambda changes: None), 5)
        assert done, "subscribe() waited for a blocked subscriber"
        done, _ = _in_thread(lambda: store.add_validator(lambda snapshot: True), 5)
        assert done, "add_validator() waited for a blocked subscriber"
        started = time.monotonic()
        done, _ = _in_thread(lambda: store.close(timeout=0.5), 5)
        assert done, "close() waited for a blocked subscriber"
        assert time.monotonic() - started < 3
    finally:
        blocker.released.set()
        store.close()
    assert wait_for(lambda: blocker.calls == 2)  # the publish made meanwhile, delivered after


def test_a_subscriber_waiting_for_the_thread_leaving_watch_does_not_deadlock(
    tmp_path: Path,
) -> None:
    """Finding 7: a subscriber waiting for the main thread to leave ``with store.watch():``
    (whose exit closes the store) holds that exit up for ``CLOSE_TIMEOUT`` seconds at most,
    the documented bound, instead of for ever."""
    from runsecrets.reload.store import CLOSE_TIMEOUT

    write_rename(tmp_path / "a", "1")
    store = SecretStore(tmp_path, environ={}, backup_poll_interval=NO_BACKUP_POLL)
    left = threading.Event()
    entered = threading.Event()

    def wait_for_the_main_thread(changes: Changes) -> None:
        entered.set()
        left.wait(30)

    store.subscribe(wait_for_the_main_thread)

    def main_thread() -> float:
        with store.watch():
            write_rename(tmp_path / "a", "2")
            assert entered.wait(10)
            exiting = time.monotonic()
        return time.monotonic() - exiting

    try:
        done, took = _in_thread(main_thread, CLOSE_TIMEOUT + 5)
    finally:
        left.set()
    assert done, "leaving store.watch() deadlocked with the subscriber"
    assert isinstance(took, float)
    assert took <= CLOSE_TIMEOUT + 1.0
    store.close()


def test_a_subscriber_that_reloads_leaves_every_subscriber_on_the_newest(tmp_path: Path) -> None:
    """Finding 9: the first of three subscribers writes ``v3`` and calls ``reload()`` when it
    hears of ``v2``: every subscriber hears ``v2`` then ``v3``, in that order, and all end on
    the snapshot the store publishes (the nested publish used to reach the later subscribers
    first, leaving them on ``v2``)."""
    write_rename(tmp_path / "a", "v1")
    store = SecretStore(tmp_path, environ={})
    seen: dict[str, list[tuple[int, str]]] = {"first": [], "second": [], "third": []}

    def recorder(label: str) -> Callable[[Changes], None]:
        def record(changes: Changes) -> None:
            seen[label].append((changes.snapshot.version, changes.snapshot.get("a")))
            if label == "first" and changes.snapshot.get("a") == "v2":
                write_rename(tmp_path / "a", "v3")
                assert store.reload() is not None

        return record

    for label in seen:
        store.subscribe(recorder(label))
    write_rename(tmp_path / "a", "v2")
    store.reload()
    newest = (store.snapshot.version, store.get("a"))
    assert newest[1] == "v3"
    for label, calls in seen.items():
        assert calls[-1] == newest, label
        assert [value for _, value in calls] == ["v2", "v3"], label


def test_flask_config_ends_on_the_newest_value(tmp_path: Path) -> None:
    """Finding 9, as reported: a subscriber before the Flask extension's calls ``reload()``;
    ``app.config`` ends on the value the store holds, not the one before it."""
    pytest.importorskip("flask")
    from flask import Flask

    from runsecrets.integrations.flask import RunSecrets

    write_rename(tmp_path / "flask_secret_key", "v1")
    store = SecretStore(tmp_path, environ={})

    def rotate_again(changes: Changes) -> None:
        if changes.snapshot.get("flask_secret_key") == "v2":
            write_rename(tmp_path / "flask_secret_key", "v3")
            store.reload()

    store.subscribe(rotate_again)
    app = Flask(__name__)
    ext = RunSecrets(app, config={"SECRET_KEY": "flask_secret_key"}, store=store)
    try:
        write_rename(tmp_path / "flask_secret_key", "v2")
        store.reload()
        assert store.get("flask_secret_key") == "v3"
        assert app.config["SECRET_KEY"] == "v3"
    finally:
        ext.close(app)


def test_publishes_that_pile_up_behind_a_slow_subscriber_merge(tmp_path: Path) -> None:
    """Finding 9: publishes made while a subscriber is busy reach it as one merged change,
    from what it saw last to the newest (not a backlog of stale ones)."""
    write_rename(tmp_path / "a", "0")
    store = SecretStore(tmp_path, environ={})
    blocker = Blocker()
    heard: list[tuple[str, str]] = []
    store.subscribe(blocker)
    store.subscribe(lambda c: heard.append((c.previous.get("a"), c.snapshot.get("a"))))
    write_rename(tmp_path / "a", "1")
    first = threading.Thread(target=store.reload)
    first.start()
    assert blocker.entered.wait(10)
    for n in (2, 3, 4):
        write_rename(tmp_path / "a", str(n))
        store.reload()  # delivered by the thread that is delivering already
    blocker.released.set()
    first.join(10)
    assert heard == [("0", "1"), ("1", "4")]


def test_a_blocked_settings_subscriber_blocks_no_reload(tmp_path: Path) -> None:
    """Finding 7, live settings: a ``LiveSettings`` subscriber blocked in one thread does not
    hold up ``reload()`` in another; the later subscribers hear both changes, in order."""
    write_rename(tmp_path / "token", "1")

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str = ""

    settings = live(Settings, watch=False)
    blocker = Blocker()
    values: list[str] = []
    settings.subscribe(blocker)
    settings.subscribe(lambda old, new, changed: values.append(new.token))  # type: ignore[attr-defined]
    write_rename(tmp_path / "token", "2")
    first = threading.Thread(target=settings.reload)
    first.start()
    try:
        assert blocker.entered.wait(10)
        write_rename(tmp_path / "token", "3")
        done, changed = _in_thread(settings.reload, 5)
        assert done, "reload() waited for a blocked subscriber"
        assert changed == frozenset({"token"})
        assert settings.current.token == "3"  # type: ignore[attr-defined]
    finally:
        blocker.released.set()
        first.join(10)
    assert values == ["2", "3"]  # in publish order, ending on the newest
