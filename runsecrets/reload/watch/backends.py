"""Opening a backend, or falling back to polling and saying why."""

from __future__ import annotations

import errno

from .options import DEFAULT_STEP
from .poll import PollBackend

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from .inotify import CompleteTest
    from .outcomes import Backend


def open_backend(
    mode: str,
    paths: Sequence[str],
    *,
    step: float | None,
    debounce: float,
    relevant: Callable[[str], bool],
    on_fallback: Callable[[str], None],
    stop_event: threading.Event | None = None,
    complete: CompleteTest | None = None,
) -> Backend:
    """Start the ``mode`` backend on ``paths``, or fall back to polling and say why.

    Args:
        mode: ``inotify``, ``watchfiles`` or ``poll``.
        paths: The directories to watch.
        step: The quiet period ending a burst (default per backend, see :data:`DEFAULT_STEP`).
        debounce: The longest a burst is grouped.
        relevant: Whether an entry name matters.
        on_fallback: Called with a message when notifications cannot be used.
        stop_event: The event that ends a poll backend's wait.
        complete: Whether files written completely are every file the store reads, so a
            burst can end before its quiet period (inotify: it sees each write end).
    """
    if mode == "poll":
        return PollBackend(stop_event)
    backend: Backend | None = None
    try:
        chosen_step = DEFAULT_STEP[mode] if step is None else step
        if mode == "inotify":
            from .inotify import InotifyBackend

            backend = InotifyBackend(chosen_step, debounce, relevant, complete)
        else:
            from ._watchfiles import WatchfilesBackend

            backend = WatchfilesBackend(chosen_step, debounce, relevant)
        backend.arm(paths)
    except (OSError, ImportError) as e:
        if backend is not None:
            backend.close()
        on_fallback(fallback_message(mode, e))
        return PollBackend(stop_event)
    return backend


def fallback_message(mode: str, error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        why = "the inotify watch limit (fs.inotify.max_user_watches) is reached"
    elif isinstance(error, OSError) and error.errno == errno.EMFILE:
        why = "no inotify instance is left (fs.inotify.max_user_instances) or no descriptor"
    else:
        why = f"{type(error).__name__}: {error}"
    return f"secret watcher: {mode} notifications unavailable ({why}); polling instead"
