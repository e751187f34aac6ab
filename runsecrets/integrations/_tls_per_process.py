"""One :class:`~runsecrets.tls.RotatingServerContext` per process, made on first use.

Servers ask their SSL hook for a context per worker (uvicorn) or even per connection (gunicorn's
sync worker wraps every accepted socket). Building and validating the material each time would
cost milliseconds per request, and a context built in a master before ``fork`` would be shared
by workers; so the context is made once in each process, where its watcher then runs.
"""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..tls import RotatingServerContext


class PerProcessContext:
    """Builds ``RotatingServerContext(*args, **kwargs)`` once per process id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self._lock = threading.Lock()
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

                # After a fork the parent's context is left alone: its watcher re-arms in this
                # process too, but one built here belongs to this process alone.
                self._context = RotatingServerContext(*self._args, **self._kwargs)
                self._pid = pid
            return self._context
