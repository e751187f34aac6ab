"""Which entries of a secrets directory are secrets: the one directory lister.

:func:`list_entries` is the only loop over a secrets directory; the resolver (a name without
case), ``Secrets.names``, a store's scan and the pydantic index each take what they need from
its answer.
"""

from __future__ import annotations

import os

from ._names import name_problem
from ._read import os_reason
from .exceptions import SecretReadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: Endings that writers leave behind while they work (temp files, backups, editor swap files).
DEBRIS_SUFFIXES = (".tmp", ".bak", ".swp", ".swx", "~")

# What an entry is, links followed.
FILE = "file"
#: A symlink that leads nowhere (yet): between the steps of a Kubernetes swap.
DANGLING = "dangling"
DIRECTORY = "directory"
#: Anything else (a FIFO, a socket, a device), or an entry that could not be judged.
OTHER = "other"


def is_debris(name: str) -> bool:
    """Whether ``name`` looks like a writer's temporary or backup file, not a secret."""
    return name.startswith(".") or name.endswith(DEBRIS_SUFFIXES)


def list_secret_files(directory: str) -> list[tuple[str, str]]:
    """The secrets a directory holds, as sorted ``(name, path)`` pairs.

    Skipped quietly: dot-entries (Kubernetes' ``..data`` and timestamped directories),
    sub-directories (such as ``kubernetes.io/serviceaccount``), writer debris, names that are not
    valid secret names and entries that are not regular files after following links. A missing
    directory holds nothing.

    Raises:
        SecretReadError: The directory cannot be listed (``permission_denied``, ``os_error``).
    """
    try:
        entries = list_secret_entries(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(name, entry.path) for name, entry, dangling in entries if not dangling]


def list_secret_entries(
    directory: str, ignore: Callable[[str], bool] | None = None
) -> list[tuple[str, os.DirEntry[str], bool]]:
    """Like :func:`list_secret_files`, plus the secrets whose symlink leads nowhere (yet).

    A watcher needs those: between the steps of a Kubernetes swap a key's link dangles for a
    moment, which means "being replaced", not "removed". Each entry comes as the scan's
    ``os.DirEntry``: its ``stat()`` is already known for a symlink (following it was how the
    entry was judged a file) and costs one ``lstat`` otherwise, so a reader need not stat the
    path again.

    Returns:
        Sorted ``(name, entry, dangling)`` triples.

    Raises:
        FileNotFoundError, NotADirectoryError, SecretReadError: As :func:`list_entries`.
    """
    return [
        (name, entry, kind == DANGLING)
        for name, entry, kind in list_entries(directory, ignore)
        if kind in (FILE, DANGLING)
    ]


def list_entries(
    directory: str, ignore: Callable[[str], bool] | None = None
) -> list[tuple[str, os.DirEntry[str], str]]:
    """Every entry of a secrets directory that may be a secret, and what it is.

    Skipped: dot-entries (Kubernetes' ``..data`` and timestamped directories), writer debris
    and names that are not valid secret names.

    Args:
        directory: The secrets directory.
        ignore: A further rule naming entries to skip (a writer's own temporary names).

    Returns:
        Sorted ``(name, entry, kind)`` triples; ``kind`` is :data:`FILE`, :data:`DANGLING`,
        :data:`DIRECTORY` or :data:`OTHER`, links followed.

    Raises:
        FileNotFoundError: The directory does not exist.
        NotADirectoryError: It is not a directory.
        SecretReadError: It cannot be listed: ``permission_denied`` (the process may not read
            it) or ``os_error``.
    """
    found = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if is_debris(name) or name_problem(name) is not None:
                    continue
                if ignore is not None and ignore(name):
                    continue
                found.append((name, entry, _kind(entry)))
    except (FileNotFoundError, NotADirectoryError):
        raise
    except OSError as e:
        raise _listing_error(directory, e) from e
    found.sort(key=lambda item: item[0])
    return found


def _kind(entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_file():  # follows symlinks: Kubernetes' keys are links
            return FILE
        if entry.is_dir():
            return DIRECTORY
        if entry.is_symlink() and not os.path.exists(entry.path):
            return DANGLING
    except OSError:
        pass
    return OTHER


def _listing_error(directory: str, error: OSError) -> SecretReadError:
    if isinstance(error, PermissionError):
        who = ""
        if hasattr(os, "geteuid"):
            who = f" (this process runs as uid {os.geteuid()}, gid {os.getegid()})"
        return SecretReadError(
            f"cannot list secrets directory {directory}: permission denied{who}",
            reason="permission_denied",
            errno=error.errno,
            path=directory,
        )
    return SecretReadError(
        f"cannot list secrets directory {directory}: {os_reason(error)}",
        reason="os_error",
        errno=error.errno,
        path=directory,
    )


def find_case_insensitive(directory: str, name: str) -> str | None:
    """The entry of ``directory`` whose name equals ``name`` ignoring case, if exactly one does.

    Only entries :func:`list_entries` lists count (valid secret names), compared by ASCII case
    alone: Unicode case folding would let the Kelvin sign (U+212A) answer for ``k`` and long s
    (U+017F) for ``s``, so a name the rule rejects could be read under a name it accepts.
    """
    try:
        entries = list_entries(directory)
    except (OSError, SecretReadError):
        return None
    wanted = name.lower()
    matches = [entry for entry, _, _ in entries if entry.lower() == wanted]
    return matches[0] if len(matches) == 1 else None
