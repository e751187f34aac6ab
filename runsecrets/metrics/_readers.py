"""What each kind of object reads into samples: public state only, in memory, never the disk.

A sample is ``(family name, label values, value)``, the label values in the order of the
family's :attr:`~._families.Family.labels`. Each reader takes the object's public attributes
as they are at this moment (a store's :attr:`~runsecrets.SecretStore.status`, a context's
``rotations``...): nothing here counts anything itself, so a figure can never drift from the
object's own.

The kinds are told apart by their public attributes (a TLS context is an ``ssl.SSLContext``
with ``rotations`` and ``material``), so that reading a kind never imports the module that
defines it (cryptography for TLS, pydantic for settings).
"""

from __future__ import annotations

import os
import time

from ..reload.store import SecretStore
from ._actions import ActionStats
from ._families import WATCHER_MODES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from ._certificates import CertificateDates

    Sample = tuple[str, tuple[str, ...], float]

STORE = "store"
TLS = "tls"
SETTINGS = "settings"
CREDENTIALS = "credentials"
ACTIONS = "actions"

# Counters of StoreStatus.counters and the family each one feeds.
_STORE_COUNTERS = (
    ("reads", "runsecrets_reads_total"),
    ("publishes", "runsecrets_publishes_total"),
    ("refused", "runsecrets_refusals_total"),
    ("incomplete", "runsecrets_incomplete_reads_total"),
    ("read_errors", "runsecrets_read_errors_total"),
    ("subscriber_errors", "runsecrets_subscriber_errors_total"),
)


def kind_of(obj: object) -> str:
    """Which kind of object ``obj`` is, by its public attributes.

    Raises:
        TypeError: It is none of the kinds metrics can read.
    """
    import ssl

    if isinstance(obj, SecretStore):
        return STORE
    if isinstance(obj, ActionStats):
        return ACTIONS
    if isinstance(obj, ssl.SSLContext) and _has(obj, "rotations", "refusals", "material"):
        return TLS
    if _has(obj, "current", "reloads", "failures", "last_error"):
        return SETTINGS
    if _has(obj, "connects", "refusals", "failures", "changes", "store"):
        return CREDENTIALS
    raise TypeError(
        f"cannot read metrics from a {type(obj).__name__}: give a SecretStore, a "
        "RotatingServerContext, LiveSettings or a CredentialFollower"
    )


def _has(obj: object, *names: str) -> bool:
    return all(hasattr(obj, name) for name in names)


def default_store_label(store: SecretStore) -> str:
    """A store's label when none is given: its directories, joined by ``os.pathsep``."""
    return os.pathsep.join(store.dirs)


def default_name(kind: str, obj: Any) -> str:
    """A consumer's own label when none is given.

    A TLS context: its certificate file's name (``tls.crt`` for ``/run/secrets/tls.crt``: a
    secret's name in a secrets directory); settings: the model's class name; credentials:
    what they are for (``sqlalchemy postgresql``...); the sidecar's actions: none.
    """
    if kind == TLS:
        files = obj.material.files
        return os.path.basename(files[0]) if files else ""
    if kind == SETTINGS:
        return type(obj.current).__name__
    if kind == CREDENTIALS:
        return str(obj.label)
    return ""


def read_store(
    store: SecretStore, label: str, certificates: CertificateDates | None
) -> Iterator[Sample]:
    """A store's samples: its status, the snapshot's size, its certificates' dates."""
    status = store.status
    snapshot = store.snapshot
    labels = (label,)
    yield "runsecrets_secrets", labels, len(snapshot)
    yield "runsecrets_snapshot_version", labels, snapshot.version
    yield "runsecrets_healthy", labels, float(status.healthy)
    for mode in WATCHER_MODES:
        yield "runsecrets_watcher_mode", (label, mode), float(status.mode == mode)
    counters = status.counters
    for key, family in _STORE_COUNTERS:
        yield family, labels, counters.get(key, 0)
    yield "runsecrets_last_publish_timestamp_seconds", labels, status.last_publish_at
    yield "runsecrets_last_error_timestamp_seconds", labels, status.last_error_at or 0.0
    since = status.held_back_since
    yield "runsecrets_held_back", labels, float(since is not None)
    held = 0.0 if since is None else max(0.0, time.time() - since)
    yield "runsecrets_held_back_seconds", labels, held
    yield "runsecrets_kept_secrets", labels, len(status.kept)
    yield "runsecrets_skipped_files", labels, len(status.skipped)
    if certificates is not None:
        for secret, not_after in certificates.dates():
            yield "runsecrets_certificate_not_after_timestamp_seconds", (label, secret), not_after


def read_tls(context: Any, store: str, secret: str) -> Iterator[Sample]:
    """A TLS context's rotations, refusals, verdict and the served certificate's end date."""
    labels = (store, secret)
    yield "runsecrets_tls_rotations_total", labels, context.rotations
    yield "runsecrets_tls_refusals_total", labels, context.refusals
    yield "runsecrets_tls_healthy", labels, float(context.last_error is None)
    not_after = context.material.not_after.timestamp()
    yield "runsecrets_certificate_not_after_timestamp_seconds", labels, not_after


def read_settings(settings: Any, store: str, name: str) -> Iterator[Sample]:
    """Live settings' reloads, refusals and verdict."""
    labels = (store, name)
    yield "runsecrets_settings_reloads_total", labels, settings.reloads
    yield "runsecrets_settings_refusals_total", labels, settings.failures
    yield "runsecrets_settings_healthy", labels, float(settings.last_error is None)


def read_credentials(follower: Any, store: str, name: str) -> Iterator[Sample]:
    """A credential follower's connects, refused logins, failures and rotations seen."""
    labels = (store, name)
    yield "runsecrets_credentials_connects_total", labels, follower.connects
    yield "runsecrets_credentials_refusals_total", labels, follower.refusals
    yield "runsecrets_credentials_failures_total", labels, follower.failures
    yield "runsecrets_credentials_changes_total", labels, follower.changes


def read_actions(actions: ActionStats, store: str, name: str) -> Iterator[Sample]:
    """The sidecar's actions: run, failed, when the last one ended."""
    labels = (store,)
    yield "runsecrets_watch_actions_total", labels, actions.runs
    yield "runsecrets_watch_action_failures_total", labels, actions.failures
    yield "runsecrets_watch_last_action_timestamp_seconds", labels, actions.last_action_at or 0.0


#: The reader of each consumer kind: ``(object, store label, own label) -> samples``.
CONSUMER_READERS: dict[str, Callable[[Any, str, str], Iterator[Sample]]] = {
    TLS: read_tls,
    SETTINGS: read_settings,
    CREDENTIALS: read_credentials,
    ACTIONS: read_actions,
}
