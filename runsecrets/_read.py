"""Reading one secret file safely.

The rules (see the README, "Reading rules"): regular files only, symlinks followed but kept
inside their secrets directory, never a blocking open (a FIFO must not hang us), the size cap
checked before reading, strict UTF-8 for text with the BOM and trailing line endings dropped.
"""

from __future__ import annotations

import os
import stat
import sys

from ._warn import WarnedFiles, warn_writable
from .exceptions import (
    SecretDecodeError,
    SecretReadError,
    SecretTooLargeError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Docker Swarm's own limit on a secret's size; a larger file is refused before it is read.
DEFAULT_MAX_SIZE = 500 * 1024

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # opening a FIFO for reading would otherwise wait for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_WORLD_OR_GROUP_WRITABLE = stat.S_IWGRP | stat.S_IWOTH
_CHECK_MODE_BITS = sys.platform != "win32"  # Windows reports synthetic mode bits

# Where the kernel shows what an open descriptor refers to. ``None`` where there is no such
# place (macOS, Windows, a container without /proc): containment then resolves the path again.
_PROC_FD: str | None = "/proc/self/fd/" if sys.platform.startswith("linux") else None


class Containment:
    """The directories a secret must resolve into, all links followed.

    Their real paths are resolved once, on first use: a store checks every link of a directory
    against the same roots within one pass, and resolving a root costs a system call per path
    component.

    A file directly in a root is judged by its own entry (a link or not). A file further down
    (``root/db/password``, a nested pydantic field) is reached through sub-directories that may
    themselves be links, swapped at any moment: :func:`read_file` judges it by the descriptor
    it opened, whatever its own entry is.
    """

    __slots__ = ("_parents", "_real", "roots")

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self._real: tuple[str, ...] | None = None
        self._parents: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.roots)

    def directly_holds(self, path: str) -> bool:
        """Whether ``path`` is an entry of a root itself (no sub-directory on the way)."""
        parent = os.path.dirname(path)
        if parent in self.roots:  # the common case, as a resolver or store joins its paths
            return True
        if self._parents is None:
            self._parents = frozenset(os.path.normpath(root) for root in self.roots)
        return os.path.normpath(parent or ".") in self._parents

    def holds(self, real: str, *, strictly: bool = False) -> bool:
        """Whether the fully resolved path ``real`` lies inside one of the roots (or is one,
        unless ``strictly``: a file never is its directory)."""
        if self._real is None:
            self._real = tuple(os.path.realpath(root) for root in self.roots)
        return any(
            real.startswith(os.path.join(root, "")) or (real == root and not strictly)
            for root in self._real
        )


