"""Which entries of a secrets directory are secrets."""

from __future__ import annotations

import os

from ._names import name_problem

#: Endings that writers leave behind while they work (temp files, backups, editor swap files).
DEBRIS_SUFFIXES = (".tmp", ".bak", ".swp", ".swx", "~")


def is_debris(name: str) -> bool:
    """Whether ``name`` looks like a writer's temporary or backup file, not a secret."""
    return name.startswith(".") or name.endswith(DEBRIS_SUFFIXES)


def list_secret_files(directory: str) -> list[tuple[str, str]]:
    """The secrets a directory holds, as sorted ``(name, path)`` pairs.

    Skipped quietly: dot-entries (Kubernetes' ``..data`` and timestamped directories),
    sub-directories (such as ``kubernetes.io/serviceaccount``), writer debris, names that are not
    valid secret names and entries that are not regular files after following links. A missing
    directory holds nothing.
    """
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    with entries:
        for entry in entries:
            name = entry.name
            if is_debris(name) or name_problem(name) is not None:
                continue
            try:
                if not entry.is_file():  # follows symlinks: Kubernetes' keys are links
                    continue
            except OSError:
                continue
            found.append((name, entry.path))
    found.sort()
    return found


def find_case_insensitive(directory: str, name: str) -> str | None:
    """The entry of ``directory`` whose name equals ``name`` ignoring case, if exactly one does."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    wanted = name.casefold()
    matches = [entry for entry in names if entry.casefold() == wanted and not entry.startswith(".")]
    return matches[0] if len(matches) == 1 else None
