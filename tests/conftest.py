"""Fixtures shared by the whole suite.

The ``sentinel`` fixture plants a unique secret value; any test that asks for it fails when that
value shows up in its captured output, its log records or its failure text.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Generator

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fail a test whose captured stdout, stderr, logs or failure text contain its sentinel."""
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
        places.append(("failure text", report.longreprtext))
        for value in values:
            where = [title for title, content in places if value in content]
            if where:
                report.outcome = "failed"
                report.longrepr = (
                    f"the sentinel secret value leaked into: {', '.join(where)}\n"
                    f"{report.longreprtext}"
                )
    return report
