"""Secret names: what is allowed, and which environment variables a name maps to."""

from __future__ import annotations

from .exceptions import InvalidSecretNameError

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_MAX_NAME_LENGTH = 255  # a single path component on every file system we target

#: Suffix of the variable that names a file holding the value (the official images' convention).
FILE_SUFFIX = "_FILE"


def validate_name(name: object) -> str:
    """Return ``name`` if it is one safe path component, else raise.

    A name is made of ``[A-Za-z0-9._-]``, does not start with a dot (dot-entries are Kubernetes'
    and writers' bookkeeping) and is at most 255 characters. This runs before any disk access, so
    ``../etc/passwd`` or ``a/b`` never reach ``open``.

    Raises:
        InvalidSecretNameError: The name is empty, too long, has another character or a leading dot.
    """
    if not isinstance(name, str):
        raise InvalidSecretNameError(
            f"secret name must be a string, not {type(name).__name__}", name=None
        )
    problem = name_problem(name)
    if problem:
        raise InvalidSecretNameError(f"invalid secret name {name!r}: {problem}", name=name)
    return name


def name_problem(name: str) -> str | None:
    """Say what is wrong with ``name`` as a secret name, or ``None`` when it is fine."""
    if not name:
        return "it is empty"
    if len(name) > _MAX_NAME_LENGTH:
        return f"it is longer than {_MAX_NAME_LENGTH} characters"
    if name[0] == ".":
        return "it starts with a dot"
    if not _NAME_CHARS.issuperset(name):
        return "only letters, digits, '.', '_' and '-' are allowed (one path component)"
    return None


def env_name(name: str, prefix: str = "") -> str:
    """The environment variable for a secret: prefix and name upper-cased, ``.``/``-`` as ``_``.

    >>> env_name("db-password", "app_")
    'APP_DB_PASSWORD'
    """
    return (prefix + name).upper().replace("-", "_").replace(".", "_")


def file_env_name(name: str, prefix: str = "") -> str:
    """The ``_FILE`` variable for a secret: ``env_name(...) + "_FILE"``."""
    return env_name(name, prefix) + FILE_SUFFIX
