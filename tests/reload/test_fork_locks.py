"""A process forked while another thread holds one of runsecrets' locks (issue 12, finding 8).

Only the forking thread exists in the child: a lock held by another thread at that moment (a
watcher thread mid-rotation, a worker building a TLS context) used to stay held in the child
for ever, so the child's ``reload()`` hung and it never saw another rotation (gunicorn
``--preload`` restarting a worker during a rotation). Each test forks for real while the lock
is held, and the child reports through its exit code; an alarm ends a child that hangs.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from runsecrets import SecretStore
from runsecrets.integrations._tls_per_process import PerProcessContext
from runsecrets.pydantic import SecretsSettings, live
from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext

from .._pki import KEYS, Issued, make_ca, make_leaf, new_key, publish_material
from .._store_fixtures import wait_for

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning"),
]

#: Seconds a child may take before its alarm ends it (a hang shows as SIGALRM).
CHILD_ALARM = 20


def run_in_child(check: Callable[[], bool]) -> str:
    """Fork; in the child run ``check`` under an alarm; return how the child ended."""
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only, never run pytest's teardown
        code = 3
        try:
            signal.alarm(CHILD_ALARM)
            code = 0 if check() else 1
        except BaseException:  # noqa: BLE001  any failure is the exit code
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return {0: "ok", 1: "check failed", 2: "raised"}.get(os.waitstatus_to_exitcode(status), "?")


class Holder:
    """A thread holding ``lock`` until :meth:`release`."""

    def __init__(self, lock: Any) -> None:
        self._held = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(lock,))
        self._thread.start()
        assert self._held.wait(10)

    def _hold(self, lock: Any) -> None:
        with lock:
            self._held.set()
            self._release.wait(60)

    def release(self) -> None:
        self._release.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA (fast to sign with)."""
    return make_ca(KEYS.get("ec256-root"), "Fork Root")


def _leaf(root: Issued) -> Issued:
    return make_leaf(root, new_key("ec256"))


def token_settings(directory: Path) -> type[SecretsSettings]:
    """Settings with one ``token`` field; ``"block"`` blocks its validation in the parent."""
    parent = os.getpid()
    gate = threading.Event()
    entered = threading.Event()

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=directory)
        token: str = ""

        @field_validator("token")
        @classmethod
        def _block(cls, value: str) -> str:
            if value == "block" and os.getpid() == parent:
                entered.set()
                gate.wait(60)
            return value

    Settings.gate = gate  # type: ignore[attr-defined]
    Settings.entered = entered  # type: ignore[attr-defined]
    return Settings


@pytest.fixture
def cases(tmp_path: Path, root: Issued) -> Iterator[dict[str, tuple[Any, Callable[[], bool]]]]:
    """Each object whose lock a watcher or worker thread can hold, with what its child must
    still be able to do."""
    write_rename(tmp_path / "a", "1")
    store = SecretStore(tmp_path, environ={})

    def store_reloads() -> bool:
        write_rename(tmp_path / "a", "2")
        return store.reload() is not None and store.get("a") == "2"

    settings = live(token_settings(tmp_path), watch=False)

    def settings_reload() -> bool:
        write_rename(tmp_path / "token", "2")
        return settings.reload() == frozenset({"token"})

    tls = tmp_path / "tls"
    tls.mkdir()
    publish_material(tls, _leaf(root), root)
    paths = (tls / "tls.crt", tls / "tls.key", tls / "ca.crt")
    context = RotatingServerContext(*paths, watch=False)

    def context_reloads() -> bool:
        publish_material(tls, _leaf(root))
        return context.reload()

    per_process = PerProcessContext(*paths, watch=False)

    def per_process_builds() -> bool:
        return isinstance(per_process.get(), RotatingServerContext)

    yield {
        "store": (store, store_reloads),
        "live settings": (settings, settings_reload),
        "rotating context": (context, context_reloads),
        "per-process context": (per_process, per_process_builds),
    }
    store.close()
    context.close()


