"""The environment's checks: secrets in plain variables, ``FOO`` beside ``FOO_FILE``, a
``FOO_FILE`` that names no file.

Rules (codes in :data:`~runsecrets.doctor.CODES`):

- ``conflict``: ``FOO_FILE`` and ``FOO`` both set (non-empty), for the ``_FILE`` variables the
  core honours (:func:`runsecrets._lookup.file_variables`: the prefix applies, tool settings
  such as ``SSL_CERT_FILE`` are not secrets). The core's own message, which names both.
- ``file_variable_not_a_path``: such a ``FOO_FILE`` whose value is not an existing path. The
  value is never shown, since a pasted password is the usual cause.
- ``secret_in_environment``: any other non-empty variable whose value has a credential's shape,
  or whose name is a secret's (see :mod:`._shapes`) unless its value is a switch (``true``,
  ``0``...) or the absolute path of an existing file (``GOOGLE_APPLICATION_CREDENTIALS`` names a
  key file; that is the right way). A variable already reported as a ``conflict`` is not
  reported again.
"""

from __future__ import annotations

import os

from .._lookup import check_conflict
from ..exceptions import SecretConflictError
from ._finding import Finding
from ._shapes import is_flag, secret_name_reason, value_shape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ._context import Context


def check_environment(context: Context) -> Iterator[Finding]:
    """Every environment finding, variables in sorted order."""
    environ = context.environ
    reported: set[str] = set()
    for variable, file_variable in context.file_variables:
        name = variable[len(context.prefix) :].lower()
        try:
            check_conflict(name, variable, file_variable, environ)
        except SecretConflictError as e:
            reported.add(variable)
            yield Finding("conflict", variable, e.message)
        if not os.path.lexists(environ[file_variable]):
            reported.add(file_variable)
            yield Finding(
                "file_variable_not_a_path",
                file_variable,
                "does not name an existing file (its value is not shown: it may be a pasted "
                "secret); set it to the path where the secret file is mounted",
            )
    for variable in sorted(environ):
        if variable in reported:
            continue
        why = secret_reason(variable, environ[variable])
        if why is not None:
            yield Finding(
                "secret_in_environment",
                variable,
                f"{why}, where anyone who can inspect the container or process reads it; "
                f"mount it as a file and set {variable}_FILE to its path instead",
            )


def secret_reason(
    variable: str, value: str, names_a_file: Callable[[str], bool] | None = None
) -> str | None:
    """Why ``variable=value`` holds a secret (``"holds a PEM private key"``, ``"is set and
    named like a password"``), or ``None``. Shared with the image's checks.

    Args:
        names_a_file: Whether a value is a file's path, which a secret's name may hold
            (default: an absolute path to an existing file here).
    """
    if not value:
        return None  # an empty variable counts as unset
    shape = value_shape(value)
    if shape is not None:
        return f"holds {shape}"
    reason = secret_name_reason(variable)
    if reason is None or is_flag(value) or (names_a_file or existing_file)(value):
        return None
    return f"is set and {reason}"


def existing_file(value: str) -> bool:
    """Whether ``value`` is the absolute path of an existing file."""
    return os.path.isabs(value) and os.path.isfile(value)
