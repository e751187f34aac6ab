"""A server ``ssl.SSLContext`` that follows the rotation of its certificate, key and CA.

How the swap works: OpenSSL calls the SNI callback early in every handshake (with or without a
server name from the client), and the callback may set ``sslsocket.context``: the connection
then uses that context's certificate and key. So this context never reloads itself (a failed
``load_cert_chain`` on a live context leaves it broken); each validated rotation builds a new
context from the validated bytes, and the callback points *new* handshakes at the latest one.
Handshakes in flight keep the context they started with.

Where new material comes from is a small seam, ``_tls_source.MaterialSource``: secret names and
paths read afresh (:meth:`RotatingServerContext.reload`), or a :class:`~runsecrets.SecretStore`,
which reads related files until they are stable. Following a store, the context is one of the
store's derived values (:meth:`SecretStore.derive <runsecrets.SecretStore.derive>`): the store
builds the new context from each candidate snapshot before it publishes it, a refusal holds
the candidate back (or only this context's value, ungated), and the context built from the
published snapshot is committed with it. Either way the same builder makes the new context.
"""

from __future__ import annotations

import logging
import ssl

from .._forksafe import ForkSafeLock
from .._scrub import scrub_errors, scrubbed
from .._secrets import Secrets
from ..exceptions import InvalidTLSMaterialError, RunSecretsError
from ..reload.listeners import Listeners
from ._material import DEFAULT_MIN_VALID_DAYS, TLSMaterial, material_from_parts
from ._source import (
    PARTS,
    MaterialSource,
    SpecSource,
    StoreSource,
    is_path,
    store_for_specs,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable

    from ..reload.derived import Derived
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore
    from ._material import RawParts
    from ._source import Spec

logger = logging.getLogger("runsecrets.tls")


class RotatingServerContext(ssl.SSLContext):
    """A server ``ssl.SSLContext`` whose certificate follows rotation, without a restart.

    Use it wherever a server takes an ``ssl.SSLContext``: ``http.server`` (``wrap_socket``),
    ``asyncio.start_server(ssl=...)``, uvicorn (``Config.ssl``), gunicorn (its ``ssl_context``
    hook). New handshakes get the newest material that passed every check of
    :func:`runsecrets.tls.load`; a certificate and key written at different moments are never
    served as a mismatched pair: the last good pair is served until a consistent one appears.

    Args:
        cert: The certificate (chain): a secret name or a path, as for ``load``.
        key: The private key (``None``: in the certificate file).
        ca: The CA bundle (checked against; used to verify client certificates).
        password: The secret or file holding the key's passphrase.
        host: A name or address every new certificate must be valid for.
        require_client_cert: Mutual TLS: require client certificates issued by ``ca``.
        min_valid_days: Fewer days left than this is logged as a warning on each rotation.
        secrets: The resolver for secret names (default ``Secrets()``).
        store: Follow this :class:`~runsecrets.SecretStore` (it must track the secret names
            given; paths are then not allowed). You start and close it.
        watch: Without ``store``: follow the files with an internal store started now (stop it
            with :meth:`close`). ``False``: change only on :meth:`reload`.
        gate_store: With ``store``: a candidate this context refuses is held back by the store
            (the context is a gated derived value of it), so that the store itself never
            publishes a certificate without its key (nor other invalid material) to any of its
            readers; a held-back candidate holds back the store's other secrets too until it is
            completed. ``False``: only this context refuses it. An internal store is always
            gated.
        clock: Returns the time to check validity at (timezone-aware); default: now.

    Raises:
        InvalidTLSMaterialError: The material at start-up is invalid (nothing to serve).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.
    """

    def __new__(cls, *args: object, **kwargs: object) -> RotatingServerContext:
        # ssl.SSLContext.__new__ takes the protocol as its first argument: ours are the specs.
        return super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)

    @scrub_errors
    def __init__(
        self,
        cert: Spec,
        key: Spec | None = None,
        ca: Spec | None = None,
        *,
        password: Spec | None = None,
        host: str | None = None,
        require_client_cert: bool = False,
        min_valid_days: int = DEFAULT_MIN_VALID_DAYS,
        secrets: Secrets | None = None,
        store: SecretStore | None = None,
        watch: bool = True,
        gate_store: bool = True,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        super().__init__()
        specs = dict(zip(PARTS, (cert, key, ca, password), strict=True))
        resolver = Secrets() if secrets is None else secrets
        if store is not None:
            paths = [part for part, spec in specs.items() if spec is not None and is_path(spec)]
            if paths:
                raise ValueError(
                    f"with a store, give secret names, not paths (got paths for {paths})"
                )
            source: MaterialSource = StoreSource(
                store, {part: None if s is None else str(s) for part, s in specs.items()}
            )
        elif watch:
            source = store_for_specs(specs, resolver)
        else:
            source = SpecSource(specs, resolver)
        self._source = source
        self._host = host
        self._require_client_cert = require_client_cert
        self._min_valid_days = min_valid_days
        self._clock = clock
        self._lock = ForkSafeLock()  # renewed in a forked child (a watcher may hold it)
        self._listeners: Listeners[TLSMaterial] = Listeners(
            merge=_latest, logger=logger, what="TLS rotation listeners"
        )
        self._alpn_protocols: list[str] | None = None
        self._rotations = 0
        self._refusals = 0
        self._last_error: RunSecretsError | None = None
        self._derived: Derived[Serving] | None = None
        try:
            first = self._first(source)
        except BaseException:
            source.close()
            raise
        self._local = first
        self.sni_callback = self._choose_context
        if isinstance(source, StoreSource):
            self._follow(source, gate=gate_store or source.owned)

    def _first(self, source: MaterialSource) -> Serving:
        """The material at start-up, served by this very context (rotations get their own).

        Raises:
            InvalidTLSMaterialError, RunSecretsError: Nothing valid to serve.
        """
        raw = source.read()
        material = self._examine(raw)
        error = material.error()
        if error is not None:
            raise error
        material.configure_server(self, require_client_cert=self._require_client_cert)
        self._log_expiry(material)
        return Serving(raw, material, self)

    def _follow(self, source: StoreSource, *, gate: bool) -> None:
        """Become one of the store's derived values: built from each candidate it concerns."""
        store = source.store
        names = [name for name in source.names.values() if name is not None]
        derived = store.derive(self._build_candidate, names=names, gate=gate, label="TLS material")
        derived.subscribe(self._rotated)
        self._derived = derived
        if source.owned:
            store.start()

    # ----------------------------------------------------------------------------- public
    @property
    def material(self) -> TLSMaterial:
        """The material new handshakes are served with."""
        return self._serving().material

    @property
    def serving_context(self) -> ssl.SSLContext:
        """The context new handshakes are switched to (``self`` until the first rotation)."""
        return self._serving().context

    @property
    def rotations(self) -> int:
        """How many times new material was put in service."""
        derived = self._derived
        return self._rotations if derived is None else derived.builds - 1

    @property
    def refusals(self) -> int:
        """How many candidate sets were refused (the last good one kept serving)."""
        derived = self._derived
        return self._refusals if derived is None else derived.refusals

    @property
    def last_error(self) -> RunSecretsError | None:
        """Why the latest candidate was refused (``None`` once one is accepted)."""
        derived = self._derived
        return self._last_error if derived is None else derived.last_error

    @scrub_errors
    def reload(self) -> bool:
        """Read the material now and put it in service if it is new and valid.

        Returns:
            ``True`` when new material was put in service by this call.

        Raises:
            InvalidTLSMaterialError: The new material is invalid, or OpenSSL would not load it
                (``reason="openssl_refused"``); the last good one is kept and the same files
                are tried again at the next reload or change.
            RunSecretsError: It cannot be read (the last good one is kept).
        """
        before = self._serving()
        derived = self._derived
        if derived is None:
            self._refresh(force=True, raise_errors=True)
        else:
            self._reload_store(derived)
        return self._serving() is not before

    def _reload_store(self, derived: Derived[Serving]) -> None:
        assert isinstance(self._source, StoreSource)
        store = self._source.store
        store.reload()  # builds this context from the candidate, if it concerns it
        error = derived.last_error
        if error is None:
            return
        if derived.snapshot is not store.snapshot:
            derived.refresh()  # ungated: the store published what this context refused
            return
        raise error.with_traceback(None)

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """As ``ssl.SSLContext.set_alpn_protocols``, kept for the contexts of later rotations
        (OpenSSL picks the ALPN protocol with the context a connection was switched to)."""
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self._alpn_protocols = protocols

    def subscribe(self, callback: Callable[[TLSMaterial], object]) -> Callable[[], None]:
        """Call ``callback(material)`` after each rotation; returns the unsubscribe function.

        Callbacks run outside the context's lock, in the order subscribed and in rotation
        order (rotations that pile up behind a slow callback reach it as the newest one); one
        that raises is logged by type and place, and the others are still called.
        """
        return self._listeners.subscribe(callback)

    def close(self) -> None:
        """Stop following rotation (the current material keeps being served)."""
        if self._derived is not None:
            self._derived.close()
        self._source.close()

    def __enter__(self) -> RotatingServerContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RotatingServerContext({self.material!r}, rotations={self.rotations}, "
            f"refusals={self.refusals})"
        )

    # ---------------------------------------------------------------------------- internals
    def _serving(self) -> Serving:
        derived = self._derived
        if derived is not None and derived.ready:
            return derived.value  # committed with the store's snapshot
        return self._local

    def _choose_context(
        self, connection: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        serving = self._serving().context
        if serving is not self:
            connection.context = serving

    def _build(self, raw: RawParts, current: Serving) -> Serving:
        """The builder, with or without a store: the material of ``raw`` in a new context, or
        ``current`` itself when nothing changed.

        Raises:
            InvalidTLSMaterialError: A check failed, or OpenSSL refused the validated pair.
        """
        if raw == current.raw:
            return current  # unchanged parts were checked when they went into service
        material = self._examine(raw)
        error = material.error()
        if error is not None:
            raise error
        if material.same_material(current.material):
            return current
        return Serving(raw, material, self._load_context(material))

    def _build_candidate(self, candidate: Snapshot) -> Serving:
        """The store's builder: the parts as ``candidate`` holds them (refusals logged)."""
        assert isinstance(self._source, StoreSource)
        try:
            return self._build(self._source.read_from(candidate), self._serving())
        except RunSecretsError as e:
            self._log_refusal(e)
            raise

    def _rotated(self, old: Serving | None, new: Serving) -> None:
        # Told once the store's lock is released: the new context serves already.
        self._announce(new.material)

    def _refresh(self, *, force: bool, raise_errors: bool) -> None:
        """Without a store: read the parts now and put new valid material in service."""
        with self._lock:
            current = self._local
            try:
                raw = self._source.read()
                base = current
                if raw == current.raw:
                    if not (force and self._last_error is not None):
                        return
                    base = current.renewed()  # a forced retry examines the parts again
                serving = self._build(raw, base)
            except RunSecretsError as e:
                self._refusals += 1
                self._last_error = scrubbed(e)
                self._log_refusal(e)
                if raise_errors:
                    raise
                return
            self._last_error = None
            if serving.material is current.material:
                self._local = Serving(raw, current.material, current.context)
                return
            self._local = serving
            self._rotations += 1
        self._announce(serving.material)

    def _announce(self, material: TLSMaterial) -> None:
        logger.info(
            "TLS certificate rotated: %s, serial %s, valid until %s",
            material.subject,
            material.serial_hex,
            material.not_after.strftime("%Y-%m-%d"),
        )
        self._log_expiry(material)
        self._listeners.publish(material)
        self._listeners.deliver()

    def _load_context(self, material: TLSMaterial) -> ssl.SSLContext:
        """A new context holding ``material``.

        Raises:
            InvalidTLSMaterialError: ``reason="openssl_refused"``: OpenSSL would not load the
                validated pair (``ssl.SSLError``), or the context settings do not fit it
                (``ValueError``). The message names the error type and OpenSSL's reason code.
        """
        try:
            return self._new_context(material)
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

    def _new_context(self, material: TLSMaterial) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # What a server may have tuned on this context and OpenSSL reads from the switched one.
        context.options = self.options
        context.minimum_version = self.minimum_version
        context.maximum_version = self.maximum_version
        if self._alpn_protocols is not None:
            context.set_alpn_protocols(self._alpn_protocols)
        material.configure_server(context, require_client_cert=self._require_client_cert)
        return context

    def _examine(self, raw: RawParts) -> TLSMaterial:
        return material_from_parts(
            raw,
            host=self._host,
            purpose="server",
            min_valid_days=self._min_valid_days,
            now=None if self._clock is None else self._clock(),
            exhaustive=False,
        )

    def _log_refusal(self, error: RunSecretsError) -> None:
        # A certificate whose key is not written yet is the normal middle of a rotation.
        transient = isinstance(error, InvalidTLSMaterialError) and error.reason == "key_mismatch"
        logger.log(
            logging.INFO if transient else logging.WARNING,
            "new TLS material not used, still serving serial %s: %s",
            self._serving().material.serial_hex,
            error,
        )

    def _log_expiry(self, material: TLSMaterial) -> None:
        if material.expiring:
            logger.warning(
                "TLS certificate %s expires in %d days (%s)",
                material.subject,
                material.days_left,
                material.not_after.strftime("%Y-%m-%d"),
            )


def _latest(first: TLSMaterial, second: TLSMaterial) -> TLSMaterial:
    """Two rotations as one, for a listener that fell behind: the newer material."""
    return second


class Serving:
    """What new handshakes get: the raw parts, the material checked from them, its context."""

    __slots__ = ("context", "material", "raw")

    def __init__(self, raw: RawParts, material: TLSMaterial, context: ssl.SSLContext) -> None:
        self.raw = raw
        self.material = material
        self.context = context

    def renewed(self) -> Serving:
        """The same material with its parts forgotten: examined again at the next build."""
        return Serving({}, self.material, self.context)

    def __repr__(self) -> str:
        return f"Serving({self.material!r})"
