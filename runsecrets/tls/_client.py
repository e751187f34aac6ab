"""A client ``ssl.SSLContext`` that presents a rotating client certificate and trusts a rotating
CA bundle.

Why not reload in place: ``load_cert_chain`` on a live context installs the new certificate
before the new key, and every handshake in between sends no certificate (hundreds of failed
requests during one rotation, measured). A client has no SNI callback to switch contexts the way
the server context does, but every client library opens its connections through
``SSLContext.wrap_socket`` (httpx and requests in threads, ``urllib.request``) or
``SSLContext.wrap_bio`` (asyncio, aiohttp, httpx's async client through anyio) on the context it
was given. So this context holds, for new connections, an inner context built from one whole,
validated set of material, and its ``wrap_socket`` and ``wrap_bio`` hand each connection to the
inner context in service at that moment: a rotation replaces it with one reference store.
Connections already open keep the inner context they were made with, and are not disturbed.

What a library or the application sets on this context (``check_hostname``, ``verify_mode``,
``options``, versions, ALPN protocols, ciphers, extra CAs...) is set on it as on any context,
and each inner context is built with the same settings; a real change rebuilds the inner
context in service before the next connection.
"""

from __future__ import annotations

import ssl
from typing import NamedTuple, overload

from .._forksafe import ForkSafeLock
from .._scrub import scrub_errors
from ._context import copy_options, require_tls12
from ._follow import FollowsRotation, InUse, MaterialFollower, Role, openssl_refused
from ._material import DEFAULT_MIN_VALID_DAYS, TLSMaterial
from ._source import material_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    import socket
    from collections.abc import Callable, Iterable
    from typing import Any, Literal

    from _typeshed import ReadableBuffer, StrOrBytesPath

    from .._secrets import Secrets
    from ..reload.store import SecretStore
    from ._source import Spec

_ROLE = Role("TLS client certificate", "presenting", "TLS client material")
# Settings read from this context into each inner one, in this order (check_hostname is set
# again last: verify_mode cannot be CERT_NONE while it is on).
_SETTINGS = (
    "check_hostname",
    "verify_mode",
    "verify_flags",
    "options",
    "minimum_version",
    "maximum_version",
    "hostname_checks_common_name",
    "post_handshake_auth",
    "keylog_filename",
    "sslsocket_class",
    "sslobject_class",
)
_SETTING_NAMES = frozenset(_SETTINGS)
# Methods whose last call is the setting (a later call replaces an earlier one).
_REPLACING = frozenset({"set_alpn_protocols", "set_ciphers", "set_ecdh_curve"})


class _Built(NamedTuple):
    """An inner context and the version of this context's settings it was built with."""

    context: ssl.SSLContext
    settings: int


