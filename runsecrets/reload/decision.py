"""The publish decision: from one stable read and the published snapshot, what to publish.

:func:`decide` is a pure function of its arguments (the tests give it as a table): no clock,
no disk, no store. A secret that cannot be read whole now keeps its last good value, alone:
the others move on (one broken file must not freeze every rotation). Sets that must change
together are a validator's business (the TLS pair check is one).
"""

from __future__ import annotations

import os

from .._provenance import DIRECTORY
from ..exceptions import RunSecretsError, SecretReadError
from .snapshot import diff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from .scan import Entry, Pass

#: What the store does with a read.
PUBLISH = "publish"  # a new snapshot, once validators and gated derived values accept it
HOLD = "hold"  # the files kept changing while being read: publish nothing, retry soon
UNCHANGED = "unchanged"  # nothing to publish (held names may still be retried)

ON_REMOVE_CHOICES = ("publish", "keep")


class RemovalRules:
    """How a store treats secrets that disappear or empty.

    Attributes:
        on_remove: ``"publish"``: a deleted secret leaves the next snapshot; ``"keep"``: its
            last value stays.
        remove_delay: Seconds a secret must stay gone before its removal is published.
        allow_empty: Publish a secret that became empty (else it is taken for a writer
            between truncate and write, and its old value kept).
    """

    __slots__ = ("allow_empty", "on_remove", "remove_delay")

    def __init__(self, *, on_remove: str, remove_delay: float, allow_empty: bool) -> None:
        if on_remove not in ON_REMOVE_CHOICES:
            raise ValueError(f"on_remove must be 'publish' or 'keep', not {on_remove!r}")
        self.on_remove = on_remove
        self.remove_delay = remove_delay
        self.allow_empty = allow_empty


class Decision:
    """What one read leads to.

    Attributes:
        action: :data:`PUBLISH`, :data:`HOLD` or :data:`UNCHANGED`.
        entries: The candidate's entries: what was read, with kept values where a name could
            not be read whole.
        errors: Names with no value at all (never read whole), with the error ``get`` raises.
        problems: What is wrong, one phrase each (never a value).
        kept: Names gone whose last value stays (a missing directory, ``on_remove="keep"``).
        held: Whether a name kept its last value because it could not be read whole now.
        gone_since: For each name whose removal waits, when it was first seen gone.
        retry: When a waiting removal is due (seconds), else ``None``.
        read_errors: How many names and directories could not be read.
        added, changed, removed: The names that differ from the published snapshot.
    """

    __slots__ = (
        "action",
        "added",
        "changed",
        "entries",
        "errors",
        "gone_since",
        "held",
        "kept",
        "problems",
        "read_errors",
        "removed",
        "retry",
    )

    def __init__(self) -> None:
        self.action = UNCHANGED
        self.entries: dict[str, Entry] = {}
        self.errors: dict[str, RunSecretsError] = {}
        self.problems: list[str] = []
        self.kept: list[str] = []
        self.held = False
        self.gone_since: dict[str, float] = {}
        self.retry: float | None = None
        self.read_errors = 0
        self.added: frozenset[str] = frozenset()
        self.changed: frozenset[str] = frozenset()
        self.removed: frozenset[str] = frozenset()

    @property
    def problem(self) -> str | None:
        """The problems as one line, or ``None``."""
        return "; ".join(self.problems) or None

    @property
    def names(self) -> frozenset[str]:
        """Every name added, changed or removed."""
        return self.added | self.changed | self.removed

    def __repr__(self) -> str:
        return f"Decision({self.action}, changed={sorted(self.names)!r}, held={self.held})"


