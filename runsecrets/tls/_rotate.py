"""A server ``ssl.SSLContext`` that follows the rotation of its certificate, key and CA.

How the swap works: OpenSSL calls the SNI callback early in every handshake (with or without a
server name from the client), and the callback may set ``sslsocket.context``: the connection
then uses that context's certificate and key. So this context never reloads itself (a failed
``load_cert_chain`` on a live context leaves it broken); each validated rotation builds a new
context from the validated bytes, and the callback points *new* handshakes at the latest one.
Handshakes in flight keep the context they started with.

Where new material comes from is a small seam, :class:`MaterialSource`: secret names and paths
read afresh (:meth:`RotatingServerContext.reload`), or the published snapshots of a
:class:`~runsecrets.SecretStore`, which reads related files until they are stable and tells its
subscribers about each change.
"""

from __future__ import annotations

import collections
import logging
import ssl
import time
from typing import cast

from .._callbacks import log_callback_error
from .._forksafe import ForkSafeLock
from .._names import file_env_name
from .._provenance import FILE_VARIABLE
from .._scrub import scrub_errors, scrubbed
from .._secrets import Secrets
from ..exceptions import InvalidTLSMaterialError, RunSecretsError
from ._material import DEFAULT_MIN_VALID_DAYS, TLSMaterial, material_from_parts
from ._source import PARTS, is_path, read_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Mapping, MutableMapping

    from .._snapshot import Changes, Snapshot
    from .._store import SecretStore
    from ._material import RawParts
    from ._source import Spec

logger = logging.getLogger("runsecrets.tls")

# Names under which an internal store tracks parts given as paths: each becomes a ``_FILE``
# variable of a private environment layered over the real one, so the store watches the file's
# directory as it watches any ``_FILE`` target.
_PATH_NAME = "runsecrets-tls-internal-{part}"
#: How long (seconds) the store validator's verdict stands in for a new examination.
_VETTED_FOR = 5.0


class MaterialSource:
    """Reads the raw parts (``cert``, ``key``, ``ca``, ``password``) of one set of material."""

    def read(self) -> RawParts:
        """The parts as they are now; a part not configured is ``None``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (a store it started)."""


class SpecSource(MaterialSource):
    """Secret names and paths, read afresh at each :meth:`read`."""

    def __init__(self, specs: Mapping[str, Spec | None], secrets: Secrets) -> None:
        self._specs = dict(specs)
        self._secrets = secrets

    def read(self) -> RawParts:
        return {
            part: None if spec is None else read_spec(spec, self._secrets)
            for part, spec in self._specs.items()
        }


class StoreSource(MaterialSource):
    """The parts as published by a :class:`~runsecrets.SecretStore`: one consistent snapshot."""

    def __init__(
        self, store: SecretStore, names: Mapping[str, str | None], *, owned: bool = False
    ) -> None:
        self.store = store
        self.names = dict(names)
        self._owned = owned

    def read(self) -> RawParts:
        return self.read_from(self.store.snapshot)

    def read_from(self, snapshot: Snapshot) -> RawParts:
        """The parts as ``snapshot`` (published or a candidate) holds them."""
        parts: dict[str, tuple[bytes, str] | None] = {}
        for part, name in self.names.items():
            if name is None:
                parts[part] = None
                continue
            provenance = snapshot.provenance(name)  # raises when the store does not hold it
            label = provenance.path or provenance.variable or name
            parts[part] = (snapshot.get_bytes(name), label)
        return parts

    def close(self) -> None:
        if self._owned:
            self.store.close()


