"""The end dates of a store's certificate secrets, worked out when they are published.

A scrape must never read or parse a secret, so the dates are kept here, updated by a store
subscriber at each publish (for the names that changed only), and a scrape reads the kept
numbers. A secret is a certificate when it is named so (``certificates=[...]``), or, with
``certificates="auto"``, by the rule of ``runsecrets doctor``: a PEM ``CERTIFICATE`` block in
it, or a name ending in ``.crt``, ``.cer`` or ``.der``. ``cryptography`` is imported only when
there is one.
"""

from __future__ import annotations

import logging

from .._forksafe import ForkSafeLock
from ..exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .._snapshot import Changes, Snapshot
    from .._store import SecretStore

logger = logging.getLogger("runsecrets.metrics")


class CertificateDates:
    """``name -> not after`` (Unix time) for the certificate secrets of one store.

    Args:
        store: The store whose published snapshots are read.
        names: The secrets that are certificates; ``None``: those that look like one.
    """

    __slots__ = ("_dates", "_lock", "_names", "_unsubscribe")

    def __init__(self, store: SecretStore, names: Iterable[str] | None) -> None:
        self._names = None if names is None else frozenset(names)
        self._dates: dict[str, float] = {}
        self._lock = ForkSafeLock()
        self._unsubscribe: Callable[[], None] | None = store.subscribe(self._changed)
        snapshot = store.snapshot
        self._update(snapshot, snapshot.keys(), ())

    def dates(self) -> list[tuple[str, float]]:
        """``(name, not after)`` pairs in name order (a scrape reads this, nothing else)."""
        return sorted(self._dates.items())

    def close(self) -> None:
        """Stop following the store."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _changed(self, changes: Changes) -> None:
        self._update(changes.snapshot, changes.added | changes.changed, changes.removed)

    def _update(self, snapshot: Snapshot, names: Iterable[str], removed: Iterable[str]) -> None:
        with self._lock:
            dates = dict(self._dates)
            for name in removed:
                dates.pop(name, None)
            for name in names:
                if self._names is not None and name not in self._names:
                    continue
                date = self._not_after(snapshot, name)
                if date is None:
                    dates.pop(name, None)
                else:
                    dates[name] = date
            self._dates = dates  # one reference swap: a scrape sees the old or the new

    def _not_after(self, snapshot: Snapshot, name: str) -> float | None:
        data = snapshot.get_bytes(name, None) if name in snapshot else None
        if data is None:
            return None
        label = snapshot.provenance(name).path or name
        if self._names is None:
            from ..doctor._certificates import is_certificate_file

            if not is_certificate_file(label, data):
                return None
        from .._tls_parse import parse_certificates

        try:
            chain = parse_certificates(data, label)
        except RunSecretsError as e:  # our own message: names the file, never its bytes
            logger.warning("metrics: secret %r is not a certificate that parses: %s", name, e)
            return None
        return min(certificate.not_valid_after_utc.timestamp() for certificate in chain)
