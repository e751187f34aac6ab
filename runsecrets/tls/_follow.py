"""Following one set of TLS material through its rotations, for any endpoint built from it.

A :class:`MaterialFollower` keeps the newest material that passed every check and the value
built from it (a server context, a client's inner context, a gRPC certificate configuration),
and replaces both together, with one reference assignment, only when a new set passes the
checks and builds. Refused sets are counted and reported; the last good value stays in use.

Where new material comes from is ``_source.MaterialSource``: secret names and paths read afresh
(:meth:`MaterialFollower.reload`), or a :class:`~runsecrets.SecretStore`, which reads related
files until they are stable. Following a store, the value is one of the store's derived values
(:meth:`SecretStore.derive <runsecrets.SecretStore.derive>`): the store builds it from each
candidate snapshot before it publishes it, a refusal holds the candidate back (or only this
value, ungated), and the value built from the published snapshot is committed with it. Either
way the same builder makes the new value.
"""

from __future__ import annotations

import logging
import ssl

from .._forksafe import ForkSafeLock
from .._generic import Generic, T
from .._scrub import scrub_errors, scrubbed
from ..exceptions import InvalidTLSMaterialError, RunSecretsError
from ..reload.listeners import Listeners
from ._material import TLSMaterial, material_from_parts
from ._source import StoreSource

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable
    from typing import Any, Literal, TypeVar

    from ..reload.derived import Derived
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore
    from ._material import RawParts
    from ._source import MaterialSource

    _S = TypeVar("_S", bound="FollowsRotation")

logger = logging.getLogger("runsecrets.tls")


class Role:
    """How an endpoint names itself in log lines: what rotates and what it does with it.

    Attributes:
        what: ``"TLS certificate"``, ``"TLS client certificate"``...
        using: The verb for the material in use: ``"serving"``, ``"presenting"``.
        label: The name of its derived value in the store's log lines and refusals.
    """

    __slots__ = ("label", "using", "what")

    def __init__(self, what: str, using: str, label: str) -> None:
        self.what = what
        self.using = using
        self.label = label


class InUse(Generic[T]):
    """What new connections get: the raw parts, the material checked from them, the value built
    from it."""

    __slots__ = ("material", "raw", "value")

    def __init__(self, raw: RawParts, material: TLSMaterial, value: T) -> None:
        self.raw = raw
        self.material = material
        self.value = value

    def renewed(self) -> InUse[T]:
        """The same material with its parts forgotten: examined again at the next build."""
        return InUse({}, self.material, self.value)

    def __repr__(self) -> str:
        return f"InUse({self.material!r})"


