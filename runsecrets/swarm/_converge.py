"""Waiting for a rotation's updates, per service mode, within one deadline; rolling back.

Converged means the spec is applied, in the terms of the service's mode:

- no update in progress (``updating``, ``rollback_started``), and the spec references the
  version waited for;
- **replicated** with ``N > 0`` replicas: ``N`` tasks meant to run are running, each mounting
  that version; with 0 replicas nothing is meant to run, so the applied spec is enough;
- **global**: every task meant to run is running and mounts it; when no node is eligible
  there are none, and the applied spec is enough (the update starts no task, so the engine
  reports no update status at all);
- **jobs** are never updated (an update runs a job again), so never waited for.

Timeouts: one deadline bounds the whole wait, rollbacks included. At the deadline an update
still rolling is rolled back (submitted, not waited for) and reported ``failed``.
"""

from __future__ import annotations

import time

from ._engine import (
    api_error,
    error_detail,
    referenced_ids,
    replicas,
    service_mode,
)
from ._plan import backward_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence
    from typing import Any

    from ._engine import Engine
    from ._model import SecretInfo
    from ._plan import Move

_FAILED_STATES = frozenset({"paused", "rollback_paused"})
_ROLLING_STATES = frozenset({"updating", "rollback_started"})
#: Attempts at a rollback on a fresh read (a concurrent update moves the spec's version on).
_ATTEMPTS = 3


def rolling(services: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The services (as the engine lists them) with an update or a rollback still rolling."""
    return [
        service
        for service in services
        if (service.get("UpdateStatus") or {}).get("State", "") in _ROLLING_STATES
    ]


def verdict(
    engine: Engine,
    service_id: str,
    secret_ids: Collection[str],
    *,
    judge: bool = True,
    rollback_ok: bool = False,
) -> str | None:
    """``""`` when converged on ``secret_ids``, a failure description, or None (still rolling).

    With ``judge`` a paused update, or one the service rolled back itself (unless
    ``rollback_ok``), is a failure.
    """
    service = engine.service(service_id)
    spec = service["Spec"]
    status = service.get("UpdateStatus") or {}
    state = status.get("State", "")
    if state in _ROLLING_STATES:
        return None
    if judge and (state in _FAILED_STATES or (state == "rollback_completed" and not rollback_ok)):
        return f"update {state}: {status.get('Message', '')}".rstrip(": ")
    if not set(secret_ids) <= referenced_ids(spec):
        return "its spec was changed meanwhile and no longer references the version waited for"
    return _tasks_verdict(engine, service_id, spec, secret_ids)


def _tasks_verdict(
    engine: Engine, service_id: str, spec: dict[str, Any], secret_ids: Collection[str]
) -> str | None:
    expected = replicas(spec) if service_mode(spec) == "replicated" else 0
    if service_mode(spec) == "replicated" and expected == 0:
        return ""
    tasks = engine.running_tasks(service_id)
    for task in tasks:
        if (task.get("Status") or {}).get("State") != "running":
            return None
        if not set(secret_ids) <= referenced_ids(task.get("Spec") or {}):
            return None
    return "" if len(tasks) >= expected else None


def wait_all(
    engine: Engine,
    moves: Sequence[Move],
    target: SecretInfo,
    key: str,
    deadline: float,
    poll_interval: float,
) -> None:
    """Wait for every move to converge; roll back the ones that fail or run out of time."""
    waiting = [move for move in moves if move.phase != "done"]
    while waiting:
        waiting = [move for move in waiting if not _step(engine, move, target, key)]
        if not waiting:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            for move in waiting:
                _give_up(engine, move, target, key)
            return
        time.sleep(min(poll_interval, remaining))


def _step(engine: Engine, move: Move, target: SecretInfo, key: str) -> bool:
    """Check one move once; True when it is settled."""
    if move.phase == "back":
        old_ids = {secret_id for secret_id, _ in move.before.values()}
        found = verdict(engine, move.service_id, old_ids, rollback_ok=True)
        if found is None:
            return False
        move.phase = "done"
        move.update.state = "rolled_back" if found == "" else "failed"
        move.update.rollback = "converged" if found == "" else "failed"
        if found:
            move.update.detail += f"; the rollback failed too ({found})"
        return True
    found = verdict(engine, move.service_id, {target.id}, judge=move.judge)
    if found is None:
        return False
    if found == "":
        move.phase = "done"
        if move.update.state != "current":
            move.update.state = "updated"
        return True
    return not roll_back(engine, move, target, key, found)


def _give_up(engine: Engine, move: Move, target: SecretInfo, key: str) -> None:
    """The deadline passed: roll back what is still rolling forward, wait for nothing."""
    if move.phase == "back":
        move.update.detail += "; the rollback was submitted and had not converged in time"
        move.update.rollback = "not_converged"
    elif roll_back(engine, move, target, key, "timed out waiting for the update"):
        move.update.detail += "; the rollback was submitted, not waited for"
        move.update.rollback = "not_converged"
    move.update.state = "failed"
    move.phase = "done"


def roll_back(engine: Engine, move: Move, target: SecretInfo, key: str, why: str) -> bool:
    """Undo a move on a fresh read of the service: only its secret references and its record.

    Returns:
        True when the service is going back (a rollback submitted, or one the service made
        itself), so that waiting for it makes sense; False when it was left ``failed``.
    """
    move.update.detail = why
    if not move.before:
        move.update.state = "failed"
        move.phase = "done"
        return False
    refused: BaseException | None = None
    for _ in range(_ATTEMPTS):
        fresh = engine.service(move.service_id)
        wanted = backward_spec(fresh["Spec"], move, target.id, key)
        if wanted is None:
            break  # nothing left to undo: the service rolled itself back
        try:
            engine.update_service(move.service_id, fresh["Version"]["Index"], wanted)
        except api_error() as e:
            refused = e
            continue
        break
    else:
        move.update.state = "failed"
        move.update.rollback = "refused"
        move.update.detail += f"; the rollback was refused ({error_detail(refused or Exception())})"
        move.phase = "done"
        return False
    move.phase = "back"
    return True
