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

A secret picked up by the prefix that is not valid text (a binary keystore, say) fills no config
key: it is skipped with a log line naming it, and the app starts. A secret named in ``config``
must be text: a binary one fails :meth:`RunSecrets.init_app` with ``SecretDecodeError``.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify

from .._scrub import scrub_errors
from .._store import SecretStore
from ..exceptions import SecretDecodeError

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

    __slots__ = ("app", "owns_store", "skipped", "sources", "store", "unsubscribe")

    def __init__(self, app: Flask, store: SecretStore, owns_store: bool) -> None:
        self.app = app
        self.store = store
        self.owns_store = owns_store
        self.sources: dict[str, str] = {}  # config key -> secret name, as last applied
        self.skipped: list[str] = []  # prefixed secrets that are not text, as last seen
        self.unsubscribe: Callable[[], None] | None = None


class RunSecrets:
    """The Flask extension: ``RunSecrets(app)`` or ``RunSecrets(...).init_app(app)``.

    Args:
        app: The application to set up now (else call :meth:`init_app` later, once per app).
        config: Config key to secret name, such as ``{"SECRET_KEY": "flask_secret_key"}``.
            These are required unless listed in ``optional``, and must be valid text.
        prefix: Also map every secret whose name starts with this prefix, to its name without
            the prefix, upper-cased (``app_api_token`` fills ``API_TOKEN``). Explicit ``config``
            entries win. Such a secret that is not valid text is skipped (and logged).
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
        SecretDecodeError: At :meth:`init_app`, a secret named in ``config`` is not text.
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
    @scrub_errors  # its frame holds the values read so far
    def init_app(self, app: Flask) -> None:
        """Fill ``app.config`` from the secrets and follow their rotation."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("RunSecrets is already set up on this app")
        owns = self._store is None
        store = self._store if self._store is not None else self._new_store()
        state = _AppState(app, store, owns)
        try:
            snapshot = store.snapshot
            sources, skipped = self._mapping(snapshot)
            values = {key: snapshot.get(name) for key, name in sources.items()}
            missing = sorted(set(self.config) - self.optional - values.keys())
            if missing:
                # The store's error lists every place looked.
                store.get(self.config[missing[0]])
            _log_skipped(skipped)
            app.config.update(values)
            state.sources = sources
            state.skipped = skipped

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

    def _mapping(self, snapshot: Snapshot) -> tuple[dict[str, str], list[str]]:
        """Config key to secret name, and the prefixed secrets skipped as not text."""
        sources = {}
        skipped = []
        if self.prefix is not None:
            errors = snapshot.errors
            for name in snapshot:
                if not name.startswith(self.prefix) or len(name) <= len(self.prefix):
                    continue
                key = config_key_for(name, self.prefix)
                if key in self.config:
                    continue  # explicit entries win
                if isinstance(errors.get(name), SecretDecodeError):
                    skipped.append(name)
                    continue
                sources[key] = name
        for key, name in self.config.items():
            if name in snapshot:
                sources[key] = name  # a binary one fails at snapshot.get, as it should
        return sources, skipped

    # ------------------------------------------------------------------------- rotation
    def _on_change(self, state: _AppState, changes: Changes) -> None:
        snapshot = changes.snapshot
        sources, skipped = self._mapping(snapshot)
        _log_skipped([name for name in skipped if name in changes or name not in state.skipped])
        state.skipped = skipped
        updates: dict[str, object] = {
            key: snapshot.get(name)
            for key, name in sources.items()
            if name in changes or key not in state.sources
        }
        gone = sorted(
            key for key in state.sources if key not in sources and state.sources[key] not in skipped
        )
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
        result["skipped_not_text"] = list(state.skipped)
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


def _log_skipped(names: list[str]) -> None:
    """One line naming the prefixed secrets that fill no config key because they are not text."""
    if names:
        logger.warning(
            "secrets %s are not valid UTF-8 text: skipped, no config key is set from them",
            ", ".join(sorted(names)),
        )
