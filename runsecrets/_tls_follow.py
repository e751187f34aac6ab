"""Following one set of TLS material through its rotations, for any endpoint built from it.

A :class:`MaterialFollower` keeps the newest material that passed every check and the value
built from it (a server context, a client context, a gRPC certificate configuration), and
replaces both together, with one reference assignment, only when a new set passes the checks
and builds. Refused sets are counted and reported; the last good value stays in service.

With a :class:`~runsecrets.SecretStore` as the source, the checks also run as the store's
validator (``gate_store``), so the store never publishes a certificate without its key to any
of its readers; the value is rebuilt when a publish touches the material's names.
"""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any, Generic, TypeVar

from ._callbacks import log_callback_error
from ._forksafe import ForkSafeLock
from ._scrub import scrub_errors, scrubbed
from ._tls_material import TLSMaterial, material_from_parts
from ._tls_source import StoreSource
from .exceptions import InvalidTLSMaterialError, RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from ._snapshot import Changes, Snapshot
    from ._tls_material import RawParts
    from ._tls_source import MaterialSource

logger = logging.getLogger("runsecrets.tls")

_T = TypeVar("_T")
#: How long (seconds) the store validator's verdict stands in for a new examination.
_VETTED_FOR = 5.0


class Role:
    """How an endpoint names itself in log lines: what rotates and what it does with it.

    Attributes:
        what: ``"TLS certificate"``, ``"TLS client certificate"``...
        using: The verb for the material in service: ``"serving"``, ``"presenting"``.
    """

    __slots__ = ("using", "what")

    def __init__(self, what: str, using: str) -> None:
        self.what = what
        self.using = using


