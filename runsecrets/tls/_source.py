"""Where TLS material comes from: a secret name or a path, read under the core's reading rules.

A *spec* is either a path (an ``os.PathLike``, or a string holding a path separator) or a secret
name resolved by :class:`~runsecrets.Secrets` (``FOO_FILE``, ``FOO``, then the directories).
"""

from __future__ import annotations

import os

from .._names import validate_name
from .._read import decode_text, read_file
from .._resolve import resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias

    from .._secrets import Secrets

    #: A secret name, or a path to a file.
    Spec: TypeAlias = str | os.PathLike[str]

#: The parts of a set of TLS material, in the order they are read.
PARTS = ("cert", "key", "ca", "password")


def is_path(spec: Spec) -> bool:
    """Whether ``spec`` names a file rather than a secret (a bare name is a secret name)."""
    if isinstance(spec, os.PathLike):
        return True
    return os.sep in spec or bool(os.altsep and os.altsep in spec)


def read_spec(spec: Spec, secrets: Secrets) -> tuple[bytes, str]:
    """Read one part's raw bytes.

    Returns:
        The bytes and a label for messages: the file read, or the variable that held the value.

    Raises:
        SecretNotFoundError: A secret name that no source holds.
        SecretReadError: The file is missing, unreadable, too large or not a regular file.
    """
    if is_path(spec):
        path = os.fspath(spec)
        result = read_file(
            path,
            name=os.path.basename(path),
            max_size=secrets.max_size,
            warned=secrets._lookup.warned,
        )
        assert result is not None  # missing_ok is off: a missing file raises
        return result[0], path
    name = validate_name(str(spec))
    # One read gives both the bytes and where they came from (a label for messages).
    found = resolve(name, secrets._lookup)
    if found is None:
        raise secrets.not_found_error(name)
    raw, provenance = found
    label = provenance.path or provenance.variable or name
    return (os.fsencode(raw) if isinstance(raw, str) else raw), label


def password_bytes(raw: bytes, label: str) -> bytes:
    """A key password as bytes: UTF-8 text, trailing line endings dropped as ``$(< file)`` does."""
    return decode_text(raw, strip=True, name=os.path.basename(label), path=label).encode()


def describe_spec(spec: Spec) -> str:
    """A label for a spec before it is read: the path, or ``secret 'name'``."""
    return os.fspath(spec) if is_path(spec) else f"secret {spec!r}"