@pytest.mark.parametrize(
    "kind", ["store", "live settings", "rotating context", "per-process context"]
)
def test_a_lock_held_by_another_thread_at_fork_is_free_in_the_child(
    cases: dict[str, tuple[Any, Callable[[], bool]]], kind: str
) -> None:
    """Finding 8: with the object's lock held by another thread at the fork, the child's
    ``reload()`` (for the per-process context: building the child's context) completes."""
    target, check = cases[kind]
    # A store's lock is its publisher's (the part that reads and publishes).
    holder = Holder(target._publisher.lock if isinstance(target, SecretStore) else target._lock)
    try:
        outcome = run_in_child(check)
    finally:
        holder.release()
    assert outcome == "ok"


def test_a_worker_forked_mid_rotation_sees_later_rotations(tmp_path: Path) -> None:
    """Finding 8, as gunicorn ``--preload`` meets it: the parent's watcher thread is inside a
    rotation (its validator running, the store's lock held) when a worker is forked; the
    worker's own watcher sees a later rotation and its ``reload()`` returns."""
    write_rename(tmp_path / "a", "1")
    parent = os.getpid()
    entered, gate = threading.Event(), threading.Event()

    def slow_in_the_parent(snapshot: Any) -> bool:
        if snapshot.get("a") == "block" and os.getpid() == parent:
            entered.set()
            gate.wait(60)
        return True

    store = SecretStore(tmp_path, environ={}, validate=slow_in_the_parent)
    store.start()
    try:
        write_rename(tmp_path / "a", "block")
        assert entered.wait(10)

        def child() -> bool:
            write_rename(tmp_path / "a", "3")
            seen = wait_for(lambda: store.get("a") == "3", timeout=10)
            write_rename(tmp_path / "a", "4")
            reloaded = store.reload() is not None or store.get("a") == "4"
            return seen and reloaded and store.get("a") == "4"

        outcome = run_in_child(child)
    finally:
        gate.set()
        store.close()
    assert outcome == "ok"


def test_live_settings_forked_mid_validation_follow_later_rotations(tmp_path: Path) -> None:
    """Finding 8: ``live()`` settings whose model is being validated by the parent's watcher
    (the store's and the settings' locks both held) at the fork: the child's settings follow a
    later rotation and its ``reload()`` returns."""
    write_rename(tmp_path / "token", "1")
    settings_cls: Any = token_settings(tmp_path)
    with live(settings_cls) as settings:
        write_rename(tmp_path / "token", "block")
        assert settings_cls.entered.wait(10)

        def child() -> bool:
            write_rename(tmp_path / "token", "3")
            seen = wait_for(lambda: settings.current.token == "3", timeout=10)
            write_rename(tmp_path / "token", "4")
            settings.reload()
            return seen and settings.current.token == "4"

        try:
            outcome = run_in_child(child)
        finally:
            settings_cls.gate.set()
    assert outcome == "ok"


def test_the_delivery_a_fork_interrupted_is_made_again_in_the_child(tmp_path: Path) -> None:
    """Finding 8: forked while the parent's watcher thread is inside a subscriber, the child
    delivers that publish again to its subscribers (the copy of the loop in the child had
    reached only some of them), so a worker's subscriber is not left a rotation behind."""
    write_rename(tmp_path / "a", "1")
    parent = os.getpid()
    entered, gate = threading.Event(), threading.Event()
    heard: list[str] = []

    def first(changes: Any) -> None:
        if os.getpid() == parent:
            entered.set()
            gate.wait(60)

    store = SecretStore(tmp_path, environ={})
    store.subscribe(first)
    store.subscribe(lambda changes: heard.append(changes.snapshot.get("a")))
    store.start()
    try:
        write_rename(tmp_path / "a", "2")
        assert entered.wait(10)
        outcome = run_in_child(lambda: wait_for(lambda: heard == ["2"], timeout=10))
    finally:
        gate.set()
        store.close()
    assert outcome == "ok"
