"""Which directories a watcher watches: directories, never single files."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def watch_paths(dirs: Iterable[str], file_targets: Iterable[str]) -> list[str]:
    """The directories to watch for ``dirs`` and the files named by ``_FILE`` variables.

    A missing directory is replaced by its nearest existing ancestor, so its creation is seen.
    A ``_FILE`` target adds its directory, and the directory of the file it links to when that
    lies elsewhere (a link into a renewer's output directory). Watches are not recursive.
    """
    wanted: list[str] = []
    for directory in dirs:
        wanted.append(_existing_ancestor(os.path.abspath(directory)))
    for target in file_targets:
        parent = _existing_ancestor(os.path.dirname(os.path.abspath(target)))
        wanted.append(parent)
        real_parent = os.path.dirname(os.path.realpath(target))
        # A Kubernetes key resolves into ``..<timestamp>/``, which changes with every swap;
        # the swap itself shows in the volume directory, watched already.
        swapped = os.path.basename(real_parent).startswith("..") and (
            os.path.dirname(real_parent) in wanted
        )
        if real_parent not in wanted and not swapped:
            wanted.append(_existing_ancestor(real_parent))
    return sorted(set(wanted))


def _existing_ancestor(path: str) -> str:
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path
