"""runsecrets: consume container secrets safely.

Values come from ``FOO_FILE`` variables, ``FOO`` variables and secrets directories such as
``/run/secrets``; they are read safely, never logged, and can follow rotation. This module only
re-exports the public API; importing it loads neither pydantic, watchfiles nor cryptography.
"""

from __future__ import annotations

from ._lookup import NOT_SECRET_FILE_VARIABLES, WRITTEN_FILE_WORDS, is_secret_file_variable
from ._provenance import Provenance
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
    from .reload.derived import Derived
    from .reload.snapshot import Changes, Snapshot
    from .reload.status import StoreStatus
    from .reload.store import SecretStore

__all__ = [
    "MISSING",
    "NOT_SECRET_FILE_VARIABLES",
    "WRITTEN_FILE_WORDS",
    "CertificateExpiryWarning",
    "Changes",
    "CredentialsError",
    "Derived",
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

#: The store's names, by the module of ``runsecrets.reload`` that defines each.
_STORE_EXPORTS = {
    "Changes": "snapshot",
    "Derived": "derived",
    "SecretStore": "store",
    "Snapshot": "snapshot",
    "StoreStatus": "status",
}


def __getattr__(name: str) -> object:
    # Loaded on first use so that `import runsecrets` stays as cheap as a bare interpreter.
    if name == "__version__":
        from ._version import __version__

        return __version__
    # The store brings threads, logging and the watcher: loaded on first use only.
    module = _STORE_EXPORTS.get(name)
    if module is not None:
        import importlib

        value: object = getattr(importlib.import_module(f"{__name__}.reload.{module}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runsecrets' has no attribute {name!r}")
