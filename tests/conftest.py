"""Fixtures shared by the whole suite.

The ``sentinel`` fixture plants a unique secret value; any test that asks for it fails when that
value shows up in its captured output, its log records, or anywhere in an exception the test let
through or an object it exposed (text, arguments, attributes, chain, traceback frame locals).
"""

from __future__ import annotations

import collections
import secrets as _random
import threading
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path

import pytest

_SENTINELS = pytest.StashKey[list[str]]()


@pytest.fixture
def sentinel(request: pytest.FixtureRequest) -> str:
    """A unique secret value that must never appear in output, logs or error text."""
    value = f"S3NT1NEL-{_random.token_hex(12)}"
    request.node.stash.setdefault(_SENTINELS, []).append(value)
    return value


def leaked(value: str, *texts: object) -> bool:
    """Whether ``value`` appears in any of ``texts`` (str or bytes)."""
    raw = value.encode()
    return any(raw in t if isinstance(t, bytes) else value in str(t) for t in texts)


#: Top-level modules whose frames are the test's own or the test runner's: their locals hold the
#: sentinel on purpose (a test's argument, pytest's call of the test function).
_RUNNER_PACKAGES = frozenset(("tests", "_pytest", "pytest", "pluggy"))
_MAX_DEPTH = 8


def _is_test_code(module: str) -> bool:
    top, _, _ = module.partition(".")
    last = module.rpartition(".")[2]
    return top in _RUNNER_PACKAGES or last.startswith("test_") or last == "conftest"


