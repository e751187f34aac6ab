"""The operator's side of Swarm secrets: rotate, audit and inventory through the Docker SDK.

Swarm secrets are immutable, so rotating one means: create the next *version* as a new
secret, point every service that used an older one at it (same target path, uid, gid and
mode), wait for each service's update to converge, and only then remove the older versions
runsecrets made that nothing uses.

Versions are separate secrets named ``<logical>_v<NNNN>`` (``db_password_v0002``),
zero-padded so that ``docker secret ls`` sorts them.

**What** :func:`rotate` **touches, and nothing else**

- It creates one secret, the next version, labelled with its *record* (below) and the labels
  the caller gives.
- It replaces exactly: the secret named after the logical name (``db_password``, made by
  hand), the versions runsecrets made of that name, recognised by their record, and the
  secrets the caller names in ``adopt``. Secrets that merely look like versions, by name
  (``db_password_v2``) or by label, are reported as ``ignored`` and left alone.
- In each service that references one of them, and only there, it points those references at
  the new version; their ``File`` (target, uid, gid, integer mode) is sent back as the engine
  returned it. It sets one service label, ``org.runsecrets.rotation.<logical>``, the
  service-side record. Nothing else in the spec changes: the whole spec is sent back, and
  without the operator's registry credentials (docker-py would add them from
  ``~/.docker/config.json``; the engine keeps the service's own). A *job* is not updated at
  all, since an update runs a job again; it is reported ``skipped`` and keeps its version.
- A failed or timed-out update is undone on a fresh read of the service: the moved
  references and the record label go back; other operators' changes made meanwhile stay.
- It removes only versions runsecrets made (recognised by their record), only after every
  update converged, and only when no service references them. The secret named after the
  logical name and adopted secrets are never removed: the report lists them as kept. A
  version this call created and that no service took (every update rolled back) is removed
  again.
- It refuses, before changing anything: a name no secret has and no version of it
  (``not_found``), services that only use look-alikes (``unrecognised``: name them with
  ``adopt``), and a service that would mount the new version at targets with different
  owners or modes (``mount_conflict``: the engine keeps one file per secret in a container).

**How it recognises its own rotations: the record**

On each version it creates, labels name the logical name, the version number (which must
match the secret's name exactly), a random rotation id and the ids of the secrets it replaces
(:data:`LABEL_LOGICAL_NAME`, :data:`LABEL_VERSION`, :data:`LABEL_ROTATION`,
:data:`LABEL_REPLACES`). On each service it moves, in the same update, the label
``org.runsecrets.rotation.<logical>`` = ``<rotation id>/<secret id>``. A version is
runsecrets' own only when a service that references it carries that record with its id, or
when a recognised newer version's record lists it. Labels alone prove nothing: a copy of every
label lands on a secret with another id, which no service record names. (Whoever may update
services may also forge a service record: the record guards against copies, mistakes and
look-alikes, not against a Swarm administrator.) A version no service ever used carries no
service record, so a later rotation does not recognise it.

A rotation is *resumed* (finished with the version it created, the new data unused) only when
the newest recognised version's record names secrets that a service other than a job still
references: its rotation was interrupted (a failed update, a crash, Ctrl-C).

This package is the only one that imports ``docker`` (the ``runsecrets[swarm]`` extra), and
only when a function needs it. Nothing here reads, returns or logs a secret's data: the
Engine API never returns it, and nothing asks.
"""

from __future__ import annotations

from ..exceptions import InvalidSwarmSecretError, RotationError, SwarmError
from ._audit import audit, inventory
from ._engine import client_from_env
from ._model import (
    AuditEntry,
    RotationReport,
    SecretInfo,
    SecretReference,
    ServiceUpdate,
    TaskUse,
)
from ._names import (
    LABEL_LOGICAL_NAME,
    LABEL_REMOVE_OLD,
    LABEL_VERSION,
    MAX_NAME_LENGTH,
    MAX_SECRET_SIZE,
    parse_version,
    validate_data,
    validate_name,
    versioned_name,
)
from ._record import LABEL_REPLACES, LABEL_ROTATION, SERVICE_RECORD_PREFIX
from ._rotate import rotate

__all__ = [
    "LABEL_LOGICAL_NAME",
    "LABEL_REMOVE_OLD",
    "LABEL_REPLACES",
    "LABEL_ROTATION",
    "LABEL_VERSION",
    "MAX_NAME_LENGTH",
    "MAX_SECRET_SIZE",
    "SERVICE_RECORD_PREFIX",
    "AuditEntry",
    "InvalidSwarmSecretError",
    "RotationError",
    "RotationReport",
    "SecretInfo",
    "SecretReference",
    "ServiceUpdate",
    "SwarmError",
    "TaskUse",
    "audit",
    "client_from_env",
    "inventory",
    "parse_version",
    "rotate",
    "validate_data",
    "validate_name",
    "versioned_name",
]
