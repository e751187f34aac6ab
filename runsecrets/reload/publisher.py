"""The store's engine: read until stable, decide, validate, derive, publish.

One :class:`Publisher` per store does every re-read, in whichever thread asks (the watcher's,
or the caller of ``reload()``), under the store's lock: read the tracked files until two passes
agree (``scan.py``), decide what that means against the published snapshot (``decision.py``),
let every validator and every gated derived value refuse the candidate, then swap it in with
one reference assignment and commit the values derived from it in the same step. Subscribers
hear about it once the lock is released. Anything that fails keeps the last good snapshot and
is retried (``holdback.py``).
"""

from __future__ import annotations

import logging
import os
import time

from .._forksafe import ForkSafeLock
from .._listing import is_debris
from .._scrub import scrubbed
from ..exceptions import RunSecretsError, SecretValidationError
from .decision import HOLD, PUBLISH, UNCHANGED, decide
from .derived import Derivations
from .holdback import HoldBack
from .listeners import Listeners
from .own_writes import PUBLISH_BURST, PUBLISH_RATE, OwnFiles, PublishBudget
from .scan import read_stable
from .snapshot import Changes, Snapshot, merge_changes
from .watch.paths import watch_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Set

    from ..exceptions import SecretNotFoundError
    from .decision import Decision, RemovalRules
    from .derived import DerivedState
    from .scan import Entry, Pass, ScanPlan

    #: Receives a candidate snapshot; refuses it by raising or returning a false value.
    Validator = Callable[[Snapshot], object]

logger = logging.getLogger("runsecrets.store")

# At construction, how long a half-written state may last before the store starts anyway.
_STARTUP_RETRIES = (0.01, 0.02, 0.04, 0.08, 0.16)
# The link a Kubernetes volume swaps to replace every file in it at once.
_KUBERNETES_SWAP = "..data"


