"""One :class:`~runsecrets.tls.RotatingServerContext` per process, made on first use.

Servers ask their SSL hook for a context per worker (uvicorn) or even per connection (gunicorn's
sync worker wraps every accepted socket). Building and validating the material each time would
cost milliseconds per request, and a context built in a master before ``fork`` would be shared
by workers; so the context is made once in each process, where its watcher then runs. The
object pickles as its arguments only, because uvicorn sends its config to spawned workers.
"""

from __future__ import annotations

import os

from .._forksafe import ForkSafeLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any

    from ..tls import RotatingServerContext


class PerProcessContext:
    """Builds ``RotatingServerContext(*args, **kwargs)`` once per process id.

    Calling it as ``factory(config, default_factory)`` (the form uvicorn's
    ``ssl_context_factory`` and gunicorn's ``ssl_context`` hook use) returns that context.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        # Renewed in a forked child: a worker thread may be building the context at the fork.
        self._lock = ForkSafeLock()
        self._pid: int | None = None
        self._context: RotatingServerContext | None = None

    def get(self) -> RotatingServerContext:
        """This process's context (built, validated and watching after the first call)."""
        pid = os.getpid()
        context = self._context
        if context is not None and self._pid == pid:
            return context
        with self._lock:
            if self._context is None or self._pid != pid:
                from ..tls import RotatingServerContext

                # After a fork the parent's context is left alone: one built here belongs to
                # this process, with a watcher of its own.
                self._context = RotatingServerContext(*self._args, **self._kwargs)
                self._pid = pid
            return self._context

    def __call__(self, config: object, default_factory: object) -> ssl.SSLContext:
        return self.get()

    def __getstate__(self) -> dict[str, Any]:
        return {"args": self._args, "kwargs": self._kwargs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*state["args"], **state["kwargs"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._args!r}"