def store_for_specs(specs: Mapping[str, Spec | None], secrets: Secrets) -> StoreSource:
    """An internal store that tracks exactly these parts, paths included."""
    from .._store import SecretStore

    synthetic: dict[str, str] = {}
    names: dict[str, str | None] = {}
    for part, spec in specs.items():
        if spec is None:
            names[part] = None
        elif is_path(spec):
            name = _PATH_NAME.format(part=part)
            synthetic[file_env_name(name, secrets.prefix)] = str(spec)
            names[part] = name
        else:
            names[part] = str(spec)
    # Read live, never copied: the real environment is only ever read through this layer.
    rules = secrets.rules
    environ = collections.ChainMap(synthetic, cast("MutableMapping[str, str]", rules.environ))
    # The resolver's rules handed on whole (links, sources, case...), only the environment
    # layered: a part the resolver reads, the context's store reads the same way.
    changes: dict[str, object] = {"environ": environ}
    if synthetic and FILE_VARIABLE not in rules.sources:
        changes["sources"] = (FILE_VARIABLE, *rules.sources)  # how the store reads paths
    store = SecretStore(
        names=[n for n in names.values() if n is not None], rules=rules.replace(**changes)
    )
    return StoreSource(store, names, owned=True)


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
        gate_store: With ``store``: add the checks of this context to the store's validators,
            so that the store itself never publishes a certificate without its key (nor other
            invalid material) to any of its readers; a held-back candidate holds back the
            store's other secrets too until it is completed. ``False``: only this context
            refuses it. An internal store is always gated.
        clock: Returns the time to check validity at (timezone-aware); default: now.

    Raises:
        InvalidTLSMaterialError: The material at start-up is invalid (nothing to serve).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.

    Attributes:
        rotations: How many times new material was put in service.
        refusals: How many candidate sets were refused (the last good one kept serving).
        last_error: Why the latest candidate was refused (``None`` once one is accepted).
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
        self._listeners: tuple[Callable[[TLSMaterial], object], ...] = ()
        self._alpn_protocols: list[str] | None = None
        self.rotations = 0
        self.refusals = 0
        self.last_error: RunSecretsError | None = None
        try:
            raw = source.read()
            material = self._examine(raw)
            error = material.error()
            if error is not None:
                raise error
            # This context serves the first material itself; rotations get contexts of their own.
            material.configure_server(self, require_client_cert=require_client_cert)
        except BaseException:
            source.close()
            raise
        self._log_expiry(material)
        self._material = material
        self._last_raw: RawParts = raw
        self._vetted: tuple[RawParts, TLSMaterial, float] = (raw, material, 0.0)
        self._serving: ssl.SSLContext = self
        self.sni_callback = self._choose_context
        self._unsubscribe: Callable[[], None] | None = None
        self._remove_gate: Callable[[], None] | None = None
        if isinstance(source, StoreSource):
            if gate_store or source._owned:
                self._remove_gate = source.store.add_validator(self._gate)
            self._unsubscribe = source.store.subscribe(self._on_store_change)
            if source._owned:
                source.store.start()

    # ----------------------------------------------------------------------------- public
    @property
    def material(self) -> TLSMaterial:
        """The material new handshakes are served with."""
        return self._material

    @property
    def serving_context(self) -> ssl.SSLContext:
        """The context new handshakes are switched to (``self`` until the first rotation)."""
        return self._serving

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
        before = self.rotations
        if isinstance(self._source, StoreSource):
            self._source.store.reload()  # publishes to our subscriber when something changed
        self._refresh(force=True, raise_errors=True)
        return self.rotations != before

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """As ``ssl.SSLContext.set_alpn_protocols``, kept for the contexts of later rotations
        (OpenSSL picks the ALPN protocol with the context a connection was switched to)."""
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self._alpn_protocols = protocols

    def subscribe(self, callback: Callable[[TLSMaterial], object]) -> Callable[[], None]:
        """Call ``callback(material)`` after each rotation; returns the unsubscribe function."""
        with self._lock:
            self._listeners = (*self._listeners, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(c for c in self._listeners if c is not callback)

        return unsubscribe

    def close(self) -> None:
        """Stop following rotation (the current material keeps being served)."""
        for undo in (self._unsubscribe, self._remove_gate):
            if undo is not None:
                undo()
        self._unsubscribe = self._remove_gate = None
        self._source.close()

    def __enter__(self) -> RotatingServerContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RotatingServerContext({self._material!r}, rotations={self.rotations}, "
            f"refusals={self.refusals})"
        )

    # ---------------------------------------------------------------------------- internals
    def _choose_context(
        self, connection: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        serving = self._serving
        if serving is not self:
            connection.context = serving

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
                context = self._load_context(material)
            except RunSecretsError as e:
                # _last_raw still holds the last accepted parts: the same candidate is examined
                # again at the next refresh (a load that failed for a passing reason is retried).
                self._refused(e)
                if raise_errors:
                    raise
                return
            self._last_raw = raw
            self._serving = context  # one reference store: new handshakes switch to it
            self._material = material
            self.rotations += 1
            self.last_error = None
            listeners = self._listeners
        logger.info(
            "TLS certificate rotated: %s, serial %s, valid until %s",
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

    def _refused(self, error: RunSecretsError) -> None:
        self.refusals += 1
        self.last_error = scrubbed(error)
        # A certificate whose key is not written yet is the normal middle of a rotation.
        transient = isinstance(error, InvalidTLSMaterialError) and error.reason == "key_mismatch"
        logger.log(
            logging.INFO if transient else logging.WARNING,
            "new TLS material not used, still serving serial %s: %s",
            self._material.serial_hex,
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
