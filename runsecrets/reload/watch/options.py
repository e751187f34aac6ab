"""A watcher's settings, and which backend ``"auto"`` means here."""

from __future__ import annotations

from ..._platform import current_platform, flag_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

WATCHER_MODES = ("auto", "inotify", "watchfiles", "poll")
#: A true value (``1``, ``yes``...: ``_platform.flag_value``) forces polling (events lost).
POLL_VARIABLE = "RUNSECRETS_POLL"
#: Defaults of the quiet period that ends a burst of events, per backend, in seconds.
DEFAULT_STEP = {"inotify": 0.002, "watchfiles": 0.005}


class WatchOptions:
    """How a store's watcher waits and re-reads (see :class:`~runsecrets.SecretStore`).

    Attributes:
        mode: The resolved backend: ``inotify``, ``watchfiles`` or ``poll``.
        step: Quiet period ending a burst of events (seconds; ``None``: the backend's).
        debounce: Longest grouping of a burst (seconds).
        poll_interval: Seconds between re-reads when polling alone.
        backup_poll_interval: Seconds between re-reads when notifications work.
        rearm_after_fork: Start a new watcher in a child process after ``os.fork()``.
        prompt_switching: Lower the interpreter's switch interval during work windows.
    """

    __slots__ = (
        "backup_poll_interval",
        "debounce",
        "mode",
        "poll_interval",
        "prompt_switching",
        "rearm_after_fork",
        "step",
    )

    def __init__(
        self,
        *,
        mode: str,
        step: float | None,
        debounce: float,
        poll_interval: float,
        backup_poll_interval: float,
        rearm_after_fork: bool,
        prompt_switching: bool,
    ) -> None:
        for label, value in (("poll_interval", poll_interval), ("debounce", debounce)):
            if value <= 0:
                raise ValueError(f"{label} must be positive")
        self.mode = mode
        self.step = step
        self.debounce = debounce
        self.poll_interval = poll_interval
        self.backup_poll_interval = backup_poll_interval
        self.rearm_after_fork = rearm_after_fork
        self.prompt_switching = prompt_switching


def resolve_watcher_mode(mode: str, environ: Mapping[str, str], platform: str | None = None) -> str:
    """Choose the backend: the argument, else ``RUNSECRETS_POLL``, else the platform's best.

    Raises:
        ValueError: ``mode`` is not one of :data:`WATCHER_MODES`.
    """
    if mode not in WATCHER_MODES:
        raise ValueError(f"unknown watcher {mode!r}: use one of {', '.join(WATCHER_MODES)}")
    if mode != "auto":
        return mode
    if flag_value(environ.get(POLL_VARIABLE)):
        return "poll"
    return "inotify" if current_platform(platform).startswith("linux") else "watchfiles"
