"""SecretStore: snapshot reads, publish rules, validators, subscribers, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import runsecrets
from runsecrets import (
    SecretNotFoundError,
    SecretReadError,
    SecretStore,
    SecretValidationError,
)
from runsecrets.reload.watch.options import resolve_watcher_mode
from runsecrets.reload.watch.paths import watch_paths
from runsecrets.testing import SecretsDir, write_rename

from .._store_fixtures import no_leaked_threads, wait_for

assert no_leaked_threads  # an autouse fixture, imported to apply to this module


def store_for(path: Path, **kwargs: object) -> SecretStore:
    """A store on ``path`` with an empty environment, polling fast when asked to poll."""
    kwargs.setdefault("environ", {})
    return SecretStore(path, **kwargs)  # type: ignore[arg-type]


def test_reads_every_file_and_file_variable_target_at_construction(tmp_path: Path) -> None:
    """Directory files and ``_FILE`` targets are in the first snapshot; env-only names are not."""
    (tmp_path / "db_password").write_text("pw\n")
    (tmp_path / ".hidden").write_text("x")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "smtp").write_bytes(b"smtp-value")
    env = {"SMTP_PASSWORD_FILE": str(other / "smtp"), "PLAIN": "not-tracked"}
    store = store_for(tmp_path, environ=env)
    assert store.names == ["db_password", "smtp_password"]
    assert store.get("db_password") == "pw"
    assert store.get_bytes("db_password") == b"pw\n"
    assert store.explain("smtp_password").variable == "SMTP_PASSWORD_FILE"
    assert store.get("plain", None) is None
    snapshot = store.snapshot
    assert dict(snapshot.items()) == {"db_password": "pw", "smtp_password": "smtp-value"}
    assert snapshot["db_password"] == "pw"
    with pytest.raises(KeyError):
        snapshot["nope"]


def test_names_restrict_tracking_and_include_plain_variables(tmp_path: Path) -> None:
    """With ``names``, exactly those are tracked, in the usual lookup order."""
    (tmp_path / "a").write_text("from-file")
    (tmp_path / "b").write_text("ignored")
    store = store_for(tmp_path, names=["a", "token"], environ={"TOKEN": "from-env"})
    assert store.names == ["a", "token"]
    assert store.get("token") == "from-env"
    with pytest.raises(SecretNotFoundError) as info:
        store.get("b")
    assert info.value.name == "b"


def test_get_reads_the_snapshot_never_the_disk(tmp_path: Path) -> None:
    """Deleting or rewriting a file changes nothing until the store re-reads."""
    d = SecretsDir(tmp_path)
    d.write("a", "one")
    store = store_for(tmp_path)
    d.write("a", "two")
    assert store.get("a") == "one"
    os.unlink(tmp_path / "a")
    assert store.get("a") == "one"


def test_repr_status_and_errors_never_show_a_value(tmp_path: Path, sentinel: str) -> None:
    """The store, its snapshot, status and changes show names only."""
    d = SecretsDir(tmp_path)
    d.write("a", sentinel)
    store = store_for(tmp_path, validate=lambda s: s.get("a") != "bad")
    seen: list[object] = []
    store.subscribe(seen.append)
    d.write("a", "bad")
    store.reload()
    d.write("a", sentinel + "2")
    store.reload()
    texts = [repr(store), repr(store.snapshot), repr(store.status), str(store.status.as_dict())]
    texts += [repr(c) for c in seen]
    assert not any(sentinel in t for t in texts)


def test_reload_publishes_only_real_changes(tmp_path: Path) -> None:
    """Rewriting the same content publishes nothing; a new value, a new and a removed file do."""
    d = SecretsDir(tmp_path)
    d.write_all({"a": "1", "b": "2"})
    store = store_for(tmp_path, remove_delay=0)
    seen: list[runsecrets.Changes] = []
    store.subscribe(seen.append)
    d.write("a", "1")
    assert store.reload() is None
    d.write("a", "changed")
    d.write("c", "new")
    d.remove("b")
    changes = store.reload()
    assert changes is not None
    assert (changes.added, changes.changed, changes.removed) == ({"c"}, {"a"}, {"b"})
    assert seen == [changes]
    assert changes.snapshot.version == changes.previous.version + 1
    assert changes.previous.get("a") == "1"
    assert "a" in changes
    assert "z" not in changes


def test_a_refused_update_keeps_the_last_good_snapshot(tmp_path: Path, sentinel: str) -> None:
    """A validator that raises keeps the old values; status names the refusal, not the value."""

    def no_short_values(snapshot: runsecrets.Snapshot) -> None:
        if len(snapshot.get("a")) < 5:
            raise ValueError(f"too short: {snapshot.get('a')}")

    d = SecretsDir(tmp_path)
    d.write("a", sentinel)
    store = store_for(tmp_path, validate=no_short_values)
    d.write("a", "shrt")
    assert store.reload() is None
    assert store.get("a") == sentinel
    status = store.status
    assert not status.healthy
    assert "no_short_values" in (status.problem or "")
    assert "ValueError" in (status.problem or "")
    assert "shrt" not in (status.last_error or "")
    assert status.counters["refused"] == 1
    d.write("a", "long enough")
    assert store.reload() is not None
    assert store.get("a") == "long enough"
    assert store.status.healthy
    assert store.status.last_error is not None


def test_validators_added_later_run_before_publish_and_can_be_removed(tmp_path: Path) -> None:
    """``add_validator`` joins the checks; returning False refuses; the remover drops it."""
    d = SecretsDir(tmp_path)
    d.write_all({"cert": "1", "key": "1"})
    store = store_for(tmp_path)
    seen: list[tuple[str, str]] = []

    def pair_matches(snapshot: runsecrets.Snapshot) -> bool:
        seen.append((snapshot.get("cert"), snapshot.get("key")))
        return snapshot.get("cert") == snapshot.get("key")

    remove = store.add_validator(pair_matches)
    d.write("cert", "2")
    assert store.reload() is None
    assert store.get("cert") == "1"
    d.write("key", "2")
    assert store.reload() is not None
    assert (store.get("cert"), store.get("key")) == ("2", "2")
    remove()
    d.write("cert", "3")
    assert store.reload() is not None
    assert seen == [("2", "1"), ("2", "2")]


def test_a_refused_first_snapshot_raises(tmp_path: Path) -> None:
    """At start-up there is nothing older to keep: the refusal is an error naming the hook."""
    (tmp_path / "a").write_text("x")
    with pytest.raises(SecretValidationError) as info:
        store_for(tmp_path, validate=lambda s: False)
    assert info.value.validator.endswith("<lambda>")


def test_an_unusable_new_file_is_an_error_for_that_name_only(tmp_path: Path) -> None:
    """A file over the size cap: ``get`` of it raises the read error; the others work."""
    (tmp_path / "good").write_text("g")
    (tmp_path / "huge").write_text("x" * 100)
    store = store_for(tmp_path, max_size=10)
    assert store.get("good") == "g"
    with pytest.raises(SecretReadError) as info:
        store.get("huge")
    assert info.value.reason == "too_large"
    assert "huge" in (store.status.problem or "")


def test_an_emptied_file_keeps_the_old_value_unless_empty_is_allowed(tmp_path: Path) -> None:
    """Truncated and not yet written is not a new value; ``allow_empty=True`` publishes it."""
    d = SecretsDir(tmp_path)
    d.write("a", "value")
    strict = store_for(tmp_path)
    lenient = store_for(tmp_path, allow_empty=True)
    (tmp_path / "a").write_text("")
    assert strict.reload() is None
    assert strict.get("a") == "value"
    assert "empty" in (strict.status.problem or "")
    assert lenient.reload() is not None
    assert lenient.get("a") == ""


def test_import_runsecrets_loads_no_store_machinery() -> None:
    """``import runsecrets`` imports neither the store, threading, logging, ctypes nor watchfiles."""
    code = (
        "import sys, runsecrets; heavy = ('threading', 'logging', 'ctypes', 'watchfiles', "
        "'asyncio', 'runsecrets.reload.store', 'runsecrets.reload.watch.thread'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argument", "environ", "platform", "expected"),
    [
        ("auto", {}, "linux", "inotify"),
        ("auto", {}, "darwin", "watchfiles"),
        ("auto", {}, "win32", "watchfiles"),
        ("auto", {"RUNSECRETS_POLL": "1"}, "linux", "poll"),
        ("auto", {"RUNSECRETS_POLL": "0"}, "linux", "inotify"),
        ("auto", {"RUNSECRETS_POLL": "false"}, "linux", "inotify"),
        ("auto", {"RUNSECRETS_POLL": "yes"}, "darwin", "poll"),
        ("watchfiles", {"RUNSECRETS_POLL": "1"}, "linux", "watchfiles"),
        ("poll", {}, "linux", "poll"),
    ],
)
def test_watcher_mode_argument_then_environment_then_platform(
    argument: str, environ: dict[str, str], platform: str, expected: str
) -> None:
    """The watcher mode follows the project's rule: argument, environment, detection."""
    assert resolve_watcher_mode(argument, environ, platform) == expected


