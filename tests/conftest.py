"""Fixtures shared by the whole suite.

The ``sentinel`` fixture plants a unique secret value; any test that asks for it fails when that
value shows up in its captured output, its log records or the text of an exception the test let through.
"""

from __future__ import annotations

import secrets as _random
import threading
import time
from collections.abc import Generator
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


def _raised_texts(call: pytest.CallInfo[None]) -> list[str]:
    """The messages of the exceptions a test raised, the chain included.

    A failing assertion of the test itself is left out: it quotes what the test compared, and the
    test's arguments printed in a long traceback are not a leak by the code under test either.
    """
    texts: list[str] = []
    error = call.excinfo.value if call.excinfo is not None else None
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if not isinstance(error, AssertionError):
            texts.append(f"{type(error).__name__}: {error!s} {error!r}")
            texts.extend(str(note) for note in getattr(error, "__notes__", ()))
        error = error.__cause__ or error.__context__
    return texts


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
        places.extend(("an exception's text", text) for text in _raised_texts(call))
        for value in values:
            where = sorted({title for title, content in places if value in content})
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
