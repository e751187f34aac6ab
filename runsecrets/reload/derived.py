"""One way to derive a value from a store: built from each candidate, committed with it.

Anything built from secrets (an ``ssl.SSLContext``, a settings model, database credentials, a
client context) registers its builder once with :meth:`SecretStore.derive
<runsecrets.SecretStore.derive>`. Before it publishes a candidate snapshot, the store runs
every builder that candidate concerns; a builder that raises refuses it. A gated refusal holds
the whole candidate back (the store keeps its last good snapshot and retries); an ungated one
lets the store publish while that value keeps its last good one. On publish, every value built
from the candidate is committed in the same step as the snapshot, under the store's lock and
before any subscriber runs: :attr:`Derived.value` was built from exactly
:attr:`Derived.snapshot`. There is no verdict to cache and nothing to expire: what was built
from a candidate is what is committed with it, or nothing is.
"""

from __future__ import annotations

import logging

from .._generic import Generic, T
from .._scrub import scrubbed
from ..exceptions import RunSecretsError
from .listeners import Listeners

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .snapshot import Snapshot

    #: What a derived value's subscribers get: the value before and the one after.
    Change = tuple[object, object]

logger = logging.getLogger("runsecrets.store")


class _NoValue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value yet>"


#: A derived value before its first successful build.
NO_VALUE = _NoValue()


def _merge(first: Change, second: Change) -> Change:
    # Two commits a slow subscriber missed, as one: from the first's old to the second's new.
    return first[0], second[1]


class DerivedState:
    """What the store keeps for one derived value (internal: read it through :class:`Derived`).

    Attributes:
        build: The builder: ``build(snapshot) -> value``; raising refuses the snapshot.
        names: Rebuild only when one of these changed (``None``: at every publish).
        gate: Whether a refusal holds the store's candidate back.
        label: The value's name in log lines and refusals.
        value: The committed value, or :data:`NO_VALUE`.
        snapshot: The snapshot it was built from.
        last_error: Why the latest candidate was refused; ``None`` once one is accepted.
        refusals: How many candidates it refused.
        builds: How many new values were committed (the first one included).
        listeners: Its subscribers, called with ``(old, new)`` after each commit.
        attached: Whether the store still builds it.
    """

    __slots__ = (
        "attached",
        "build",
        "builds",
        "gate",
        "label",
        "last_error",
        "listeners",
        "names",
        "refusals",
        "snapshot",
        "value",
    )

    def __init__(
        self,
        build: Callable[[Snapshot], object],
        *,
        names: Iterable[str] | None,
        gate: bool,
        label: str | None,
    ) -> None:
        self.build = build
        self.names = None if names is None else frozenset(names)
        self.gate = gate
        self.label = label or getattr(build, "__qualname__", type(build).__name__)
        self.value: object = NO_VALUE
        self.snapshot: Snapshot | None = None
        self.last_error: RunSecretsError | None = None
        self.refusals = 0
        self.builds = 0
        self.listeners: Listeners[Change] = Listeners(
            merge=_merge, logger=logger, what="derived value subscribers"
        )
        self.attached = True

    def concerned(self, changed: frozenset[str] | None) -> bool:
        """Whether a candidate changing ``changed`` (``None``: anything) needs a new build."""
        return self.names is None or changed is None or not self.names.isdisjoint(changed)

    def attempt(self, candidate: Snapshot) -> tuple[object, RunSecretsError | None]:
        """Build from ``candidate``: the value, or the refusal (the refusal is also recorded).

        A value the builder returns unchanged (the same object) is no new value.
        """
        try:
            return self.build(candidate), None
        except RunSecretsError as e:
            error = scrubbed(e)  # kept: no frame, no foreign error in its chain
        except Exception as e:  # noqa: BLE001  (a refusal, whatever its type)
            # Not the message: a model's validation error quotes the input values.
            error = RunSecretsError(f"{self.label} refused it ({type(e).__name__})")
        self.refusals += 1
        self.last_error = error
        return NO_VALUE, error

    def commit(self, value: object, snapshot: Snapshot, *, announce: bool = True) -> None:
        """Take ``value``, built from ``snapshot`` (under the store's lock); its subscribers
        are told once the lock is released (``announce``), ``None`` as the old value when it
        is the first."""
        old = self.value
        self.last_error = None
        if value is old:
            return
        self.value = value
        self.snapshot = snapshot
        self.builds += 1
        if announce:
            self.listeners.publish((None if old is NO_VALUE else old, value))


