"""SecretStore: a validated snapshot of secrets that follows rotation without a restart.

Readers only ever see a published snapshot: reading is one attribute load and one dict lookup,
never the disk. This module is the store's face; the work is done by its parts: the publisher
(``publisher.py``: read until stable, decide, validate, derive, publish), the watcher thread
(``watch/``), the subscriber list (``listeners.py``), derived values (``derived.py``), the
status (``status.py``) and ``awatch()`` (``awatch.py``).
"""

from __future__ import annotations

from .._lookup import is_secret_file_variable
from .._names import validate_name
from .._provenance import DEFAULT_SOURCES
from .._read import DEFAULT_MAX_SIZE
from .._scrub import scrub_errors
from .._secrets import MISSING, Secrets, _Missing
from .awatch import AWATCH_MAX_PENDING, AsyncChanges
from .decision import RemovalRules
from .derived import Derived, DerivedState
from .publisher import Publisher
from .scan import ScanPlan
from .status import StoreStatus
from .watch.options import WatchOptions, resolve_watcher_mode
from .watch.thread import Watcher, warn_fallback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType
    from typing import TypeVar

    from .._provenance import Provenance
    from .._rules import ReadingRules
    from .._secret import Secret
    from .._types import DirsArg
    from .snapshot import Changes, Snapshot

    _T = TypeVar("_T")
    _V = TypeVar("_V")
    #: Receives a candidate snapshot; refuses it by raising or returning a false value.
    Validator = Callable[[Snapshot], object]
    Subscriber = Callable[[Changes], object]

__all__ = ["CLOSE_TIMEOUT", "SecretStore", "StoreStatus"]

