"""Swarm's rules for names and sizes, and runsecrets' scheme for naming versions.

Pure functions, no engine: each is checked before any call to it.
"""

from __future__ import annotations

import re

from ..exceptions import InvalidSwarmSecretError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Swarm's own limits (swarmkit's validation): names of at most 64 characters matching
#: the pattern below; data of at least 1 byte and *less than* 500 KiB (512,000 bytes is
#: refused: "must be larger than 0 and less than 512000 bytes").
MAX_NAME_LENGTH = 64
MAX_SECRET_SIZE = 500 * 1024
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")

#: Versions are zero-padded to this many digits, so ``docker secret ls`` sorts them; the
#: highest version runsecrets makes is :data:`MAX_VERSION`.
VERSION_DIGITS = 4
MAX_VERSION = 10**VERSION_DIGITS - 1

LABEL_LOGICAL_NAME = "org.runsecrets.logical-name"
LABEL_VERSION = "org.runsecrets.version"
#: On a version created by :func:`~runsecrets.swarm.rotate`: whether that rotation was to
#: remove the older versions (kept as information; a rotation's record is described in
#: :mod:`runsecrets.swarm`).
LABEL_REMOVE_OLD = "org.runsecrets.remove-old"

_VERSIONED = re.compile(r"^(?P<logical>.+)_v(?P<version>[0-9]+)$")
# A version number read from a label, for display: a forged label of 5,000 digits must not
# break a listing (int() refuses such a string) nor show a nonsense number.
_LABEL_VERSION = re.compile(r"^[1-9][0-9]{0,8}$")


def validate_name(name: str) -> None:
    """Check a secret name against Swarm's rules.

    Raises:
        InvalidSwarmSecretError: ``reason="invalid_name"``.
    """
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise InvalidSwarmSecretError(
            f"invalid Swarm secret name {name!r}: at most {MAX_NAME_LENGTH} characters, letters "
            "and digits at both ends, '-', '_' and '.' inside",
            reason="invalid_name",
            name=name,
        )


def validate_data(data: bytes) -> None:
    """Check a secret's size against Swarm's limits: at least 1 byte and less than 512,000
    bytes (500 KiB). Never shows the data.

    Raises:
        InvalidSwarmSecretError: ``reason="empty"`` or ``reason="too_large"``.
    """
    if not data:
        raise InvalidSwarmSecretError("a Swarm secret cannot be empty", reason="empty")
    if len(data) >= MAX_SECRET_SIZE:
        raise InvalidSwarmSecretError(
            f"secret data is {len(data)} bytes; Swarm takes less than {MAX_SECRET_SIZE} (500 KiB)",
            reason="too_large",
        )


def versioned_name(logical: str, version: int) -> str:
    """The secret name of one version: ``db_password_v0002``.

    Raises:
        InvalidSwarmSecretError: when the result is not a valid Swarm name (too long).
    """
    if version < 1:
        raise ValueError(f"versions start at 1, not {version}")
    name = f"{logical}_v{version:0{VERSION_DIGITS}d}"
    validate_name(name)
    return name


def parse_version(name: str, labels: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The logical name and version a secret *shows*, from its labels, else from its name.

    ``db_password_v0002`` and ``db_password_v2`` show as version 2 of ``db_password``; a name
    without a version suffix as version 1 of itself; labels (any, since anyone can write them)
    win. This is for listings only: :func:`~runsecrets.swarm.rotate` never decides anything
    from it (see the module's description of the rotation record).
    """
    labels = labels or {}
    logical = labels.get(LABEL_LOGICAL_NAME)
    version = labels.get(LABEL_VERSION, "")
    if logical and _LABEL_VERSION.match(version):
        return logical, int(version)
    match = _VERSIONED.match(name)
    if match:
        return match["logical"], int(match["version"])
    return name, 1


def looks_like(name: str, labels: Mapping[str, str], logical: str) -> bool:
    """Whether a secret *looks* like a version of ``logical`` (its labels or its name say so).

    Listings group by this; a rotation only reports such a secret (as ignored) unless its
    record proves it.
    """
    if LABEL_LOGICAL_NAME in labels:
        return labels[LABEL_LOGICAL_NAME] == logical
    return name == logical or parse_version(name)[0] == logical


def as_bytes(data: bytes | str) -> bytes:
    """The value as bytes (text is encoded as UTF-8)."""
    return data.encode() if isinstance(data, str) else bytes(data)
