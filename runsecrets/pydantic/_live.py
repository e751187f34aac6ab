"""Live settings: the latest valid instance of a model, re-validated when its secrets change.

Following a :class:`~runsecrets.SecretStore`, the model is one of the store's derived values
(:meth:`SecretStore.derive <runsecrets.SecretStore.derive>`): the store builds it from each
candidate snapshot before publishing (from that candidate's bytes: see
``_pydantic_load.PinnedDirs``), a refused model holds the candidate back (gated) or only these
settings (ungated), and the instance built from the published snapshot is the one taken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from .._forksafe import ForkSafeLock
from .._scrub import scrub_errors, scrubbed
from ..exceptions import RunSecretsError
from ..reload.listeners import Listeners
from ._errors import clean_validation_error
from ._load import PinnedDirs

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ..reload.derived import Derived
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore

logger = logging.getLogger("runsecrets.pydantic")

_S = TypeVar("_S", bound=BaseModel)

#: A subscriber: called with the old instance, the new one and the names of the changed fields.
Subscriber = Callable[[_S, _S, frozenset[str]], object]
#: What a watcher calls after each change: with the store's published snapshot, if any, and
#: the instance already built from it, if any.
OnChange = Callable[..., object]
#: Builds the model from a candidate snapshot, or refuses it (see ``LiveSettings.vet``).
Vet = Callable[["Snapshot | None"], object]


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
        "_factory",
        "_listeners",
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
        self._listeners: Listeners[SettingsChange[_S]] = Listeners(
            merge=SettingsChange.then, logger=logger, what="settings subscribers"
        )
        self.current: _S = _first(factory)
        self.last_error: ReloadFailure | None = None
        self.reloads = 0
        self.failures = 0
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
        self._listeners.deliver()  # outside the lock
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

    def vet(self, candidate: Snapshot | None = None) -> _S:
        """Build the model from ``candidate`` (a store's snapshot), or refuse it.

        The store these settings follow runs it on each candidate before publishing it (the
        settings are one of its derived values): the model takes the files the candidate
        holds from the candidate, the bytes of the store's stable read, not a new read of the
        disk; the instance built from the snapshot the store publishes is the one taken.

        Returns:
            The instance.

        Raises:
            RunSecretsError: The model refused the values; the message names fields and error
                types, never a value (the store logs it and reports it in its status).
        """
        with self._lock:
            try:
                return self._build(candidate)
            except Exception as e:  # noqa: BLE001 - any refusal holds the snapshot back
                failure = self._refused(e)
        # Raised past the handler: the model's error (pydantic keeps each input) is not chained.
        raise RunSecretsError(str(failure))

    def _build(self, snapshot: Snapshot | None) -> _S:
        """An instance, read from the disk, or from ``snapshot``'s bytes when the factory is
        the model itself (a factory of your own reads the files anew)."""
        factory = self._factory
        if snapshot is None or not (
            isinstance(factory, type) and issubclass(factory, BaseSettings)
        ):
            return factory()
        pinned = PinnedDirs(factory.model_config.get("secrets_dir"), snapshot)
        return cast("_S", factory(_secrets_dir=pinned))

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
            self._listeners.publish(SettingsChange(old, new, changed))
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
        return self._listeners.subscribe(_unpacking(callback))

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

    def _on_change(self, snapshot: Snapshot | None = None, built: _S | None = None) -> object:
        with self._lock:
            changed = self._follow(snapshot, built)
        self._listeners.deliver()  # outside the lock
        return changed

    def _follow(self, snapshot: Snapshot | None, built: _S | None) -> frozenset[str]:
        if snapshot is not None:
            if self._built_from is not None and snapshot.version < self._built_from:
                return frozenset()  # a newer snapshot is already in .current
            self._built_from = snapshot.version
        if built is not None:
            return self._publish(self.current, built)  # built by the store, from snapshot
        return self._reload_locked(snapshot)

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
    as a backstop). With ``vet``, the model is one of the store's derived values: the store
    builds it from each candidate before publishing and hands over the instance built from the
    published snapshot; without, each change it publishes triggers one re-validation.

    Args:
        on_change: Called after each change, with the store's snapshot (and the instance the
            store built from it, with ``vet``).
        store: A store to follow; it is started if it is not running, and closed on
            :meth:`stop` only if this watcher started it.
        make_store: Builds the store on :meth:`start` when none is given.
        vet: The builder the store runs on each candidate while started (see
            :meth:`LiveSettings.vet`).
        gate: With ``vet``: a candidate the model refuses is held back by the store for every
            reader; ``False``: the store publishes it and only the settings refuse it.
    """

    __slots__ = (
        "_derived",
        "_gate",
        "_make_store",
        "_on_change",
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
        gate: bool = True,
    ) -> None:
        if store is None and make_store is None:
            raise ValueError("give a store or a way to make one")
        self._on_change = on_change
        self._store = store
        self._make_store = make_store
        self._vet = vet
        self._gate = gate
        self._started = False
        self._unsubscribe: Callable[[], None] | None = None
        self._derived: Derived[object] | None = None

    def start(self) -> None:
        """Follow the store (start it if needed), then catch up once."""
        if self._unsubscribe is not None:
            return
        store = self._store
        if store is None:
            assert self._make_store is not None
            store = self._store = self._make_store()
        if self._vet is None:
            self._unsubscribe = store.subscribe(lambda changes: self._on_change(changes.snapshot))
        else:
            self._unsubscribe = self._derive(store, self._vet)
        if not store.running:
            store.start()
            self._started = True
        derived = self._derived
        # A change between the first load and the store's first read publishes nothing later.
        # (Should the watcher publish a newer snapshot meanwhile, this older one is ignored.)
        if derived is not None and derived.ready:
            self._on_change(derived.snapshot, derived.value)
        elif derived is None:
            self._on_change(store.snapshot)

    def _derive(self, store: SecretStore, vet: Vet) -> Callable[[], None]:
        derived: Derived[object] = store.derive(vet, gate=self._gate, label="live settings")
        self._derived = derived
        derived.subscribe(lambda old, new: self._on_change(derived.snapshot, new))
        return derived.close

    def stop(self) -> None:
        """Stop following; close the store if this watcher started it."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        self._derived = None
        if self._started and self._store is not None:
            self._store.close()
            self._started = False
        if self._make_store is not None:
            self._store = None  # made here: a later start makes a fresh one