def test_unknown_watcher_mode_and_on_remove_are_refused(tmp_path: Path) -> None:
    """Typos in the options are errors, not silent defaults."""
    with pytest.raises(ValueError, match="watcher"):
        store_for(tmp_path, watcher="fsevents")
    with pytest.raises(ValueError, match="on_remove"):
        store_for(tmp_path, on_remove="drop")


def test_watch_paths_are_directories_ancestors_and_file_target_parents(tmp_path: Path) -> None:
    """A missing directory is watched through its nearest ancestor; ``_FILE`` targets' parents,
    and the directory their link points into, are watched too."""
    real = tmp_path / "renewer"
    real.mkdir()
    (real / "cert").write_text("c")
    links = tmp_path / "links"
    links.mkdir()
    (links / "cert").symlink_to(real / "cert")
    paths = watch_paths([str(tmp_path / "missing" / "deeper")], [str(links / "cert")])
    assert paths == sorted({str(tmp_path), str(links), str(real)})


@pytest.mark.parametrize("watcher", ["inotify", "watchfiles", "poll"])
def test_each_backend_picks_up_a_kubernetes_swap(tmp_path: Path, watcher: str) -> None:
    """The three backends see the ``..data`` swap and publish the new value."""
    d = SecretsDir(tmp_path, kubernetes=True)
    d.write_all({"a": "1"})
    store = store_for(tmp_path, watcher=watcher, poll_interval=0.05)
    with store.watch():
        assert store.status.mode == watcher
        d.write_all({"a": "2"})
        assert wait_for(lambda: store.get("a") == "2")
    assert store.status.mode == "stopped"