class Publisher:
    """Reads, decides and publishes for one store.

    Args:
        plan: What the store tracks.
        removal: How it treats secrets that disappear or empty.
        not_found: Builds the error for a name no snapshot holds (the places looked).
        validators: The first validators.

    Attributes:
        lock: The store's lock (renewed in a forked child).
        snapshot: The published snapshot.
        errors: Names that have no value at all, with the error ``get`` raises.
        kept: Names gone whose last value is kept.
        file_targets: The files named by ``_FILE`` variables at the last read.
        watched: The directories to watch, as the last read found them (the status reads
            this: never the disk).
        read_cost: CPU seconds the last read of the files took (validators apart).
        last_publish_at: When the current snapshot was published (``time.time()``).
        holdback: The hold-back state, problems and counters.
        listeners: The store's subscribers.
        derivations: The values derived from its snapshots.
    """

    def __init__(
        self,
        plan: ScanPlan,
        removal: RemovalRules,
        *,
        not_found: Callable[[str], SecretNotFoundError],
        validators: tuple[Validator, ...] = (),
        on_publish: Callable[[Snapshot], None] | None = None,
        before_delivery: Callable[[], None] | None = None,
        after_fork: Callable[..., None] | None = None,
    ) -> None:
        self.plan = plan
        self.removal = removal
        self._not_found = not_found
        self.validators = validators
        self.lock = ForkSafeLock(reentrant=True)
        self.listeners: Listeners[Changes] = Listeners(
            merge=merge_changes, logger=logger, what="secrets subscribers"
        )
        self.derivations = Derivations()
        self.holdback = HoldBack()
        self._budget = PublishBudget()
        self._own = OwnFiles()
        self._cache: dict[str, Entry] = {}
        self.errors: dict[str, RunSecretsError] = {}
        self.kept: tuple[str, ...] = ()
        self.file_targets: tuple[str, ...] = ()
        self._files: frozenset[str] = frozenset()  # the files the last read read
        self.watched: tuple[str, ...] = ()
        self.read_cost = 0.0
        self.snapshot = self.new_snapshot({}, version=-1, errors={})
        self.last_publish_at = time.time()
        # Called with each snapshot published, under the lock (the store's fast path); after
        # a publish, before subscribers run (the watcher ends its work window); in a forked
        # child, once the watcher restarted or not.
        self._on_publish = on_publish
        self._before_delivery = before_delivery
        self._after_fork = after_fork

    # ------------------------------------------------------------------------ reading
    def new_snapshot(
        self, entries: Mapping[str, Entry], *, version: int, errors: Mapping[str, RunSecretsError]
    ) -> Snapshot:
        """A snapshot of ``entries`` under the store's rules."""
        return Snapshot(
            entries,
            version=version,
            created_at=time.time(),
            strip=self.plan.rules.strip,
            errors=errors,
            not_found=self._not_found,
        )

    def load_first(self) -> None:
        """The store's first read: retried briefly while files are half written, then
        published whatever it holds.

        Raises:
            SecretValidationError: A validator refused it.
        """
        for delay in (*_STARTUP_RETRIES, None):
            with self.lock:
                pass_, stable = read_stable(self.plan, self._cache)
                if stable or delay is None:
                    self._apply(pass_, stable=True, initial=True, throttle=False)
                    return
            time.sleep(delay)

    def reload(self) -> Changes | None:
        """Re-read now, in this thread; what was published, or ``None``."""
        with self.lock:
            changes = self._refresh(throttle=False)[0]
        # Outside the lock; when another thread is delivering, it delivers this one too.
        self.deliver()
        return changes

    def refresh_for_watcher(self, reason: str) -> float | None:
        """The watcher's re-read: warnings go to the log and the status, never raised in its
        thread. Returns the delay before the next re-read, if one is due."""
        warned = self.plan.warned
        with self.lock:
            if reason != "poll":
                self.holdback.fresh_event()
            warned.report = self.holdback.warn
            try:
                retry = self._refresh(throttle=reason != "reload")[1]
            finally:
                warned.report = None
        self.deliver()
        return retry

    def deliver(self) -> None:
        """Tell the subscribers and the derived values' subscribers (no lock held)."""
        self.listeners.deliver()
        self.derivations.deliver()

    # ------------------------------------------------------------------------ derived values
    def add_derived(self, state: DerivedState) -> None:
        """Build ``state`` from the published snapshot and keep building it."""
        with self.lock:
            self.derivations.add(state, self.snapshot)

    def remove_derived(self, state: DerivedState) -> None:
        """Build ``state`` no more."""
        with self.lock:
            self.derivations.remove(state)

    def refresh_derived(self, state: DerivedState) -> bool:
        """Build ``state`` from the published snapshot unless its value comes from it.

        Raises:
            RunSecretsError: The build refused it.
        """
        with self.lock:
            snapshot = self.snapshot
            if state.snapshot is snapshot and state.last_error is None:
                return False
            before = state.builds
            value, error = state.attempt(snapshot)
            if error is not None:
                raise error.with_traceback(None)
            state.commit(value, snapshot)
        self.deliver()
        return state.builds != before

    # ------------------------------------------------------------------------ the watcher's
    def watch_paths(self) -> list[str]:
        """The directories to watch now (kept in :attr:`watched`)."""
        paths = watch_paths(self.plan.rules.dirs, self.file_targets)
        self.watched = tuple(paths)
        return paths

    def is_relevant(self, name: str) -> bool:
        """Whether an event about the entry ``name`` may change what the store reads."""
        ignore = self.plan.ignore
        if ignore is not None and ignore(name):
            return False
        if name == _KUBERNETES_SWAP:
            return True  # the swap itself
        return not is_debris(name) or any(os.path.basename(t) == name for t in self.file_targets)

    def covers_every_file(self, written: Set[str]) -> bool:
        """Whether the files a burst of events finished writing (absolute paths) are every
        file the last read read: a rotation of the whole set is then over, and the watcher
        re-reads without waiting for the burst's quiet period. A Kubernetes swap (``..data``
        renamed into place) replaces every file of its directory at once."""
        files = self._files
        if not files:
            return False
        swapped = {os.path.dirname(p) for p in written if os.path.basename(p) == _KUBERNETES_SWAP}
        return all(path in written or os.path.dirname(path) in swapped for path in files)

    def note_problem(self, problem: str) -> None:
        """Record a problem the watcher met (a backend failing, a re-read raising)."""
        self.holdback.note(problem)

    def after_fork_in_child(self, *, rearmed: bool) -> None:
        """In a forked child, once the watcher restarted (``rearmed``) or not."""
        if self._after_fork is not None:
            self._after_fork(rearmed=rearmed)

    # ------------------------------------------------------------------------ one read
    def _refresh(self, *, throttle: bool) -> tuple[Changes | None, float | None]:
        """Read, decide, validate, publish: (changes, retry delay). Holds the lock."""
        started = time.thread_time()
        pass_, stable = read_stable(self.plan, self._cache)
        self.read_cost = time.thread_time() - started
        return self._apply(pass_, stable=stable, initial=False, throttle=throttle)

    def _apply(
        self, pass_: Pass, *, stable: bool, initial: bool, throttle: bool
    ) -> tuple[Changes | None, float | None]:
        holdback = self.holdback
        holdback.counters.reads += 1
        previous_pass, self._cache = self._cache, pass_.entries
        self._files = _files_read(pass_.entries)
        self.file_targets = tuple(pass_.file_targets)
        self.watch_paths()  # for the status, which must not look at the disk itself
        if self.plan.names is None:
            self._skip_own_files(pass_.entries, None if initial else previous_pass)
        decision = decide(
            pass_,
            self.snapshot.entries,
            stable=stable,
            rules=self.removal,
            gone_since=holdback.gone_since,
            now=time.monotonic(),
            excluded=self.plan.excluded,
            initial=initial,
        )
        holdback.gone_since = decision.gone_since
        holdback.counters.read_errors += decision.read_errors
        self.errors = decision.errors
        self.kept = tuple(sorted(decision.kept))
        if decision.action == HOLD or decision.held:
            holdback.counters.incomplete += 1
        if decision.action == HOLD:
            return None, holdback.held(decision.problem or "")
        if decision.action == UNCHANGED:
            return None, self._passed(decision)
        assert decision.action == PUBLISH
        wait = self._budget_wait(decision) if throttle else 0.0
        if wait:
            retry = self._passed(decision)
            return None, wait if retry is None else min(wait, retry)
        return self._publish(decision, initial=initial)

    def _passed(self, decision: Decision) -> float | None:
        return self.holdback.passed(decision.problem, held=decision.held, pending=decision.retry)

    def _budget_wait(self, decision: Decision) -> float:
        """The wait a publish storm imposes (0.0: publish now); said once per storm."""
        storming = self._budget.storming
        wait = self._budget.take()
        if wait and not storming:
            logger.warning(
                "secrets changed more than %d times in a row, faster than %d a second "
                "(%s): publishing at most %d a second until they calm down. Does this "
                "process, or one it started, write a file the store tracks?",
                PUBLISH_BURST,
                PUBLISH_RATE,
                ", ".join(sorted(decision.names)),
                PUBLISH_RATE,
            )
        return wait

    def _publish(self, decision: Decision, *, initial: bool) -> tuple[Changes | None, float | None]:
        published = self.snapshot
        candidate = self.new_snapshot(
            decision.entries, version=published.version + 1, errors=decision.errors
        )
        refusal = self._validate(candidate)
        built: list[tuple[DerivedState, object]] = []
        if refusal is None and not initial:
            built, refused_by = self.derivations.build(candidate, decision.names)
            refusal = None if refused_by is None else ("derived value", refused_by)
        if refusal is not None:
            self.holdback.counters.refused += 1
            if initial:
                raise SecretValidationError(
                    f"the secrets read at start-up were refused: {refusal[1]}",
                    validator=refusal[0],
                )
            return None, self.holdback.held(refusal[1])
        self._commit(candidate, built)
        retry = self._passed(decision)
        if initial:
            return None, None
        changes = Changes(
            added=decision.added,
            changed=decision.changed,
            removed=decision.removed,
            snapshot=candidate,
            previous=published,
        )
        # Quiet during a publish storm: a log this store follows stops feeding it.
        level = logging.DEBUG if self._budget.storming else logging.INFO
        logger.log(level, "secrets updated: %s", changes)
        if self._before_delivery is not None:
            self._before_delivery()
        self.listeners.publish(changes)  # delivered once the lock is released
        return changes, retry

    def _commit(self, candidate: Snapshot, built: list[tuple[DerivedState, object]]) -> None:
        self.snapshot = candidate  # the atomic swap: readers see the old or the new, whole
        if self._on_publish is not None:
            self._on_publish(candidate)
        self.derivations.commit(built, candidate)  # in the same step, before any subscriber
        self.last_publish_at = time.time()
        self.holdback.counters.publishes += 1

    def _validate(self, candidate: Snapshot) -> tuple[str, str] | None:
        for validator in self.validators:
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

    def _skip_own_files(
        self, entries: Mapping[str, Entry], previous_pass: Mapping[str, Entry] | None
    ) -> None:
        """Stop tracking the files this process holds open for writing (its own log): never
        a secret, and following one would publish at every line the process writes."""
        for name in self._own.written_here(entries, previous_pass):
            self.plan.excluded.add(name)
            logger.warning(
                "secret %r (%s): this process holds the file open for writing, so it is "
                "not a secret (a log?); no longer tracked. Give the store names=, or "
                "file_variables= to choose the *_FILE variables it follows",
                name,
                entries[name].provenance.describe(),
            )


def _files_read(entries: Mapping[str, Entry]) -> frozenset[str]:
    """The absolute paths of the files ``entries`` were read from (variables have none)."""
    paths = (entry.provenance.path for entry in entries.values())
    return frozenset(os.path.abspath(path) for path in paths if path is not None)
