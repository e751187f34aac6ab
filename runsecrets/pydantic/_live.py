"""Live settings: the latest valid instance of a model, re-validated when its secrets change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from .._delivery import Deliveries
from .._forksafe import ForkSafeLock
from .._scrub import scrub_errors, scrubbed
from ..exceptions import RunSecretsError
from ._errors import clean_validation_error
from ._load import reading_from

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from .._snapshot import Snapshot
    from .._store import SecretStore

logger = logging.getLogger("runsecrets.pydantic")

_S = TypeVar("_S", bound=BaseModel)

#: A subscriber: called with the old instance, the new one and the names of the changed fields.
Subscriber = Callable[[_S, _S, frozenset[str]], object]
#: What a watcher calls after each change: with the store's published snapshot, if any.
OnChange = Callable[["Snapshot | None"], object]
#: A store validator building the model from a candidate snapshot (see ``LiveSettings.vet``).
Vet = Callable[["Snapshot | None"], None]


class Watcher(Protocol):
    """What :class:`LiveSettings` needs from a change notifier (the hot-reload store)."""

    def start(self) -> None:
        """Begin calling the change callback the watcher was made with."""

    def stop(self) -> None:
        """Stop calling it; release threads and descriptors."""


class ReloadFailure:
    """Why the last reload was refused: field names and error types, never values.

    Attributes:
        fields: The dotted locations of the fields that failed (``"db.password"``).
        errors: ``(location, error type)`` pairs, such as ``("port", "int_parsing")`` or
            ``("db.password", "runsecrets_not_found")``.
        exception: The class name of the exception that refused the model.
        message: A one-line summary safe to log.
        time: When the reload failed (``time.time()``).
    """

    __slots__ = ("errors", "exception", "fields", "message", "time")

    def __init__(self, error: Exception, model_name: str) -> None:
        self.exception = type(error).__name__
        self.time = time.time()
        if isinstance(error, ValidationError):
            # ``include_input=False``: the input is the value; the messages of custom
            # validators may quote it too, so only locations and types are kept.
            details = error.errors(include_input=False, include_url=False, include_context=False)
            self.errors = tuple(
                (".".join(str(part) for part in item["loc"]), item["type"]) for item in details
            )
            self.fields = tuple(dict.fromkeys(loc for loc, _ in self.errors))
            listed = ", ".join(f"{loc} ({kind})" for loc, kind in self.errors)
            self.message = f"{model_name}: invalid fields {listed}"
        else:
            self.errors = ()
            self.fields = ()
            # Our own messages name places and fields, never values; any other exception's
            # (pydantic-settings' included: some quote what they failed to parse) might quote
            # one, so only its type is shown.
            safe = isinstance(error, RunSecretsError)
            self.message = f"{model_name}: {self.exception}" + (f": {error}" if safe else "")

    def __repr__(self) -> str:
        return f"ReloadFailure({self.message!r})"

    def __str__(self) -> str:
        return self.message


class SettingsChange(Generic[_S]):
    """One publish of live settings: the instance before, the one after, the changed fields.

    It is false when no field changed (two publishes merged that cancel out).
    """

    __slots__ = ("changed", "new", "old")

    def __init__(self, old: _S, new: _S, changed: frozenset[str]) -> None:
        self.old = old
        self.new = new
        self.changed = changed

    def __bool__(self) -> bool:
        return bool(self.changed)

    def then(self, later: SettingsChange[_S]) -> SettingsChange[_S]:
        """This change followed by ``later``, as one (fields compared end to end)."""
        return SettingsChange(self.old, later.new, changed_fields(self.old, later.new))


def _unpacking(callback: Subscriber[_S]) -> Callable[[SettingsChange[_S]], object]:
    """``callback(old, new, changed)`` called with a :class:`SettingsChange`, logged under the
    callback's own name when it raises."""

    def deliver(change: SettingsChange[_S]) -> object:
        return callback(change.old, change.new, change.changed)

    deliver.__qualname__ = getattr(callback, "__qualname__", type(callback).__name__)
    return deliver


