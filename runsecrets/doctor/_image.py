"""An image's checks: secrets baked into its configuration or recorded in its history.

Through the Docker SDK (the ``runsecrets[swarm]`` extra), the equivalent of ``docker image
inspect`` (the configuration's ``Env``) and ``docker history --no-trunc`` (each step's
``CreatedBy``: ``RUN |2 DB_PASSWORD=... /bin/sh -c ...`` records the build arguments a ``RUN``
step saw, ``ARG NAME=default`` and ``ENV NAME=value`` record their values).

Rules (codes in :data:`~runsecrets.doctor.CODES`), each with the environment's rule for what a
secret is (:func:`._environment.secret_reason`: a credential's shape, or a secret's name with a
value that is neither a switch nor a path):

- ``secret_in_image_environment``: a variable of the image's configuration.
- ``secret_build_argument``: a build argument a ``RUN`` step recorded, or an ``ARG`` default.
- ``secret_in_image_history``: an ``ENV`` step whose variable the configuration no longer shows
  (set, then overwritten: the history keeps it), or any step that no variable explains but that
  holds a credential's shape (a token pasted into a ``RUN`` command).
- ``image_not_checked``: the SDK is missing, the engine does not answer, or there is no such
  image.
"""

from __future__ import annotations

import re

from ._environment import secret_reason
from ._finding import Finding
from ._shapes import value_shape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

_CLASSIC_PREFIX = "/bin/sh -c #(nop) "
_RUN_ARGS = re.compile(r"^(?:RUN )?\|([0-9]+) ")
_ASSIGNMENT = re.compile(r"(?:^| )([A-Za-z_][A-Za-z0-9_]*)=")
_ARG_NAME = re.compile(r"(?:^| )([A-Za-z_][A-Za-z0-9_]*)(?==| |$)")
_SHELL = " /bin/sh -c "
#: Build arguments every builder knows without an ``ARG`` line.
_PREDEFINED_ARGS = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)
_BUILD_ARGUMENT_FIX = (
    "pass it as a build secret instead (RUN --mount=type=secret,id=NAME, docker build "
    "--secret id=NAME,src=FILE; runsecrets get --env-fallback reads either)"
)


def _is_path(value: str) -> bool:
    """An image's value is taken for a path when it is absolute and has no space (the file is
    not here to look at)."""
    return value.startswith("/") and " " not in value


def check_image(image: str, env: Iterable[str], history: Iterable[str]) -> list[Finding]:
    """The findings for an image's configured ``env`` (``NAME=value`` strings) and its
    ``history`` (each step's ``CreatedBy``, newest first, as the engine lists them)."""
    findings = []
    reported: set[str] = set()
    for item in env:
        name, _, value = item.partition("=")
        why = secret_reason(name, value, _is_path)
        if why is not None:
            reported.add(name)
            findings.append(
                Finding(
                    "secret_in_image_environment",
                    f"{image} ENV {name}",
                    f"{why}: it is stored in the image, for anyone who can pull it to read "
                    "(docker image inspect); remove it from the Dockerfile and give it at run "
                    f"time as a secret file ({name}_FILE)",
                )
            )
    steps = list(history)[::-1]  # oldest first, numbered from 1
    declared = set(_PREDEFINED_ARGS)
    for number, created_by in enumerate(steps, start=1):
        findings.extend(_step_findings(f"{image} step {number}", created_by, declared, reported))
    return findings


def _step_findings(
    subject: str, created_by: str, declared: set[str], reported: set[str]
) -> list[Finding]:
    """One step's findings: its variables by the rule, else the whole step by shape."""
    text = created_by.removeprefix(_CLASSIC_PREFIX).strip()
    instruction = text.partition(" ")[0]
    if instruction == "ARG":
        declared.update(_ARG_NAME.findall(text[4:]))
        found = _variables(subject, assignments(text[4:]), "secret_build_argument", _arg_default)
    elif instruction == "ENV":
        pairs = [(n, v) for n, v in assignments(text[4:]) if n not in reported]
        found = _variables(subject, pairs, "secret_in_image_history", _overwritten_env)
    else:
        pairs = run_arguments(text, declared)
        found = _variables(subject, pairs, "secret_build_argument", _recorded_argument)
    if found:
        return found
    shape = value_shape(text)
    if shape is None:
        return []
    step = instruction if instruction.isupper() else "RUN"
    return [
        Finding(
            "secret_in_image_history",
            subject,
            f"this {step} step holds {shape}, recorded in the image's history (docker "
            "history); rebuild without it (a build secret mount for what a RUN step needs)",
        )
    ]