def test_runsecrets_poll_forces_polling_without_a_warning(tmp_path: Path) -> None:
    """``RUNSECRETS_POLL=1`` picks polling on purpose: no fall-back warning, rotations seen."""
    d = SecretsDir(tmp_path)
    d.write("a", "1")
    store = store_for(tmp_path, environ={"RUNSECRETS_POLL": "1"}, poll_interval=0.05)
    with store.watch():  # filterwarnings=error: a warning would fail here
        assert store.status.mode == "poll"
        d.write("a", "2")
        assert wait_for(lambda: store.get("a") == "2")


def test_start_is_idempotent_and_close_can_be_repeated(tmp_path: Path) -> None:
    """Two starts run one watcher; closing twice is harmless; the snapshot stays readable."""
    SecretsDir(tmp_path).write("a", "1")
    store = store_for(tmp_path)
    store.start()
    store.start()
    assert [t.name for t in threading.enumerate()].count("runsecrets-watch") == 1
    store.close()
    store.close()
    assert store.get("a") == "1"
    with store_for(tmp_path) as other:
        assert other.running
    assert not other.running


def test_a_raising_subscriber_is_logged_and_the_others_still_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sentinel: str
) -> None:
    """The error is logged by type and place (never its message); the watcher lives on."""
    d = SecretsDir(tmp_path)
    d.write("a", "0")
    store = store_for(tmp_path)
    calls: list[str] = []

    def broken(changes: runsecrets.Changes) -> None:
        raise RuntimeError(f"boom with {sentinel}")

    store.subscribe(broken)
    store.subscribe(lambda changes: calls.append(changes.snapshot.get("a")))
    with caplog.at_level(logging.ERROR, logger="runsecrets.store"), store.watch():
        d.write("a", "1")
        assert wait_for(lambda: calls == ["1"])
        d.write("a", "2")
        assert wait_for(lambda: calls == ["1", "2"])
    assert store.status.counters["subscriber_errors"] == 2
    assert any(
        "broken" in r.getMessage() and "RuntimeError" in r.getMessage() for r in caplog.records
    )


