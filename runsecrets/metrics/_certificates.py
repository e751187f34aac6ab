"""The end dates of a store's certificate secrets, worked out when they are published.

A scrape must never read or parse a secret, so the dates are a value derived from the store
(:meth:`SecretStore.derive <runsecrets.SecretStore.derive>`): built from each snapshot the
store publishes, parsing only the secrets whose bytes changed, and a scrape reads the numbers
committed with the published snapshot. A secret is a certificate when it is named so
(``certificates=[...]``), or, with ``certificates="auto"``, by the rule of ``runsecrets
doctor``: a PEM ``CERTIFICATE`` block in it, or a name ending in ``.crt``, ``.cer`` or ``.der``.
``cryptography`` is imported only when there is one.
"""

from __future__ import annotations

import logging

from ..exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..reload.derived import Derived
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore

    #: ``name -> not after``; ``None`` for a secret that is no certificate (not tried again
    #: until its bytes change).
    Dates = Mapping[str, float | None]

logger = logging.getLogger("runsecrets.metrics")


class CertificateDates:
    """``name -> not after`` (Unix time) for the certificate secrets of one store.

    Args:
        store: The store whose published snapshots are dated.
        names: The secrets that are certificates; ``None``: those that look like one.
    """

    __slots__ = ("_derived", "_names")

    def __init__(self, store: SecretStore, names: Iterable[str] | None) -> None:
        self._names = None if names is None else frozenset(names)
        self._derived: Derived[Dates] | None = None  # during the first build
        # Ungated: a certificate that does not parse is the TLS consumers' business (and the
        # doctor's), never a reason to hold the store back.
        self._derived = store.derive(
            self._build, names=self._names, gate=False, label="metrics certificate dates"
        )

    def dates(self) -> list[tuple[str, float]]:
        """``(name, not after)`` pairs in name order (a scrape reads this, nothing else)."""
        derived = self._derived
        if derived is None or not derived.ready:
            return []
        return sorted((name, date) for name, date in derived.value.items() if date is not None)

    def close(self) -> None:
        """Stop following the store."""
        if self._derived is not None:
            self._derived.close()

    def _build(self, snapshot: Snapshot) -> Dates:
        """The dates for ``snapshot``, parsing only the secrets whose bytes changed since the
        snapshot the last dates were built from."""
        derived = self._derived
        before = derived.snapshot if derived is not None else None
        previous: Dates = derived.value if derived is not None and derived.ready else {}
        wanted = snapshot.keys() if self._names is None else sorted(self._names)
        dates: dict[str, float | None] = {}
        for name in wanted:
            data = snapshot.get_bytes(name, None) if name in snapshot else None
            if data is None:
                continue
            if before is not None and name in previous and before.get_bytes(name, None) == data:
                dates[name] = previous[name]
            else:
                dates[name] = self._not_after(snapshot, name, data)
        return dates

    def _not_after(self, snapshot: Snapshot, name: str, data: bytes) -> float | None:
        label = snapshot.provenance(name).path or name
        if self._names is None:
            from ..doctor._certificates import is_certificate_file

            if not is_certificate_file(label, data):
                return None
        from ..tls._parse import parse_certificates

        try:
            chain = parse_certificates(data, label)
        except RunSecretsError as e:  # our own message: names the file, never its bytes
            logger.warning("metrics: secret %r is not a certificate that parses: %s", name, e)
            return None
        return min(certificate.not_valid_after_utc.timestamp() for certificate in chain)
