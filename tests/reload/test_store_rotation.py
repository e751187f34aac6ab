"""Real writer processes rotate secrets while reader threads read the whole time.

Every value written is self-checking (``n:payload:crc32:n``); a reader that ever sees a value that
was not written whole, or two names from different rotations in one snapshot, fails the test.
Nothing here sleeps or measures time: each step waits for a condition, with a timeout generous
enough for a loaded machine (a liveness bound, not a latency check).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runsecrets import SecretStore
from runsecrets.testing import SecretsDir, kubernetes_swap

from .._store_fixtures import (
    Reader,
    finish_writer,
    is_whole,
    make_value,
    no_leaked_threads,
    number,
    refuse_torn,
    start_writer,
    wait_for,
)

assert no_leaked_threads  # an autouse fixture, imported to apply to this module

ROTATIONS = 60
#: How long a condition may take to come true before the test gives up (seconds).
PATIENCE = 60.0


def read_pair(store: SecretStore) -> list[str]:
    """Both names from one snapshot, as a TLS loader must read them."""
    snapshot = store.snapshot
    return [snapshot.get("cert"), snapshot.get("key")]


def pair_matches(snapshot: object) -> bool:
    """Validator: every name holds a whole value from the same rotation."""
    values = [v for _, v in snapshot.items()]  # type: ignore[attr-defined]
    return all(is_whole(v) for v in values) and len({number(v) for v in values}) <= 1


@pytest.mark.parametrize("watcher", ["inotify", "watchfiles"])
@pytest.mark.parametrize("style", ["kubernetes", "rename", "in_place"])
def test_readers_never_see_a_torn_or_mixed_value(tmp_path: Path, style: str, watcher: str) -> None:
    """Kubernetes swaps, renames and in-place writes of a cert/key pair, from another process:
    readers of the store and of each published snapshot see whole, matching values only, and the
    last rotation is picked up."""
    names = ["cert", "key"]
    if style == "kubernetes":
        kubernetes_swap(tmp_path, dict.fromkeys(names, make_value(0)))
    else:
        SecretsDir(tmp_path).write_all(dict.fromkeys(names, make_value(0)))
    store = SecretStore(tmp_path, environ={}, validate=pair_matches, watcher=watcher)
    published: list[tuple[str, str]] = []
    store.subscribe(lambda c: published.append((c.snapshot.get("cert"), c.snapshot.get("key"))))
    snapshot_reader = Reader(lambda: read_pair(store))
    value_reader = Reader(lambda: [store.get("cert")])
    with store.watch():
        snapshot_reader.start()
        value_reader.start()
        finish_writer(start_writer(style, tmp_path, names, ROTATIONS))
        final = make_value(ROTATIONS)
        assert wait_for(
            lambda: store.get("cert") == final and store.get("key") == final, timeout=PATIENCE
        )
        snapshot_reader.finish()
        value_reader.finish()
    assert snapshot_reader.reads > 0
    assert value_reader.reads > 0
    assert (snapshot_reader.torn, snapshot_reader.mismatched, value_reader.torn) == (0, 0, 0)
    assert published, "no rotation was published"
    assert all(cert == key and is_whole(cert) for cert, key in published)
    assert [number(c) for c, _ in published] == sorted(number(c) for c, _ in published)


def test_kubernetes_swap_alone_keeps_pairs_together_without_a_validator(tmp_path: Path) -> None:
    """With the atomic swap the double read is the guard: no validator, still no mixed pair."""
    names = ["cert", "key"]
    kubernetes_swap(tmp_path, dict.fromkeys(names, make_value(0)))
    store = SecretStore(tmp_path, environ={})
    mixed: list[int] = []
    store.subscribe(
        lambda c: mixed.append(1) if c.snapshot.get("cert") != c.snapshot.get("key") else None
    )
    reader = Reader(lambda: read_pair(store))
    with store.watch():
        reader.start()
        finish_writer(start_writer("kubernetes", tmp_path, names, ROTATIONS, interval=0.0005))
        final = make_value(ROTATIONS)
        assert wait_for(lambda: store.get("key") == final, timeout=PATIENCE)
        reader.finish()
    assert (reader.torn, reader.mismatched, mixed) == (0, 0, [])


def test_in_place_writer_is_kept_out_until_whole(tmp_path: Path) -> None:
    """A writer process rewriting in place, pausing between pieces: readers never see a partial
    value, and the last value gets in (by the retry timer or the next event)."""
    SecretsDir(tmp_path).write("token", make_value(0))
    store = SecretStore(tmp_path, environ={}, validate=refuse_torn)
    reader = Reader(lambda: [store.get("token")])
    with store.watch():
        reader.start()
        finish_writer(start_writer("in_place", tmp_path, ["token"], 30))
        assert wait_for(lambda: store.get("token") == make_value(30), timeout=PATIENCE)
        reader.finish()
    assert reader.torn == 0


def test_a_half_written_value_is_refused_while_it_lasts(tmp_path: Path) -> None:
    """Truncated and half rewritten, then held there until the store has seen it: the
    validator refuses it and the old value stays; once finished, the whole value gets in.
    (Which states a racing writer exposes depends on timing; this holds one still.)"""
    SecretsDir(tmp_path).write("token", make_value(0))
    store = SecretStore(tmp_path, environ={}, validate=refuse_torn)
    reader = Reader(lambda: [store.get("token")])
    whole = make_value(1).encode()
    with store.watch():
        reader.start()
        with open(tmp_path / "token", "r+b") as f:
            f.truncate(0)
            f.write(whole[: len(whole) // 2])
            f.flush()
            assert wait_for(lambda: store.status.counters["refused"] > 0, timeout=PATIENCE)
            assert store.get("token") == make_value(0)
            f.write(whole[len(whole) // 2 :])
        assert wait_for(lambda: store.get("token") == make_value(1), timeout=PATIENCE)
        reader.finish()
    assert reader.torn == 0
    assert store.status.healthy