def decide(
    pass_: Pass,
    published: Mapping[str, Entry],
    *,
    stable: bool,
    rules: RemovalRules,
    gone_since: Mapping[str, float],
    now: float,
    excluded: Set[str] = frozenset(),
    initial: bool = False,
) -> Decision:
    """Decide what a read (``pass_``) leads to, given the ``published`` entries.

    Args:
        pass_: The last pass of a stable read.
        published: The entries of the published snapshot.
        stable: Whether the last two passes agreed (else the files are still changing).
        rules: The store's :class:`RemovalRules`.
        gone_since: When each name was first seen gone (from the previous decision).
        now: The time (``time.monotonic()``) to measure the removal delay by.
        excluded: Names no longer tracked: dropped from the candidate, never kept.
        initial: The store's first read: published even when it holds nothing.
    """
    decision = Decision()
    decision.entries = {n: e for n, e in pass_.entries.items() if n not in excluded}
    _keep_what_is_not_whole(decision, pass_, published, rules)
    _judge_directories(decision, pass_, published)
    _judge_the_gone(decision, pass_, published, rules, gone_since, now, excluded)
    if not stable:
        decision.problems.append("files kept changing while being read")
        decision.action = HOLD
        return decision
    decision.added, decision.changed, decision.removed = diff(published, decision.entries)
    decision.action = PUBLISH if decision.names or initial else UNCHANGED
    return decision


def _keep_what_is_not_whole(
    decision: Decision, pass_: Pass, published: Mapping[str, Entry], rules: RemovalRules
) -> None:
    """Names emptied, caught between two states or unreadable keep their last good value; with
    none yet, the error is what ``get`` raises."""
    entries = decision.entries
    for name, entry in pass_.entries.items():
        old = published.get(name)
        if name in entries and not entry.raw and not rules.allow_empty and old and old.raw:
            decision.problems.append(f"{name}: empty (a writer between truncate and write?)")
            entries[name] = old
            decision.held = True
    unreadable: dict[str, RunSecretsError] = {
        name: SecretReadError(f"secret {name!r}: {reason}", reason="not_found", name=name)
        for name, reason in pass_.incomplete.items()
    }
    for name, reason in pass_.incomplete.items():
        decision.problems.append(f"{name}: {reason}")
    for name, error in pass_.errors.items():
        decision.read_errors += 1
        decision.problems.append(str(error))  # RunSecretsError messages never hold a value
        unreadable[name] = error
    for name, error in unreadable.items():
        old = published.get(name)
        if old is not None:
            entries[name] = old
            decision.held = True
        else:
            decision.errors[name] = error


def _judge_directories(decision: Decision, pass_: Pass, published: Mapping[str, Entry]) -> None:
    """A directory missing or unlistable keeps its values, and says so."""
    for directory in pass_.missing_dirs:
        unlistable = pass_.dir_errors.get(directory)
        if unlistable is not None:
            decision.read_errors += 1
            decision.problems.append(f"{unlistable}; keeping its values")  # never holds a value
        elif any(_in_directory(entry, directory) for entry in published.values()):
            decision.problems.append(f"directory {directory} is missing; keeping its values")


def _judge_the_gone(
    decision: Decision,
    pass_: Pass,
    published: Mapping[str, Entry],
    rules: RemovalRules,
    gone_since: Mapping[str, float],
    now: float,
    excluded: Set[str],
) -> None:
    """Published names this read did not find: kept (their directory is missing, or
    ``on_remove="keep"``), kept a while longer (``remove_delay``), or removed."""
    missing = set(pass_.missing_dirs)
    entries = decision.entries
    for name, old in published.items():
        if name in entries or name in pass_.incomplete or name in pass_.errors:
            continue
        if name in excluded:
            continue
        if _in_missing_directory(old, missing) or rules.on_remove == "keep":
            entries[name] = old
            decision.kept.append(name)
            continue
        since = gone_since.get(name, now)
        if now - since < rules.remove_delay:
            # Not yet: a writer that unlinks before it creates, or a directory being deleted
            # file by file, looks like this for a moment.
            decision.gone_since[name] = since
            entries[name] = old
            wait = rules.remove_delay - (now - since)
            decision.retry = wait if decision.retry is None else min(wait, decision.retry)


def _in_directory(entry: Entry, directory: str) -> bool:
    path = entry.provenance.path
    return (
        entry.provenance.kind == DIRECTORY
        and path is not None
        and (os.path.dirname(path) == directory)
    )


def _in_missing_directory(entry: Entry, missing: Set[str]) -> bool:
    path = entry.provenance.path
    return (
        entry.provenance.kind == DIRECTORY and path is not None and os.path.dirname(path) in missing
    )
