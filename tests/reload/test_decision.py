"""The publish decision as a table: one read, the published entries, and what follows."""

from __future__ import annotations

import pytest

from runsecrets._provenance import DIRECTORY, Provenance
from runsecrets.exceptions import SecretReadError
from runsecrets.reload.decision import HOLD, PUBLISH, UNCHANGED, RemovalRules, decide
from runsecrets.reload.scan import Entry, Pass

D = "/run/secrets"


def entry(name: str, raw: bytes, directory: str = D) -> Entry:
    """An entry read from ``directory``."""
    return Entry(raw, Provenance(name, DIRECTORY, path=f"{directory}/{name}", size=len(raw)))


def a_pass(
    entries: dict[str, bytes] | None = None,
    *,
    incomplete: dict[str, str] | None = None,
    errors: tuple[str, ...] = (),
    missing_dirs: tuple[str, ...] = (),
) -> Pass:
    """A pass that read ``entries``, met ``incomplete`` and ``errors``."""
    result = Pass()
    result.entries = {name: entry(name, raw) for name, raw in (entries or {}).items()}
    result.incomplete = dict(incomplete or {})
    result.errors = {
        name: SecretReadError(f"secret {name!r}: cannot read", reason="os_error", name=name)
        for name in errors
    }
    result.missing_dirs = list(missing_dirs)
    return result


PUBLISHED = {"a": entry("a", b"1"), "b": entry("b", b"2")}
DEFAULT = {"on_remove": "publish", "remove_delay": 0.1, "allow_empty": False}

# Each row: the read, the removal rules, when each name was first seen gone, the expected
# action, the candidate's values, the names kept, whether something was held, the number of
# problems, and whether a removal is pending.
TABLE = [
    pytest.param(
        a_pass({"a": b"1", "b": b"2"}),
        {},
        {},
        UNCHANGED,
        {"a": b"1", "b": b"2"},
        [],
        False,
        0,
        False,
        id="nothing-changed",
    ),
    pytest.param(
        a_pass({"a": b"9", "b": b"2"}),
        {},
        {},
        PUBLISH,
        {"a": b"9", "b": b"2"},
        [],
        False,
        0,
        False,
        id="one-changed",
    ),
    pytest.param(
        a_pass({"a": b"", "b": b"2"}),
        {},
        {},
        UNCHANGED,
        {"a": b"1", "b": b"2"},
        [],
        True,
        1,
        False,
        id="emptied-is-held",
    ),
    pytest.param(
        a_pass({"a": b"", "b": b"2"}),
        {"allow_empty": True},
        {},
        PUBLISH,
        {"a": b"", "b": b"2"},
        [],
        False,
        0,
        False,
        id="emptied-allowed",
    ),
    pytest.param(
        a_pass({"b": b"3"}, incomplete={"a": "a link to nothing"}),
        {},
        {},
        PUBLISH,
        {"a": b"1", "b": b"3"},
        [],
        True,
        1,
        False,
        id="incomplete-keeps-its-value-alone",
    ),
    pytest.param(
        a_pass({"b": b"2"}, errors=("a",)),
        {},
        {},
        UNCHANGED,
        {"a": b"1", "b": b"2"},
        [],
        True,
        1,
        False,
        id="unreadable-keeps-its-value",
    ),
    pytest.param(
        a_pass({"b": b"2"}),
        {},
        {},
        UNCHANGED,
        {"a": b"1", "b": b"2"},
        [],
        False,
        0,
        True,
        id="gone-waits-its-delay",
    ),
    pytest.param(
        a_pass({"b": b"2"}),
        {},
        {"a": -1.0},
        PUBLISH,
        {"b": b"2"},
        [],
        False,
        0,
        False,
        id="gone-past-its-delay-is-removed",
    ),
    pytest.param(
        a_pass({"b": b"2"}),
        {"on_remove": "keep"},
        {},
        UNCHANGED,
        {"a": b"1", "b": b"2"},
        ["a"],
        False,
        0,
        False,
        id="on-remove-keep",
    ),
    pytest.param(
        a_pass({}, missing_dirs=(D,)),
        {},
        {},
        UNCHANGED,
        {"a": b"1", "b": b"2"},
        ["a", "b"],
        False,
        1,
        False,
        id="missing-directory-keeps-its-values",
    ),
]


@pytest.mark.parametrize(
    (
        "read",
        "rules",
        "gone_since",
        "action",
        "values",
        "kept",
        "held",
        "problems",
        "pending",
    ),
    TABLE,
)
def test_decide(
    read: Pass,
    rules: dict[str, object],
    gone_since: dict[str, float],
    action: str,
    values: dict[str, bytes],
    kept: list[str],
    held: bool,
    problems: int,
    pending: bool,
) -> None:
    """Each row of the table: a read against the published entries decides one thing."""
    decision = decide(
        read,
        PUBLISHED,
        stable=True,
        rules=RemovalRules(**{**DEFAULT, **rules}),  # type: ignore[arg-type]
        gone_since=gone_since,
        now=0.0,
    )
    assert decision.action == action
    assert {name: e.raw for name, e in decision.entries.items()} == values
    assert sorted(decision.kept) == kept
    assert decision.held is held
    assert len(decision.problems) == problems
    assert (decision.retry is not None) is pending


def test_files_still_changing_hold_everything_back() -> None:
    """Two passes that disagree: nothing is published, and the problem says why."""
    decision = decide(
        a_pass({"a": b"9", "b": b"2"}),
        PUBLISHED,
        stable=False,
        rules=RemovalRules(**DEFAULT),  # type: ignore[arg-type]
        gone_since={},
        now=0.0,
    )
    assert decision.action == HOLD
    assert decision.problem == "files kept changing while being read"


def test_a_name_never_read_whole_has_an_error_not_a_value() -> None:
    """Caught between two states with no older value: ``get`` raises for it, others publish."""
    decision = decide(
        a_pass({"a": b"1", "b": b"2", "c": b"3"}, incomplete={"d": "vanished while read"}),
        PUBLISHED,
        stable=True,
        rules=RemovalRules(**DEFAULT),  # type: ignore[arg-type]
        gone_since={},
        now=0.0,
    )
    assert decision.action == PUBLISH
    assert decision.added == {"c"}
    assert decision.errors["d"].reason == "not_found"
    assert "d" not in decision.entries


def test_an_excluded_name_is_removed_at_once_never_kept() -> None:
    """A file this process writes, found now: dropped from the candidate, no removal delay."""
    decision = decide(
        a_pass({"a": b"1", "b": b"2"}),
        PUBLISHED,
        stable=True,
        rules=RemovalRules(**DEFAULT),  # type: ignore[arg-type]
        gone_since={},
        now=0.0,
        excluded={"b"},
    )
    assert decision.action == PUBLISH
    assert decision.removed == {"b"}


def test_the_first_read_is_published_even_when_empty() -> None:
    """A store's first snapshot is published whatever it holds."""
    decision = decide(
        a_pass({}),
        {},
        stable=True,
        rules=RemovalRules(**DEFAULT),  # type: ignore[arg-type]
        gone_since={},
        now=0.0,
        initial=True,
    )
    assert decision.action == PUBLISH


def test_an_unknown_removal_rule_is_refused() -> None:
    """``on_remove`` is ``publish`` or ``keep``."""
    with pytest.raises(ValueError, match="on_remove"):
        RemovalRules(on_remove="drop", remove_delay=0.1, allow_empty=False)
