"""Flask: fill ``app.config`` from secrets and keep it current when they rotate.

::

    from runsecrets.integrations.flask import RunSecrets

    secrets = RunSecrets(config={"SECRET_KEY": "flask_secret_key"}, prefix="app_",
                         health_path="/healthz/secrets")

    def create_app():
        app = Flask(__name__)
        secrets.init_app(app)   # app.config["SECRET_KEY"], app.config["API_TOKEN"] (app_api_token)
        return app

Each app gets a :class:`~runsecrets.SecretStore` (or the one passed in) that watches the secrets
directories. When a rotation is published, the config keys it feeds are replaced in one
``dict.update`` call: a request sees all the old values or all the new ones for the keys of that
rotation. Read ``app.config`` at request time (not once at start-up) to see new values. A new
``SECRET_KEY`` pushes the previous one into ``SECRET_KEY_FALLBACKS`` (Flask 3.1+), so sessions
signed before the rotation stay valid.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify

from .._store import SecretStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    from flask import Response

    from .._snapshot import Changes, Snapshot
    from .._types import DirsArg

__all__ = ["RunSecrets"]

logger = logging.getLogger("runsecrets.flask")

EXTENSION_KEY = "runsecrets"


def config_key_for(name: str, prefix: str) -> str:
    """The config key a prefixed secret fills: ``app_api-token`` with ``app_`` is ``API_TOKEN``."""
    return name[len(prefix) :].upper().replace("-", "_").replace(".", "_")


class _AppState:
    """What one app's extension holds: its store, its key mapping and its unsubscriber."""

    __slots__ = ("app", "owns_store", "sources", "store", "unsubscribe")

    def __init__(self, app: Flask, store: SecretStore, owns_store: bool) -> None:
        self.app = app
        self.store = store
        self.owns_store = owns_store
        self.sources: dict[str, str] = {}  # config key -> secret name, as last applied
        self.unsubscribe: Callable[[], None] | None = None


