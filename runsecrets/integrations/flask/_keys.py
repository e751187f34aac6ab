"""Retired ``SECRET_KEY`` values: kept in ``SECRET_KEY_FALLBACKS`` after a rotation, for a while.

A new ``SECRET_KEY`` pushes the previous one to the front of the fallback list, so that sessions
signed before the rotation stay valid; the app's own fallbacks come after the retired keys. How
many retired keys stay, and for how long, are the extension's ``secret_key_fallbacks`` and
``secret_key_fallback_max_age``.
"""

from __future__ import annotations

import time
from datetime import timedelta

from ._config import FALLBACKS, SECRET_KEY, fallback_list

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping
    from typing import Any


def max_age_seconds(value: float | timedelta | None) -> float | None:
    """``secret_key_fallback_max_age`` in seconds (``None``: no limit).

    Raises:
        ValueError: It is not positive.
    """
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError("secret_key_fallback_max_age must be positive")
    return seconds


class RetiredKeys:
    """One app's retired keys and its own fallback list.

    Args:
        limit: How many retired keys stay in the list (0: none).
        max_age: How many seconds a retired key stays, or ``None`` (until pushed out).

    Attributes:
        own: The app's own fallback list (set before ``init_app``, or from a secret).
        retired: ``(key, when retired)`` pairs (``time.monotonic()``), newest first.
        next_expiry: When the oldest retired key reaches ``max_age``, or ``None``.
    """

    __slots__ = ("_limit", "_max_age", "next_expiry", "own", "retired")

    def __init__(self, limit: int, max_age: float | None) -> None:
        self._limit = limit
        self._max_age = max_age
        self.own: list[str | bytes] = []
        self.retired: list[tuple[str | bytes, float]] = []
        self.next_expiry: float | None = None

    def first(self, values: dict[str, object], config: Mapping[str, Any]) -> None:
        """On the first fill: a ``SECRET_KEY_FALLBACKS`` secret becomes the app's own list."""
        if FALLBACKS not in values:
            return
        self.own = values[FALLBACKS]  # type: ignore[assignment]
        current = values.get(SECRET_KEY, config.get(SECRET_KEY))
        values[FALLBACKS] = fallback_list(current, (), self.own)

    def fold(self, updates: dict[str, object], config: Mapping[str, Any]) -> None:
        """Put the retired key, the app's own list and the bounds into ``updates``' fallbacks.

        ``config`` is the app's config before ``updates`` are applied.
        """
        if FALLBACKS in updates:
            self.own = updates[FALLBACKS]  # type: ignore[assignment]
        elif SECRET_KEY not in updates or not self._limit:
            return
        current = updates.get(SECRET_KEY, config.get(SECRET_KEY))
        old = config.get(SECRET_KEY)
        if SECRET_KEY in updates and self._limit and old and old != current:
            retired: list[tuple[str | bytes, float]] = [(old, time.monotonic())]
            retired += [(k, t) for k, t in self.retired if k != old and k != current]
            self.retired = retired[: self._limit]
        self._set_expiry()
        updates[FALLBACKS] = fallback_list(current, (k for k, _ in self.retired), self.own)

    def expire(self, config: MutableMapping[str, Any]) -> bool:
        """Drop the retired keys older than ``max_age`` from ``config``; whether any went."""
        assert self._max_age is not None
        now = time.monotonic()
        kept = [(k, t) for k, t in self.retired if now - t < self._max_age]
        if len(kept) == len(self.retired):
            return False
        self.retired = kept
        self._set_expiry()
        config[FALLBACKS] = fallback_list(config.get(SECRET_KEY), (k for k, _ in kept), self.own)
        return True

    def _set_expiry(self) -> None:
        if self._max_age is None or not self.retired:
            self.next_expiry = None
        else:
            self.next_expiry = min(t for _, t in self.retired) + self._max_age
