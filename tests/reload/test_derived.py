"""One way to derive a value from a store: built from each candidate, committed with it."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from runsecrets import (
    Changes,
    Derived,
    InsecurePermissionsWarning,
    RunSecretsError,
    SecretStore,
    Snapshot,
)
from runsecrets.testing import write_rename

from .._store_fixtures import wait_for


def store_on(path: Path, **kwargs: object) -> SecretStore:
    """A store on ``path`` with an empty environment."""
    return SecretStore(path, environ={}, **kwargs)  # type: ignore[arg-type]


def number_of(snapshot: Snapshot) -> int:
    """A builder: the secret ``n`` as a number; refuses anything else."""
    text = snapshot.get("n", "")
    if not text.isdigit():
        raise RunSecretsError("n is not a number")
    return int(text)


def test_the_value_is_built_at_once_and_with_every_candidate(tmp_path: Path) -> None:
    """Built from the published snapshot when registered, then from each candidate: after a
    publish, the value and its snapshot are the store's."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)
    derived = store.derive(number_of)
    assert (derived.value, derived.snapshot, derived.builds) == (1, store.snapshot, 1)
    write_rename(tmp_path / "n", "2")
    assert store.reload() is not None
    assert derived.value == 2
    assert derived.snapshot is store.snapshot
    assert derived.builds == 2


def test_the_value_is_committed_before_any_subscriber_runs(tmp_path: Path) -> None:
    """A store subscriber already sees the value built from the snapshot it is told about."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)
    derived = store.derive(number_of)
    seen: list[tuple[int, bool]] = []

    def subscriber(changes: Changes) -> None:
        seen.append((derived.value, derived.snapshot is changes.snapshot))

    store.subscribe(subscriber)
    write_rename(tmp_path / "n", "5")
    store.reload()
    assert seen == [(5, True)]


def test_the_builder_gets_the_candidate_before_it_is_published(tmp_path: Path) -> None:
    """While building, the store's readers still get the last published snapshot."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)
    during: list[tuple[int, str]] = []

    def build(snapshot: Snapshot) -> int:
        during.append((snapshot.version, store.get("n")))
        return number_of(snapshot)

    store.derive(build)
    write_rename(tmp_path / "n", "2")
    store.reload()
    assert during == [(0, "1"), (1, "1")]


def test_a_gated_refusal_holds_the_whole_candidate_back(tmp_path: Path, sentinel: str) -> None:
    """With ``gate``, a candidate the builder refuses is not published to any reader; the
    store says which value refused it (the refusal's words, never a value) and the value keeps
    its last good one; the fix that follows is published with its value."""
    (tmp_path / "n").write_text("1")
    (tmp_path / "other").write_text("a")
    store = store_on(tmp_path)
    derived = store.derive(number_of, label="the number")
    (tmp_path / "n").write_text(sentinel)
    (tmp_path / "other").write_text("b")
    assert store.reload() is None
    assert store.get("other") == "a"
    assert store.status.counters["refused"] == 1
    assert "the number refused it: n is not a number" in (store.status.problem or "")
    assert sentinel not in str(store.status.as_dict())
    assert derived.value == 1
    assert derived.refusals == 1
    assert str(derived.last_error) == "n is not a number"
    (tmp_path / "n").write_text("3")
    assert store.reload() is not None
    assert (derived.value, store.get("other"), derived.last_error) == (3, "b", None)