class MaterialFollower(Generic[T]):
    """The newest valid material of a source and the value built from it.

    Args:
        source: Where the parts are read.
        build: Builds the value for new material; may raise ``ssl.SSLError`` or ``ValueError``
            (OpenSSL refused it: reported as ``openssl_refused``, the last good value stays).
        first: Builds the value for the material read at start-up (default: ``build``); its
            errors propagate as they are.
        purpose: The extended key usage required.
        host: A name or address every certificate must be valid for.
        min_valid_days: Fewer days left than this is logged as a warning on each rotation.
        gate_store: With a store as the source: a refusal holds the store's candidate back.
            An internal store is always gated.
        clock: Returns the time to check validity at (timezone-aware); default: now.
        role: How log lines name the endpoint.

    Raises:
        InvalidTLSMaterialError: The material at start-up is invalid (the source is closed).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.
    """

    def __init__(
        self,
        source: MaterialSource,
        build: Callable[[TLSMaterial], T],
        *,
        first: Callable[[TLSMaterial], T] | None = None,
        purpose: Literal["server", "client"],
        host: str | None,
        min_valid_days: int,
        gate_store: bool,
        clock: Callable[[], datetime.datetime] | None,
        role: Role,
    ) -> None:
        self._source = source
        self._build_value = build
        self._purpose = purpose
        self._host = host
        self._min_valid_days = min_valid_days
        self._clock = clock
        self._role = role
        self._lock = ForkSafeLock()  # renewed in a forked child (a watcher may hold it)
        self._listeners: Listeners[TLSMaterial] = Listeners(
            merge=_latest, logger=logger, what="TLS rotation listeners"
        )
        self._rotations = 0
        self._refusals = 0
        self._last_error: RunSecretsError | None = None
        self._derived: Derived[InUse[T]] | None = None
        try:
            self._local = self._first(source, build if first is None else first)
            if isinstance(source, StoreSource):
                self._attach(source, gate=gate_store or source.owned)
        except BaseException:
            source.close()
            raise

    def _first(self, source: MaterialSource, first: Callable[[TLSMaterial], T]) -> InUse[T]:
        """The material at start-up and its value.

        Raises:
            InvalidTLSMaterialError, RunSecretsError: Nothing valid to use.
        """
        raw = source.read()
        material = self._examine(raw)
        error = material.error()
        if error is not None:
            raise error
        value = first(material)
        self._log_expiry(material)
        return InUse(raw, material, value)

    def _attach(self, source: StoreSource, *, gate: bool) -> None:
        """Become one of the store's derived values: built from each candidate it concerns."""
        store = source.store
        names = [name for name in source.names.values() if name is not None]
        label = self._role.label
        derived = store.derive(self._build_candidate, names=names, gate=gate, label=label)
        derived.subscribe(self._rotated)
        self._derived = derived
        if source.owned:
            store.start()

    # ----------------------------------------------------------------------------- public
    @property
    def in_use(self) -> InUse[T]:
        """The material in use and its value (committed with the store's snapshot)."""
        derived = self._derived
        if derived is not None and derived.ready:
            return derived.value
        return self._local

    @property
    def value(self) -> T:
        """What was built from :attr:`material`: the value new connections use."""
        return self.in_use.value

    @property
    def material(self) -> TLSMaterial:
        """The material in use."""
        return self.in_use.material

    @property
    def store(self) -> SecretStore | None:
        """The store followed: the one given, or the one made to watch the files (``None``
        without a store: the material changes on :meth:`reload` only)."""
        source = self._source
        return source.store if isinstance(source, StoreSource) else None

    @property
    def rotations(self) -> int:
        """How many times new material was put in use."""
        derived = self._derived
        return self._rotations if derived is None else derived.builds - 1

    @property
    def refusals(self) -> int:
        """How many candidate sets were refused (the last good one stayed in use)."""
        derived = self._derived
        return self._refusals if derived is None else derived.refusals

    @property
    def last_error(self) -> RunSecretsError | None:
        """Why the latest candidate was refused (``None`` once one is accepted)."""
        derived = self._derived
        return self._last_error if derived is None else derived.last_error

    def reload(self) -> bool:
        """See :meth:`FollowsRotation.reload`."""
        before = self.in_use
        derived = self._derived
        if derived is None:
            self._refresh(force=True, raise_errors=True)
        else:
            self._reload_store(derived)
        return self.in_use is not before

    def subscribe(self, callback: Callable[[TLSMaterial], object]) -> Callable[[], None]:
        """See :meth:`FollowsRotation.subscribe`."""
        return self._listeners.subscribe(callback)

    def close(self) -> None:
        """Stop following rotation (the value in use stays in use). Safe to call twice."""
        if self._derived is not None:
            self._derived.close()
        self._source.close()

    # ---------------------------------------------------------------------------- internals
    def _reload_store(self, derived: Derived[InUse[T]]) -> None:
        assert isinstance(self._source, StoreSource)
        store = self._source.store
        store.reload()  # builds this value from the candidate, if it concerns it
        error = derived.last_error
        if error is None:
            return
        if derived.snapshot is not store.snapshot:
            derived.refresh()  # ungated: the store published what this value refused
            return
        raise error.with_traceback(None)

    def _build(self, raw: RawParts, current: InUse[T]) -> InUse[T]:
        """The builder, with or without a store: the material of ``raw`` and its new value, or
        ``current`` itself when nothing changed.

        Raises:
            InvalidTLSMaterialError: A check failed, or OpenSSL refused the validated pair.
        """
        if raw == current.raw:
            return current  # unchanged parts were checked when they went into use
        material = self._examine(raw)
        error = material.error()
        if error is not None:
            raise error
        if material.same_material(current.material):
            return current
        return InUse(raw, material, self._load_value(material))

    def _build_candidate(self, candidate: Snapshot) -> InUse[T]:
        """The store's builder: the parts as ``candidate`` holds them (refusals logged)."""
        assert isinstance(self._source, StoreSource)
        try:
            return self._build(self._source.read_from(candidate), self.in_use)
        except RunSecretsError as e:
            self._log_refusal(e)
            raise

    def _rotated(self, old: InUse[T] | None, new: InUse[T]) -> None:
        # Told once the store's lock is released: the new value is in use already.
        self._announce(new.material)

    def _refresh(self, *, force: bool, raise_errors: bool) -> None:
        """Without a store: read the parts now and put new valid material in use."""
        with self._lock:
            current = self._local
            try:
                raw = self._source.read()
                base = current
                if raw == current.raw:
                    if not (force and self._last_error is not None):
                        return
                    base = current.renewed()  # a forced retry examines the parts again
                in_use = self._build(raw, base)
            except RunSecretsError as e:
                # current.raw still holds the last accepted parts: the same candidate is
                # examined again at the next refresh (a load that failed for a passing reason
                # is retried).
                self._refusals += 1
                self._last_error = scrubbed(e)
                self._log_refusal(e)
                if raise_errors:
                    raise
                return
            self._last_error = None
            if in_use.material is current.material:
                self._local = InUse(raw, current.material, current.value)
                return
            self._local = in_use  # one reference store: new connections use it
            self._rotations += 1
        self._announce(in_use.material)

    def _announce(self, material: TLSMaterial) -> None:
        logger.info(
            "%s rotated: %s, serial %s, valid until %s",
            self._role.what,
            material.subject,
            material.serial_hex,
            material.not_after.strftime("%Y-%m-%d"),
        )
        self._log_expiry(material)
        self._listeners.publish(material)
        self._listeners.deliver()

    def _load_value(self, material: TLSMaterial) -> T:
        """The value built from ``material``.

        Raises:
            InvalidTLSMaterialError: ``reason="openssl_refused"``: OpenSSL would not load the
                validated pair (``ssl.SSLError``), or the context settings do not fit it
                (``ValueError``). The message names the error type and OpenSSL's reason code.
        """
        try:
            return self._build_value(material)
        except (ssl.SSLError, ValueError) as e:
            raise openssl_refused(material, e) from e

    def _examine(self, raw: RawParts) -> TLSMaterial:
        return material_from_parts(
            raw,
            host=self._host,
            purpose=self._purpose,
            min_valid_days=self._min_valid_days,
            now=None if self._clock is None else self._clock(),
            exhaustive=False,
        )

    def _log_refusal(self, error: RunSecretsError) -> None:
        # A certificate whose key is not written yet is the normal middle of a rotation.
        transient = isinstance(error, InvalidTLSMaterialError) and error.reason == "key_mismatch"
        logger.log(
            logging.INFO if transient else logging.WARNING,
            "new TLS material not used, still %s serial %s: %s",
            self._role.using,
            self.in_use.material.serial_hex,
            error,
        )

    def _log_expiry(self, material: TLSMaterial) -> None:
        if material.expiring:
            logger.warning(
                "%s %s expires in %d days (%s)",
                self._role.what,
                material.subject,
                material.days_left,
                material.not_after.strftime("%Y-%m-%d"),
            )