class MaterialFollower(Generic[_T]):
    """The newest valid material of a source and the value built from it.

    Args:
        source: Where the parts are read.
        build: Builds the value for new material; may raise ``ssl.SSLError`` or ``ValueError``
            (OpenSSL refused it: reported as ``openssl_refused``, the last good value stays).
        first: Builds the value for the material read at start-up (default: ``build``); its
            errors propagate as they are.
        purpose: ``"server"`` or ``"client"``: the extended key usage required.
        host: A name or address every certificate must be valid for.
        min_valid_days: Fewer days left than this is logged as a warning on each rotation.
        gate_store: With a store as the source: add the checks to the store's validators.
            An internal store is always gated.
        clock: Returns the time to check validity at (timezone-aware); default: now.
        role: How log lines name the endpoint.

    Raises:
        InvalidTLSMaterialError: The material at start-up is invalid (the source is closed).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.

    Attributes:
        rotations: How many times new material was put in service.
        refusals: How many candidate sets were refused (the last good one kept in service).
        last_error: Why the latest candidate was refused (``None`` once one is accepted).
    """

    def __init__(
        self,
        source: MaterialSource,
        build: Callable[[TLSMaterial], _T],
        *,
        first: Callable[[TLSMaterial], _T] | None = None,
        purpose: str,
        host: str | None,
        min_valid_days: int,
        gate_store: bool,
        clock: Callable[[], datetime.datetime] | None,
        role: Role,
    ) -> None:
        self._source = source
        self._build = build
        self._purpose = purpose
        self._host = host
        self._min_valid_days = min_valid_days
        self._clock = clock
        self._role = role
        self._lock = ForkSafeLock()  # renewed in a forked child (a watcher may hold it)
        self._listeners: tuple[Callable[[TLSMaterial], object], ...] = ()
        self.rotations = 0
        self.refusals = 0
        self.last_error: RunSecretsError | None = None
        try:
            raw = source.read()
            material = self._examine(raw)
            error = material.error()
            if error is not None:
                raise error
            value = (build if first is None else first)(material)
        except BaseException:
            source.close()
            raise
        self._log_expiry(material)
        self._material = material
        self._value = value
        self._last_raw: RawParts = raw
        self._vetted: tuple[RawParts, TLSMaterial, float] = (raw, material, 0.0)
        self._unsubscribe: Callable[[], None] | None = None
        self._remove_gate: Callable[[], None] | None = None
        if isinstance(source, StoreSource):
            if gate_store or source.owned:
                self._remove_gate = source.store.add_validator(self._gate)
            self._unsubscribe = source.store.subscribe(self._on_store_change)
            if source.owned:
                source.store.start()

    # ----------------------------------------------------------------------------- public
    @property
    def value(self) -> _T:
        """What was built from :attr:`material`: the value new connections use."""
        return self._value

    @property
    def material(self) -> TLSMaterial:
        """The material in service."""
        return self._material

    def reload(self) -> bool:
        """See :meth:`FollowsRotation.reload`."""
        before = self.rotations
        if isinstance(self._source, StoreSource):
            self._source.store.reload()  # publishes to our subscriber when something changed
        self._refresh(force=True, raise_errors=True)
        return self.rotations != before

    def rebuild(self) -> _T:
        """Build the value again from the material in service (what it is built with changed).

        Not a rotation: nothing is counted, no listener is called.

        Raises:
            InvalidTLSMaterialError: ``openssl_refused`` (the value in service stays).
        """
        with self._lock:
            self._value = self._load_context(self._material)
            return self._value

    def subscribe(self, callback: Callable[[TLSMaterial], object]) -> Callable[[], None]:
        """Call ``callback(material)`` after each rotation; returns the unsubscribe function."""
        with self._lock:
            self._listeners = (*self._listeners, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(c for c in self._listeners if c is not callback)

        return unsubscribe

    def close(self) -> None:
        """Stop following rotation (the value in service stays)."""
        for undo in (self._unsubscribe, self._remove_gate):
            if undo is not None:
                undo()
        self._unsubscribe = self._remove_gate = None
        self._source.close()

    # ---------------------------------------------------------------------------- internals
    def _gate(self, candidate: Snapshot) -> None:
        """The store's validator: refuse a candidate snapshot whose material would be refused.

        Every refusal is counted in :attr:`refusals` and kept in :attr:`last_error`, whatever
        the reason: a part missing or unreadable, material that does not parse, a failed check.

        Raises:
            RunSecretsError: Why (the store logs and reports it; the message names files and a
                reason, no bytes).
        """
        error = self._refusal(candidate)
        if error is not None:
            with self._lock:  # the store logs the refusal; here it is counted and kept
                self.refusals += 1
                self.last_error = error
            raise error

    def _refusal(self, candidate: Snapshot) -> RunSecretsError | None:
        """Why ``candidate``'s material would be refused, or ``None`` when it would be served."""
        assert isinstance(self._source, StoreSource)
        try:
            raw = self._source.read_from(candidate)
            if raw == self._last_raw:
                return None  # unchanged parts were checked when they went into service
            material = self._examine(raw)
        except RunSecretsError as e:
            return scrubbed(e)
        error = material.error()
        if error is None:
            # The publish that follows (at once, in this thread) need not examine it again.
            self._vetted = (raw, material, time.monotonic())
        return error

    def _on_store_change(self, changes: Changes) -> None:
        assert isinstance(self._source, StoreSource)
        if any(name in changes for name in self._source.names.values() if name is not None):
            self._refresh(force=False, raise_errors=False)

    def _refresh(self, *, force: bool, raise_errors: bool) -> None:
        with self._lock:
            try:
                raw = self._source.read()
                if raw == self._last_raw and not (force and self.last_error is not None):
                    return
                vetted_raw, vetted, vetted_at = self._vetted
                fresh = time.monotonic() - vetted_at < _VETTED_FOR  # dates are checked then
                material = vetted if raw == vetted_raw and fresh else self._examine(raw)
                error = material.error()
                if error is not None:
                    raise error
                if material.same_material(self._material):
                    self._last_raw = raw
                    self.last_error = None
                    return
                value = self._load_context(material)
            except RunSecretsError as e:
                # _last_raw still holds the last accepted parts: the same candidate is examined
                # again at the next refresh (a load that failed for a passing reason is retried).
                self._refused(e)
                if raise_errors:
                    raise
                return
            self._last_raw = raw
            self._value = value  # one reference store: new connections use it
            self._material = material
            self.rotations += 1
            self.last_error = None
            listeners = self._listeners
        logger.info(
            "%s rotated: %s, serial %s, valid until %s",
            self._role.what,
            material.subject,
            material.serial_hex,
            material.not_after.strftime("%Y-%m-%d"),
        )
        self._log_expiry(material)
        for listener in listeners:
            try:
                listener(material)
            except Exception as e:  # noqa: BLE001  (one bad listener must not stop the others)
                log_callback_error(logger, "TLS rotation listeners", listener, e)

    def _load_context(self, material: TLSMaterial) -> _T:
        """The value built from ``material``.

        Raises:
            InvalidTLSMaterialError: ``reason="openssl_refused"``: OpenSSL would not load the
                validated pair (``ssl.SSLError``), or the context settings do not fit it
                (``ValueError``). The message names the error type and OpenSSL's reason code.
        """
        try:
            return self._build(material)
        except (ssl.SSLError, ValueError) as e:
            # OpenSSL's reason code (KEY_VALUES_MISMATCH...) is a fixed word; its message and a
            # ValueError's text are left out.
            code = getattr(e, "reason", None) if isinstance(e, ssl.SSLError) else None
            detail = f"{type(e).__name__} {code}" if isinstance(code, str) else type(e).__name__
            raise InvalidTLSMaterialError(
                f"invalid TLS material ({', '.join(material.files)}): openssl_refused: "
                f"loading the certificate and key failed with {detail}",
                reason="openssl_refused",
                files=material.files,
            ) from e

    def _examine(self, raw: RawParts) -> TLSMaterial:
        return material_from_parts(
            raw,
            host=self._host,
            purpose=self._purpose,
            min_valid_days=self._min_valid_days,
            now=None if self._clock is None else self._clock(),
            exhaustive=False,
        )

    def _refused(self, error: RunSecretsError) -> None:
        self.refusals += 1
        self.last_error = scrubbed(error)
        # A certificate whose key is not written yet is the normal middle of a rotation.
        transient = isinstance(error, InvalidTLSMaterialError) and error.reason == "key_mismatch"
        logger.log(
            logging.INFO if transient else logging.WARNING,
            "new TLS material not used, still %s serial %s: %s",
            self._role.using,
            self._material.serial_hex,
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


_S = TypeVar("_S", bound="FollowsRotation")


class FollowsRotation:
    """What an endpoint built on a :class:`MaterialFollower` (``self._follow``) shows of it:
    the material in use, the counters, and reload, subscribe and close."""

    _follow: MaterialFollower[Any]

    @property
    def material(self) -> TLSMaterial:
        """The material new connections use."""
        return self._follow.material

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

        A callback that raises is logged (its type and place, never its message); the others
        are still called.
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
