"""The Flask extension object: its options, set-up per app, status views and close."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, jsonify

from ..._scrub import scrub_errors
from ...reload.store import SecretStore
from ._config import FALLBACKS, app_fallbacks, refusal
from ._keys import RetiredKeys, max_age_seconds
from ._state import AppState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from flask import Response

    from ..._types import DirsArg


logger = logging.getLogger("runsecrets.flask")

EXTENSION_KEY = "runsecrets"


class RunSecrets:
    """The Flask extension: ``RunSecrets(app)`` or ``RunSecrets(...).init_app(app)``.

    Args:
        app: The application to set up now (else call :meth:`init_app` later, once per app).
        config: Config key to secret name, such as ``{"SECRET_KEY": "flask_secret_key"}``.
            These are required unless listed in ``optional``, and must be valid text.
            ``SECRET_KEY_FALLBACKS`` takes one key per line.
        prefix: Also map every secret whose name starts with this prefix, to its name without
            the prefix, upper-cased (``app_api_token`` fills ``API_TOKEN``). Explicit ``config``
            entries win. Such a secret that is not valid text, or that would fill one of Flask's
            keys that are not text, is skipped (and logged). Other files in the directories are
            not read by the store this extension creates.
        optional: Config keys of ``config`` that may be missing (they are then left unset).
        store: Use this store (you start and close it) instead of one per app.
        dirs: Secrets directories for the store this extension creates.
        watch: Start the store's watcher so rotations reach ``app.config``.
        secret_key_fallbacks: How many retired ``SECRET_KEY`` values to keep in
            ``SECRET_KEY_FALLBACKS`` after a rotation (0: none), before the app's own list.
        secret_key_fallback_max_age: How long a retired key stays valid (seconds or a
            ``timedelta``; default: until pushed out by ``secret_key_fallbacks``). Checked
            before each request, ahead of Flask opening the session.
        health_path: Register a liveness view at this path: 200 ``{"status": "ok", "version":
            N}`` while the app serves (a file problem is never a reason to restart it: the
            last good values stay in use).
        status_path: Register the detail view (:meth:`status`) at this path: 200, or 503 when
            the store has a problem. It names secrets, config keys, paths and sizes: opt-in,
            for a protected route.
        store_options: More keyword arguments for :class:`~runsecrets.SecretStore`.

    Raises:
        ValueError: ``config`` names a key of Flask's that cannot take text.
        SecretNotFoundError: At :meth:`init_app`, a required secret is missing (the message
            lists every place searched).
        SecretDecodeError: At :meth:`init_app`, a secret named in ``config`` is not text.
        SecretValidationError: At :meth:`init_app`, a secret's text is not right for its key
            (an empty ``SECRET_KEY``).
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
        secret_key_fallback_max_age: float | timedelta | None = None,
        health_path: str | None = None,
        status_path: str | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not config and prefix is None:
            raise ValueError("give config={KEY: secret_name}, a prefix, or both")
        if secret_key_fallbacks < 0:
            raise ValueError("secret_key_fallbacks must not be negative")
        self.config = dict(config or {})
        for key in self.config:
            reason = refusal(key, Flask.default_config)
            if reason is not None:
                raise ValueError(f"config key {key!r} cannot come from a secret: {reason}")
        self.prefix = prefix
        self.optional = frozenset(optional)
        unknown = self.optional - self.config.keys()
        if unknown:
            raise ValueError(f"optional keys {sorted(unknown)} are not in config")
        self._store = store
        self._dirs = dirs
        self._watch = watch
        self._fallbacks = secret_key_fallbacks
        self._max_age = max_age_seconds(secret_key_fallback_max_age)
        self._health_path = health_path
        self._status_path = status_path
        self._store_options = dict(store_options or {})
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------------- set-up
    @scrub_errors  # its frame holds the values read so far
    def init_app(self, app: Flask) -> None:
        """Fill ``app.config`` from the secrets and follow their rotation.

        With a store that is already watching, nothing published meanwhile is lost: the
        extension subscribes first, then applies the newest snapshot, and ignores deliveries
        of snapshots no newer than the one applied.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("RunSecrets is already set up on this app")
        self._check_flask(app)
        owns = self._store is None
        store = self._store if self._store is not None else self._new_store()
        state = AppState(
            app,
            store,
            owns_store=owns,
            config=self.config,
            optional=self.optional,
            prefix=self.prefix,
            keys=RetiredKeys(self._fallbacks, self._max_age),
        )
        try:
            state.keys.own = app_fallbacks(app.config.get(FALLBACKS))
            state.unsubscribe = store.subscribe(state.on_change)
            with state.lock:
                applied = state.apply_first(store.snapshot)
            if owns and self._watch:
                store.start()
        except BaseException:
            if state.unsubscribe is not None:
                state.unsubscribe()
            if owns:
                store.close()
            raise
        app.extensions[EXTENSION_KEY] = state
        if self._max_age is not None:
            state.install_expiry()
        self._add_views(app)
        logger.info("app.config filled from secrets: %s", ", ".join(sorted(applied)) or "(none)")

    def _check_flask(self, app: Flask) -> None:
        if FALLBACKS in type(app).default_config:
            return
        if self._fallbacks or FALLBACKS in self.config:
            raise RuntimeError(
                "this Flask does not read SECRET_KEY_FALLBACKS (Flask 3.1+ does), so sessions "
                "signed with a rotated SECRET_KEY would end at once; upgrade Flask, or pass "
                "secret_key_fallbacks=0 to accept that"
            )

    def _add_views(self, app: Flask) -> None:
        if self._health_path is not None:
            app.add_url_rule(
                self._health_path,
                endpoint="runsecrets_health",
                view_func=lambda: self._health_view(app),
            )
        if self._status_path is not None:
            app.add_url_rule(
                self._status_path,
                endpoint="runsecrets_status",
                view_func=lambda: self._status_view(app),
            )

    def _new_store(self) -> SecretStore:
        options = dict(self._store_options)
        if self.prefix is None:
            return SecretStore(self._dirs, names=sorted(set(self.config.values())), **options)
        # Only the files this app uses are read: an unrelated file that is too large or
        # unreadable is none of this app's business.
        prefix, explicit, extra = (
            self.prefix,
            frozenset(self.config.values()),
            options.pop("ignore", None),
        )

        def ignore(name: str) -> bool:
            unrelated = not name.startswith(prefix) and name not in explicit
            return unrelated or (extra is not None and bool(extra(name)))

        return SecretStore(self._dirs, ignore=ignore, **options)

    # ------------------------------------------------------------------------- status
    def store(self, app: Flask) -> SecretStore:
        """The store that feeds ``app``."""
        return self._state(app).store

    def status(self, app: Flask) -> dict[str, Any]:
        """The detail: store state, config keys and the names left out, never a value.

        It names secrets, directories, and in ``problem`` the files and sizes involved: serve
        it on a protected route only.
        """
        state = self._state(app)
        store_status = state.store.status
        missing = state.missing()
        result = store_status.as_dict()
        result["healthy"] = store_status.healthy and not missing
        result["config_keys"] = {key: state.sources[key] for key in sorted(state.sources)}
        result["missing"] = missing
        result["skipped_not_text"] = list(state.skipped)
        result["refused_keys"] = list(state.refused)
        result["retired_keys"] = len(state.keys.retired)
        return result

    def close(self, app: Flask) -> None:
        """Stop following rotation for ``app`` (and close the store if this extension made it)."""
        state = app.extensions.pop(EXTENSION_KEY, None)
        if isinstance(state, AppState):
            state.close()

    def _state(self, app: Flask) -> AppState:
        state = app.extensions.get(EXTENSION_KEY)
        if not isinstance(state, AppState):
            raise RuntimeError("RunSecrets.init_app(app) was not called for this app")
        return state

    def _health_view(self, app: Flask) -> tuple[Response, int]:
        state = self._state(app)
        return jsonify(status="ok", version=state.store.snapshot.version), 200

    def _status_view(self, app: Flask) -> tuple[Response, int]:
        status = self.status(app)
        return jsonify(status), 200 if status["healthy"] else 503
