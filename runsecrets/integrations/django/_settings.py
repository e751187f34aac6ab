"""``secret()`` for ``settings.py``: a missing secret is Django's ``ImproperlyConfigured``."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from ..._secrets import MISSING, Secrets, _Missing
from ...exceptions import RunSecretsError, SecretNotFoundError
from ._values import SecretBytes, SecretText

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TypeVar

    from ..._types import DirsArg

    _T = TypeVar("_T")


def secret(
    name: str,
    default: _T | _Missing = MISSING,
    *,
    dirs: DirsArg | None = None,
    prefix: str = "",
    environ: Mapping[str, str] | None = None,
) -> str | _T:
    """Read one secret as text for ``settings.py``.

    The value is a :class:`SecretText`: a ``str`` whose ``repr`` hides it, so that Django's
    error reports (which hide settings by name only, and show frame locals) never show it,
    whatever the setting is called. A default is returned as given.

    The lookup order is :class:`runsecrets.Secrets`'s: ``NAME_FILE``, ``NAME``, then a file
    ``name`` in the secrets directories.

    Args:
        name: The secret's name, such as ``"db_password"``.
        default: Returned when no source holds it (errors such as an unreadable file are still
            raised).
        dirs: Secrets directories (default ``RUNSECRETS_DIR``, else ``/run/secrets``).
        prefix: Prefix of the environment variables (``DJANGO_`` reads ``DJANGO_DB_PASSWORD``).
        environ: The environment (default ``os.environ``).

    Raises:
        ImproperlyConfigured: Not found (the message lists every place searched), unreadable,
            or set twice; the runsecrets error is its ``__cause__``.
    """
    try:
        value = Secrets(dirs, prefix=prefix, environ=environ).get(name, default)
    except RunSecretsError as e:
        raise _improperly_configured(e) from e
    if value is default or not isinstance(value, str):
        return value  # the caller's default, as given
    return SecretText(value, name)


def secret_bytes(
    name: str,
    default: _T | _Missing = MISSING,
    *,
    dirs: DirsArg | None = None,
    prefix: str = "",
    environ: Mapping[str, str] | None = None,
) -> bytes | _T:
    """Like :func:`secret`, but the raw bytes (nothing stripped), as :class:`SecretBytes`."""
    try:
        value = Secrets(dirs, prefix=prefix, environ=environ).get_bytes(name, default)
    except RunSecretsError as e:
        raise _improperly_configured(e) from e
    if value is default or not isinstance(value, bytes):
        return value
    return SecretBytes(value, name)


def _improperly_configured(error: RunSecretsError) -> ImproperlyConfigured:
    # runsecrets' messages name the secret and the places searched, never the value.
    if isinstance(error, SecretNotFoundError):
        return ImproperlyConfigured(f"settings: {error.message}")
    return ImproperlyConfigured(f"settings: cannot use secret: {error.message}")
