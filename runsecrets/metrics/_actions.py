"""The sidecar's own figures: the actions ``runsecrets watch`` ran on changes."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..reload.store import SecretStore


class ActionStats:
    """Counts of the actions a sidecar ran for ``store``, read by the metrics.

    Attributes:
        store: The store whose changes fire the actions.
        runs: Actions run (each firing, whatever its outcome).
        failures: Actions that failed.
        last_action_at: When the last action ended (``time.time()``), ``None`` before the first.
    """

    __slots__ = ("__weakref__", "failures", "last_action_at", "runs", "store")

    def __init__(self, store: SecretStore) -> None:
        self.store = store
        self.runs = 0
        self.failures = 0
        self.last_action_at: float | None = None

    def record(self, *, ok: bool) -> None:
        """Count one action that just ended (called by the one thread that runs them)."""
        self.runs += 1
        if not ok:
            self.failures += 1
        self.last_action_at = time.time()

    def __repr__(self) -> str:
        return f"ActionStats(runs={self.runs}, failures={self.failures})"