def test_close_from_inside_a_callback_stops_the_watcher(tmp_path: Path) -> None:
    """A subscriber may close its own store: no deadlock, and the thread ends."""
    d = SecretsDir(tmp_path)
    d.write("a", "0")
    store = store_for(tmp_path)
    closed = threading.Event()

    def close_on_change(changes: runsecrets.Changes) -> None:
        store.close()
        closed.set()

    store.subscribe(close_on_change)
    store.start()
    d.write("a", "1")
    assert closed.wait(10)
    assert not store.running
    assert wait_for(lambda: "runsecrets-watch" not in [t.name for t in threading.enumerate()])


def test_unsubscribe_stops_delivery(tmp_path: Path) -> None:
    """After unsubscribing, a callback is not called again."""
    d = SecretsDir(tmp_path)
    d.write("a", "0")
    store = store_for(tmp_path)
    calls: list[object] = []
    unsubscribe = store.subscribe(calls.append)
    d.write("a", "1")
    store.reload()
    unsubscribe()
    d.write("a", "2")
    store.reload()
    assert len(calls) == 1


def test_many_stores_in_one_process_each_follow_their_directory(tmp_path: Path) -> None:
    """Twenty stores watching twenty directories all see their own rotation."""
    dirs = [SecretsDir(tmp_path / f"d{i}") for i in range(20)]
    for i, d in enumerate(dirs):
        d.write("a", f"{i}-old")
    stores = [store_for(d.path).start() for d in dirs]
    try:
        for i, d in enumerate(dirs):
            d.write("a", f"{i}-new")
        assert wait_for(lambda: all(s.get("a").endswith("-new") for s in stores))
        assert [s.get("a") for s in stores] == [f"{i}-new" for i in range(20)]
    finally:
        for s in stores:
            s.close()


def test_awatch_yields_changes_in_asyncio(tmp_path: Path) -> None:
    """``async for changes in store.awatch()`` gets each publish, then stops the watcher."""
    d = SecretsDir(tmp_path)
    d.write("a", "0")
    store = store_for(tmp_path)

    async def main() -> list[str]:
        seen: list[str] = []
        async with store.awatch() as updates:
            write_rename(tmp_path / "a", "1")
            async for changes in updates:
                seen.append(changes.snapshot.get("a"))
                if seen[-1] == "1":
                    break
        return seen

    assert asyncio.run(asyncio.wait_for(main(), 10)) == ["1"]
    assert not store.running


@pytest.fixture
def switch_interval() -> Iterator[float]:
    """A distinctive switch interval for the test, the interpreter's own restored after."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        yield sys.getswitchinterval()
    finally:
        sys.setswitchinterval(saved)


def test_prompt_switching_lowers_the_interval_and_restores_it(switch_interval: float) -> None:
    """Windows lower the process's switch interval; nested windows (two stores) restore it only
    when the last one ends; ending twice is harmless."""
    from runsecrets.reload.watch.switching import PROMPT_SWITCH_INTERVAL, PromptSwitching

    one, two = PromptSwitching(), PromptSwitching()
    with one:
        assert sys.getswitchinterval() == pytest.approx(PROMPT_SWITCH_INTERVAL)
        two.begin()
        two.begin()
        one.end()
        assert sys.getswitchinterval() == pytest.approx(PROMPT_SWITCH_INTERVAL)
        two.end()
        assert sys.getswitchinterval() == switch_interval
        two.end()
    assert sys.getswitchinterval() == switch_interval


def test_prompt_switching_leaves_an_interval_changed_meanwhile(switch_interval: float) -> None:
    """Someone else sets the interval during a window: theirs stays when the window ends."""
    from runsecrets.reload.watch.switching import PromptSwitching

    with PromptSwitching():
        sys.setswitchinterval(0.001)
    assert sys.getswitchinterval() == pytest.approx(0.001)


def test_prompt_switching_never_raises_a_lower_interval() -> None:
    """An interval already below the window's is left alone."""
    from runsecrets.reload.watch.switching import PromptSwitching

    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    try:
        lowered = sys.getswitchinterval()
        with PromptSwitching():
            assert sys.getswitchinterval() == lowered
        assert sys.getswitchinterval() == lowered
    finally:
        sys.setswitchinterval(saved)


