"""``Metrics``: the stores and consumers a process exports, read afresh at each collection."""

from __future__ import annotations

import logging
import weakref

from .._forksafe import ForkSafeLock
from ._families import FAMILIES
from ._readers import (
    CONSUMER_READERS,
    STORE,
    default_name,
    default_store_label,
    kind_of,
    read_store,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, Literal

    from ..reload.store import SecretStore
    from ._certificates import CertificateDates
    from ._families import Family
    from ._readers import Sample

logger = logging.getLogger("runsecrets.metrics")


class _StoreEntry:
    __slots__ = ("certificates", "label", "ref")

    def __init__(
        self, store: SecretStore, label: str, certificates: CertificateDates | None
    ) -> None:
        self.ref = weakref.ref(store)
        self.label = label
        self.certificates = certificates


class _ConsumerEntry:
    __slots__ = ("kind", "name", "ref")

    def __init__(self, obj: object, kind: str, name: str) -> None:
        self.ref = weakref.ref(obj)
        self.kind = kind
        self.name = name


class Metrics:
    """The stores and consumers whose figures a process exports.

    The families, with their types and labels: :data:`~runsecrets.metrics.FAMILIES`.

    Nothing is counted here: each collection reads the objects' public state as it is then
    (a store's :attr:`~runsecrets.SecretStore.status`, a context's ``rotations``...), in
    memory. A collection never reads a file, lists a directory or parses a secret.

    It is a ``prometheus_client`` collector (``registry.register(metrics)``, or
    :func:`~runsecrets.metrics.register`); :func:`~runsecrets.metrics.instrument` puts the
    same readings on an OpenTelemetry meter.
    Objects are held weakly: one that is garbage-collected drops out of the figures.

    **Labels.** ``store`` is the label of a store, given with ``name=`` or, by default, its
    directories joined by ``os.pathsep`` (``/run/secrets``). A consumer carries the label of
    the store it follows (``""`` for one that follows none). Two stores cannot share a label:
    give one a ``name``. A consumer's own label (``secret`` for a TLS context, ``settings``,
    ``credentials``) is ``name=``, else its certificate file's name (``tls.crt``), its model's
    class name, or what the credentials are for (``sqlalchemy postgresql``).

    Args:
        objects: Objects to :meth:`~runsecrets.metrics.Metrics.add` at once, with the default
            labels.
    """

    __slots__ = ("_consumers", "_lock", "_stores")

    def __init__(self, *objects: object) -> None:
        self._lock = ForkSafeLock()  # renewed in a forked child
        self._stores: tuple[_StoreEntry, ...] = ()
        self._consumers: tuple[_ConsumerEntry, ...] = ()
        for obj in objects:
            self.add(obj)

    def add(
        self,
        obj: object,
        *,
        name: str | None = None,
        certificates: Iterable[str] | Literal["auto"] | None = None,
    ) -> str:
        """Export the figures of ``obj`` from now on; returns its label.

        Args:
            obj: A :class:`~runsecrets.SecretStore`, or a consumer of one: a
                :class:`~runsecrets.tls.RotatingServerContext`, a
                :class:`~runsecrets.pydantic.LiveSettings`, a data layer's
                ``CredentialFollower``. A consumer's store is added too (with its default
                label) unless it is already: add the store first to name it. Add live
                settings once started (their store is made then).
            name: The label (see the class's *Labels*): a store's ``store`` label, a consumer's own.
            certificates: With a store: the secrets whose certificate end date to export
                (``runsecrets_certificate_not_after_timestamp_seconds``), worked out at each
                publish, never at a scrape; ``"auto"``: every secret that holds a PEM
                certificate or is named ``*.crt``, ``*.cer``, ``*.der`` (the rule of
                ``runsecrets doctor``).

        Raises:
            TypeError: ``obj`` is none of these.
            ValueError: The label is taken by another object of the same kind, or the object
                is already added under another label.
        """
        kind = kind_of(obj)
        with self._lock:
            self._prune()
            if kind == STORE:
                return self._add_store(obj, name, certificates)  # type: ignore[arg-type]
            if certificates is not None:
                raise ValueError("certificates= goes with a store")
            return self._add_consumer(obj, kind, name)

    def remove(self, obj: object) -> None:
        """Stop exporting ``obj`` (a store's consumers stay, labelled ``store=""``)."""
        with self._lock:
            for entry in self._stores:
                if entry.ref() is obj and entry.certificates is not None:
                    entry.certificates.close()
            self._stores = tuple(e for e in self._stores if e.ref() is not obj)
            self._consumers = tuple(e for e in self._consumers if e.ref() is not obj)

    def samples(self) -> list[Sample]:
        """Every figure now, as ``(family name, label values, value)``.

        A certificate that a store's secret and a TLS context both report under the same
        labels is reported once, with the context's date (the certificate in service).
        """
        stores, consumers = self._stores, self._consumers  # taken once: no lock at a scrape
        labels: dict[int, str] = {}
        found: dict[tuple[str, tuple[str, ...]], float] = {}
        for store_entry in stores:
            store = store_entry.ref()
            if store is not None:
                labels[id(store)] = store_entry.label
                self._read(
                    found, "store", read_store, store, store_entry.label, store_entry.certificates
                )
        for entry in consumers:
            obj = entry.ref()
            if obj is not None:
                store = getattr(obj, "store", None)
                label = "" if store is None else labels.get(id(store), "")
                self._read(found, entry.kind, CONSUMER_READERS[entry.kind], obj, label, entry.name)
        return [(name, values, value) for (name, values), value in found.items()]

    def families(self) -> list[tuple[Family, list[tuple[tuple[str, ...], float]]]]:
        """The figures grouped by family, in the order of :data:`~runsecrets.metrics.FAMILIES`
        (empty ones left out)."""
        grouped: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for name, values, value in self.samples():
            grouped.setdefault(name, []).append((values, value))
        return [(family, grouped[family.name]) for family in FAMILIES if family.name in grouped]

    # -------------------------------------------------------------- prometheus_client's side
    def collect(self) -> Iterator[Any]:
        """The figures as ``prometheus_client`` metric families (its collector protocol)."""
        from ._prometheus import metric_families

        return iter(metric_families(self.families()))

    def describe(self) -> Iterator[Any]:
        """Every family, without samples: lets a registry refuse a second exporter of them."""
        from ._prometheus import metric_families

        return iter(metric_families([(family, []) for family in FAMILIES]))

    # ---------------------------------------------------------------------------- internals
    def _read(
        self,
        found: dict[tuple[str, tuple[str, ...]], float],
        kind: str,
        reader: Any,
        *args: Any,
    ) -> None:
        try:
            for name, values, value in reader(*args):
                found[(name, values)] = value  # a count stays an int (OpenTelemetry shows it so)
        except Exception as e:  # noqa: BLE001  one broken object must not fail the whole scrape
            logger.error("metrics: reading a %s failed (%s); left out", kind, type(e).__name__)

    def _add_store(
        self,
        store: SecretStore,
        name: str | None,
        certificates: Iterable[str] | Literal["auto"] | None,
    ) -> str:
        label = default_store_label(store) if name is None else name
        existing = self._store_entry(store)
        if existing is not None and name is not None and existing.label != label:
            raise ValueError(f"this store is already added as {existing.label!r}")
        if existing is None and any(entry.label == label for entry in self._stores):
            raise ValueError(f"another store is labelled {label!r}: give this one a name=")
        if existing is None:
            existing = _StoreEntry(store, label, None)
            self._stores = (*self._stores, existing)
        if certificates is not None and existing.certificates is None:
            from ._certificates import CertificateDates

            names = None if certificates == "auto" else list(certificates)
            existing.certificates = CertificateDates(store, names)
        return existing.label

    def _add_consumer(self, obj: object, kind: str, name: str | None) -> str:
        store = getattr(obj, "store", None)
        if store is not None and self._store_entry(store) is None:
            self._add_store(store, None, None)
        own = default_name(kind, obj) if name is None else name
        store_label = self._store_label(store)
        for entry in self._consumers:
            other = entry.ref()
            if other is obj:
                if entry.name == own:
                    return own
                raise ValueError(f"this {kind} object is already added as {entry.name!r}")
            same_store = self._store_label(getattr(other, "store", None)) == store_label
            if entry.kind == kind and entry.name == own and same_store:
                raise ValueError(
                    f"two {kind} objects of store {store_label!r} would both be labelled "
                    f"{own!r}: give one a name="
                )
        self._consumers = (*self._consumers, _ConsumerEntry(obj, kind, own))
        return own

    def _store_entry(self, store: object) -> _StoreEntry | None:
        return next((e for e in self._stores if e.ref() is store), None)

    def _store_label(self, store: object) -> str:
        entry = None if store is None else self._store_entry(store)
        return "" if entry is None else entry.label

    def _prune(self) -> None:
        self._stores = tuple(e for e in self._stores if e.ref() is not None)
        self._consumers = tuple(e for e in self._consumers if e.ref() is not None)

    def __repr__(self) -> str:
        return f"Metrics(stores={len(self._stores)}, consumers={len(self._consumers)})"