class LiveSettings(Generic[_S]):
    """The latest valid instance of a settings model, swapped atomically on change.

    Read :attr:`current` anywhere: it is a plain attribute, never touches the disk, and always
    holds a fully validated instance. :meth:`reload` builds a new instance; if it validates and
    differs, it replaces :attr:`current` and the subscribers are told. A refused model is
    logged (field names only), kept out, and recorded in :attr:`last_error`; the previous one
    stays in place and the next change retries.

    Use as a context manager (or :meth:`start`/:meth:`stop`) to follow changes as the
    secrets change, when a watcher is attached.

    Attributes:
        current: The latest valid instance.
        last_error: Why the last reload was refused, or ``None`` after a successful one.
        reloads: How many reloads replaced :attr:`current`.
        failures: How many reloads were refused.
    """

    __slots__ = (
        "__weakref__",
        "_built_from",
        "_deliveries",
        "_factory",
        "_lock",
        "_vetted",
        "_watcher",
        "current",
        "failures",
        "last_error",
        "reloads",
    )

    @scrub_errors
    def __init__(
        self,
        factory: Callable[[], _S],
        *,
        watcher: Callable[[OnChange, Vet], Watcher] | None = None,
    ) -> None:
        self._factory = factory
        # Reentrant: a validator of the model may read .current; renewed in a forked child.
        self._lock = ForkSafeLock(reentrant=True)
        self._deliveries: Deliveries[SettingsChange[_S]] = Deliveries(
            merge=SettingsChange.then, logger=logger, what="settings subscribers"
        )
        self.current: _S = _first(factory)
        self.last_error: ReloadFailure | None = None
        self.reloads = 0
        self.failures = 0
        # What vet() built, with the candidate it built it from: used only for that snapshot.
        self._vetted: tuple[Snapshot, _S] | None = None
        # The version of the store snapshot .current was last built from (None: from the disk).
        self._built_from: int | None = None
        self._watcher = None if watcher is None else watcher(self._on_change, self.vet)

    def reload(self, snapshot: Snapshot | None = None) -> frozenset[str]:
        """Build and validate a new instance; publish it if it differs from :attr:`current`.

        Args:
            snapshot: Take the files it holds from it rather than the disk (a store's
                published snapshot); default: read everything now.

        Returns:
            The names of the fields that changed (empty when nothing changed or the new model
            was refused: then :attr:`last_error` says why).
        """
        with self._lock:
            changed = self._reload_locked(snapshot)
        self._deliveries.deliver()  # outside the lock
        return changed

    def _reload_locked(self, snapshot: Snapshot | None) -> frozenset[str]:
        old = self.current
        try:
            new = self._build(snapshot)
        except Exception as e:  # noqa: BLE001 - any refusal keeps the last good instance
            failure = self._refused(e)
            logger.warning("settings reload refused, keeping the previous ones: %s", failure)
            return frozenset()
        return self._publish(old, new)

    def vet(self, candidate: Snapshot | None = None) -> None:
        """A store validator: build the model from ``candidate``, or refuse the snapshot.

        A store following these settings runs it before it publishes a candidate snapshot,
        so that values the model refuses are not published to any reader of the store. The
        model reads the files the candidate holds from the candidate (the bytes of the store's
        stable read, not a new read of the disk); the instance built here is the one the
        publish that follows puts in :attr:`current`.

        Raises:
            RunSecretsError: The model refused the values; the message names fields and error
                types, never a value (the store logs it and reports it in its status).
        """
        with self._lock:
            self._vetted = None
            try:
                instance = self._build(candidate)
            except Exception as e:  # noqa: BLE001 - any refusal holds the snapshot back
                failure = self._refused(e)
            else:
                if candidate is not None:
                    self._vetted = (candidate, instance)
                return
        # Raised past the handler: the model's error (pydantic keeps each input) is not chained.
        raise RunSecretsError(str(failure))

    def _build(self, snapshot: Snapshot | None) -> _S:
        if snapshot is None:
            return self._factory()
        with reading_from(snapshot):
            return self._factory()

    def _refused(self, error: Exception) -> ReloadFailure:
        failure = ReloadFailure(error, type(self.current).__name__)
        self.last_error = failure
        self.failures += 1
        return failure

    def _publish(self, old: _S, new: _S) -> frozenset[str]:
        with self._lock:
            self.last_error = None
            changed = changed_fields(old, new)
            if not changed:
                return changed
            self.current = new  # one reference assignment: readers see old or new, never a mix
            self.reloads += 1
            logger.info(
                "settings %s reloaded; changed fields: %s",
                type(new).__name__,
                ", ".join(sorted(changed)),
            )
            # Delivered by the caller once the lock is released, in publish order.
            self._deliveries.publish(SettingsChange(old, new, changed))
            return changed

    def subscribe(self, callback: Subscriber[_S]) -> Callable[[], None]:
        """Call ``callback(old, new, changed_field_names)`` after each published change.

        Callbacks run outside every lock, in the order subscribed, one change at a time and in
        publish order: one that blocks never blocks :meth:`reload` in another thread, and one
        that calls :meth:`reload` has that change delivered after the current one, so every
        callback ends on the newest instance (changes that piled up meanwhile are merged into
        one). One that raises is logged by type and place and the others are still called.

        Returns:
            A function that removes the subscription.
        """
        return self._deliveries.subscribe(_unpacking(callback))

    def start(self) -> Self:
        """Follow changes (if a watcher is attached); a no-op otherwise."""
        if self._watcher is not None:
            self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop following changes."""
        if self._watcher is not None:
            self._watcher.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _on_change(self, snapshot: Snapshot | None = None) -> object:
        with self._lock:
            changed = self._follow(snapshot)
        self._deliveries.deliver()  # outside the lock
        return changed

    def _follow(self, snapshot: Snapshot | None) -> frozenset[str]:
        vetted, self._vetted = self._vetted, None
        if snapshot is not None:
            if self._built_from is not None and snapshot.version < self._built_from:
                return frozenset()  # a newer snapshot is already in .current
            self._built_from = snapshot.version
        if vetted is not None and snapshot is not None and vetted[0] is snapshot:
            return self._publish(self.current, vetted[1])
        return self._reload_locked(snapshot)  # no validator ran for this snapshot

    def __repr__(self) -> str:
        state = "ok" if self.last_error is None else f"last reload refused ({self.last_error})"
        return f"LiveSettings({type(self.current).__name__}, {state})"


def _first(factory: Callable[[], _S]) -> _S:
    """The first instance. With none yet, its error reaches the caller: a ``ValidationError``
    as its cleaned copy (without the values a model without ``hide_input_in_errors``, or a
    validator's message, would show), raised past the handler so that nothing chains the
    original; anything else scrubbed."""
    try:
        return factory()
    except ValidationError as e:
        error: Exception = clean_validation_error(e, _model_of(factory))
    except Exception as e:  # noqa: BLE001 - re-raised, only scrubbed
        error = scrubbed(e)
    raise error


def _model_of(factory: Callable[[], object]) -> type[BaseModel] | None:
    return factory if isinstance(factory, type) and issubclass(factory, BaseModel) else None


def changed_fields(old: BaseModel, new: BaseModel) -> frozenset[str]:
    """The names of the top-level fields whose values differ between two instances."""
    names = type(new).model_fields
    return frozenset(name for name in names if getattr(old, name, None) != getattr(new, name))


class StoreWatcher:
    """Re-validate live settings whenever a :class:`~runsecrets.SecretStore` publishes a change.

    The store does the watching (directories, Kubernetes swaps, stable double reads, polling
    as a backstop); each change it publishes triggers one re-validation of the whole model.

    Args:
        on_change: Called with the store's snapshot after each publish.
        store: A store to follow; it is started if it is not running, and closed on
            :meth:`stop` only if this watcher started it.
        make_store: Builds the store on :meth:`start` when none is given.
        vet: Added to the store's validators while started (see :meth:`LiveSettings.vet`).
    """

    __slots__ = (
        "_make_store",
        "_on_change",
        "_remove_vet",
        "_started",
        "_store",
        "_unsubscribe",
        "_vet",
    )

    def __init__(
        self,
        on_change: OnChange,
        *,
        store: SecretStore | None = None,
        make_store: Callable[[], SecretStore] | None = None,
        vet: Vet | None = None,
    ) -> None:
        if store is None and make_store is None:
            raise ValueError("give a store or a way to make one")
        self._on_change = on_change
        self._store = store
        self._make_store = make_store
        self._vet = vet
        self._started = False
        self._unsubscribe: Callable[[], None] | None = None
        self._remove_vet: Callable[[], None] | None = None

    def start(self) -> None:
        """Subscribe to the store, start it if needed, then catch up once."""
        if self._unsubscribe is not None:
            return
        store = self._store
        if store is None:
            assert self._make_store is not None
            store = self._store = self._make_store()
        if self._vet is not None:
            self._remove_vet = store.add_validator(self._vet)
        # The published snapshot itself: the one the model was vetted against, if it was.
        self._unsubscribe = store.subscribe(lambda changes: self._on_change(changes.snapshot))
        if not store.running:
            store.start()
            self._started = True
        # A change between the first load and the store's first read publishes nothing later.
        # (Should the watcher publish a newer snapshot meanwhile, this older one is ignored.)
        self._on_change(store.snapshot)

    def stop(self) -> None:
        """Unsubscribe; close the store if this watcher started it."""
        for undo in (self._unsubscribe, self._remove_vet):
            if undo is not None:
                undo()
        self._unsubscribe = self._remove_vet = None
        if self._started and self._store is not None:
            self._store.close()
            self._started = False
        if self._make_store is not None:
            self._store = None  # made here: a later start makes a fresh one