class Derivations:
    """Every derived value of one store, built and committed by its publisher."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: tuple[DerivedState, ...] = ()

    def __bool__(self) -> bool:
        return bool(self._states)

    def add(self, state: DerivedState, published: Snapshot) -> None:
        """Build ``state`` from the ``published`` snapshot and keep it (call it under the
        store's lock). A refusal there holds nothing back: the snapshot is published already,
        and the value has none yet (:attr:`Derived.value` raises its refusal)."""
        value, error = state.attempt(published)
        if error is None:
            state.commit(value, published, announce=False)  # nobody has subscribed yet
        self._states = (*self._states, state)

    def remove(self, state: DerivedState) -> None:
        """Build ``state`` no more."""
        state.attached = False
        self._states = tuple(s for s in self._states if s is not state)

    def build(
        self, candidate: Snapshot, changed: frozenset[str] | None
    ) -> tuple[list[tuple[DerivedState, object]], str | None]:
        """Build every value ``candidate`` concerns.

        Returns:
            The values to commit with it, and why a gated value refused it (``None``: the
            candidate may be published; ungated refusals are recorded, their values kept).
        """
        built: list[tuple[DerivedState, object]] = []
        for state in self._states:
            if not state.concerned(changed):
                continue
            value, error = state.attempt(candidate)
            if error is None:
                built.append((state, value))
            elif state.gate:
                return [], f"{state.label} refused it: {error}"
            else:
                # Its consumer says why in its own words (a half rotation is no news).
                logger.debug(
                    "%s refused the new secrets, keeping its value: %s", state.label, error
                )
        return built, None

    def commit(self, built: list[tuple[DerivedState, object]], snapshot: Snapshot) -> None:
        """Commit what :meth:`build` built, with ``snapshot`` (under the store's lock)."""
        for state, value in built:
            state.commit(value, snapshot)

    def deliver(self) -> None:
        """Tell each value's subscribers about its commits (with no lock held)."""
        for state in self._states:
            state.listeners.deliver()


class Derived(Generic[T]):
    """A value built from a store's snapshots, committed with the very snapshot it was built from.

    Made by :meth:`SecretStore.derive <runsecrets.SecretStore.derive>`; see there.

    Attributes:
        label: Its name in log lines and in the store's refusals.
        gate: Whether a refusal holds the store's candidate back.
    """

    __slots__ = ("_refresh", "_release", "_state", "gate", "label")

    def __init__(
        self,
        state: DerivedState,
        *,
        refresh: Callable[[DerivedState], bool],
        release: Callable[[DerivedState], None],
    ) -> None:
        self._state = state
        self._refresh = refresh
        self._release = release
        self.label = state.label
        self.gate = state.gate

    @property
    def value(self) -> T:
        """The value built from :attr:`snapshot`.

        Raises:
            RunSecretsError: No build has succeeded yet: why the latest one was refused.
        """
        value = self._state.value
        if value is NO_VALUE:
            error = self._state.last_error
            assert error is not None
            raise error.with_traceback(None)
        return value  # type: ignore[return-value]  # what build returned

    @property
    def ready(self) -> bool:
        """Whether a value has been built (the first build may have been refused)."""
        return self._state.value is not NO_VALUE

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot :attr:`value` was built from (``None`` before the first value)."""
        return self._state.snapshot

    @property
    def last_error(self) -> RunSecretsError | None:
        """Why the latest candidate was refused (it holds no value); ``None`` once one is
        accepted."""
        return self._state.last_error

    @property
    def refusals(self) -> int:
        """How many candidates were refused."""
        return self._state.refusals

    @property
    def builds(self) -> int:
        """How many values were committed, the first one included."""
        return self._state.builds

    @property
    def attached(self) -> bool:
        """Whether the store still builds it (until :meth:`close`)."""
        return self._state.attached

    def subscribe(self, callback: Callable[[T | None, T], object]) -> Callable[[], None]:
        """Call ``callback(old, new)`` after each commit of a new value; returns the function
        that unsubscribes. ``old`` is ``None`` for the first value of one whose first build
        was refused.

        Callbacks run outside the store's lock, in commit order (commits that piled up behind a
        slow callback reach it as one, from the oldest value to the newest); one that raises
        is logged by type and place and the others are still called.
        """

        def deliver(change: Change) -> object:
            return callback(change[0], change[1])  # type: ignore[arg-type]

        deliver.__qualname__ = getattr(callback, "__qualname__", type(callback).__name__)
        return self._state.listeners.subscribe(deliver)

    def refresh(self) -> bool:
        """Build from the store's published snapshot now, unless :attr:`value` was built from
        it already (a value that refused it, ungated, tries again); returns whether a new value
        was committed.

        Raises:
            RunSecretsError: The build refused the published snapshot (the value is kept).
        """
        return self._refresh(self._state)

    def close(self) -> None:
        """Stop following the store; the value stays as it is. Safe to call twice."""
        if self._state.attached:
            self._release(self._state)

    def __repr__(self) -> str:
        state = "ready" if self.ready else "no value"
        if self.last_error is not None:
            state += ", last candidate refused"
        return f"Derived({self.label}, {state}, builds={self.builds}, refusals={self.refusals})"