class _Holdings:
    """Walks objects the way an error reporter serializes them, collecting where ``value`` is.

    Exceptions: their text, arguments, attributes and notes, every frame of their traceback
    (the local variables of each frame that is not the test's or the runner's), their
    ``__cause__`` and ``__context__``. Strings and bytes: searched. Mappings, sequences and
    sets: walked. Anything else: its ``repr`` (what Sentry records for an object).
    """

    def __init__(self, value: str) -> None:
        self.value = value
        self.raw = value.encode()
        self.places: list[str] = []
        self._seen: set[int] = set()

    def walk(self, obj: object, where: str, depth: int = 0) -> None:
        if isinstance(obj, str):
            if self.value in obj:
                self.places.append(where)
            return
        if isinstance(obj, (bytes, bytearray, memoryview)):
            if self.raw in bytes(obj):
                self.places.append(where)
            return
        if obj is None or isinstance(obj, (int, float, bool)) or depth > _MAX_DEPTH:
            return
        if id(obj) in self._seen:
            return
        self._seen.add(id(obj))
        if isinstance(obj, BaseException):
            self._exception(obj, where, depth)
        elif isinstance(obj, Mapping):
            # As reporters do: a registered Mapping is walked, anything else (a Snapshot, which
            # is deliberately no Mapping) is shown by its repr.
            for key, item in list(obj.items()):
                self.walk(key, f"{where} key", depth + 1)
                self.walk(item, f"{where}[{key!r}]", depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
            for index, item in enumerate(obj):
                self.walk(item, f"{where}[{index}]", depth + 1)
        else:
            self._repr(obj, where)

    def _repr(self, obj: object, where: str) -> None:
        try:
            text = repr(obj)
        except Exception:  # noqa: BLE001 - a broken repr shows nothing
            return
        if self.value in text:
            self.places.append(f"{where} (repr)")

    def _exception(self, error: BaseException, where: str, depth: int) -> None:
        label = f"{where} {type(error).__name__}"
        if not isinstance(error, AssertionError):
            # A failing assertion of the test quotes what the test compared: not a leak.
            self.walk(f"{error!s} {error!r}", f"{label} text")
            self.walk(error.args, f"{label}.args", depth + 1)
        attributes = getattr(error, "__dict__", {})
        for attribute, item in attributes.items():
            self.walk(item, f"{label}.{attribute}", depth + 1)
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            module = str(frame.f_globals.get("__name__", ""))
            if not _is_test_code(module):
                code = frame.f_code
                for local, item in frame.f_locals.items():
                    self.walk(
                        item, f"{label} frame {module}.{code.co_name} local {local!r}", depth + 1
                    )
            tb = tb.tb_next
        self.walk(error.__cause__, f"{label}.__cause__", depth + 1)
        self.walk(error.__context__, f"{label}.__context__", depth + 1)


def where_held(value: str, *objects: object) -> list[str]:
    """Every place ``value`` is reachable from ``objects``, walked as an error reporter would
    (exceptions with their chains and frame locals); empty when it is held nowhere."""
    holdings = _Holdings(value)
    for index, obj in enumerate(objects):
        holdings.walk(obj, f"object {index}")
    return holdings.places


_EXPOSED = pytest.StashKey[list[object]]()


@pytest.fixture
def expose(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Hand objects a test keeps (a caught error, ``snapshot.errors``, a ``last_error``) to the
    sentinel check, which walks them like a raised exception when the test ends."""

    def add(*objects: object) -> None:
        request.node.stash.setdefault(_EXPOSED, []).extend(objects)

    return add


def _raised_places(value: str, call: pytest.CallInfo[None], exposed: list[object]) -> list[str]:
    """Where ``value`` is held by the exception the test raised (its chain, attributes and frame
    locals included) or by the objects it exposed."""
    error = call.excinfo.value if call.excinfo is not None else None
    return where_held(value, error, *exposed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fail a test whose captured stdout, stderr, logs or raised exceptions contain its sentinel."""
    report = yield
    values = item.stash.get(_SENTINELS, [])
    if values and report.when in ("call", "teardown"):
        # Sections accumulate over the phases: the call report sees setup's and its own, the
        # teardown report only needs its own, so one leak is reported once.
        places = [
            (title, content)
            for title, content in report.sections
            if report.when == "call" or title.endswith("teardown")
        ]
        exposed = item.stash.get(_EXPOSED, []) if report.when == "call" else []
        for value in values:
            where = sorted({title for title, content in places if value in content})
            held = _raised_places(value, call, exposed)
            if held:
                where.append(f"an exception's text or what it holds ({'; '.join(held[:5])})")
            if where:
                report.outcome = "failed"
                report.longrepr = (
                    f"the sentinel secret value leaked into: {', '.join(where)}\n"
                    f"{report.longreprtext}"
                )
    return report


@pytest.fixture(autouse=True)
def no_leaked_python_threads() -> Generator[None]:
    """Fail any test that leaves a Python thread running (a store, a watcher, a server not
    closed). The store's own modules also count the process's OS threads (watchfiles' Rust
    threads): see ``tests/_store_fixtures.py``."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0  # a thread told to stop may need a moment to end
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    left = sorted(t.name for t in set(threading.enumerate()) - before)
    if left:
        pytest.fail(f"leaked threads: {left}", pytrace=False)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> object:
    """A fresh secrets directory, written through ``runsecrets.testing.SecretsDir`` (modules
    that want a plain path define their own fixture of this name)."""
    from runsecrets.testing import SecretsDir

    return SecretsDir(tmp_path / "secrets")


# Private database and cache servers, one of each for the whole session, started on first use
# and stopped at the end (also after a failure): see tests/_postgres.py, _mariadb.py, _redis.py.
@pytest.fixture(scope="session")
def postgres_server() -> Generator[object]:
    """A private PostgreSQL server (skipped when absent, unless CI requires it)."""
    from ._postgres import running_postgres

    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server() -> Generator[object]:
    """A private MariaDB server (skipped when absent, unless CI requires it)."""
    pytest.importorskip("pymysql")
    from ._mariadb import running_mariadb

    with running_mariadb() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Generator[object]:
    """A private Redis server with ACL users (skipped when absent, unless CI requires it)."""
    pytest.importorskip("redis")
    from ._redis import running_redis

    with running_redis() as server:
        yield server
