"""runsecrets: consume container secrets safely.

Values come from ``FOO_FILE`` variables, ``FOO`` variables and secrets directories such as
``/run/secrets``; they are read safely, never logged, and can follow rotation. This module only
re-exports the public API; importing it loads neither pydantic, watchfiles nor cryptography.
"""

from __future__ import annotations

from ._provenance import Provenance
from ._resolve import NOT_SECRET_FILE_VARIABLES, WRITTEN_FILE_WORDS, is_secret_file_variable
from ._secret import Secret
from ._secrets import MISSING, Secrets, get, get_bytes
from .exceptions import (
    CertificateExpiryWarning,
    CredentialsError,
    InsecurePermissionsWarning,
    InvalidSecretNameError,
    InvalidTLSMaterialError,
    RunSecretsError,
    RunSecretsWarning,
    SecretConflictError,
    SecretDecodeError,
    SecretNotFoundError,
    SecretReadError,
    SecretsDirWarning,
    SecretTooLargeError,
    SecretValidationError,
    WatchFallbackWarning,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._snapshot import Changes, Snapshot
    from ._store import SecretStore, StoreStatus

__all__ = [
    "MISSING",
    "NOT_SECRET_FILE_VARIABLES",
    "WRITTEN_FILE_WORDS",
    "CertificateExpiryWarning",
    "Changes",
    "CredentialsError",
    "InsecurePermissionsWarning",
    "InvalidSecretNameError",
    "InvalidTLSMaterialError",
    "Provenance",
    "RunSecretsError",
    "RunSecretsWarning",
    "Secret",
    "SecretConflictError",
    "SecretDecodeError",
    "SecretNotFoundError",
    "SecretReadError",
    "SecretStore",
    "SecretTooLargeError",
    "SecretValidationError",
    "Secrets",
    "SecretsDirWarning",
    "Snapshot",
    "StoreStatus",
    "WatchFallbackWarning",
    "get",
    "get_bytes",
    "is_secret_file_variable",
]

_STORE_EXPORTS = frozenset(("Changes", "SecretStore", "Snapshot", "StoreStatus"))


def __getattr__(name: str) -> object:
    # Loaded on first use so that `import runsecrets` stays as cheap as a bare interpreter.
    if name == "__version__":
        from ._version import __version__

        return __version__
    # The store brings threads, logging and the watcher: loaded on first use only.
    if name in _STORE_EXPORTS:
        from . import _store

        value: object = getattr(_store, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runsecrets' has no attribute {name!r}")
