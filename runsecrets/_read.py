"""Reading one secret file safely.

The rules (see the README, "Reading rules"): regular files only, symlinks followed but kept
inside their secrets directory, never a blocking open (a FIFO must not hang us), the size cap
checked before reading, strict UTF-8 for text with the BOM and trailing line endings dropped.
"""

from __future__ import annotations

import os
import stat
import sys

from .exceptions import (
    InsecurePermissionsWarning,
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

# Files already warned about, so a service polling a lax file logs one warning, not thousands.
# It holds (device, inode) pairs only, never content. A race between two threads can at worst
# warn twice, which is why no lock is taken.
_warned_files: set[tuple[int, int]] = set()


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


def resolves_inside(path: str, roots: tuple[str, ...]) -> bool:
    """Whether ``path``, all links resolved, lies inside one of the directories ``roots``."""
    real = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if real == real_root or real.startswith(os.path.join(real_root, "")):
            return True
    return False


def read_file(
    path: str,
    *,
    name: str | None,
    max_size: int = DEFAULT_MAX_SIZE,
    contain_in: tuple[str, ...] = (),
    variable: str | None = None,
    missing_ok: bool = False,
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

    Returns:
        The raw content and the ``fstat`` of the open file, or ``None`` (see ``missing_ok``).

    Raises:
        SecretReadError: The file is missing (unless ``missing_ok``), unreadable, not a regular
            file, or a symlink leading out of its directory.
        SecretTooLargeError: The file is larger than ``max_size``.
    """
    context: dict[str, Any] = {"name": name, "path": path, "variable": variable}
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            if contain_in and not resolves_inside(path, contain_in):
                raise SecretReadError(
                    f"secret {name!r}: {path} is a symlink that leads outside its secrets "
                    "directory; refusing to follow it (pass allow_external_links=True to allow)",
                    reason="outside_directory",
                    **context,
                )
            st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as e:
        if missing_ok:
            return None
        raise _missing(path, name, variable, e.errno) from e
    except OSError as e:
        raise _os_error(path, name, variable, e) from e
    _check_kind_and_size(st, path, max_size, context)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError) as e:
        if missing_ok:
            return None
        raise _missing(path, name, variable, e.errno) from e
    except PermissionError as e:
        raise _permission_denied(path, name, variable, st, e.errno) from e
    except OSError as e:
        raise _os_error(path, name, variable, e) from e
    try:
        # The file may have been replaced between the stat and the open: judge what we opened.
        st = os.fstat(fd)
        _check_kind_and_size(st, path, max_size, context)
        data = _read_all(fd, st.st_size, max_size, path, context)
    except OSError as e:
        raise _os_error(path, name, variable, e) from e
    finally:
        os.close(fd)
    if _CHECK_MODE_BITS and st.st_mode & _WORLD_OR_GROUP_WRITABLE:
        _warn_writable(path, name, st)
    return data, st


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
                f"secret {context['name']!r}: {path} grew past the {max_size}-byte limit "
                "while being read",
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
    if not stat.S_ISREG(st.st_mode):
        raise SecretReadError(
            f"secret {context['name']!r}: {path} is {describe_mode(st.st_mode)}, "
            "not a regular file",
            reason="not_regular_file",
            **context,
        )
    if st.st_size > max_size:
        raise SecretTooLargeError(
            f"secret {context['name']!r}: {path} is {st.st_size} bytes, over the "
            f"{max_size}-byte limit",
            size=st.st_size,
            limit=max_size,
            **context,
        )


def _where(path: str, variable: str | None) -> str:
    return f"{path} (named by {variable})" if variable else path


def _missing(
    path: str, name: str | None, variable: str | None, errno: int | None
) -> SecretReadError:
    return SecretReadError(
        f"secret {name!r}: {_where(path, variable)} does not exist",
        reason="not_found",
        errno=errno,
        name=name,
        path=path,
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
        f"secret {name!r}: permission denied reading {_where(path, variable)}{who}",
        reason="permission_denied",
        errno=errno,
        name=name,
        path=path,
        variable=variable,
    )


def _os_error(path: str, name: str | None, variable: str | None, e: OSError) -> SecretReadError:
    if isinstance(e, PermissionError):
        return SecretReadError(
            f"secret {name!r}: permission denied on {_where(path, variable)} "
            "(a directory on the way is not searchable)",
            reason="permission_denied",
            errno=e.errno,
            name=name,
            path=path,
            variable=variable,
        )
    return SecretReadError(
        f"secret {name!r}: cannot read {_where(path, variable)}: {e.strerror or e}",
        reason="os_error",
        errno=e.errno,
        name=name,
        path=path,
        variable=variable,
    )


def _warn_writable(path: str, name: str | None, st: os.stat_result) -> None:
    key = (st.st_dev, st.st_ino)
    if key in _warned_files:
        return
    _warned_files.add(key)
    import warnings

    writers = [
        who
        for bit, who in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "others"))
        if st.st_mode & bit
    ]
    warnings.warn(
        f"secret {name!r}: {path} is writable by {' and '.join(writers)} "
        f"(mode {stat.S_IMODE(st.st_mode):04o}); anyone with that access can replace it",
        InsecurePermissionsWarning,
        stacklevel=4,
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
        # ``from None``: the UnicodeDecodeError holds the whole value in ``.object`` and prints
        # the offending byte; neither may travel with the traceback.
        raise SecretDecodeError(
            f"secret {name!r}{f' in {path}' if path else ''} is not valid UTF-8 "
            f"(first bad byte at offset {e.start}); read it as bytes instead",
            offset=e.start,
            name=name,
            path=path,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if strip:
        text = text.rstrip("\r\n")
    return text
