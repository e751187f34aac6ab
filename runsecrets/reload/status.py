"""A store's health at one moment, for a health endpoint."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class StoreStatus:
    """A store's health at one moment, for a health endpoint. Never holds a value.

    Attributes:
        mode: ``inotify``, ``watchfiles``, ``poll`` or ``stopped`` (not watching).
        version: The published snapshot's version.
        last_publish_at: When the current snapshot was published (``time.time()``).
        problem: What is wrong with the files right now (``None``: the last re-read was clean).
        last_error: The most recent problem, kept after it clears.
        last_error_at: When it happened.
        kept: Names whose file is gone but whose last value is kept (a missing directory, or
            ``on_remove="keep"``).
        skipped: Names no longer tracked because this process holds their file open for
            writing (its own log, say): never a secret (a store made without ``names`` only).
        watched: The directories watched.
        warnings: What the watcher's own re-reads warned about (a secret file writable by
            others, each file once, the latest last): said in the log and here, never raised
            in the watcher thread, where ``-W error`` would stop every rotation.
        counters: ``reads``, ``publishes``, ``refused`` (validation), ``incomplete`` (a file
            caught between two states), ``read_errors``, ``subscriber_errors``.
    """

    __slots__ = (
        "counters",
        "kept",
        "last_error",
        "last_error_at",
        "last_publish_at",
        "mode",
        "problem",
        "skipped",
        "version",
        "warnings",
        "watched",
    )

    def __init__(
        self,
        *,
        mode: str,
        version: int,
        last_publish_at: float,
        problem: str | None,
        last_error: str | None,
        last_error_at: float | None,
        kept: tuple[str, ...],
        watched: tuple[str, ...],
        counters: Mapping[str, int],
        skipped: tuple[str, ...] = (),
        warnings: tuple[str, ...] = (),
    ) -> None:
        self.mode = mode
        self.version = version
        self.last_publish_at = last_publish_at
        self.problem = problem
        self.last_error = last_error
        self.last_error_at = last_error_at
        self.kept = kept
        self.skipped = skipped
        self.watched = watched
        self.warnings = warnings
        self.counters = dict(counters)

    @property
    def healthy(self) -> bool:
        """Whether the last re-read found nothing wrong."""
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every field."""
        return {
            "mode": self.mode,
            "healthy": self.healthy,
            "version": self.version,
            "last_publish_at": self.last_publish_at,
            "problem": self.problem,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "kept": list(self.kept),
            "skipped": list(self.skipped),
            "watched": list(self.watched),
            "warnings": list(self.warnings),
            "counters": dict(self.counters),
        }

    def __repr__(self) -> str:
        return (
            f"StoreStatus(mode={self.mode!r}, version={self.version}, "
            f"healthy={self.healthy}, problem={self.problem!r})"
        )