def _variables(
    subject: str,
    pairs: Iterable[tuple[str, str]],
    code: str,
    message: Callable[[str, str], str],
) -> list[Finding]:
    """A finding with ``code`` for each ``(name, value)`` that holds a secret by the rule."""
    found = []
    for name, value in pairs:
        why = secret_reason(name, value, _is_path)
        if why is not None:
            found.append(Finding(code, subject, message(name, why)))
    return found


def _arg_default(name: str, why: str) -> str:
    return (
        f"ARG {name} has a default and {why.replace('is set and ', 'is ', 1)}; the default is "
        f"recorded in the image's history (docker history); drop it and {_BUILD_ARGUMENT_FIX}"
    )


def _overwritten_env(name: str, why: str) -> str:
    return (
        f"ENV {name} {why}; the image's configuration no longer shows it but its history does "
        "(docker history); rebuild without it and give it at run time as a secret file"
    )


def _recorded_argument(name: str, why: str) -> str:
    return (
        f"build argument {name} {why} and a RUN step recorded it in the image's history "
        f"(docker history); {_BUILD_ARGUMENT_FIX}"
    )


def assignments(text: str, names: set[str] | None = None) -> list[tuple[str, str]]:
    """The ``NAME=value`` pairs of ``text``, split where the next ``NAME=`` starts (when
    ``names`` is given, only those names start a pair). Values may hold spaces."""
    starts = [m for m in _ASSIGNMENT.finditer(text) if names is None or m.group(1) in names]
    pairs = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        pairs.append((match.group(1), text[match.end() : end]))
    return pairs


def run_arguments(text: str, declared: set[str]) -> list[tuple[str, str]]:
    """The build arguments a ``RUN`` step recorded (``|N A=1 B=2 /bin/sh -c ...``)."""
    match = _RUN_ARGS.match(text)
    if match is None:
        return []
    count = int(match.group(1))
    rest = text[match.end() :]
    shell = rest.find(_SHELL)
    if shell >= 0:
        rest = rest[:shell]
    # Only declared names start a pair (a value may hold " X=y"), unless none is known.
    pairs = assignments(rest, declared) or assignments(rest)
    return pairs[:count]


def diagnose_image(image: str, client: Any = None) -> list[Finding]:
    """Check ``image`` in the Docker engine that ``client`` (default: one made from the
    environment, ``DOCKER_HOST`` and friends, and closed afterwards) talks to. Never raises for
    the engine's sake: what cannot be checked is an ``image_not_checked`` finding."""
    from ..swarm import SwarmError, client_from_env

    try:
        own = client_from_env() if client is None else None
    except SwarmError as e:
        return [Finding("image_not_checked", image, _engine_problem(e.reason))]
    try:
        found = (own or client).images.get(image)
        env = (found.attrs.get("Config") or {}).get("Env") or []
        history = [step.get("CreatedBy") or "" for step in found.history()]
    except Exception as e:  # noqa: BLE001 - the SDK's and requests' errors; shown by type only
        return [Finding("image_not_checked", image, _image_problem(e))]
    finally:
        if own is not None:
            own.close()
    return check_image(image, env, history)


def _engine_problem(reason: str) -> str:
    if reason == "docker_missing":
        return (
            "the Docker SDK is not installed: pip install 'runsecrets[swarm]' (the docker "
            "package), then run again"
        )
    return "the Docker engine does not answer: start it, or point DOCKER_HOST at it, then run again"


def _image_problem(error: BaseException) -> str:
    kind = type(error).__name__
    if kind == "ImageNotFound":
        return "no such image in this engine: build or pull it first (or check the name)"
    if kind in ("ConnectionError", "ConnectTimeout", "ReadTimeout"):
        return _engine_problem("engine_error")
    return f"the engine could not show the image ({kind}); run again, or check the engine's log"
