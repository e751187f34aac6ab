"""What a watcher may ask of its store: a small interface of public methods."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Set
    from typing import Protocol

    class WatchTarget(Protocol):
        """The store's side of a watcher (its publisher implements it)."""

        #: CPU seconds the last read of the files took (the backup poll is spaced by it).
        read_cost: float

        def refresh_for_watcher(self, reason: str) -> float | None:
            """Re-read now; the delay before the next re-read, if one is due."""

        def watch_paths(self) -> list[str]:
            """The directories to watch now."""

        def is_relevant(self, name: str) -> bool:
            """Whether an event about the entry ``name`` may change what the store reads."""

        def covers_every_file(self, written: Set[str]) -> bool:
            """Whether files written completely (absolute paths) are every file it reads."""

        def note_problem(self, problem: str) -> None:
            """Record a problem the watcher met (for the store's status)."""

        def after_fork_in_child(self, *, rearmed: bool) -> None:
            """In a forked child, once the watcher has (or has not) restarted."""