class RunSecrets:
    """The Flask extension: ``RunSecrets(app)`` or ``RunSecrets(...).init_app(app)``.

    Args:
        app: The application to set up now (else call :meth:`init_app` later, once per app).
        config: Config key to secret name, such as ``{"SECRET_KEY": "flask_secret_key"}``.
            These are required unless listed in ``optional``.
        prefix: Also map every secret whose name starts with this prefix, to its name without
            the prefix, upper-cased (``app_api_token`` fills ``API_TOKEN``). Explicit ``config``
            entries win.
        optional: Config keys of ``config`` that may be missing (they are then left unset).
        store: Use this store (you start and close it) instead of one per app.
        dirs: Secrets directories for the store this extension creates.
        watch: Start the store's watcher so rotations reach ``app.config``.
        secret_key_fallbacks: How many previous ``SECRET_KEY`` values to keep in
            ``SECRET_KEY_FALLBACKS`` after a rotation (0: none).
        health_path: Register a JSON status view at this path (200 healthy, 503 not).
        store_options: More keyword arguments for :class:`~runsecrets.SecretStore`.

    Raises:
        SecretNotFoundError: At :meth:`init_app`, a required secret is missing (the message
            lists every place searched).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        config: Mapping[str, str] | None = None,
        prefix: str | None = None,
        optional: Iterable[str] = (),
        store: SecretStore | None = None,
        dirs: DirsArg | None = None,
        watch: bool = True,
        secret_key_fallbacks: int = 1,
        health_path: str | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not config and prefix is None:
            raise ValueError("give config={KEY: secret_name}, a prefix, or both")
        if secret_key_fallbacks < 0:
            raise ValueError("secret_key_fallbacks must not be negative")
        self.config = dict(config or {})
        self.prefix = prefix
        self.optional = frozenset(optional)
        unknown = self.optional - self.config.keys()
        if unknown:
            raise ValueError(f"optional keys {sorted(unknown)} are not in config")
        self._store = store
        self._dirs = dirs
        self._watch = watch
        self._fallbacks = secret_key_fallbacks
        self._health_path = health_path
        self._store_options = dict(store_options or {})
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------------- set-up
    def init_app(self, app: Flask) -> None:
        """Fill ``app.config`` from the secrets and follow their rotation."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("RunSecrets is already set up on this app")
        owns = self._store is None
        store = self._store if self._store is not None else self._new_store()
        state = _AppState(app, store, owns)
        try:
            values = self._values(store.snapshot)
            missing = sorted(set(self.config) - self.optional - values.keys())
            if missing:
                # The store's error lists every place looked.
                store.get(self.config[missing[0]])
            app.config.update(values)
            state.sources = self._sources(store.snapshot)

            def update_app_config(changes: Changes) -> None:
                self._on_change(state, changes)

            state.unsubscribe = store.subscribe(update_app_config)
            if owns and self._watch:
                store.start()
        except BaseException:
            if owns:
                store.close()
            raise
        app.extensions[EXTENSION_KEY] = state
        if self._health_path is not None:
            app.add_url_rule(
                self._health_path,
                endpoint="runsecrets_health",
                view_func=lambda: self._health_view(app),
            )
        logger.info("app.config filled from secrets: %s", ", ".join(sorted(values)) or "(none)")

    def _new_store(self) -> SecretStore:
        names = None if self.prefix is not None else sorted(set(self.config.values()))
        return SecretStore(self._dirs, names=names, **self._store_options)

    def _sources(self, snapshot: Snapshot) -> dict[str, str]:
        sources = {}
        if self.prefix is not None:
            for name in snapshot:
                if name.startswith(self.prefix) and len(name) > len(self.prefix):
                    sources[config_key_for(name, self.prefix)] = name
        for key, name in self.config.items():
            if name in snapshot:
                sources[key] = name
        return sources

    def _values(self, snapshot: Snapshot) -> dict[str, str]:
        return {key: snapshot.get(name) for key, name in self._sources(snapshot).items()}

    # ------------------------------------------------------------------------- rotation
    def _on_change(self, state: _AppState, changes: Changes) -> None:
        snapshot = changes.snapshot
        sources = self._sources(snapshot)
        updates: dict[str, object] = {
            key: snapshot.get(name)
            for key, name in sources.items()
            if name in changes or key not in state.sources
        }
        gone = sorted(key for key in state.sources if key not in sources)
        if gone:
            # Never wipe a value that is in use: a removal is more often an operator's mistake
            # or a half-done rotation than a wish to run without the secret.
            logger.warning("secrets behind %s disappeared; keeping their last values", gone)
        if not updates:
            return
        config = state.app.config
        if self._fallbacks and "SECRET_KEY" in updates and config.get("SECRET_KEY"):
            previous = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or [])]
            updates["SECRET_KEY_FALLBACKS"] = previous[: self._fallbacks]
        # One C-level dict.update: no request thread sees half of this rotation's keys.
        config.update(updates)
        state.sources = {**state.sources, **sources}
        logger.info(
            "app.config updated from secrets (version %d): %s",
            snapshot.version,
            ", ".join(sorted(k for k in updates if k != "SECRET_KEY_FALLBACKS")),
        )

    # ------------------------------------------------------------------------- status
    def store(self, app: Flask) -> SecretStore:
        """The store that feeds ``app``."""
        return self._state(app).store

    def status(self, app: Flask) -> dict[str, Any]:
        """Health for a status endpoint: store state and config keys, never a value."""
        state = self._state(app)
        store_status = state.store.status
        missing = sorted(set(self.config) - self.optional - state.sources.keys())
        result = store_status.as_dict()
        result["healthy"] = store_status.healthy and not missing
        result["config_keys"] = {key: state.sources[key] for key in sorted(state.sources)}
        result["missing"] = missing
        return result

    def close(self, app: Flask) -> None:
        """Stop following rotation for ``app`` (and close the store if this extension made it)."""
        state = app.extensions.pop(EXTENSION_KEY, None)
        if not isinstance(state, _AppState):
            return
        if state.unsubscribe is not None:
            state.unsubscribe()
        if state.owns_store:
            state.store.close()

    def _state(self, app: Flask) -> _AppState:
        state = app.extensions.get(EXTENSION_KEY)
        if not isinstance(state, _AppState):
            raise RuntimeError("RunSecrets.init_app(app) was not called for this app")
        return state

    def _health_view(self, app: Flask) -> tuple[Response, int]:
        status = self.status(app)
        return jsonify(status), 200 if status["healthy"] else 503
