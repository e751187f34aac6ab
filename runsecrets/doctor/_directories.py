"""The directories' and mounts' checks: missing or unlistable directories, lax directory
modes, names the core ignores, secrets kept on a disk, mounts that never see a rotation.

Rules (codes in :data:`~runsecrets.doctor.CODES`):

- ``secrets_dir_missing``: a configured (or the default) directory does not exist, or is not a
  directory.
- ``unreadable``: a directory that cannot be listed.
- ``insecure_permissions``: a directory writable by its group or others (anyone with that access
  can add or replace secrets).
- ``invalid_name``: a regular file whose name is not a valid secret name, which the core skips
  (dot-entries and writer debris such as ``*.tmp`` are skipped quietly, as by the core).
- ``not_memory_backed`` (Linux, from the mount table): secrets whose bytes live on a file system
  other than tmpfs or ramfs: one finding per directory, counting them, and one per ``_FILE``
  target outside the directories. What counts is the mount each *file* is on: Swarm mounts
  every secret from a tmpfs into a ``/run/secrets`` that itself lies on the container's disk,
  which is fine. An empty directory stores nothing and is not reported.
- ``never_updates`` (Linux): a secret file that is itself a mount point (a single-file bind
  mount: Compose ``secrets: file:``, ``docker run -v file:file``), which never shows a
  replacement by rename; or a directory or file mounted from inside a Kubernetes
  ``..<timestamp>`` directory (a ``subPath`` mount), which keeps one version for ever. Docker
  Swarm's own secret mounts (a read-only tmpfs file named by the secret id) are not reported:
  Swarm rotates by replacing the task, by design.
- ``not_checked``: the mount table cannot be read, or some of its lines do not parse.
"""

from __future__ import annotations

import os

from .._listing import is_debris
from .._names import name_problem
from ..exceptions import SecretReadError
from ._describe import GROUP_OR_OTHERS_WRITE, mode_text, process_user, writers
from ._finding import Finding

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._context import Context, SecretFile
    from ._mountinfo import Mount, MountTable


def check_directories(context: Context) -> Iterator[Finding]:
    """Every directory finding, directories in lookup order."""
    for directory in context.dirs:
        listing = context.listing(directory)
        if listing is None:
            yield _missing(directory)
        elif isinstance(listing, SecretReadError):
            yield _unlistable(directory, listing)
        else:
            if context.checks_modes:
                yield from _lax_directory(directory)
            yield from _invalid_names(directory)


def check_mounts(context: Context) -> Iterator[Finding]:
    """Memory backing and rotation visibility, from the mount table (Linux only)."""
    if not context.linux:
        return
    table = context.mounts()
    where = os.path.join(context.proc_root, "self", "mountinfo")
    if isinstance(table, OSError):
        yield Finding(
            "not_checked",
            where,
            f"cannot read the mount table ({table.strerror or type(table).__name__}): whether "
            "secrets are memory-backed and can see rotations was not checked; run where /proc "
            "is mounted",
        )
        return
    if table.bad_lines:
        yield Finding(
            "not_checked",
            where,
            f"{table.bad_lines} line(s) of the mount table do not parse and were left out: "
            "mounts on them were not considered",
        )
    on_disk: dict[str, list[str]] = {}
    for file in context.secret_files():
        if file.dangling:
            continue
        own = table.at(file.real_path)
        if own is not None and (own.kubernetes_subpath or not own.swarm_secret):
            yield _never_updates(file.path, own)
        holder = own or table.holding(file.real_path)
        if holder is not None and not holder.memory_backed:
            if file.directory is None:
                yield _file_on_disk(file, holder)
            else:
                on_disk.setdefault(file.directory, []).append(holder.fstype)
    yield from _directories_on_disk(context, on_disk)
    yield from _subpath_directories(context, table)


def _missing(directory: str) -> Finding:
    state = "is not a directory" if os.path.lexists(directory) else "does not exist"
    return Finding(
        "secrets_dir_missing",
        directory,
        f"{state}, so no secret can be read from it; mount the secrets there, or point --dir "
        "(RUNSECRETS_DIR for the application) at where they are",
    )


def _unlistable(directory: str, error: SecretReadError) -> Finding:
    why = "permission denied" if error.reason == "permission_denied" else "an error"
    return Finding(
        "unreadable",
        directory,
        f"cannot be listed ({why}) by {process_user()}: none of its secrets can be read; give "
        "this user read and search access to it, or run as one who has it",
    )


def _lax_directory(directory: str) -> Iterator[Finding]:
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return
    if mode & GROUP_OR_OTHERS_WRITE:
        yield Finding(
            "insecure_permissions",
            directory,
            f"is writable by {writers(mode)} (mode {mode_text(mode)}), so they can add "
            f"or replace secrets; chmod go-w {directory}",
        )


def _invalid_names(directory: str) -> Iterator[Finding]:
    try:
        with os.scandir(directory) as entries:
            names = sorted(
                entry.name
                for entry in entries
                if not is_debris(entry.name) and name_problem(entry.name) and _is_file(entry)
            )
    except OSError:
        return
    for name in names:
        yield Finding(
            "invalid_name",
            os.path.join(directory, name),
            f"is skipped: {name_problem(name)}; rename it (for example to "
            f"{_suggest(name)}) if it is meant as a secret",
        )


def _never_updates(path: str, mount: Mount) -> Finding:
    if mount.kubernetes_subpath:
        message = (
            "is a Kubernetes subPath mount, which keeps the version present when the container "
            "started; mount the whole volume (no subPath) and point at the file inside it"
        )
    else:
        message = (
            f"is a single-file mount (from {mount.fstype}): a replacement of its source by "
            "rename (editors, Vault Agent, renewers) never shows here; mount its directory "
            "instead, or recreate the container to rotate"
        )
    return Finding("never_updates", path, message)


def _file_on_disk(file: SecretFile, mount: Mount) -> Finding:
    return Finding(
        "not_memory_backed",
        file.path,
        f"(named by {file.variable}) is stored on {mount.fstype}, not in memory: it stays on "
        "a disk after the container stops; keep secrets on a tmpfs (the orchestrator's "
        "secrets, or a tmpfs mount)",
    )


def _directories_on_disk(context: Context, on_disk: dict[str, list[str]]) -> Iterator[Finding]:
    for directory in context.dirs:
        fstypes = on_disk.get(directory)
        if not fstypes:
            continue
        total = sum(1 for file in context.secret_files() if file.directory == directory)
        kinds = ", ".join(sorted(set(fstypes)))
        yield Finding(
            "not_memory_backed",
            directory,
            f"{len(fstypes)} of its {total} secret(s) are stored on {kinds}, not in memory: "
            "they stay on a disk after the container stops; mount a tmpfs there or use the "
            "orchestrator's secrets",
        )


def _subpath_directories(context: Context, table: MountTable) -> Iterator[Finding]:
    for directory in context.dirs:
        listing = context.listing(directory)
        if listing is None or isinstance(listing, SecretReadError):
            continue
        mount = table.holding(os.path.realpath(directory))
        if mount is not None and mount.kubernetes_subpath:
            yield _never_updates(directory, mount)


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _suggest(name: str) -> str:
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return cleaned.lstrip(".") or "a_name"
