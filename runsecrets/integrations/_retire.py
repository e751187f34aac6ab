"""Connection pools that follow a rotating client certificate.

A pooled connection keeps the certificate it presented when it was opened. To retire those of
a rotated-out certificate without breaking a request in flight, each certificate gets a pool of
its own: new requests take the pool of the certificate in use, and an older pool is closed once
the last request that took it is done. Shared by the httpx and requests integrations; the pool
is whatever the library pools connections in (an httpx transport, a urllib3 pool manager).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .._forksafe import ForkSafeLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

_P = TypeVar("_P")


class Generation(Generic[_P]):
    """One pool and the material it was made for; how many requests use it now."""

    __slots__ = ("active", "closed", "material", "pool", "retired")

    def __init__(self, pool: _P, material: object) -> None:
        self.pool = pool
        self.material = material
        self.active = 0
        self.retired = False
        self.closed = False


class RetiringPools(Generic[_P]):
    """The pool for each request, a new one after each rotation of ``context``.

    ``context`` is any ``ssl.SSLContext``; one without a ``material`` attribute (that is, not
    a :class:`~runsecrets.tls.RotatingClientContext`) never rotates: one pool serves all.
    Every method returns the pools to close now (outside this object's lock).
    """

    def __init__(self, context: ssl.SSLContext, make: Callable[[], _P]) -> None:
        self._context = context
        self._make = make
        self._lock = ForkSafeLock()  # a rotation listener (the watcher thread) takes it
        self._current = Generation(make(), self._material())
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def current(self) -> _P:
        """The pool new requests take."""
        return self._current.pool

    def enter(self) -> tuple[Generation[_P], list[_P]]:
        """A request starts: the generation it uses (give it back to :meth:`leave`)."""
        with self._lock:
            retired = self._swap()
            generation = self._current
            generation.active += 1
        return generation, retired

    def leave(self, generation: Generation[_P]) -> list[_P]:
        """The request that took ``generation`` is done."""
        with self._lock:
            generation.active -= 1
            return self._closable(generation)

    def rotated(self) -> list[_P]:
        """Make a new pool now if the context rotated (from a rotation listener)."""
        with self._lock:
            return self._swap()

    def follow(self, close: Callable[[_P], object]) -> None:
        """Retire at each rotation, not at the next request: ``close`` each pool no request
        uses, in the context's listener (for pools that may be closed from any thread)."""
        subscribe = getattr(self._context, "subscribe", None)
        if subscribe is not None:
            self._unsubscribe = subscribe(lambda _material: _close_each(close, self.rotated()))

    def close(self) -> list[_P]:
        """Stop following the context; everything still open that no request uses."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            self._current.retired = True
            return self._closable(self._current)

    def _material(self) -> object:
        return getattr(self._context, "material", None)

    def _swap(self) -> list[_P]:
        material = self._material()
        old = self._current
        if material is old.material or old.retired:
            return []
        self._current = Generation(self._make(), material)
        old.retired = True
        return self._closable(old)

    @staticmethod
    def _closable(generation: Generation[_P]) -> list[_P]:
        if generation.retired and generation.active == 0 and not generation.closed:
            generation.closed = True
            return [generation.pool]
        return []


def _close_each(close: Callable[[_P], object], pools: list[_P]) -> None:
    for pool in pools:
        close(pool)