def openssl_refused(
    material: TLSMaterial, error: ssl.SSLError | ValueError
) -> InvalidTLSMaterialError:
    """OpenSSL's refusal of validated material as an ``openssl_refused`` error (raise it ``from``
    ``error``: scrubbing drops the chain, whose frames hold the PEM key)."""
    # OpenSSL's reason code (KEY_VALUES_MISMATCH...) is a fixed word; its message and a
    # ValueError's text are left out.
    code = getattr(error, "reason", None) if isinstance(error, ssl.SSLError) else None
    detail = f"{type(error).__name__} {code}" if isinstance(code, str) else type(error).__name__
    return InvalidTLSMaterialError(
        f"invalid TLS material ({', '.join(material.files)}): openssl_refused: "
        f"loading the certificate and key failed with {detail}",
        reason="openssl_refused",
        files=material.files,
    )


def _latest(first: TLSMaterial, second: TLSMaterial) -> TLSMaterial:
    """Two rotations as one, for a listener that fell behind: the newer material."""
    return second


class FollowsRotation:
    """What an endpoint built on a :class:`MaterialFollower` (``self._follow``) shows of it:
    the material in use, the counters, and reload, subscribe and close."""

    _follow: MaterialFollower[Any]

    @property
    def material(self) -> TLSMaterial:
        """The material new connections use."""
        return self._follow.material

    @property
    def store(self) -> SecretStore | None:
        """The store this endpoint follows: the one given, or the one it made to watch its
        files (``None`` with ``watch=False``: it changes on :meth:`reload` only)."""
        return self._follow.store

    @property
    def rotations(self) -> int:
        """How many times new material was put in use."""
        return self._follow.rotations

    @property
    def refusals(self) -> int:
        """How many candidate sets were refused (the last good one stayed in use)."""
        return self._follow.refusals

    @property
    def last_error(self) -> RunSecretsError | None:
        """Why the latest candidate was refused (``None`` once one is accepted); it names files
        and a reason code, never key material."""
        return self._follow.last_error

    @scrub_errors
    def reload(self) -> bool:
        """Read the material now and put it in use if it is new and valid.

        Returns:
            ``True`` when new material was put in use by this call.

        Raises:
            runsecrets.InvalidTLSMaterialError: The new material is invalid, or OpenSSL would
                not load it (``reason="openssl_refused"``); the last good one is kept and the
                same files are tried again at the next reload or change.
            runsecrets.RunSecretsError: It cannot be read (the last good one is kept).
        """
        return self._follow.reload()

    def subscribe(self, callback: Callable[[TLSMaterial], object]) -> Callable[[], None]:
        """Call ``callback(material)`` after each rotation; returns the unsubscribe function.

        Callbacks run outside every lock, in the order subscribed and in rotation order
        (rotations that pile up behind a slow callback reach it as the newest one); one that
        raises is logged by type and place (never its message), and the others are still
        called.
        """
        return self._follow.subscribe(callback)

    def close(self) -> None:
        """Stop following rotation (the material in use stays in use)."""
        self._follow.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.material!r}, rotations={self.rotations}, "
            f"refusals={self.refusals})"
        )
