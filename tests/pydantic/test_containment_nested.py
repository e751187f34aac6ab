"""Containment of nested sub-directories, judged on what was opened (issue 12, finding 6).

A nested pydantic field (``db.password``) is read from ``<secrets>/db/password``: the file's
own entry is a plain file, but ``db`` may be a link, swapped between a directory inside the
secrets directory and one outside at any moment. Checking ``db`` when the directory is listed
and opening ``db/password`` later leaves a window; these tests hold a writer process flipping
the link as fast as it can against thousands of reads, by the settings source and by the store
``live()`` makes, and allow no outside read at all.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsConfigDict

from runsecrets.pydantic import SecretsSettings, live
from runsecrets.pydantic._source import _store_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlink swaps by rename")

FLIP_SECONDS = 2.0

# Swaps ``<root>/db`` between an inside and an outside directory by atomic renames until
# killed; prints one line once it has started.
FLIPPER = """
import os, sys
root, inside, outside = sys.argv[1:4]
link, temp = os.path.join(root, "db"), os.path.join(root, ".db.tmp")
print("flipping", flush=True)
while True:
    for target in (outside, inside):
        os.symlink(target, temp)
        os.replace(temp, link)
"""


class Database(BaseModel):
    """The nested model: its password comes from ``db/password``."""

    password: str | None = None


def settings_class(root: Path) -> type[SecretsSettings]:
    """Settings reading ``db.password`` from ``root/db/password``."""

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=root, env_nested_delimiter="__")
        db: Database = Database()

    return Settings


@pytest.fixture
def layout(tmp_path: Path, sentinel: str) -> Path:
    """A Kubernetes-style secrets directory whose ``db`` links to ``..data/db``, and an outside
    directory holding the sentinel as ``password``."""
    root = tmp_path / "secrets"
    (root / "..v1" / "db").mkdir(parents=True)
    (root / "..v1" / "db" / "password").write_text("inside")
    (root / "..data").symlink_to("..v1")
    (root / "db").symlink_to("..data/db")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "password").write_text(sentinel)
    return root


@contextlib.contextmanager
def flipping(root: Path) -> Iterator[None]:
    """The flipper process running for the block; the link points inside afterwards."""
    outside = root.parent / "outside"
    process = subprocess.Popen(
        [sys.executable, "-c", FLIPPER, str(root), "..data/db", str(outside)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "flipping\n"
        yield
    finally:
        process.kill()
        process.communicate()
        os.replace(_fresh_link(root, "..data/db"), root / "db")


def _fresh_link(root: Path, target: str) -> Path:
    temp = root / ".db.final"
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    temp.symlink_to(target)
    return temp


def test_the_settings_source_never_reads_through_a_flipped_sub_directory(
    layout: Path, sentinel: str
) -> None:
    """Finding 6: thousands of ``Settings().db.password`` while ``db`` flips: each read is
    the inside value, the default (the listing saw the link outside) or a typed
    ``runsecrets_outside_directory`` error, never the outside file."""
    settings_cls = settings_class(layout)
    outcomes: dict[str, int] = {}
    with flipping(layout):
        deadline = time.monotonic() + FLIP_SECONDS
        while time.monotonic() < deadline:
            try:
                value: Any = settings_cls().db.password  # type: ignore[attr-defined]
            except ValidationError as e:
                value = e.errors(include_input=False)[0]["type"]
            key = "OUTSIDE" if value == sentinel else str(value)
            outcomes[key] = outcomes.get(key, 0) + 1
    assert "OUTSIDE" not in outcomes, outcomes
    assert outcomes.get("inside", 0) > 0, outcomes
    assert set(outcomes) <= {"inside", "None", "runsecrets_outside_directory"}, outcomes


def test_the_store_live_makes_never_reads_through_a_flipped_sub_directory(
    layout: Path, sentinel: str
) -> None:
    """Finding 6, ``live()``'s own store: it watches ``db`` as a directory of its own, and
    must judge it by the secrets directory it lies in (not by where ``db`` leads at the
    moment): thousands of re-reads while ``db`` flips publish no outside value."""
    store = _store_for(settings_class(layout), None)
    assert str(layout / "db") in store.dirs
    published_outside = 0
    reloads = 0
    with flipping(layout):
        deadline = time.monotonic() + FLIP_SECONDS
        while time.monotonic() < deadline:
            store.reload()
            reloads += 1
            snapshot = store.snapshot
            published_outside += any(
                snapshot.get_bytes(name, b"") == sentinel.encode() for name in snapshot
            )
    assert reloads > 100
    assert published_outside == 0


def test_live_settings_never_hold_an_outside_value(layout: Path, sentinel: str) -> None:
    """Finding 6, end to end: ``live()`` started while ``db`` flips never makes an instance
    from the outside file (its validator builds the model from the store's snapshot)."""
    published: list[bool] = []
    with live(settings_class(layout)) as settings:
        settings.subscribe(lambda old, new, changed: published.append(new.db.password == sentinel))
        with flipping(layout):
            deadline = time.monotonic() + FLIP_SECONDS
            while time.monotonic() < deadline:
                published.append(settings.current.db.password == sentinel)  # type: ignore[attr-defined]
                time.sleep(0.0005)
    assert len(published) > 100
    assert not any(published)
