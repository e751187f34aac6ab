"""One app's part of the extension: ``app.config`` filled from a store and kept current.

The first fill raises for a required secret that is missing or unfit; a rotation replaces the
keys it feeds in one ``dict.update`` and never wipes a value in use (a key whose secret
disappeared, or whose new text is unfit, keeps its last value).
"""

from __future__ import annotations

import logging
import threading
import time

from ...exceptions import SecretValidationError
from ._config import ConfigValueError, config_value
from ._mapping import differs, log_left_out, map_secrets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from flask import Flask

    from ...reload.snapshot import Changes, Snapshot
    from ...reload.store import SecretStore
    from ._keys import RetiredKeys

logger = logging.getLogger("runsecrets.flask")


class AppState:
    """What the extension holds for one app: its store, what it applied, its retired keys.

    Args:
        app: The application.
        store: The store that feeds it.
        owns_store: Whether the extension made the store (and so closes it).
        config: Config key to secret name (the extension's ``config``).
        optional: The keys of ``config`` that may be missing.
        prefix: The prefix of the secrets mapped by name, or ``None``.
        keys: The app's retired ``SECRET_KEY`` values and own fallback list.
    """

    __slots__ = (
        "_config",
        "_optional",
        "_prefix",
        "app",
        "applied",
        "keys",
        "lock",
        "owns_store",
        "refused",
        "skipped",
        "sources",
        "store",
        "unsubscribe",
        "wsgi_app",
    )

    def __init__(
        self,
        app: Flask,
        store: SecretStore,
        *,
        owns_store: bool,
        config: Mapping[str, str],
        optional: frozenset[str],
        prefix: str | None,
        keys: RetiredKeys,
    ) -> None:
        self.app = app
        self.store = store
        self.owns_store = owns_store
        self._config = config
        self._optional = optional
        self._prefix = prefix
        self.keys = keys
        # Held while a snapshot is applied: the subscriber (watcher thread) and init_app.
        self.lock = threading.Lock()
        self.applied: Snapshot | None = None  # the snapshot app.config reflects
        self.sources: dict[str, str] = {}  # config key -> secret name, as last applied
        self.skipped: list[str] = []
        self.refused: list[str] = []
        self.unsubscribe: Callable[[], None] | None = None
        self.wsgi_app: Callable[..., Any] | None = None  # the app's own, when wrapped

    def missing(self, sources: Mapping[str, str] | None = None) -> list[str]:
        """The required config keys no secret fills (in ``sources``; default: as applied)."""
        filled = self.sources if sources is None else sources
        return sorted(set(self._config) - self._optional - filled.keys())

    # ------------------------------------------------------------------------- first fill
    def apply_first(self, snapshot: Snapshot) -> dict[str, object]:
        """Fill ``app.config`` from ``snapshot`` (with :attr:`lock` held); the values set.

        Raises:
            SecretNotFoundError: A required secret is missing (every place looked is listed).
            SecretDecodeError: A secret named in ``config`` is not text.
            SecretValidationError: A secret's text is not right for its key.
        """
        mapping = map_secrets(snapshot, self._config, self._prefix)
        missing = self.missing(mapping.sources)
        if missing:
            # The store's error lists every place looked.
            self.store.get(self._config[missing[0]])
        values: dict[str, object] = {}
        for key, name in mapping.sources.items():
            try:
                values[key] = config_value(key, snapshot.get(name))
            except ConfigValueError as e:
                path = snapshot.provenance(name).path
                raise SecretValidationError(
                    f"secret {name!r} cannot fill {key}: {e}",
                    validator="flask",
                    name=name,
                    path=path,
                ) from None
        self.keys.first(values, self.app.config)
        log_left_out(mapping.skipped, mapping.refused)
        self.app.config.update(values)
        self.sources = mapping.sources
        self.skipped = mapping.skipped
        self.refused = mapping.refused
        self.applied = snapshot
        return values

    # ------------------------------------------------------------------------- rotation
    def on_change(self, changes: Changes) -> None:
        """The store's subscriber: apply a newer snapshot than the one applied."""
        with self.lock:
            applied = self.applied
            if applied is None or changes.snapshot.version <= applied.version:
                # init_app has not applied a snapshot yet (it will read one at least this new),
                # or this one is already applied.
                return
            self._apply_change(applied, changes.snapshot)

    def _apply_change(self, applied: Snapshot, snapshot: Snapshot) -> None:
        mapping = map_secrets(snapshot, self._config, self._prefix)
        log_left_out(
            [n for n in mapping.skipped if n not in self.skipped or differs(applied, snapshot, n)],
            [n for n in mapping.refused if n not in self.refused],
        )
        self.skipped, self.refused = mapping.skipped, mapping.refused
        updates, unfit = self._updates(applied, snapshot, mapping.sources)
        for key in unfit:
            del mapping.sources[key]  # the key keeps its last source and value
        gone = sorted(
            key
            for key, name in self.sources.items()
            if key not in mapping.sources and name not in mapping.skipped and key not in unfit
        )
        if gone:
            # Never wipe a value that is in use: a removal is more often an operator's mistake
            # or a half-done rotation than a wish to run without the secret.
            logger.warning("secrets behind %s disappeared; keeping their last values", gone)
        self.applied = snapshot
        self.sources = {**self.sources, **mapping.sources}
        if not updates:
            return
        shown = sorted(updates)
        self.keys.fold(updates, self.app.config)
        # One C-level dict.update: no request thread sees half of this rotation's keys.
        self.app.config.update(updates)
        logger.info(
            "app.config updated from secrets (version %d): %s", snapshot.version, ", ".join(shown)
        )

    def _updates(
        self, applied: Snapshot, snapshot: Snapshot, sources: Mapping[str, str]
    ) -> tuple[dict[str, object], set[str]]:
        """The new values of the keys whose secret changed, and the keys whose text is unfit."""
        updates: dict[str, object] = {}
        unfit: set[str] = set()
        for key, name in sources.items():
            if self.sources.get(key) == name and not differs(applied, snapshot, name):
                continue
            try:
                updates[key] = config_value(key, snapshot.get(name))
            except ConfigValueError as e:
                logger.warning(
                    "secret %r cannot fill %s (%s); keeping its last value", name, key, e
                )
                unfit.add(key)
        return updates, unfit

    # ------------------------------------------------------------------------- retired keys' age
    def install_expiry(self) -> None:
        """Check the retired keys' age before each request, ahead of Flask opening its session.

        A WSGI wrapper rather than ``before_request``: Flask opens the session before those
        hooks run. It costs one clock read per request while a retired key is pending.
        """
        inner = self.app.wsgi_app
        self.wsgi_app = inner

        def wsgi_app(environ: Any, start_response: Any) -> Any:
            due = self.keys.next_expiry
            if due is not None and time.monotonic() >= due:
                self._expire()
            return inner(environ, start_response)

        self.app.wsgi_app = wsgi_app  # type: ignore[method-assign]

    def _expire(self) -> None:
        with self.lock:
            expired = self.keys.expire(self.app.config)
        if expired:
            logger.info("a retired SECRET_KEY reached its maximum age and is no longer accepted")

    # ------------------------------------------------------------------------- end
    def close(self) -> None:
        """Stop following the store; give the app its own WSGI callable back."""
        if self.unsubscribe is not None:
            self.unsubscribe()
        if self.wsgi_app is not None:
            self.app.wsgi_app = self.wsgi_app  # type: ignore[method-assign]
        if self.owns_store:
            self.store.close()