@pytest.mark.parametrize("watcher", ["inotify", "watchfiles", "poll"])
def test_the_watcher_switches_promptly_only_while_it_works(
    tmp_path: Path, watcher: str, switch_interval: float
) -> None:
    """The watcher's work window (the interval lowered) covers reading and validating; it
    closes before subscribers run (the application's code runs with the process's own
    interval), and once the watcher waits again the interval is back."""
    from runsecrets.reload.watch.switching import PROMPT_SWITCH_INTERVAL

    SecretsDir(tmp_path).write("a", "0")
    store = store_for(tmp_path, watcher=watcher, poll_interval=0.05, prompt_switching=True)
    validating: list[float] = []
    delivering: list[float] = []
    published = threading.Event()

    def check(_snapshot: object) -> None:
        validating.append(sys.getswitchinterval())

    def record(changes: runsecrets.Changes) -> None:
        delivering.append(sys.getswitchinterval())
        published.set()

    store.add_validator(check)
    store.subscribe(record)
    with store.watch():
        assert wait_for(lambda: sys.getswitchinterval() == switch_interval, timeout=30)
        write_rename(tmp_path / "a", "1")
        assert published.wait(30)
    assert validating[-1] == pytest.approx(PROMPT_SWITCH_INTERVAL)
    assert delivering == [switch_interval]
    assert sys.getswitchinterval() == switch_interval


def test_a_store_leaves_the_switch_interval_alone_unless_asked(
    tmp_path: Path, switch_interval: float
) -> None:
    """The interval is process-wide, the application's: by default the watcher never changes
    it, not even while it reads and validates (``prompt_switching=True`` asks for it)."""
    SecretsDir(tmp_path).write("a", "0")
    store = store_for(tmp_path, watcher="inotify")
    validating: list[float] = []
    published = threading.Event()
    store.add_validator(lambda snapshot: validating.append(sys.getswitchinterval()))
    store.subscribe(lambda changes: published.set())
    with store.watch():
        write_rename(tmp_path / "a", "1")
        assert published.wait(30)
    assert validating == [switch_interval]


def _rotate(path: Path, store: SecretStore, value: str) -> None:
    """Write ``value`` and publish it now, in this thread."""
    write_rename(path, value)
    assert store.reload() is not None


def test_awatch_holds_a_bounded_number_of_changes_merging_the_rest(tmp_path: Path) -> None:
    """A consumer that falls behind finds at most ``max_pending`` changes waiting; everything
    later is merged into the last one, whose ``previous`` is where that merge started."""
    d = SecretsDir(tmp_path)
    d.write("a", "0")
    store = store_for(tmp_path, watcher="poll", poll_interval=3600)

    async def main() -> list[runsecrets.Changes]:
        seen: list[runsecrets.Changes] = []
        async with store.awatch(max_pending=4) as updates:
            for n in range(1, 31):
                _rotate(tmp_path / "a", store, str(n))
            _rotate(tmp_path / "b", store, "done")
            async for changes in updates:
                seen.append(changes)
                if "b" in changes.snapshot:
                    break
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), 30))
    assert len(seen) == 4
    assert [(c.previous.get("a"), c.snapshot.get("a")) for c in seen[:3]] == [
        ("0", "1"),
        ("1", "2"),
        ("2", "3"),
    ]
    last = seen[-1]
    assert (last.previous.get("a"), last.snapshot.get("a")) == ("3", "30")
    assert (last.added, last.changed, last.removed) == ({"b"}, {"a"}, set())
    assert store._publisher.listeners.subscriber_count == 0
    assert not store.running


def test_awatch_drops_a_merge_that_cancels_out(tmp_path: Path) -> None:
    """Rotated and rotated back while the consumer was away: nothing to report for it."""
    SecretsDir(tmp_path).write("a", "0")
    store = store_for(tmp_path, watcher="poll", poll_interval=3600)

    async def main() -> list[str]:
        async with store.awatch(max_pending=1) as updates:
            _rotate(tmp_path / "a", store, "1")
            _rotate(tmp_path / "a", store, "0")
            _rotate(tmp_path / "b", store, "new")
            changes = await updates.__anext__()
        return sorted(changes.names)

    assert asyncio.run(asyncio.wait_for(main(), 30)) == ["b"]


