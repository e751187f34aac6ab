"""SecretStore: a validated snapshot of secrets that follows rotation without a restart.

Readers only ever see a published snapshot: reading is one attribute load and one dict lookup,
never the disk. A new snapshot is read twice until stable (``_scan.py``), compared with the
published one, validated as a whole by every validator, and only then swapped in with one
reference assignment; subscribers hear about it afterwards. Anything that fails keeps the last
good snapshot and is retried on the next event and on a short timer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque

from ._delivery import Deliveries
from ._forksafe import ForkSafeLock
from ._names import validate_name
from ._own_writes import PUBLISH_BURST, PUBLISH_RATE, PublishBudget, open_for_writing
from ._provenance import DEFAULT_SOURCES, DIRECTORY
from ._read import DEFAULT_MAX_SIZE
from ._resolve import is_secret_file_variable
from ._scan import Entry, ScanPlan, read_stable
from ._scrub import scrub_errors, scrubbed
from ._secrets import MISSING, Secrets, _Missing
from ._snapshot import Changes, Snapshot, diff
from ._watch import Watcher, resolve_watcher_mode, warn_fallback, watch_paths
from .exceptions import RunSecretsError, SecretReadError, SecretValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
    from types import TracebackType
    from typing import Any, TypeVar

    from ._provenance import Provenance
    from ._resolve import Lookup
    from ._rules import ReadingRules
    from ._scan import Pass
    from ._secret import Secret
    from ._types import DirsArg

    _T = TypeVar("_T")
    #: Receives a candidate snapshot; refuses it by raising or returning a false value.
    Validator = Callable[[Snapshot], object]
    Subscriber = Callable[[Changes], object]

logger = logging.getLogger("runsecrets.store")

ON_REMOVE_CHOICES = ("publish", "keep")
# Retries of a refused or half-written update: quick first (a writer finishing its file), then
# slower, never slower than this.
_FIRST_RETRY = 0.01
_MAX_RETRY = 1.0
#: A hold-back lasting this long (seconds) is warned about: no writer takes that long.
_WARN_AFTER = 2.0
#: A name found changing fast is checked for being this process's own file at most this often.
_CHURN_RECHECK = 10.0
# At construction, how long a half-written state may last before the store starts anyway.
_STARTUP_RETRIES = (0.01, 0.02, 0.04, 0.08, 0.16)

#: How long :meth:`SecretStore.close` waits for the watcher thread, in seconds.
CLOSE_TIMEOUT = 5.0

#: How many separate changes ``awatch()`` holds for a consumer that falls behind; past that,
#: each new change is merged into the last one held.
AWATCH_MAX_PENDING = 16


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
            "counters": dict(self.counters),
        }

    def __repr__(self) -> str:
        return (
            f"StoreStatus(mode={self.mode!r}, version={self.version}, "
            f"healthy={self.healthy}, problem={self.problem!r})"
        )


class SecretStore:
    """Every tracked secret in one immutable snapshot, re-read and validated on rotation.

    Tracked: every secret file in the directories and every ``FOO_FILE`` target that names a
    secret (see ``file_variables``), or exactly ``names``, each resolved in the usual order
    (``FOO_FILE``, ``FOO``, the directories). The snapshot is read at construction;
    :meth:`watch` (or :meth:`start`) keeps it current.

    A store never feeds on its own writes. Without ``names``, a file this process holds open
    for writing (on Linux, where ``/proc`` tells) is not a secret: it is not tracked, or stops
    being tracked when it keeps changing (once a second three times), with a warning naming it
    (``status.skipped``). And whatever it tracks, the watcher publishes at most 100 times at
    once, then 50 times a second (an explicit :meth:`reload` is never held back); during such a
    storm its "secrets updated" log lines drop to DEBUG, so a log it follows stops growing.

    Args:
        dirs: Secrets directories, first match wins (default: ``RUNSECRETS_DIR``, else
            ``/run/secrets``). A missing directory is watched for until it appears.
        names: Track exactly these names (they may then come from plain ``FOO`` variables too).
        file_variables: Without ``names``: which ``*_FILE`` variables name secrets, given the
            variable's name. Default :func:`~runsecrets.is_secret_file_variable`: every one
            except well-known tool settings (``SSL_CERT_FILE``) and files programs write
            (``LOG_FILE``, ``APP_PID_FILE``). ``lambda variable: False`` tracks none.
        environ: The environment (default ``os.environ``).
        validate: Refuses a candidate snapshot by raising or returning a false value (``None``
            accepts); more with :meth:`add_validator`. Runs before anything is published.
        prefix: Prefix of the environment variables.
        max_size: Size cap per file in bytes.
        strip: Drop trailing line endings from text values.
        sources: The lookup order (see :class:`~runsecrets.Secrets`).
        allow_external_links: Follow symlinks leading out of their secrets directory.
        on_remove: ``"publish"``: a deleted secret disappears from the next snapshot;
            ``"keep"``: its last value stays (listed in ``status.kept``).
        remove_delay: Seconds a secret must stay gone before its removal is published (a
            writer that unlinks before it creates, a directory deleted file by file).
        allow_empty: Publish a secret that became empty. By default an empty file that had a
            value is taken for a writer between truncate and write: the old value is kept.
        ignore: Entry names to skip besides dot-files, ``*.tmp``, ``*.bak``, ``*.swp``, ``*~``
            (a writer's own temporary names).
        watcher: ``"auto"`` (inotify on Linux, watchfiles elsewhere, ``RUNSECRETS_POLL=1``
            forces polling), ``"inotify"``, ``"watchfiles"`` or ``"poll"``.
        step: Quiet period that ends a burst of events, seconds (default 2 ms for inotify,
            5 ms for watchfiles).
        debounce: Longest grouping of a burst, seconds.
        poll_interval: Seconds between re-reads when polling alone.
        backup_poll_interval: Seconds between re-reads when notifications work (they get lost);
            longer for a store whose read costs more than 5 ms of CPU (2,000 times that, at
            most ten intervals).
        rearm_after_fork: Start a watcher in a child process after ``os.fork()``.
        rules: Every reading option at once (a resolver's ``rules``, case sensitivity
            included), instead of ``dirs``, ``environ``, ``prefix``, ``max_size``, ``strip``,
            ``sources`` and ``allow_external_links``.

    Raises:
        SecretValidationError: A validator refused the first snapshot.
        SecretConflictError: Never; per-name problems are kept in :attr:`status` and raised by
            :meth:`get` for that name.
    """

    __slots__ = (
        "__weakref__",
        "_allow_empty",
        "_backup_poll_interval",
        "_budget",
        "_cache",
        "_churn",
        "_counters",
        "_debounce",
        "_deliveries",
        "_environ",
        "_errors",
        "_file_targets",
        "_gone_since",
        "_held_since",
        "_held_warned",
        "_ignore",
        "_kept",
        "_last_error",
        "_last_error_at",
        "_last_publish_at",
        "_lock",
        "_mode",
        "_on_remove",
        "_pending_retry",
        "_plan",
        "_poll_interval",
        "_problem",
        "_read_cost",
        "_rearm_after_fork",
        "_remove_delay",
        "_resolver",
        "_retry",
        "_snapshot",
        "_step",
        "_strip",
        "_text",
        "_validators",
        "_watcher",
    )

    @scrub_errors
    def __init__(
        self,
        dirs: DirsArg | None = None,
        *,
        names: Iterable[str] | None = None,
        file_variables: Callable[[str], bool] | None = None,
        environ: Mapping[str, str] | None = None,
        validate: Validator | None = None,
        prefix: str = "",
        max_size: int = DEFAULT_MAX_SIZE,
        strip: bool = True,
        sources: Iterable[str] = DEFAULT_SOURCES,
        allow_external_links: bool = False,
        on_remove: str = "publish",
        remove_delay: float = 0.1,
        allow_empty: bool = False,
        ignore: Callable[[str], bool] | None = None,
        watcher: str = "auto",
        step: float | None = None,
        debounce: float = 0.05,
        poll_interval: float = 1.0,
        backup_poll_interval: float = 10.0,
        rearm_after_fork: bool = True,
        rules: ReadingRules | None = None,
    ) -> None:
        if on_remove not in ON_REMOVE_CHOICES:
            raise ValueError(f"on_remove must be 'publish' or 'keep', not {on_remove!r}")
        for label, value in (("poll_interval", poll_interval), ("debounce", debounce)):
            if value <= 0:
                raise ValueError(f"{label} must be positive")
        self._resolver = Secrets(
            dirs,
            environ=environ,
            prefix=prefix,
            max_size=max_size,
            strip=strip,
            sources=sources,
            allow_external_links=allow_external_links,
            rules=rules,
        )
        env = self._resolver.environ
        self._environ = env
        self._mode = resolve_watcher_mode(watcher, env)
        lookup: Lookup = self._resolver._lookup
        fixed = None if names is None else tuple(validate_name(n) for n in names)
        self._plan = ScanPlan(
            lookup,
            fixed,
            ignore,
            is_secret_file_variable if file_variables is None else file_variables,
        )
        self._budget = PublishBudget()
        # Per name: when its current one-second window of changes started, and how many.
        self._churn: dict[str, tuple[float, int]] = {}
        self._strip = self._resolver.rules.strip
        self._on_remove = on_remove
        self._remove_delay = remove_delay
        self._gone_since: dict[str, float] = {}
        self._pending_retry: float | None = None
        self._allow_empty = allow_empty
        self._ignore = ignore
        self._step = step
        self._debounce = debounce
        self._poll_interval = poll_interval
        self._backup_poll_interval = backup_poll_interval
        self._rearm_after_fork = rearm_after_fork
        # Renewed in a forked child (the watcher thread holding it does not exist there).
        self._lock = ForkSafeLock(reentrant=True)
        self._validators: tuple[Validator, ...] = () if validate is None else (validate,)
        self._deliveries: Deliveries[Changes] = Deliveries(
            merge=merge_changes, logger=logger, what="secrets subscribers"
        )
        self._watcher: Watcher | None = None
        self._cache: dict[str, Entry] = {}
        self._errors: dict[str, RunSecretsError] = {}
        self._file_targets: tuple[str, ...] = ()
        self._kept: tuple[str, ...] = ()
        self._problem: str | None = None
        # When the current hold-back started (time.monotonic()), None while nothing is held;
        # and whether it was warned about.
        self._held_since: float | None = None
        self._read_cost = 0.0  # CPU seconds the last read of the files took (validators apart)
        self._held_warned = False
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._retry: float | None = None
        self._counters = dict.fromkeys(
            (
                "reads",
                "publishes",
                "refused",
                "incomplete",
                "read_errors",
            ),
            0,
        )
        self._snapshot = self._new_snapshot({}, version=-1, errors={})
        self._text = self._snapshot._text
        self._last_publish_at = time.time()
        self._load_first()

    # ----------------------------------------------------------------------------- reading
    def get(self, name: str, default: _T | _Missing = MISSING) -> str | _T:
        """The secret as text, from the published snapshot (never the disk).

        Two calls may see two different rotations; for values that must match (a certificate
        and its key) read them from one :attr:`snapshot`.

        Raises:
            SecretNotFoundError: Not tracked and no default given.
            SecretReadError: Its file could not be read and no older value exists.
            SecretDecodeError: Not UTF-8 (use :meth:`get_bytes`).
        """
        try:
            return self._text[name]  # the hot path: one slot load, one dict lookup
        except KeyError:
            return self._absent(self._snapshot, name, default)

    def get_bytes(self, name: str, default: _T | _Missing = MISSING) -> bytes | _T:
        """The secret's raw bytes, from the published snapshot; see :meth:`get`."""
        snapshot = self._snapshot
        try:
            return snapshot._entries[name].raw
        except KeyError:
            return self._absent(snapshot, name, default)

    def secret(self, name: str, default: _T | _Missing = MISSING) -> Secret | _T:
        """The secret in a :class:`~runsecrets.Secret` wrapper that never shows its value."""
        snapshot = self._snapshot
        if name not in snapshot:
            return self._absent(snapshot, name, default)
        return snapshot.secret(name)

    def explain(self, name: str) -> Provenance:
        """Where the published value of ``name`` came from (never the value)."""
        snapshot = self._snapshot
        if name not in snapshot:
            return self._absent(snapshot, name, MISSING)
        return snapshot.provenance(name)

    def _absent(self, snapshot: Snapshot, name: str, default: _T | _Missing) -> _T:
        error = self._errors.get(name)
        if error is not None:
            # As Secrets.get: an unreadable secret raises even when a default is given.
            raise error.with_traceback(None)
        return snapshot._absent(name, default)

    @property
    def snapshot(self) -> Snapshot:
        """The published snapshot: every value in it comes from the same stable read."""
        return self._snapshot

    @property
    def names(self) -> list[str]:
        """The names in the published snapshot, sorted."""
        return self._snapshot.keys()

    def __contains__(self, name: object) -> bool:
        return name in self._snapshot

    @property
    def dirs(self) -> tuple[str, ...]:
        """The secrets directories, in lookup order."""
        return self._resolver.dirs

    @property
    def rules(self) -> ReadingRules:
        """Every reading option of this store, as one value."""
        return self._resolver.rules

    @property
    def status(self) -> StoreStatus:
        """Health: watcher mode, last publish, the current and last problem, counters."""
        watcher = self._watcher
        return StoreStatus(
            mode=watcher.mode if watcher is not None else "stopped",
            version=self._snapshot.version,
            last_publish_at=self._last_publish_at,
            problem=self._problem,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            kept=self._kept,
            watched=tuple(self._watch_paths()),
            counters={**self._counters, "subscriber_errors": self._deliveries.errors},
            skipped=tuple(sorted(self._plan.excluded)),
        )

    # ------------------------------------------------------------------- hooks and subscribers
    def add_validator(self, validator: Validator) -> Callable[[], None]:
        """Add a check every future candidate snapshot must pass; returns its remover.

        Validators run in the order added, before a snapshot is published; one that raises or
        returns a false value (``None`` accepts) keeps the previous snapshot. The current
        snapshot is not re-checked: validate it yourself if you need to.
        """
        with self._lock:
            self._validators = (*self._validators, validator)

        def remove() -> None:
            with self._lock:
                self._validators = tuple(v for v in self._validators if v is not validator)

        return remove

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(changes)`` after each publish; returns a function that unsubscribes.

        Callbacks run in the watcher thread (or the thread calling :meth:`reload`), in the
        order subscribed, one publish at a time and in publish order, outside the store's lock:
        a callback that blocks delays the deliveries after it, never a :meth:`reload`,
        :meth:`subscribe` or :meth:`close` in another thread. A publish made meanwhile (by a
        callback calling :meth:`reload`, or by another thread) is delivered once the current
        delivery has reached every callback; publishes that piled up are merged into one
        :class:`Changes` (names compared end to end; a merge that cancels out is not
        delivered), so every callback ends on the newest snapshot. One that raises is logged
        (its type and place, never its message) and the others are still called.
        """
        return self._deliveries.subscribe(callback)

    # --------------------------------------------------------------------------- watching
    @property
    def running(self) -> bool:
        """Whether the watcher is running."""
        return self._watcher is not None

    def start(self) -> SecretStore:
        """Start watching in a daemon thread (no-op when already watching).

        Warns with :class:`~runsecrets.WatchFallbackWarning` when notifications are unavailable
        and the store polls instead.
        """
        with self._lock:
            if self._watcher is not None:
                return self
            watcher = Watcher(
                self,
                mode=self._mode,
                step=self._step,
                debounce=self._debounce,
                poll_interval=self._poll_interval,
                backup_poll_interval=self._backup_poll_interval,
                rearm_after_fork=self._rearm_after_fork,
            )
            self._watcher = watcher
            watcher.start(on_fallback=warn_fallback)
        return self

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop watching. Safe from inside a subscriber; the snapshot stays readable.

        Waits for the watcher thread to end, at most ``timeout`` seconds (5 by default): a
        subscriber the thread is running at that moment may keep it longer (one waiting for
        the thread that closes, say). Past the bound ``close()`` returns anyway; the thread, a
        daemon, re-reads nothing more and ends once its subscribers return.
        """
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            inside_callback = self._deliveries.delivering_here
            watcher.stop(join=not inside_callback, timeout=timeout)

    def watch(self) -> SecretStore:
        """Start watching; use as ``with store.watch(): ...`` to stop at the end."""
        return self.start()

    def __enter__(self) -> SecretStore:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def awatch(self, *, max_pending: int = AWATCH_MAX_PENDING) -> AsyncChanges:
        """The asyncio form: ``async for changes in store.awatch(): ...``.

        Watches while iterating (starting the watcher if needed, stopping it at the end if it
        started it). Also an async context manager that closes the iteration on exit; closing,
        cancelling or leaving the loop unsubscribes. A consumer that falls behind holds at most
        ``max_pending`` changes: later ones merge into the last (names compared end to end).
        """
        return AsyncChanges(self, max_pending)

    @scrub_errors
    def reload(self) -> Changes | None:
        """Re-read now, in this thread; returns what was published, or ``None``."""
        with self._lock:
            changes = self._refresh(reason="reload")[0]
        # Outside the lock; when another thread is delivering, it delivers this one too.
        self._deliveries.deliver()
        return changes

    # ---------------------------------------------------------------------- the watcher's side
    def _refresh_for_watcher(self, reason: str) -> float | None:
        with self._lock:
            if reason != "poll":
                # A fresh event means a writer is at work: retry soon after it, not after a
                # back-off grown while the files were stuck.
                self._retry = None
            retry = self._refresh(reason)[1]
        self._deliveries.deliver()
        return retry

    def _watch_paths(self) -> list[str]:
        return watch_paths(self._resolver.dirs, self._file_targets)

    def _last_read_cost(self) -> float:
        return self._read_cost

    def _is_relevant(self, name: str) -> bool:
        if self._ignore is not None and self._ignore(name):
            return False
        if name == "..data":
            return True  # the Kubernetes swap itself
        from ._listing import is_debris

        return not is_debris(name) or any(os.path.basename(t) == name for t in self._file_targets)

    def _after_fork_in_child(self, *, rearmed: bool) -> None:
        # The lock and the delivery loop are renewed already (``_forksafe``).
        if not rearmed:
            # The inherited watcher has no thread here: forget it, so that start() in the
            # child starts a real one instead of taking it for running.
            self._watcher = None

    def _note_problem(self, problem: str) -> None:
        self._problem = problem
        self._last_error = problem
        self._last_error_at = time.time()

    # ----------------------------------------------------------------------- read and publish
    def _new_snapshot(
        self, entries: Mapping[str, Entry], *, version: int, errors: Mapping[str, RunSecretsError]
    ) -> Snapshot:
        return Snapshot(
            entries,
            version=version,
            created_at=time.time(),
            strip=self._strip,
            errors=errors,
            not_found=self._resolver.not_found_error,
        )

    def _load_first(self) -> None:
        for delay in (*_STARTUP_RETRIES, None):
            with self._lock:
                pass_, stable = read_stable(self._plan, self._cache)
                if stable or delay is None:
                    self._apply(pass_, stable=True, initial=True)
                    return
            time.sleep(delay)

    def _refresh(self, reason: str) -> tuple[Changes | None, float | None]:
        """Read, compare, validate, publish. Returns (changes, retry delay). Holds the lock."""
        started = time.thread_time()
        pass_, stable = read_stable(self._plan, self._cache)
        self._read_cost = time.thread_time() - started
        return self._apply(pass_, stable=stable, initial=False, throttle=reason != "reload")

    def _apply(
        self, pass_: Pass, *, stable: bool, initial: bool, throttle: bool = False
    ) -> tuple[Changes | None, float | None]:
        self._counters["reads"] += 1
        previous_pass, self._cache = self._cache, pass_.entries
        self._file_targets = tuple(pass_.file_targets)
        published = self._snapshot
        entries, errors, problems, kept, held = self._candidate(pass_, published)
        if self._plan.names is None:
            self._skip_own_files(entries, None if initial else previous_pass)
        self._errors = errors
        self._kept = tuple(sorted(kept))
        if not stable:
            problems.append("files kept changing while being read")
            self._counters["incomplete"] += 1
            return None, self._refused("; ".join(problems))
        if held:
            self._counters["incomplete"] += 1
        added, changed, removed = diff(published._entries, entries)
        if not (added or changed or removed) and not initial:
            return None, self._after_pass("; ".join(problems) or None, held=held)
        storming = self._budget.storming
        wait = self._budget.take() if throttle else 0.0
        if wait:
            # A storm: publish later (the changes merged), and say so once per storm.
            if not storming:
                logger.warning(
                    "secrets changed more than %d times in a row, faster than %d a second "
                    "(%s): publishing at most %d a second until they calm down. Does this "
                    "process, or one it started, write a file the store tracks?",
                    PUBLISH_BURST,
                    PUBLISH_RATE,
                    ", ".join(sorted(added | changed | removed)),
                    PUBLISH_RATE,
                )
            retry = self._after_pass("; ".join(problems) or None, held=held)
            return None, wait if retry is None else min(wait, retry)
        candidate = self._new_snapshot(entries, version=published.version + 1, errors=errors)
        refusal = self._validate(candidate)
        if refusal is not None:
            self._counters["refused"] += 1
            if initial:
                raise SecretValidationError(
                    f"the secrets read at start-up were refused: {refusal[1]}",
                    validator=refusal[0],
                )
            return None, self._refused(refusal[1])
        self._snapshot = candidate  # the atomic swap: readers see the old or the new, whole
        self._text = candidate._text  # get()'s shortcut to the same snapshot's text
        self._last_publish_at = time.time()
        self._counters["publishes"] += 1
        retry = self._after_pass("; ".join(problems) or None, held=held)
        if initial:
            return None, None
        changes = Changes(
            added=added, changed=changed, removed=removed, snapshot=candidate, previous=published
        )
        # Quiet during a publish storm: a log this store follows stops feeding it.
        logger.log(
            logging.DEBUG if self._budget.storming else logging.INFO, "secrets updated: %s", changes
        )
        watcher = self._watcher
        if watcher is not None:
            watcher.end_window()
        self._deliveries.publish(changes)  # delivered once the lock is released
        return changes, retry

    def _skip_own_files(
        self, entries: dict[str, Entry], previous_pass: Mapping[str, Entry] | None
    ) -> None:
        """Stop tracking the files among ``entries`` that this process holds open for writing:
        all of them at the first read (``previous_pass`` ``None``), else those that changed in
        three passes within a second. Such a file (the process's own log) is never a secret,
        and following it would publish at every line the process writes."""
        if previous_pass is None:
            suspects = list(entries)
        else:
            suspects = self._churning(entries, previous_pass)
        keys = {
            name: entries[name].fingerprint[:2]  # type: ignore[index]
            for name in suspects
            if entries[name].fingerprint is not None
        }
        if not keys:
            return
        own = open_for_writing(set(keys.values()))
        for name, key in keys.items():
            if key in own:
                self._plan.excluded.add(name)
                provenance = entries.pop(name).provenance
                logger.warning(
                    "secret %r (%s): this process holds the file open for writing, so it is "
                    "not a secret (a log?); no longer tracked. Give the store names=, or "
                    "file_variables= to choose the *_FILE variables it follows",
                    name,
                    provenance.describe(),
                )

    def _churning(
        self, entries: Mapping[str, Entry], previous_pass: Mapping[str, Entry]
    ) -> list[str]:
        """The names whose file changed (since the last pass) three times within a second, each
        reported at most once every ``_CHURN_RECHECK`` seconds."""
        now = time.monotonic()
        churning = []
        for name, entry in entries.items():
            before = previous_pass.get(name)
            if before is None or before is entry or before.raw == entry.raw:
                continue
            started, count = self._churn.get(name, (now, 0))
            if now - started > 1.0:
                started, count = now, 0
            count += 1
            if count == 3:
                # Asked about once per window, and the window then lasts _CHURN_RECHECK
                # seconds: a file someone else rotates this fast is not asked about each time.
                churning.append(name)
                started = now + _CHURN_RECHECK - 1.0
            self._churn[name] = (started, count)
        return churning

    def _candidate(
        self, pass_: Pass, published: Snapshot
    ) -> tuple[dict[str, Entry], dict[str, RunSecretsError], list[str], list[str], bool]:
        entries = dict(pass_.entries)
        errors: dict[str, RunSecretsError] = {}
        problems: list[str] = []
        kept: list[str] = []
        # A secret that cannot be read whole now keeps its last good value, alone: the others
        # move on (one broken file must not freeze every rotation). Sets that must change
        # together are a validator's business (the TLS pair check is one).
        held = False
        for name, entry in pass_.entries.items():
            old = published.entry(name)
            if not entry.raw and not self._allow_empty and old is not None and old.raw:
                problems.append(f"{name}: empty (a writer between truncate and write?)")
                entries[name] = old
                held = True
        for name, reason in pass_.incomplete.items():
            problems.append(f"{name}: {reason}")
            old = published.entry(name)
            if old is not None:
                entries[name] = old
                held = True
            else:
                errors[name] = SecretReadError(
                    f"secret {name!r}: {reason}", reason="not_found", name=name
                )
        for name, error in pass_.errors.items():
            self._counters["read_errors"] += 1
            problems.append(str(error))  # RunSecretsError messages never hold a value
            old = published.entry(name)
            if old is not None:
                entries[name] = old
                held = True
            else:
                errors[name] = error
        missing = set(pass_.missing_dirs)
        now = time.monotonic()
        gone_since: dict[str, float] = {}
        self._pending_retry = None
        for directory in pass_.missing_dirs:
            unlistable = pass_.dir_errors.get(directory)
            if unlistable is not None:
                self._counters["read_errors"] += 1
                problems.append(f"{unlistable}; keeping its values")  # never holds a value
            elif any(_from_dir(e, directory) for e in published._entries.values()):
                problems.append(f"directory {directory} is missing; keeping its values")
        for name, old in published._entries.items():
            if name in entries or name in pass_.incomplete or name in pass_.errors:
                continue
            if (
                old.provenance.kind == DIRECTORY
                and old.provenance.path is not None
                and os.path.dirname(old.provenance.path) in missing
            ) or self._on_remove == "keep":
                entries[name] = old
                kept.append(name)
                continue
            since = self._gone_since.get(name, now)
            if now - since < self._remove_delay:
                # Not yet: a writer that unlinks before it creates, or a directory being
                # deleted file by file, looks like this for a moment.
                gone_since[name] = since
                entries[name] = old
                wait = self._remove_delay - (now - since)
                self._pending_retry = (
                    wait if self._pending_retry is None else min(wait, self._pending_retry)
                )
        self._gone_since = gone_since
        return entries, errors, problems, kept, held

    def _validate(self, candidate: Snapshot) -> tuple[str, str] | None:
        for validator in self._validators:
            label = getattr(validator, "__qualname__", type(validator).__name__)
            try:
                verdict = validator(candidate)
            except RunSecretsError as e:
                # Scrubbed: a validator may keep its error (a TLS context's last_error).
                return label, f"{label} refused it: {scrubbed(e)}"
            except Exception as e:  # noqa: BLE001  (a refusal, whatever its type)
                # Not the message: a model's validation error quotes the input values.
                return label, f"{label} refused it ({type(e).__name__})"
            if verdict is not None and not verdict:
                return label, f"{label} refused it (returned a false value)"
        return None

    def _refused(self, problem: str) -> float:
        # A hold-back is the normal middle of many rotations (a certificate before its key, an
        # in-place writer between truncate and write): said at INFO when it starts, and at
        # WARNING once, if it outlasts _WARN_AFTER; while it lasts, more at DEBUG only.
        now = time.monotonic()
        if self._held_since is None:
            self._held_since, self._held_warned = now, False
            logger.info("secrets update held back, keeping the last good values: %s", problem)
        elif not self._held_warned and now - self._held_since >= _WARN_AFTER:
            self._held_warned = True
            logger.warning(
                "secrets update still held back after %.0f s, keeping the last good values: %s",
                now - self._held_since,
                problem,
            )
        elif problem != self._problem:
            logger.debug("secrets update held back, keeping the last good values: %s", problem)
        self._note_problem(problem)
        retry = _FIRST_RETRY if self._retry is None else min(self._retry * 2, _MAX_RETRY)
        self._retry = retry
        return retry

    def _after_pass(self, problem: str | None, *, held: bool) -> float | None:
        """Record how a pass ended; the delay before the next re-read, if one is due."""
        if held:
            assert problem is not None
            retry = self._refused(problem)  # retried until the held secrets read whole again
            pending = self._pending_retry
            return retry if pending is None else min(retry, pending)
        self._settle(problem)
        return self._pending_retry

    def _settle(self, problem: str | None) -> None:
        self._retry = None
        self._held_since = None  # nothing held back any more: the next hold-back starts anew
        if problem is not None and problem != self._problem:
            logger.warning("secrets: %s", problem)
            self._note_problem(problem)
        self._problem = problem

    def __repr__(self) -> str:
        watcher = self._watcher
        mode = watcher.mode if watcher is not None else "stopped"
        return (
            f"SecretStore(dirs={list(self.dirs)!r}, secrets={len(self._snapshot)}, "
            f"version={self._snapshot.version}, watcher={mode!r})"
        )


def _from_dir(entry: Entry, directory: str) -> bool:
    path = entry.provenance.path
    return (
        entry.provenance.kind == DIRECTORY
        and path is not None
        and (os.path.dirname(path) == directory)
    )


def merge_changes(first: Changes, second: Changes) -> Changes:
    """Two consecutive publishes as one: from ``first.previous`` to ``second.snapshot``.

    Names are compared end to end, so a value rotated and rotated back is no change at all.
    """
    added, changed, removed = diff(first.previous._entries, second.snapshot._entries)
    return Changes(
        added=added,
        changed=changed,
        removed=removed,
        snapshot=second.snapshot,
        previous=first.previous,
    )


class _Inbox:
    """Changes waiting for one ``awatch()`` consumer: bounded, merging, filled by the watcher.

    The watcher thread appends under a lock and wakes the event loop only when the inbox was
    empty, so neither the inbox nor the loop's queue of callbacks grows with a slow consumer.
    """

    __slots__ = ("_guard", "_limit", "_loop", "_pending", "_signalled", "ready")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        import asyncio

        self._loop = loop
        self._limit = max(1, limit)
        self._guard = ForkSafeLock()
        self._pending: deque[Changes] = deque()
        self._signalled = False
        self.ready = asyncio.Event()

    def put(self, changes: Changes) -> None:
        """Called in the watcher thread (a subscriber)."""
        with self._guard:
            if len(self._pending) >= self._limit:
                self._pending[-1] = merge_changes(self._pending[-1], changes)
            else:
                self._pending.append(changes)
            if self._signalled:
                return
            self._signalled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> Changes | None:
        """The oldest pending change, or ``None`` (then wait for :attr:`ready`). Loop thread."""
        with self._guard:
            if self._pending:
                return self._pending.popleft()
            self._signalled = False
            self.ready.clear()
            return None

    def __len__(self) -> int:
        return len(self._pending)


class _Subscription:
    """An ``awatch()``'s hold on its store; ending it twice is harmless."""

    __slots__ = ("_started", "_store", "_unsubscribe")

    def __init__(self, store: SecretStore, unsubscribe: Callable[[], None], started: bool) -> None:
        self._store = store
        self._unsubscribe: Callable[[], None] | None = unsubscribe
        self._started = started

    def end(self) -> None:
        """Stop delivering; stop the watcher if this subscription started it."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is None:
            return
        unsubscribe()
        if self._started:
            self._store.close()


async def _iterate(inbox: _Inbox, subscription: _Subscription) -> AsyncGenerator[Changes, None]:
    # A free function holding neither the AsyncChanges nor the store's subscriber list: when a
    # consumer drops the iteration (a ``break`` out of ``async for``), the generator is freed at
    # once and asyncio closes it, running the ``finally``.
    try:
        while True:
            changes = inbox.take()
            if changes is None:
                await inbox.ready.wait()
            elif changes:  # a merge can cancel out
                yield changes
    finally:
        subscription.end()


class AsyncChanges:
    """``store.awatch()``: an async iterator of :class:`Changes` (and an async context manager).

    It subscribes on entering the context (or at the first iteration) and unsubscribes when the
    iteration is closed, cancelled, left by ``break`` (once asyncio finalizes it) or the context
    exits. A consumer that falls behind gets at most ``max_pending`` changes, the last merged.
    """

    __slots__ = ("_closed", "_iterator", "_max_pending", "_store", "_subscription")

    def __init__(self, store: SecretStore, max_pending: int = AWATCH_MAX_PENDING) -> None:
        self._store = store
        self._max_pending = max_pending
        self._iterator: AsyncGenerator[Changes, None] | None = None
        self._subscription: _Subscription | None = None
        self._closed = False

    def _open(self) -> AsyncGenerator[Changes, None]:
        if self._iterator is None:
            import asyncio

            inbox = _Inbox(asyncio.get_running_loop(), self._max_pending)
            unsubscribe = self._store.subscribe(inbox.put)
            started = not self._store.running
            if started:
                self._store.start()
            self._subscription = _Subscription(self._store, unsubscribe, started)
            self._iterator = _iterate(inbox, self._subscription)
        return self._iterator

    def __aiter__(self) -> AsyncIterator[Changes]:
        return self

    async def __anext__(self) -> Changes:
        if self._closed:
            raise StopAsyncIteration
        return await self._open().__anext__()

    async def __aenter__(self) -> AsyncChanges:
        if not self._closed:
            self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop delivering; stop the watcher if this iteration started it."""
        self._closed = True
        if self._iterator is not None:
            await self._iterator.aclose()
        if self._subscription is not None:
            # An iteration never started has no ``finally`` to run.
            self._subscription.end()