class RotatingClientContext(FollowsRotation, ssl.SSLContext):
    """A client ``ssl.SSLContext`` whose certificate and CA bundle follow rotation.

    For mutual TLS between services whose certificates rotate: new connections present the
    newest client certificate that passed the checks of :func:`runsecrets.tls.load` (the key
    pairs with it, the chain verifies to ``ca``, the dates hold, the extended key usage allows
    ``clientAuth``) and verify the server against the newest CA bundle. A certificate and key
    written at different moments, or material that fails a check, is never presented: the last
    good pair stays in use, and the refusal is counted in :attr:`refusals` and
    :attr:`last_error`. Connections already open are left as they are.

    Verification is on (``ssl.PROTOCOL_TLS_CLIENT``: the server's certificate and host name
    are checked), TLS 1.2 or newer. Use it wherever a client takes an ``ssl.SSLContext``:
    ``httpx.Client(verify=context)``, ``httpx.AsyncClient(verify=context)``, requests through
    :class:`runsecrets.integrations.requests.TLSAdapter`, ``urllib.request.urlopen(url,
    context=context)``, ``asyncio.open_connection(host, port, ssl=context)``, aiohttp
    (``ssl=context``). Settings made on it (``check_hostname``, ``options``, ALPN protocols,
    ``load_verify_locations`` for more CAs...) apply to every connection, before and after a
    rotation; ``load_cert_chain`` is refused (the certificate is the one it follows).

    Pooled connections opened before a rotation keep the certificate they presented: retire
    them after a rotation (:meth:`subscribe`, :meth:`is_current`) so that a server that revokes
    the old certificate never sees it again; the adapters of ``runsecrets.integrations`` do it for
    their pools.

    Args:
        cert: The client certificate (chain): a secret name or a path, as for ``load``.
        key: The private key (``None``: in the certificate file).
        ca: The CA bundle: the server's certificate must verify to it, and so must the client
            certificate (give one bundle with both CAs when they differ). ``None``: the
            system's CAs are trusted, and only the links inside the certificate file are
            checked.
        password: The secret or file holding the key's passphrase.
        min_valid_days: Fewer days left than this is logged as a warning on each rotation.
        secrets: The resolver for secret names (default ``Secrets()``).
        store: Follow this :class:`~runsecrets.SecretStore` (it must track the secret names
            given; paths are then not allowed). You start and close it.
        watch: Without ``store``: follow the files with an internal store started now (stop it
            with :meth:`close`). ``False``: change only on :meth:`reload`.
        gate_store: With ``store``: a candidate this context refuses is held back by the store
            (the context is a gated derived value of it), so that the store never publishes a
            certificate without its key to any of its readers. ``False``: only this context
            refuses it. An internal store is always gated.
        clock: Returns the time to check validity at (timezone-aware); default: now.

    Raises:
        InvalidTLSMaterialError: The material at start-up is invalid (nothing to present).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.
    """

    def __new__(cls, *args: object, **kwargs: object) -> RotatingClientContext:
        # ssl.SSLContext.__new__ takes the protocol as its first argument: ours are the specs.
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    @scrub_errors
    def __init__(
        self,
        cert: Spec,
        key: Spec | None = None,
        ca: Spec | None = None,
        *,
        password: Spec | None = None,
        min_valid_days: int = DEFAULT_MIN_VALID_DAYS,
        secrets: Secrets | None = None,
        store: SecretStore | None = None,
        watch: bool = True,
        gate_store: bool = True,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        super().__init__()
        self._settings_lock = ForkSafeLock()  # renewed in a forked child
        self._settings_version = 0
        self._calls: list[tuple[str, tuple[Any, ...]]] = []
        self._loading_material = False
        self._rebuild_lock = ForkSafeLock()  # renewed in a forked child
        self._rebuilt: tuple[InUse[_Built], _Built] | None = None
        require_tls12(self)
        source = material_source(cert, key, ca, password, secrets=secrets, store=store, watch=watch)
        self._follow: MaterialFollower[_Built] = MaterialFollower(
            source,
            self._new_context,
            first=self._first_context,
            purpose="client",
            host=None,
            min_valid_days=min_valid_days,
            gate_store=gate_store,
            clock=clock,
            role=_ROLE,
        )

    # ----------------------------------------------------------------------------- public
    @property
    def serving_context(self) -> ssl.SSLContext:
        """The inner context new connections are opened with."""
        return self._current().context

    def is_current(self, connection: ssl.SSLSocket | ssl.SSLObject) -> bool:
        """Whether ``connection`` was opened with the material (and settings) in use now.

        For a pool of your own (``asyncio.open_connection``): retire an idle connection for
        which this is false, so that a server never sees a rotated-out certificate again.
        Give the ``ssl.SSLSocket``, or asyncio's ``writer.get_extra_info("ssl_object")``.
        """
        return connection.context is self._current().context

    # ----------------------------------------------------------- where connections are made
    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """As ``ssl.SSLContext.wrap_socket``, with the material in use now.

        A ``session`` is resumed only by the inner context that made it: one from before a
        rotation raises ``ValueError`` (the old certificate is not resumed).
        """
        return self._current().context.wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            server_hostname,
            session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """As ``ssl.SSLContext.wrap_bio``, with the material in use now (see
        :meth:`wrap_socket`)."""
        return self._current().context.wrap_bio(
            incoming, outgoing, server_side, server_hostname, session
        )

    # ------------------------------------------------------------------- settings kept for all
    def __setattr__(self, name: str, value: Any) -> None:
        # A setting (a property of ssl.SSLContext, or the class attributes sslsocket_class and
        # sslobject_class) is set on this context; a real change marks the inner contexts for
        # a rebuild.
        if name not in _SETTING_NAMES:
            super().__setattr__(name, value)
            return
        before = getattr(self, name)
        super().__setattr__(name, value)
        if getattr(self, name) != before:
            self._settings_changed()

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """As ``ssl.SSLContext.set_alpn_protocols``, for every connection (httpx and urllib3
        set it before each connection: the same list again changes nothing)."""
        self._record("set_alpn_protocols", list(alpn_protocols))

    def set_ciphers(self, cipherlist: str, /) -> None:
        """As ``ssl.SSLContext.set_ciphers``, for every connection."""
        self._record("set_ciphers", cipherlist)

    def set_ecdh_curve(self, name: str, /) -> None:
        """As ``ssl.SSLContext.set_ecdh_curve``, for every connection."""
        self._record("set_ecdh_curve", name)

    def load_verify_locations(
        self,
        cafile: StrOrBytesPath | None = None,
        capath: StrOrBytesPath | None = None,
        cadata: str | ReadableBuffer | None = None,
    ) -> None:
        """As ``ssl.SSLContext.load_verify_locations``: more CAs to trust, besides ``ca``,
        before and after every rotation (``load_default_certs`` adds the system's this way)."""
        self._record("load_verify_locations", cafile, capath, cadata)

    def set_default_verify_paths(self) -> None:
        """As ``ssl.SSLContext.set_default_verify_paths``, for every connection."""
        self._record("set_default_verify_paths")

    def load_cert_chain(
        self,
        certfile: StrOrBytesPath,
        keyfile: StrOrBytesPath | None = None,
        password: Any = None,
    ) -> None:
        """Refused: the certificate presented is the one this context follows.

        Raises:
            TypeError: Always.
        """
        if self._loading_material:
            super().load_cert_chain(certfile, keyfile, password)
            return
        raise TypeError(
            "RotatingClientContext presents the certificate it follows; give the "
            "certificate and key to it instead of load_cert_chain"
        )

    @overload
    def get_ca_certs(self, binary_form: Literal[False] = False) -> list[dict[str, Any]]: ...
    @overload
    def get_ca_certs(self, binary_form: Literal[True]) -> list[bytes]: ...
    @overload
    def get_ca_certs(self, binary_form: bool = False) -> Any: ...
    def get_ca_certs(self, binary_form: bool = False) -> Any:
        """As ``ssl.SSLContext.get_ca_certs``, of the inner context in use now."""
        return self._current().context.get_ca_certs(binary_form)

    def cert_store_stats(self) -> dict[str, int]:
        """As ``ssl.SSLContext.cert_store_stats``, of the inner context in use now."""
        return self._current().context.cert_store_stats()

    # ---------------------------------------------------------------------------- internals
    def _current(self) -> _Built:
        in_use = self._follow.in_use
        built = in_use.value
        if built.settings != self._settings_version:
            return self._rebuilt_for(in_use)
        return built

    def _rebuilt_for(self, in_use: InUse[_Built]) -> _Built:
        """The inner context for the material in use, built again with this context's
        settings as they are now (they changed after it was built): not a rotation, nothing is
        counted, no listener is called; later connections reuse it until the next change.

        Raises:
            InvalidTLSMaterialError: ``openssl_refused`` (the settings do not fit the material).
        """
        with self._rebuild_lock:
            rebuilt = self._rebuilt
            if (
                rebuilt is not None
                and rebuilt[0] is in_use
                and rebuilt[1].settings == self._settings_version
            ):
                return rebuilt[1]
            try:
                built = self._new_context(in_use.material)
            except (ssl.SSLError, ValueError) as e:
                raise openssl_refused(in_use.material, e) from e
            self._rebuilt = (in_use, built)
            return built

    def _record(self, method: str, *args: Any) -> None:
        """Call ``method`` on this context and keep the call for the inner contexts."""
        if self._loading_material:  # the material's own CA: each inner context loads it
            getattr(super(), method)(*args)
            return
        call = (method, args)
        with self._settings_lock:
            if call in self._calls:
                return  # the same call again (a library's per-connection setup): no change
            getattr(super(), method)(*args)
            if method in _REPLACING:
                self._calls = [c for c in self._calls if c[0] != method]
            self._calls.append(call)
            self._settings_version += 1

    def _settings_changed(self) -> None:
        with self._settings_lock:
            self._settings_version += 1

    def _first_context(self, material: TLSMaterial) -> _Built:
        # This context holds the first material too, so that code which reaches OpenSSL
        # without wrap_socket or wrap_bio still gets a working (if not rotating) context.
        self._loading_material = True
        try:
            material.configure_client(self)
        finally:
            self._loading_material = False
        return self._new_context(material)

    def _new_context(self, material: TLSMaterial) -> _Built:
        with self._settings_lock:
            version = self._settings_version
            calls = list(self._calls)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        for name in _SETTINGS:
            if name == "options":
                copy_options(self, context)
            else:
                setattr(context, name, getattr(self, name))
        context.check_hostname = self.check_hostname
        material.configure_client(context)
        for method, args in calls:
            getattr(context, method)(*args)
        return _Built(context, version)