def test_an_ungated_refusal_lets_the_store_publish(tmp_path: Path) -> None:
    """Without ``gate`` the store publishes; the value keeps its last good one, the snapshot
    it came from, and the refusal."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)
    derived = store.derive(number_of, gate=False)
    built_from = derived.snapshot
    (tmp_path / "n").write_text("x")
    assert store.reload() is not None
    assert store.get("n") == "x"
    assert derived.value == 1
    assert derived.snapshot is built_from
    assert derived.last_error is not None
    with pytest.raises(RunSecretsError, match="not a number"):
        derived.refresh()
    (tmp_path / "n").write_text("4")
    store.reload()
    assert derived.value == 4


def test_only_changes_of_its_names_rebuild_it(tmp_path: Path) -> None:
    """``names``: a candidate that changes only other secrets builds nothing."""
    (tmp_path / "n").write_text("1")
    (tmp_path / "other").write_text("a")
    store = store_on(tmp_path)
    calls: list[int] = []

    def build(snapshot: Snapshot) -> int:
        calls.append(snapshot.version)
        return number_of(snapshot)

    derived = store.derive(build, names=["n"])
    (tmp_path / "other").write_text("b")
    store.reload()
    assert calls == [0]
    (tmp_path / "n").write_text("2")
    store.reload()
    assert calls == [0, 2]
    assert derived.value == 2


def test_subscribers_hear_of_new_values_only(tmp_path: Path) -> None:
    """``subscribe(callback)`` gets ``(old, new)`` after each commit; a builder returning its
    previous value (nothing that matters changed) makes no new value and no call."""
    (tmp_path / "n").write_text("1")
    (tmp_path / "other").write_text("a")
    store = store_on(tmp_path)
    derived: Derived[int] | None = None

    def build(snapshot: Snapshot) -> int:
        value = number_of(snapshot)
        if derived is not None and derived.ready and derived.value == value:
            return derived.value  # unchanged: the same object
        return value

    derived = store.derive(build)
    heard: list[tuple[int, int]] = []
    derived.subscribe(lambda old, new: heard.append((old, new)))
    (tmp_path / "other").write_text("b")
    store.reload()
    (tmp_path / "n").write_text("2")
    store.reload()
    assert heard == [(1, 2)]
    assert derived.builds == 2


def test_a_first_build_refused_leaves_no_value_until_one_succeeds(tmp_path: Path) -> None:
    """Refused at registration (the snapshot is published already: nothing to hold back):
    ``value`` raises the refusal until a build succeeds."""
    (tmp_path / "n").write_text("x")
    store = store_on(tmp_path)
    derived = store.derive(number_of)
    assert not derived.ready
    with pytest.raises(RunSecretsError, match="not a number"):
        derived.value  # noqa: B018
    (tmp_path / "n").write_text("7")
    store.reload()
    assert derived.ready
    assert derived.value == 7


def test_a_third_party_refusal_is_kept_by_its_type_only(tmp_path: Path, sentinel: str) -> None:
    """A builder raising something else than a runsecrets error: its message may quote a
    value, so the refusal names only its type."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)

    def build(snapshot: Snapshot) -> str:
        if snapshot.version:
            raise ValueError(f"bad value {snapshot.get('n')}")
        return "ok"

    derived = store.derive(build, label="parser")
    (tmp_path / "n").write_text(sentinel)
    store.reload()
    assert str(derived.last_error) == "parser refused it (ValueError)"
    assert sentinel not in str(store.status.as_dict())


def test_close_stops_the_builds_and_keeps_the_value(tmp_path: Path) -> None:
    """A closed value is built no more (twice is harmless); the store publishes as before."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)
    derived = store.derive(number_of)
    derived.close()
    derived.close()
    (tmp_path / "n").write_text("x")
    assert store.reload() is not None
    assert derived.value == 1
    assert not derived.attached


def test_the_watcher_builds_and_commits_too(tmp_path: Path) -> None:
    """Rotations the watcher sees are built in its thread, committed with their snapshot."""
    (tmp_path / "n").write_text("1")
    store = store_on(tmp_path)
    derived = store.derive(number_of)
    committed = threading.Event()
    derived.subscribe(lambda old, new: committed.set())
    with store.watch():
        write_rename(tmp_path / "n", "8")
        assert committed.wait(30)
    assert derived.value == 8
    assert derived.snapshot is store.snapshot


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permission bits")
def test_a_warning_in_the_watcher_thread_never_stops_rotation(tmp_path: Path) -> None:
    """With warnings as errors (this suite runs so, as ``-W error`` does), a secret file
    writable by others, seen by the watcher's re-read, is logged and listed in
    ``status.warnings``: the rotation is published, not failed at every re-read."""
    path = tmp_path / "n"
    path.write_text("1")
    store = store_on(tmp_path)
    published = threading.Event()
    store.subscribe(lambda changes: published.set())
    with store.watch():
        staged = tmp_path / ".n.tmp"
        staged.write_text("2")
        staged.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP)
        os.replace(staged, path)
        assert published.wait(30)
        assert wait_for(lambda: store.status.warnings)
    assert store.get("n") == "2"
    assert "writable by its group" in store.status.warnings[-1]
    assert store.status.problem is None
    # On the caller's thread a read still warns: the application's filters decide.
    with pytest.warns(InsecurePermissionsWarning):
        store_on(tmp_path)
