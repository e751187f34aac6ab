"""Flask: fill ``app.config`` from secrets and keep it current when they rotate.

::

    from runsecrets.integrations.flask import RunSecrets

    secrets = RunSecrets(config={"SECRET_KEY": "flask_secret_key"}, prefix="app_",
                         health_path="/healthz")

    def create_app():
        app = Flask(__name__)
        secrets.init_app(app)   # app.config["SECRET_KEY"], app.config["API_TOKEN"] (app_api_token)
        return app

Each app gets a :class:`~runsecrets.SecretStore` (or the one passed in) that watches the secrets
directories. When a rotation is published, the config keys it feeds are replaced in one
``dict.update`` call: a request sees all the old values or all the new ones for the keys of that
rotation. Read ``app.config`` at request time (not once at start-up) to see new values.

Values are typed for the key they fill: ``SECRET_KEY_FALLBACKS`` from a secret is a list, one
key per line; ``SECRET_KEY`` must not be empty; Flask's own keys that are not text (``DEBUG``,
``MAX_CONTENT_LENGTH``, ...) cannot come from a secret (``ValueError`` for one named in
``config``, skipped with a log line for one picked up by the prefix).

Key rotation needs Flask 3.1+, the first version that reads ``SECRET_KEY_FALLBACKS``: a new
``SECRET_KEY`` pushes the previous one into that list, so sessions signed before the rotation
stay valid. The list keeps the app's own fallbacks (set in ``app.config`` before
:meth:`RunSecrets.init_app`, or from a secret) after the retired keys; how many retired keys stay,
and for how long, is bounded by ``secret_key_fallbacks`` and ``secret_key_fallback_max_age``. On
an older Flask, :meth:`RunSecrets.init_app` refuses to start unless ``secret_key_fallbacks=0``
(then a rotation ends every session signed with the old key).

A secret picked up by the prefix that is not valid text (a binary keystore, say) fills no config
key: it is skipped with a log line naming it, and the app starts. A secret named in ``config``
must be text: a binary one fails :meth:`RunSecrets.init_app` with ``SecretDecodeError``.

``health_path`` is a liveness view: always 200 while the app serves, naming nothing.
``status_path`` (opt-in) is the detail view: secret names, config keys, the store's problems
(which name paths and sizes); keep it off public routes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import Flask, jsonify

from .._scrub import scrub_errors
from .._store import SecretStore
from ..exceptions import SecretDecodeError, SecretValidationError
from ._flask_config import (
    FALLBACKS,
    SECRET_KEY,
    ConfigValueError,
    app_fallbacks,
    config_value,
    fallback_list,
    refusal,
)

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


def _seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError("secret_key_fallback_max_age must be positive")
    return seconds


class _Mapping:
    """Which config key each secret of a snapshot fills, and what was left out."""

    __slots__ = ("refused", "skipped", "sources")

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}  # config key -> secret name
        self.skipped: list[str] = []  # prefixed secrets that are not text
        self.refused: list[str] = []  # prefixed secrets whose key cannot take text


class _AppState:
    """What one app's extension holds: its store, what it applied, and its retired keys."""

    __slots__ = (
        "app",
        "applied",
        "lock",
        "next_expiry",
        "own_fallbacks",
        "owns_store",
        "refused",
        "retired",
        "skipped",
        "sources",
        "store",
        "unsubscribe",
        "wsgi_app",
    )

    def __init__(self, app: Flask, store: SecretStore, owns_store: bool) -> None:
        self.app = app
        self.store = store
        self.owns_store = owns_store
        # Held while a snapshot is applied: the subscriber (watcher thread) and init_app.
        self.lock = threading.Lock()
        self.applied: Snapshot | None = None  # the snapshot app.config reflects
        self.sources: dict[str, str] = {}  # config key -> secret name, as last applied
        self.skipped: list[str] = []
        self.refused: list[str] = []
        self.own_fallbacks: list[str | bytes] = []  # the app's (or a secret's) fallback list
        self.retired: list[tuple[str | bytes, float]] = []  # (key, when), newest first
        self.next_expiry: float | None = None  # time.monotonic() of the next retired key's end
        self.unsubscribe: Callable[[], None] | None = None
        self.wsgi_app: Callable[..., Any] | None = None  # the app's own, when wrapped


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
        self._max_age = _seconds(secret_key_fallback_max_age)
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
        state = _AppState(app, store, owns)
        try:
            state.own_fallbacks = app_fallbacks(app.config.get(FALLBACKS))

            def update_app_config(changes: Changes) -> None:
                self._on_change(state, changes)

            state.unsubscribe = store.subscribe(update_app_config)
            with state.lock:
                applied = self._apply_first(state, store.snapshot)
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
            self._install_expiry(state)
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

    def _mapping(self, snapshot: Snapshot) -> _Mapping:
        """Config key to secret name, and the prefixed secrets left out."""
        mapping = _Mapping()
        if self.prefix is not None:
            errors = snapshot.errors
            for name in snapshot:
                if not name.startswith(self.prefix) or len(name) <= len(self.prefix):
                    continue
                key = config_key_for(name, self.prefix)
                if key in self.config:
                    continue  # explicit entries win
                if isinstance(errors.get(name), SecretDecodeError):
                    mapping.skipped.append(name)
                elif refusal(key, Flask.default_config) is not None:
                    mapping.refused.append(name)
                else:
                    mapping.sources[key] = name
        for key, name in self.config.items():
            if name in snapshot:
                mapping.sources[key] = name  # a binary one fails at snapshot.get, as it should
        return mapping

    def _apply_first(self, state: _AppState, snapshot: Snapshot) -> dict[str, object]:
        mapping = self._mapping(snapshot)
        missing = sorted(set(self.config) - self.optional - mapping.sources.keys())
        if missing:
            # The store's error lists every place looked.
            state.store.get(self.config[missing[0]])
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
        if FALLBACKS in values:
            state.own_fallbacks = values[FALLBACKS]  # type: ignore[assignment]
            values[FALLBACKS] = fallback_list(
                values.get(SECRET_KEY, state.app.config.get(SECRET_KEY)), (), state.own_fallbacks
            )
        _log_left_out(mapping.skipped, mapping.refused)
        state.app.config.update(values)
        state.sources = mapping.sources
        state.skipped = mapping.skipped
        state.refused = mapping.refused
        state.applied = snapshot
        return values

    # ------------------------------------------------------------------------- rotation
    def _on_change(self, state: _AppState, changes: Changes) -> None:
        with state.lock:
            applied = state.applied
            if applied is None or changes.snapshot.version <= applied.version:
                # init_app has not applied a snapshot yet (it will read one at least this new),
                # or this one is already applied.
                return
            self._apply_change(state, applied, changes.snapshot)

    def _apply_change(self, state: _AppState, applied: Snapshot, snapshot: Snapshot) -> None:
        mapping = self._mapping(snapshot)
        _log_left_out(
            [
                n
                for n in mapping.skipped
                if n not in state.skipped or _differs(applied, snapshot, n)
            ],
            [n for n in mapping.refused if n not in state.refused],
        )
        state.skipped, state.refused = mapping.skipped, mapping.refused
        updates: dict[str, object] = {}
        unfit: set[str] = set()
        for key, name in mapping.sources.items():
            if state.sources.get(key) == name and not _differs(applied, snapshot, name):
                continue
            try:
                updates[key] = config_value(key, snapshot.get(name))
            except ConfigValueError as e:
                logger.warning(
                    "secret %r cannot fill %s (%s); keeping its last value", name, key, e
                )
                unfit.add(key)
        for key in unfit:
            del mapping.sources[key]  # the key keeps its last source and value
        gone = sorted(
            key
            for key, name in state.sources.items()
            if key not in mapping.sources and name not in mapping.skipped and key not in unfit
        )
        if gone:
            # Never wipe a value that is in use: a removal is more often an operator's mistake
            # or a half-done rotation than a wish to run without the secret.
            logger.warning("secrets behind %s disappeared; keeping their last values", gone)
        state.applied = snapshot
        state.sources = {**state.sources, **mapping.sources}
        if not updates:
            return
        shown = sorted(updates)
        self._fold_fallbacks(state, updates)
        # One C-level dict.update: no request thread sees half of this rotation's keys.
        state.app.config.update(updates)
        logger.info(
            "app.config updated from secrets (version %d): %s", snapshot.version, ", ".join(shown)
        )

    def _fold_fallbacks(self, state: _AppState, updates: dict[str, object]) -> None:
        """Put the retired key, the app's own list and the bounds into ``SECRET_KEY_FALLBACKS``."""
        config = state.app.config
        if FALLBACKS in updates:
            state.own_fallbacks = updates[FALLBACKS]  # type: ignore[assignment]
        elif SECRET_KEY not in updates or not self._fallbacks:
            return
        current = updates.get(SECRET_KEY, config.get(SECRET_KEY))
        old = config.get(SECRET_KEY)
        if SECRET_KEY in updates and self._fallbacks and old and old != current:
            retired = [(old, time.monotonic())]
            retired += [(k, t) for k, t in state.retired if k != old and k != current]
            state.retired = retired[: self._fallbacks]
        self._set_expiry(state)
        updates[FALLBACKS] = fallback_list(
            current, (k for k, _ in state.retired), state.own_fallbacks
        )

    # ------------------------------------------------------------------------- retired keys' age
    def _set_expiry(self, state: _AppState) -> None:
        if self._max_age is None or not state.retired:
            state.next_expiry = None
        else:
            state.next_expiry = min(t for _, t in state.retired) + self._max_age

    def _expire(self, state: _AppState) -> None:
        """Drop the retired keys older than ``secret_key_fallback_max_age``."""
        with state.lock:
            assert self._max_age is not None
            now = time.monotonic()
            kept = [(k, t) for k, t in state.retired if now - t < self._max_age]
            if len(kept) == len(state.retired):
                return
            state.retired = kept
            self._set_expiry(state)
            config = state.app.config
            config[FALLBACKS] = fallback_list(
                config.get(SECRET_KEY), (k for k, _ in kept), state.own_fallbacks
            )
        logger.info("a retired SECRET_KEY reached its maximum age and is no longer accepted")

    def _install_expiry(self, state: _AppState) -> None:
        """Check the retired keys' age before each request, ahead of Flask opening its session.

        A WSGI wrapper rather than ``before_request``: Flask opens the session before those
        hooks run. It costs one clock read per request while a retired key is pending.
        """
        inner = state.app.wsgi_app
        state.wsgi_app = inner

        def wsgi_app(environ: Any, start_response: Any) -> Any:
            due = state.next_expiry
            if due is not None and time.monotonic() >= due:
                self._expire(state)
            return inner(environ, start_response)

        state.app.wsgi_app = wsgi_app  # type: ignore[method-assign]

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
        missing = sorted(set(self.config) - self.optional - state.sources.keys())
        result = store_status.as_dict()
        result["healthy"] = store_status.healthy and not missing
        result["config_keys"] = {key: state.sources[key] for key in sorted(state.sources)}
        result["missing"] = missing
        result["skipped_not_text"] = list(state.skipped)
        result["refused_keys"] = list(state.refused)
        result["retired_keys"] = len(state.retired)
        return result

    def close(self, app: Flask) -> None:
        """Stop following rotation for ``app`` (and close the store if this extension made it)."""
        state = app.extensions.pop(EXTENSION_KEY, None)
        if not isinstance(state, _AppState):
            return
        if state.unsubscribe is not None:
            state.unsubscribe()
        if state.wsgi_app is not None:
            app.wsgi_app = state.wsgi_app  # type: ignore[method-assign]
        if state.owns_store:
            state.store.close()

    def _state(self, app: Flask) -> _AppState:
        state = app.extensions.get(EXTENSION_KEY)
        if not isinstance(state, _AppState):
            raise RuntimeError("RunSecrets.init_app(app) was not called for this app")
        return state

    def _health_view(self, app: Flask) -> tuple[Response, int]:
        state = self._state(app)
        return jsonify(status="ok", version=state.store.snapshot.version), 200

    def _status_view(self, app: Flask) -> tuple[Response, int]:
        status = self.status(app)
        return jsonify(status), 200 if status["healthy"] else 503


def _differs(before: Snapshot, after: Snapshot, name: str) -> bool:
    old, new = before.entry(name), after.entry(name)
    return old is None or new is None or old.raw != new.raw


def _log_left_out(skipped: list[str], refused: list[str]) -> None:
    """One line per kind naming the prefixed secrets that fill no config key."""
    if skipped:
        logger.warning(
            "secrets %s are not valid UTF-8 text: skipped, no config key is set from them",
            ", ".join(sorted(skipped)),
        )
    if refused:
        logger.warning(
            "secrets %s would fill Flask keys that are not text: skipped",
            ", ".join(sorted(refused)),
        )
