"""The files' checks: each secret file read as the core reads it, and judged.

Every directory entry and every existing ``_FILE`` target is read once with the core's
:func:`runsecrets._read.read_file` (regular files only, links kept inside their directory, the
size cap, a non-blocking open), so a file is reported exactly when the library would refuse it.

Rules (codes in :data:`~runsecrets.doctor.CODES`):

- ``unreadable``: the process cannot read it (permission denied, an I/O error). Run the doctor
  as the application's user: that is whose access counts.
- ``not_a_file``: a ``_FILE`` target that is a directory, FIFO, socket or device.
- ``link_outside_directory``: a directory entry that is a symlink leading out of its directory.
- ``too_large``: a file over the size cap (``--max-size``, default 500 KiB, Swarm's limit).
- ``dangling_link``: a symlink to nothing (for a moment, the middle of a Kubernetes update).
- ``insecure_permissions``: a file writable by its group or others.
- ``empty_secret``: an empty file (Swarm refuses empty secrets; usually a writer's accident).
"""

from __future__ import annotations

import os

from .._read import describe_mode
from ..exceptions import SecretTooLargeError
from ._describe import GROUP_OR_OTHERS_WRITE, mode_text, process_user, writers
from ._finding import Finding

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ..exceptions import SecretReadError
    from ._context import Context, SecretFile


def check_files(context: Context) -> Iterator[Finding]:
    """Every file finding, files in the order :meth:`Context.secret_files` gives."""
    for file in context.secret_files():
        if file.dangling:
            yield Finding(
                "dangling_link",
                file.path,
                f"{_named_by(file)}is a symlink to nothing: the secret cannot be read (a store "
                "keeps its last value); fix the link or remove it",
            )
            continue
        result = context.read(file)
        if not isinstance(result, tuple):
            yield _read_problem(file, result)
            continue
        data, st = result
        if context.checks_modes and st.st_mode & GROUP_OR_OTHERS_WRITE:
            yield Finding(
                "insecure_permissions",
                file.path,
                f"{_named_by(file)}is writable by {writers(st.st_mode)} (mode "
                f"{mode_text(st.st_mode)}): anyone with that access can replace the secret; "
                f"chmod go-w it (Swarm: the reference's mode, such as mode=0440)",
            )
        if not data:
            yield Finding(
                "empty_secret",
                file.path,
                f"{_named_by(file)}is empty: the application reads an empty value (a store "
                "keeps the previous one); write the secret, or remove the file",
            )


def _read_problem(file: SecretFile, error: SecretReadError) -> Finding:
    """The finding for a file the core refused to read, by the error's reason."""
    describe = _READ_PROBLEMS.get(error.reason, _io_error)
    code, message = describe(file, error)
    return Finding(code, file.path, _named_by(file) + message)


def _permission_denied(file: SecretFile, error: SecretReadError) -> tuple[str, str]:
    st = file.stat
    owner = ""
    if st is not None:
        owner = f" (mode {mode_text(st.st_mode)}, owner uid {st.st_uid}, gid {st.st_gid})"
    return "unreadable", (
        f"cannot be read by {process_user()}{owner}: give that user read access (a Swarm "
        "secret's uid, gid and mode; a Compose file secret keeps the host file's owner and "
        "mode), or run as its owner"
    )


def _not_regular(file: SecretFile, error: SecretReadError) -> tuple[str, str]:
    kind = describe_mode(file.stat.st_mode) if file.stat is not None else "not a file"
    return "not_a_file", (
        f"is {kind}, not a regular file; point {file.variable or 'it'} at the secret file itself"
    )


def _outside(file: SecretFile, error: SecretReadError) -> tuple[str, str]:
    return "link_outside_directory", (
        f"is a symlink that leads outside {file.directory}: runsecrets refuses to follow it; "
        "put the file itself there (or make the resolver with allow_external_links=True)"
    )


def _too_large(file: SecretFile, error: SecretReadError) -> tuple[str, str]:
    size = f"{error.size} bytes" if isinstance(error, SecretTooLargeError) else "too large"
    limit = f"the {error.limit}-byte cap" if isinstance(error, SecretTooLargeError) else "the cap"
    return "too_large", (
        f"is {size}, over {limit}: runsecrets refuses to read it; shrink it, or raise "
        "max_size (--max-size here)"
    )


def _vanished(file: SecretFile, error: SecretReadError) -> tuple[str, str]:
    return "not_checked", "disappeared while it was being checked; run again"


def _io_error(file: SecretFile, error: SecretReadError) -> tuple[str, str]:
    why = os.strerror(error.errno) if error.errno else error.reason
    return "unreadable", f"cannot be read ({why}); check the mount and the disk"


_READ_PROBLEMS: dict[str, Callable[[SecretFile, SecretReadError], tuple[str, str]]] = {
    "permission_denied": _permission_denied,
    "not_regular_file": _not_regular,
    "outside_directory": _outside,
    "too_large": _too_large,
    "not_found": _vanished,
}


def _named_by(file: SecretFile) -> str:
    """``"(named by FOO_FILE) "`` for a ``_FILE`` target, else nothing."""
    return f"(named by {file.variable}) " if file.variable else ""
