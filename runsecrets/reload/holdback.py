"""A store's hold-back state: what is wrong, since when, when to try again, and its counters.

A hold-back is the normal middle of many rotations (a certificate before its key, an in-place
writer between truncate and write): said at INFO when it starts, and at WARNING once if it
outlasts :data:`WARN_AFTER`; while it lasts, more at DEBUG only. Retries start quick (a writer
finishing its file) and slow down, never slower than :data:`MAX_RETRY`.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("runsecrets.store")

FIRST_RETRY = 0.01
MAX_RETRY = 1.0
#: A hold-back lasting this long (seconds) is warned about: no writer takes that long.
WARN_AFTER = 2.0
#: How many of the watcher's warnings the status keeps (the latest).
KEPT_WARNINGS = 16


class Counters:
    """What a store has done since it was made, by name (never a value)."""

    __slots__ = ("incomplete", "publishes", "read_errors", "reads", "refused")

    def __init__(self) -> None:
        self.reads = 0
        self.publishes = 0
        self.refused = 0  # by a validator or a gated derived value
        self.incomplete = 0  # a file caught between two states
        self.read_errors = 0

    def as_dict(self) -> dict[str, int]:
        """Every counter by name."""
        return {name: getattr(self, name) for name in Counters.__slots__}


class HoldBack:
    """Whether a store is holding back what it read, and its problems.

    Attributes:
        problem: What is wrong with the files right now (``None``: the last pass was clean).
        last_error: The most recent problem, kept after it clears; ``last_error_at`` when.
        warnings: What background re-reads warned about, the latest last.
        counters: The store's :class:`Counters`.
        gone_since: When each name still published was first seen gone (``time.monotonic()``),
            while its removal waits for the store's ``remove_delay``.
    """

    __slots__ = (
        "_held_since",
        "_retry",
        "_warned",
        "counters",
        "gone_since",
        "last_error",
        "last_error_at",
        "problem",
        "warnings",
    )

    def __init__(self) -> None:
        self.counters = Counters()
        self.gone_since: dict[str, float] = {}
        self.problem: str | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.warnings: tuple[str, ...] = ()
        self._held_since: float | None = None  # time.monotonic() the hold-back started
        self._warned = False  # whether this hold-back was warned about
        self._retry: float | None = None  # the back-off of the current hold-back

    def fresh_event(self) -> None:
        """A writer is at work: retry soon after it, not after a back-off grown while the files
        were stuck."""
        self._retry = None

    def held(self, problem: str) -> float:
        """Hold back for ``problem``; the delay before the next re-read."""
        now = time.monotonic()
        if self._held_since is None:
            self._held_since, self._warned = now, False
            logger.info("secrets update held back, keeping the last good values: %s", problem)
        elif not self._warned and now - self._held_since >= WARN_AFTER:
            self._warned = True
            logger.warning(
                "secrets update still held back after %.0f s, keeping the last good values: %s",
                now - self._held_since,
                problem,
            )
        elif problem != self.problem:
            logger.debug("secrets update held back, keeping the last good values: %s", problem)
        self.note(problem)
        retry = FIRST_RETRY if self._retry is None else min(self._retry * 2, MAX_RETRY)
        self._retry = retry
        return retry

    def passed(self, problem: str | None, *, held: bool, pending: float | None) -> float | None:
        """Record how a pass ended (``held``: some names kept their last values); the delay
        before the next re-read, if one is due (``pending``: a removal waiting its delay)."""
        if held:
            assert problem is not None
            retry = self.held(problem)  # retried until the held secrets read whole again
            return retry if pending is None else min(retry, pending)
        self._retry = None
        self._held_since = None  # nothing held back any more: the next hold-back starts anew
        if problem is not None and problem != self.problem:
            logger.warning("secrets: %s", problem)
            self.note(problem)
        self.problem = problem
        return pending

    def note(self, problem: str) -> None:
        """Record ``problem`` as the current one and the latest error."""
        self.problem = problem
        self.last_error = problem
        self.last_error_at = time.time()

    def warn(self, message: str) -> None:
        """A background re-read warned (``message`` names a file, never a value): logged and
        kept for the status, never raised in the watcher thread."""
        logger.warning("secrets: %s", message)
        self.warnings = (*self.warnings, message)[-KEPT_WARNINGS:]