def describe_mode(mode: int) -> str:
    """Name the kind of file a mode describes, for error messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def containing_root(directory: str, dirs: tuple[str, ...]) -> str:
    """The directory whose containment ``directory``'s files are judged by: the outermost of
    ``dirs`` that holds it by path (``/run/secrets`` for ``/run/secrets/db``, as a store
    following nested pydantic fields watches both), else ``directory`` itself.

    A sub-directory is data inside its secrets directory, and may be a link swapped to lead
    anywhere: taking its own real path as the root would let it bring any directory in.
    """
    if len(dirs) < 2:
        return directory
    path = os.path.abspath(directory)
    outer, outer_path = directory, path
    for other in dirs:
        candidate = os.path.abspath(other)
        if len(candidate) < len(outer_path) and path.startswith(os.path.join(candidate, "")):
            outer, outer_path = other, candidate
    return outer


def resolves_inside(path: str, roots: tuple[str, ...] | Containment) -> bool:
    """Whether ``path``, all links resolved, lies inside one of the directories ``roots``."""
    containment = roots if isinstance(roots, Containment) else Containment(roots)
    return containment.holds(os.path.realpath(path))


def opened_path(fd: int) -> str | None:
    """The real path of the file open at ``fd``, as the kernel resolved it when opening.

    ``None`` when the platform cannot tell (no ``/proc``) or the answer is not a path.
    """
    if _PROC_FD is None:
        return None
    try:
        real = os.readlink(f"{_PROC_FD}{fd}")
    except OSError:
        return None
    if not real.startswith("/"):
        return None
    # A file unlinked since (the old ``..<timestamp>`` directory of a Kubernetes swap) shows
    # with this suffix; where it lay is what counts. Only then: a file may well be *named*
    # "<secrets dir> (deleted)" next to the directory, and must not pass for inside it.
    if real.endswith(" (deleted)"):
        try:
            unlinked = os.fstat(fd).st_nlink == 0
        except OSError:
            return None
        if unlinked:
            return real.removesuffix(" (deleted)")
    return real


def read_file(
    path: str,
    *,
    name: str | None,
    max_size: int = DEFAULT_MAX_SIZE,
    contain_in: tuple[str, ...] | Containment = (),
    variable: str | None = None,
    missing_ok: bool = False,
    seen: os.stat_result | None = None,
    is_link: bool = False,
    warned: WarnedFiles | None = None,
) -> tuple[bytes, os.stat_result] | None:
    """Read a secret file under the reading rules.

    Args:
        path: The file to read.
        name: The secret's logical name, for error messages.
        max_size: Refuse files larger than this many bytes, before reading them.
        contain_in: The directories a symlinked ``path`` must resolve into;
            empty for an explicit path (a ``_FILE`` variable), which may point anywhere.
        variable: The ``_FILE`` variable that named ``path``, for error messages.
        missing_ok: Return ``None`` instead of raising when nothing is at ``path`` (or only
            a dangling symlink, as between the steps of a Kubernetes swap).
        seen: ``path``'s ``os.stat`` (links followed) taken just before, by a directory scan:
            saves stating it again. With it, ``is_link`` says whether ``path`` itself is a link.
        is_link: Whether ``path`` is a symlink (read only with ``seen``).
        warned: The files already warned about for their permissions (``None``: warn at each
            read of such a file).

    Returns:
        The raw content and the ``fstat`` of the open file, or ``None`` (see ``missing_ok``).

    Raises:
        SecretReadError: The file is missing (unless ``missing_ok``), unreadable, not a regular
            file, or a symlink leading out of its directory.
        SecretTooLargeError: The file is larger than ``max_size``.
    """
    context: dict[str, Any] = {"name": name, "path": path, "variable": variable}
    containment = contain_in if isinstance(contain_in, Containment) else Containment(contain_in)
    if seen is None:
        found = _stat(path, containment, context, missing_ok=missing_ok)
        if found is None:
            return None
        st, is_link = found
    else:
        st = seen
    if is_link and containment and not _is_regular_and_small(st, max_size):
        # Refused either way; say the more telling reason when the link also escapes.
        _check_contained_path(path, containment, context)
    _check_kind_and_size(st, path, max_size, context)
    fd = _open(path, st, is_link, containment, context, missing_ok=missing_ok)
    if fd is None:
        return None
    try:
        # The file may have been replaced between the stat and the open: judge what we opened.
        opened = os.fstat(fd)
        if containment and (
            is_link
            or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino)
            or not containment.directly_holds(path)
        ):
            # A link, an entry replaced since it was stated (perhaps by a link), or a file
            # reached through sub-directories (any of which may be a link swapped meanwhile):
            # check where the descriptor really leads, which no later swap can change.
            _check_contained_fd(fd, path, containment, context)
        _check_kind_and_size(opened, path, max_size, context)
        data = _read_all(fd, opened.st_size, max_size, path, context)
    except OSError as e:
        raise _os_error(path, name, variable, e) from e
    finally:
        os.close(fd)
    if _CHECK_MODE_BITS and opened.st_mode & _WORLD_OR_GROUP_WRITABLE:
        warn_writable(path, name, opened, warned)
    return data, opened


def _stat(
    path: str, containment: Containment, context: dict[str, Any], *, missing_ok: bool
) -> tuple[os.stat_result, bool] | None:
    """``path``'s stat, links followed, and whether it is a link; ``None`` when nothing is
    there and ``missing_ok``."""
    is_link = False
    try:
        st = os.lstat(path)
        is_link = stat.S_ISLNK(st.st_mode)
        if is_link:
            st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as e:
        if is_link and containment:
            # A link to nowhere outside is still a link out: say so, not "missing".
            _check_contained_path(path, containment, context)
        if missing_ok:
            return None
        raise _missing(path, context["name"], context["variable"], e.errno) from e
    except OSError as e:
        raise _os_error(path, context["name"], context["variable"], e) from e
    return st, is_link


def _open(
    path: str,
    st: os.stat_result,
    is_link: bool,
    containment: Containment,
    context: dict[str, Any],
    *,
    missing_ok: bool,
) -> int | None:
    """A descriptor on ``path``, opened without blocking; ``None`` when it vanished and
    ``missing_ok``."""
    name, variable = context["name"], context["variable"]
    try:
        return os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError) as e:
        if missing_ok:
            return None
        raise _missing(path, name, variable, e.errno) from e
    except PermissionError as e:
        if is_link and containment:
            _check_contained_path(path, containment, context)
        raise _permission_denied(path, name, variable, st, e.errno) from e
    except OSError as e:
        raise _os_error(path, name, variable, e) from e


def _check_contained_fd(
    fd: int, path: str, containment: Containment, context: dict[str, Any]
) -> None:
    real = opened_path(fd)
    if real is None:
        # No /proc: resolve the path again. A link swapped between the open and this call is
        # judged by its new target, as every check by path is.
        real = os.path.realpath(path)
    if not containment.holds(real, strictly=True):
        raise _outside(path, context)


def _check_contained_path(path: str, containment: Containment, context: dict[str, Any]) -> None:
    if not containment.holds(os.path.realpath(path)):
        raise _outside(path, context)


def _outside(path: str, context: dict[str, Any]) -> SecretReadError:
    return SecretReadError(
        f"secret {context['name']!r}: {path} is a symlink that leads outside its secrets "
        "directory; refusing to follow it (a resolver or store made with "
        "allow_external_links=True follows it)",
        reason="outside_directory",
        **context,
    )


def _is_regular_and_small(st: os.stat_result, max_size: int) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_size <= max_size


def _read_all(fd: int, size: int, max_size: int, path: str, context: dict[str, Any]) -> bytes:
    # Ask for one byte more than the file's size: a short read means end of file for a regular
    # file, so the common case costs a single read call.
    want = size + 1
    first = os.read(fd, want)
    if len(first) < want:
        return first
    chunks = [first]
    total = len(first)
    while True:
        if total > max_size:
            raise SecretTooLargeError(
                f"secret {context['name']!r}: {describe_file(path, context['variable'])} grew past "
                f"the {max_size}-byte limit while being read",
                size=total,
                limit=max_size,
                **context,
            )
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)


def _check_kind_and_size(
    st: os.stat_result, path: str, max_size: int, context: dict[str, Any]
) -> None:
    where = describe_file(path, context["variable"])
    if not stat.S_ISREG(st.st_mode):
        raise SecretReadError(
            f"secret {context['name']!r}: {where} is {describe_mode(st.st_mode)}, "
            "not a regular file",
            reason="not_regular_file",
            **context,
        )
    if st.st_size > max_size:
        raise too_large(st.st_size, max_size, **context)


def too_large(
    size: int, max_size: int, *, name: str | None, path: str, variable: str | None
) -> SecretTooLargeError:
    """The error for a file of ``size`` bytes over the ``max_size`` cap (never its content)."""
    return SecretTooLargeError(
        f"secret {name!r}: {describe_file(path, variable)} is {size} bytes, over the "
        f"{max_size}-byte limit",
        size=size,
        limit=max_size,
        name=name,
        path=shown_path(path, variable),
        variable=variable,
    )


def describe_file(path: str, variable: str | None) -> str:
    """``path`` for a message, with the ``_FILE`` variable that named it (see :func:`shown_path`:
    a variable's value that may not be a path is not repeated)."""
    if not variable:
        return path
    if shown_path(path, variable) is None:
        return (
            f"the file named by {variable} (its value, {len(path)} characters, is not shown: "
            "it names nothing that exists, and may be a secret pasted there by mistake)"
        )
    return f"{path} (named by {variable})"


def shown_path(path: str, variable: str | None) -> str | None:
    """``path`` as an error may show it, or ``None``.

    A path the caller or a directory listing gave is shown. A ``_FILE`` variable's value is
    shown once it is known to be a path: something exists there, or it is absolute and its
    directory exists. Any other value (``hunter2``: a password pasted into ``DB_PASSWORD_FILE``
    by mistake) is never repeated, in a message, an attribute, a log line or a status.
    """
    if not variable:
        return path
    try:
        if os.path.lexists(path) or (os.path.isabs(path) and os.path.isdir(os.path.dirname(path))):
            return path
    except (OSError, ValueError):
        pass
    return None


def _missing(
    path: str, name: str | None, variable: str | None, errno: int | None
) -> SecretReadError:
    return SecretReadError(
        f"secret {name!r}: {describe_file(path, variable)} does not exist",
        reason="not_found",
        errno=errno,
        name=name,
        path=shown_path(path, variable),
        variable=variable,
    )


def _permission_denied(
    path: str, name: str | None, variable: str | None, st: os.stat_result, errno: int | None
) -> SecretReadError:
    who = ""
    if hasattr(os, "geteuid"):
        who = (
            f" (mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}, gid {st.st_gid}; "
            f"this process runs as uid {os.geteuid()}, gid {os.getegid()}. A Compose file secret "
            "keeps the host file's owner and mode)"
        )
    return SecretReadError(
        f"secret {name!r}: permission denied reading {describe_file(path, variable)}{who}",
        reason="permission_denied",
        errno=errno,
        name=name,
        path=shown_path(path, variable),
        variable=variable,
    )


def os_reason(error: OSError) -> str:
    """What went wrong, from the error number alone: the system's description of it
    (``Input/output error``), never the error's own text, which may hold a path or more."""
    if error.errno is not None:
        return os.strerror(error.errno)
    return type(error).__name__


def _os_error(path: str, name: str | None, variable: str | None, e: OSError) -> SecretReadError:
    if isinstance(e, PermissionError):
        return SecretReadError(
            f"secret {name!r}: permission denied on {describe_file(path, variable)} "
            "(a directory on the way is not searchable)",
            reason="permission_denied",
            errno=e.errno,
            name=name,
            path=shown_path(path, variable),
            variable=variable,
        )
    return SecretReadError(
        f"secret {name!r}: cannot read {describe_file(path, variable)}: {os_reason(e)}",
        reason="os_error",
        errno=e.errno,
        name=name,
        path=shown_path(path, variable),
        variable=variable,
    )


def decode_text(data: bytes, *, strip: bool, name: str | None, path: str | None = None) -> str:
    """Decode a secret file's bytes as text.

    Strict UTF-8; a leading byte-order mark is dropped; with ``strip``, every trailing line
    ending (``\\n``, ``\\r\\n``) is removed as the shell's ``$(< file)`` does, spaces kept.

    Raises:
        SecretDecodeError: The bytes are not UTF-8. The message gives the offset only.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start
    else:
        if text.startswith("\ufeff"):
            text = text[1:]
        return text.rstrip("\r\n") if strip else text
    # Raised here, past the handler and with the bytes dropped: the UnicodeDecodeError (whose
    # ``.object`` is the whole value) is neither chained nor kept, and this frame holds no value.
    del data
    raise SecretDecodeError(
        f"secret {name!r}{f' in {path}' if path else ''} is not valid UTF-8 "
        f"(first bad byte at offset {offset}); read it as bytes instead",
        offset=offset,
        name=name,
        path=path,
    )
