"""Where secrets live by default, per platform, and how the directory list is chosen.

Each setting is one small pure function: the argument wins, then the environment, then detection.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._types import DirsArg

POSIX_SECRETS_DIR = "/run/secrets"
WINDOWS_SECRETS_DIR = r"C:\ProgramData\Docker\secrets"
# Docker for Windows keeps the data here and links each entry of WINDOWS_SECRETS_DIR to it.
WINDOWS_INTERNAL_SECRETS_DIR = r"C:\ProgramData\Docker\internal\secrets"
DIRS_VARIABLE = "RUNSECRETS_DIR"
DEBUG_VARIABLE = "RUNSECRETS_DEBUG"
#: Values of a flag variable that mean "off" (compared stripped and lower-cased).
FALSE_VALUES = frozenset(("", "0", "false", "no", "off"))


def current_platform(platform: str | None = None) -> str:
    """The given platform name, else ``sys.platform`` read now (tests may simulate Windows)."""
    return sys.platform if platform is None else platform


def default_dirs(platform: str | None = None) -> tuple[str, ...]:
    """The secrets directory a container runtime mounts on this platform."""
    if current_platform(platform) == "win32":
        return (WINDOWS_SECRETS_DIR,)
    return (POSIX_SECRETS_DIR,)


def trusted_link_roots(platform: str | None = None) -> tuple[str, ...]:
    """Directories outside a secrets directory that its symlinks may point into.

    The platform itself links there, so following such a link is not an escape.
    """
    if current_platform(platform) == "win32":
        return (WINDOWS_INTERNAL_SECRETS_DIR,)
    return ()


def split_dirs(value: str, pathsep: str = os.pathsep) -> tuple[str, ...]:
    """Split a ``PATH``-style list, dropping empty entries."""
    return tuple(part for part in value.split(pathsep) if part)


def resolve_dirs(
    dirs: DirsArg | None,
    environ: Mapping[str, str],
    platform: str | None = None,
) -> tuple[str, ...]:
    """Choose the secrets directories: the argument, else ``RUNSECRETS_DIR``, else the default.

    Args:
        dirs: One directory (a string or path) or an iterable of them, first match wins.
        environ: The environment to read ``RUNSECRETS_DIR`` from.
        platform: ``sys.platform`` value used to pick the default (read at call time if None).

    Returns:
        The directories as strings, in lookup order.
    """
    if dirs is not None:
        if isinstance(dirs, (str, os.PathLike)):
            return (os.fspath(dirs),)
        return tuple(os.fspath(d) for d in dirs)
    configured = environ.get(DIRS_VARIABLE)
    if configured:
        return split_dirs(configured, ";" if current_platform(platform) == "win32" else ":")
    return default_dirs(platform)


def flag_value(value: str | None) -> bool:
    """Whether a flag variable's value means "on".

    Unset, empty, ``0``, ``false``, ``no`` and ``off`` (any case, surrounding spaces ignored)
    are off; any other value (``1``, ``true``, ``yes``, ``on``...) is on.
    """
    return value is not None and value.strip().lower() not in FALSE_VALUES


def debug_enabled(environ: Mapping[str, str]) -> bool:
    """Whether ``RUNSECRETS_DEBUG`` asks for tracebacks, by :func:`flag_value`'s rules.

    The one reader of that variable: every place that shows more when debugging asks here.
    """
    return flag_value(environ.get(DEBUG_VARIABLE))
