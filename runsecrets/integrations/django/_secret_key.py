"""``SECRET_KEY`` that follows rotation, the previous key kept in ``SECRET_KEY_FALLBACKS``.

Django reads ``settings.SECRET_KEY`` and ``settings.SECRET_KEY_FALLBACKS`` (4.1+) each time it
signs or checks a value (sessions, password reset tokens, ``signing``), so replacing them at run
time is enough: values signed with the previous key stay valid while it is a fallback. Start it
once the settings are loaded, in ``wsgi.py``/``asgi.py`` or an ``AppConfig.ready()``::

    from runsecrets.integrations.django import follow_secret_key

    application = get_wsgi_application()
    follow_secret_key("django_secret_key")
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ...exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

    from ..._types import DirsArg
    from ...reload.snapshot import Changes, Snapshot
    from ...reload.store import SecretStore

logger = logging.getLogger("runsecrets.django")


class SecretKeyFollower:
    """Keeps ``settings.SECRET_KEY`` on the current value of one secret.

    Made by :func:`follow_secret_key`. On each rotation the key in use moves to the front of
    ``SECRET_KEY_FALLBACKS`` (which keeps at most ``fallbacks`` keys) before the new key
    replaces it: at no moment is a value signed with either key refused. A secret that is
    missing, unreadable or empty keeps the key in use (logged, names only).

    Attributes:
        rotations: How many times the key was replaced.
    """

    def __init__(
        self,
        secret: str = "django_secret_key",  # noqa: S107  (a secret name)
        *,
        fallbacks: int = 1,
        store: SecretStore | None = None,
        dirs: DirsArg | None = None,
        prefix: str = "",
    ) -> None:
        if not isinstance(fallbacks, int) or fallbacks < 0:
            raise ValueError(f"fallbacks must be an integer >= 0, not {fallbacks!r}")
        if store is not None and (dirs is not None or prefix):
            raise ValueError("give a store, or dirs and prefix for a new one, not both")
        self.secret = secret
        self.fallbacks = fallbacks
        self.rotations = 0
        self._lock = threading.Lock()
        self._owns_store = store is None
        if store is None:
            from ...reload.store import SecretStore

            store = SecretStore(dirs, names=[secret], prefix=prefix).start()
        self.store = store
        self._apply(store.snapshot)
        self._unsubscribe: object = store.subscribe(self._changed)

    def _changed(self, changes: Changes) -> None:
        if self.secret in changes:
            self._apply(changes.snapshot)

    def _apply(self, snapshot: Snapshot) -> None:
        try:
            key = snapshot.get(self.secret)
        except RunSecretsError as e:
            logger.warning("SECRET_KEY kept: %s", e.message)
            return
        if not key:
            logger.warning("SECRET_KEY kept: secret %r is empty", self.secret)
            return
        with self._lock:
            try:
                current = settings.SECRET_KEY
            except ImproperlyConfigured:
                current = ""  # not set yet: nothing to keep as a fallback
            if key == current:
                return
            if self.fallbacks:
                kept = [k for k in (current, *settings.SECRET_KEY_FALLBACKS) if k]
                # Fallbacks first: a value signed with the key still in use stays valid.
                settings.SECRET_KEY_FALLBACKS = [k for k in kept if k != key][: self.fallbacks]
            settings.SECRET_KEY = key
            self.rotations += 1
        logger.info(
            "SECRET_KEY rotated from secret %r; %d previous key(s) kept as fallbacks",
            self.secret,
            len(settings.SECRET_KEY_FALLBACKS) if self.fallbacks else 0,
        )

    @property
    def attached(self) -> bool:
        """Whether it still follows the secret."""
        return self._unsubscribe is not None

    def detach(self) -> None:
        """Stop following (a store made here is closed); the settings keep their values."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if callable(unsubscribe):
            unsubscribe()
            if self._owns_store:
                self.store.close()

    def __enter__(self) -> SecretKeyFollower:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.detach()

    def __repr__(self) -> str:
        return f"SecretKeyFollower({self.secret!r}, rotations={self.rotations})"


def follow_secret_key(
    secret: str = "django_secret_key",  # noqa: S107  (a secret name)
    *,
    fallbacks: int = 1,
    store: SecretStore | None = None,
    dirs: DirsArg | None = None,
    prefix: str = "",
) -> SecretKeyFollower:
    """Keep ``settings.SECRET_KEY`` on the current value of ``secret`` (Django 4.1+).

    Args:
        secret: The secret holding the key.
        fallbacks: How many previous keys ``SECRET_KEY_FALLBACKS`` keeps (0: none).
        store: Read this store (you start and close it); by default one is made and started.
        dirs: Secrets directories for the store made here.
        prefix: Prefix of the environment variables, for the store made here.

    Returns:
        The handle; ``detach()`` stops following.
    """
    return SecretKeyFollower(secret, fallbacks=fallbacks, store=store, dirs=dirs, prefix=prefix)
