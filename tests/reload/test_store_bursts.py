"""When the inotify watcher re-reads after a burst of events: at the end of its quiet period
(``step``), or as soon as every file the store reads has been written whole.

The stores here have a quiet period of seconds, so the two cases cannot be mistaken for one
another on a loaded machine: a re-read well before the quiet period is over can only come from
the burst having been recognised as complete.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path

import pytest

from runsecrets import SecretStore
from runsecrets.testing import SecretsDir, write_in_place

from .._store_fixtures import no_leaked_threads, wait_for

assert no_leaked_threads  # an autouse fixture, imported to apply to this module

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify: Linux")

#: The quiet period of these stores, in seconds.
STEP = 3.0
#: Well under the quiet period: a publish this soon did not wait for it.
PROMPTLY = STEP / 2


class Heard:
    """A store subscriber that records each delivery and when it came."""

    def __init__(self, store: SecretStore) -> None:
        self.changes: list[object] = []
        self._event = threading.Event()
        store.subscribe(self._heard)

    def _heard(self, changes: object) -> None:
        self.changes.append(changes)
        self._event.set()

    def within(self, seconds: float) -> float:
        """Seconds until the next delivery; infinite if none came within ``seconds``."""
        started = time.monotonic()
        if not self._event.wait(seconds):
            return math.inf
        self._event.clear()
        return time.monotonic() - started


def started(store: SecretStore) -> SecretStore:
    """``store`` watching, its watcher's first re-read done (a write racing that re-read would
    be published by it)."""
    reads = store.status.counters["reads"]
    store.start()
    assert wait_for(lambda: store.status.counters["reads"] > reads)
    return store


def pair_store(directory: SecretsDir) -> SecretStore:
    directory.write_all({"db_user": "blue", "db_password": "one"})
    store = SecretStore(
        [directory.path],
        names=["db_user", "db_password"],
        environ={},
        watcher="inotify",
        step=STEP,
        debounce=2 * STEP,
    )
    return started(store)


@pytest.mark.parametrize("kubernetes", [False, True], ids=["rename", "kubernetes"])
def test_a_rotation_of_every_file_is_published_without_waiting_out_the_quiet_period(
    tmp_path: Path, kubernetes: bool
) -> None:
    """Both files of a pair renamed into place (or the whole volume swapped by ``..data``):
    nothing is left to wait for, so the store re-reads at once, and publishes the pair in one
    change."""
    directory = SecretsDir(tmp_path / "secrets", kubernetes=kubernetes)
    with pair_store(directory) as store:
        heard = Heard(store)
        directory.write_all({"db_user": "green", "db_password": "two"})
        assert heard.within(10 * STEP) < PROMPTLY
        assert (store.get("db_user"), store.get("db_password")) == ("green", "two")
        assert heard.within(0.2) == math.inf  # one publish for the pair
        assert len(heard.changes) == 1


def test_a_file_written_in_place_ends_its_write_when_closed(tmp_path: Path) -> None:
    """A writer that truncates and writes in place has finished when it closes the file: once
    both files are closed the store re-reads at once."""
    directory = SecretsDir(tmp_path)
    with pair_store(directory) as store:
        heard = Heard(store)
        write_in_place(tmp_path / "db_user", "green")
        write_in_place(tmp_path / "db_password", "two")
        assert heard.within(10 * STEP) < PROMPTLY
        assert (store.get("db_user"), store.get("db_password")) == ("green", "two")


def test_while_a_file_may_still_follow_the_store_waits_out_the_quiet_period(
    tmp_path: Path,
) -> None:
    """One file of the pair written: the other may be on its way, so the burst ends by its
    quiet period only, as before."""
    directory = SecretsDir(tmp_path)
    with pair_store(directory) as store:
        heard = Heard(store)
        directory.write("db_password", "two")
        assert heard.within(PROMPTLY) == math.inf
        assert heard.within(10 * STEP) < math.inf
        assert store.get("db_password") == "two"


def test_a_store_of_a_whole_directory_waits_for_a_file_it_has_not_read(tmp_path: Path) -> None:
    """A new file is none of the files the store read: its arrival (a secret added) waits out
    the quiet period, which would group the files that come with it."""
    directory = SecretsDir(tmp_path)
    directory.write("a", "1")
    store = SecretStore(tmp_path, environ={}, watcher="inotify", step=STEP, debounce=2 * STEP)
    with started(store):
        heard = Heard(store)
        directory.write("b", "1")
        assert heard.within(PROMPTLY) == math.inf
        assert heard.within(10 * STEP) < math.inf
        assert store.get("b") == "1"