def test_awatch_unsubscribes_when_cancelled(tmp_path: Path) -> None:
    """A task waiting in ``async for`` is cancelled: the subscription ends and the watcher it
    started stops."""
    SecretsDir(tmp_path).write("a", "0")
    store = store_for(tmp_path)

    async def consume(started: asyncio.Event) -> None:
        started.set()
        async for _ in store.awatch():
            pass

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(consume(started))
        await started.wait()
        for _ in range(1000):  # until the consumer subscribed (bounded: a liveness guard)
            if store._publisher.listeners.subscriber_count:
                break
            await asyncio.sleep(0.005)
        assert store._publisher.listeners.subscriber_count
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 30))
    assert store._publisher.listeners.subscriber_count == 0
    assert not store.running


def test_awatch_unsubscribes_after_a_break(tmp_path: Path) -> None:
    """Leaving ``async for`` by ``break`` (no context manager): asyncio finalizes the iteration
    and the subscription ends."""
    SecretsDir(tmp_path).write("a", "0")
    store = store_for(tmp_path, watcher="poll", poll_interval=3600)

    async def main() -> None:
        async def rotate_soon() -> None:
            while not store._publisher.listeners.subscriber_count:
                await asyncio.sleep(0.005)
            # Published here, or by the watcher's first read if it has not happened yet: either
            # way the iteration hears of it.
            write_rename(tmp_path / "a", "1")
            store.reload()

        rotation = asyncio.create_task(rotate_soon())
        async for _ in store.awatch():
            break
        await rotation
        for _ in range(1000):  # until asyncio ran the finalizer (bounded: a liveness guard)
            if not store._publisher.listeners.subscriber_count:
                break
            await asyncio.sleep(0.005)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert store._publisher.listeners.subscriber_count == 0
    assert not store.running


def test_the_backup_poll_is_spaced_by_the_cost_of_a_reread() -> None:
    """With notifications working, a cheap read of the files keeps ``backup_poll_interval``;
    one costing 13 ms of CPU (1,000 secrets) waits 2,000 times that, so an idle store stays
    under 0.05% of a core, but never more than ten intervals. Polling alone keeps its own."""
    import types

    from runsecrets.reload.watch.options import WatchOptions
    from runsecrets.reload.watch.thread import Watcher

    target = types.SimpleNamespace(read_cost=0.001)
    watcher = Watcher(
        target,  # type: ignore[arg-type]
        WatchOptions(
            mode="inotify",
            step=None,
            debounce=0.05,
            poll_interval=1.0,
            backup_poll_interval=10.0,
            rearm_after_fork=False,
            prompt_switching=False,
        ),
    )
    inotify, poll = types.SimpleNamespace(mode="inotify"), types.SimpleNamespace(mode="poll")
    assert watcher._interval(inotify) == 10.0  # type: ignore[arg-type]
    target.read_cost = 0.013
    assert watcher._interval(inotify) == pytest.approx(26.0)  # type: ignore[arg-type]
    target.read_cost = 1.0  # a slow file system: bounded all the same
    assert watcher._interval(inotify) == 100.0  # type: ignore[arg-type]
    assert watcher._interval(poll) == 1.0  # type: ignore[arg-type]


def test_a_snapshot_works_as_a_mapping_but_is_not_one_for_serializers(
    tmp_path: Path, sentinel: str
) -> None:
    """A snapshot indexes, converts with ``dict()`` and iterates like a mapping, and its ``get``
    is the store's (absent without a default raises); it is not a registered ``Mapping``, so
    error reporters that copy any ``Mapping`` out of a frame's locals show its repr instead."""
    from collections.abc import Mapping

    from runsecrets import SecretNotFoundError

    (tmp_path / "a").write_text(sentinel + "\n")
    with SecretStore(tmp_path, environ={}) as store:
        snapshot = store.snapshot
        assert not isinstance(snapshot, Mapping)
        assert dict(snapshot) == {"a": sentinel}
        assert sentinel not in repr(snapshot)
        with pytest.raises(KeyError):
            snapshot["b"]
        with pytest.raises(SecretNotFoundError):
            snapshot.get("b")
        assert snapshot.get("b", None) is None