#: How long :meth:`SecretStore.close` waits for the watcher thread, in seconds.
CLOSE_TIMEOUT = 5.0


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
        prompt_switching: Lower the interpreter's thread switch interval to 0.2 ms while the
            watcher re-reads and publishes (a few milliseconds per rotation; nothing while
            idle). Off by default: the interval is process-wide, the application's to set. A
            process whose threads keep the GIL busy (readers calling ``get()`` in a loop) may
            want it: each system call of a re-read otherwise waits up to the default 5 ms for
            the GIL, and a rotation then takes hundreds of milliseconds to publish. The
            previous interval comes back when the last such window in the process ends,
            unless someone else changed it meanwhile.
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
        "_options",
        "_publisher",
        "_resolver",
        "_snapshot",
        "_text",
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
        prompt_switching: bool = False,
        rules: ReadingRules | None = None,
    ) -> None:
        removal = RemovalRules(
            on_remove=on_remove, remove_delay=remove_delay, allow_empty=allow_empty
        )
        resolver = Secrets(
            dirs,
            environ=environ,
            prefix=prefix,
            max_size=max_size,
            strip=strip,
            sources=sources,
            allow_external_links=allow_external_links,
            rules=rules,
        )
        self._resolver = resolver
        self._options = WatchOptions(
            mode=resolve_watcher_mode(watcher, resolver.environ),
            step=step,
            debounce=debounce,
            poll_interval=poll_interval,
            backup_poll_interval=backup_poll_interval,
            rearm_after_fork=rearm_after_fork,
            prompt_switching=prompt_switching,
        )
        plan = ScanPlan(
            resolver.rules,
            None if names is None else tuple(validate_name(n) for n in names),
            ignore,
            is_secret_file_variable if file_variables is None else file_variables,
            warned=resolver.warned_files,
        )
        publisher = Publisher(
            plan,
            removal,
            not_found=resolver.not_found_error,
            validators=() if validate is None else (validate,),
            on_publish=self._published,
            before_delivery=self._end_window,
            after_fork=self._after_fork_in_child,
        )
        self._publisher = publisher
        self._watcher: Watcher | None = None
        self._published(publisher.snapshot)
        publisher.load_first()

    def _published(self, snapshot: Snapshot) -> None:
        # Called by the publisher under the lock: get()'s shortcut to the same snapshot's text.
        self._snapshot = snapshot
        self._text = snapshot._text  # noqa: SLF001  (get()'s hot path: one dict lookup)

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
            self._raise_unreadable(name)
            return self._snapshot.get(name, default)

    def get_bytes(self, name: str, default: _T | _Missing = MISSING) -> bytes | _T:
        """The secret's raw bytes, from the published snapshot; see :meth:`get`."""
        snapshot = self._snapshot
        if name not in snapshot:
            self._raise_unreadable(name)
        return snapshot.get_bytes(name, default)

    def secret(self, name: str, default: _T | _Missing = MISSING) -> Secret | _T:
        """The secret in a :class:`~runsecrets.Secret` wrapper that never shows its value."""
        snapshot = self._snapshot
        if name not in snapshot:
            self._raise_unreadable(name)
        return snapshot.secret(name, default)

    def explain(self, name: str) -> Provenance:
        """Where the published value of ``name`` came from (never the value)."""
        snapshot = self._snapshot
        if name not in snapshot:
            self._raise_unreadable(name)
        return snapshot.provenance(name)

    def _raise_unreadable(self, name: str) -> None:
        error = self._publisher.errors.get(name)
        if error is not None:
            # As Secrets.get: an unreadable secret raises even when a default is given.
            raise error.with_traceback(None)

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
        watcher, publisher = self._watcher, self._publisher
        holdback = publisher.holdback
        return StoreStatus(
            mode=watcher.mode if watcher is not None else "stopped",
            version=self._snapshot.version,
            last_publish_at=publisher.last_publish_at,
            problem=holdback.problem,
            last_error=holdback.last_error,
            last_error_at=holdback.last_error_at,
            kept=publisher.kept,
            watched=tuple(publisher.watch_paths()),
            counters={
                **holdback.counters.as_dict(),
                "subscriber_errors": publisher.listeners.errors,
            },
            skipped=tuple(sorted(publisher.plan.excluded)),
            warnings=holdback.warnings,
        )

    # ------------------------------------------------------------------- hooks and subscribers
    def add_validator(self, validator: Validator) -> Callable[[], None]:
        """Add a check every future candidate snapshot must pass; returns its remover.

        Validators run in the order added, before a snapshot is published; one that raises or
        returns a false value (``None`` accepts) keeps the previous snapshot. The current
        snapshot is not re-checked: validate it yourself if you need to. To build a value from
        each snapshot (and refuse the ones it cannot be built from), use :meth:`derive`.
        """
        publisher = self._publisher
        with publisher.lock:
            publisher.validators = (*publisher.validators, validator)

        def remove() -> None:
            with publisher.lock:
                publisher.validators = tuple(v for v in publisher.validators if v is not validator)

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
        return self._publisher.listeners.subscribe(callback)

    def derive(
        self,
        build: Callable[[Snapshot], _V],
        *,
        names: Iterable[str] | None = None,
        gate: bool = True,
        label: str | None = None,
    ) -> Derived[_V]:
        """Build a value from each snapshot this store publishes, committed with it.

        ``build(snapshot)`` runs now on the published snapshot, then on every candidate that
        changes one of ``names`` (any change, when ``None``) before it is published. A build
        that raises refuses the candidate: with ``gate`` the store holds the whole candidate
        back (its readers keep the last good snapshot, the refusal is in :attr:`status`, and
        it retries), else the store publishes it and this value keeps its last good one. On
        publish, the value built from the candidate is committed in the same step as the
        snapshot, under the store's lock and before any subscriber runs: the value's
        :attr:`Derived.snapshot <runsecrets.Derived.snapshot>` is the snapshot it was
        built from. A builder that returns its previous value (unchanged material) makes no new
        value. A build that needs the time (certificate dates) judges it at build; checking
        again as time passes is the consumer's own timer.

        Args:
            build: Makes the value from a snapshot; raises to refuse it (a
                :class:`~runsecrets.RunSecretsError` is kept as the refusal; any other
                error by its type only: its message may quote a value).
            names: The secrets the value depends on.
            gate: Refusals hold the store's candidate back.
            label: The value's name in log lines (default: the builder's).

        Returns:
            The :class:`~runsecrets.Derived` value; :meth:`close
            <runsecrets.Derived.close>` it to stop building. A first build that
            fails leaves it without a value (its ``value`` raises the refusal) until one
            succeeds.
        """
        publisher = self._publisher
        state = DerivedState(build, names=names, gate=gate, label=label)
        publisher.add_derived(state)
        return Derived(state, refresh=publisher.refresh_derived, release=publisher.remove_derived)

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
        with self._publisher.lock:
            if self._watcher is not None:
                return self
            watcher = Watcher(self._publisher, self._options)
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
        with self._publisher.lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            inside_callback = self._publisher.listeners.delivering_here
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
        return self._publisher.reload()

    # ------------------------------------------------------------------- the publisher's side
    def _end_window(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            watcher.end_window()

    def _after_fork_in_child(self, *, rearmed: bool) -> None:
        # The lock and the delivery loop are renewed already (``_forksafe``).
        if not rearmed:
            # The inherited watcher has no thread here: forget it, so that start() in the
            # child starts a real one instead of taking it for running.
            self._watcher = None

    def __repr__(self) -> str:
        watcher = self._watcher
        mode = watcher.mode if watcher is not None else "stopped"
        return (
            f"SecretStore(dirs={list(self.dirs)!r}, secrets={len(self._snapshot)}, "
            f"version={self._snapshot.version}, watcher={mode!r})"
        )
