"""What one run of the doctor looks at, and what it has read so far.

A :class:`Context` holds the inputs (environment, directories, the ``/proc`` to read, the
limits) and remembers, for this run only, the mount table, each directory's listing and each
file's content, so that every family of checks sees the same facts and nothing is read twice.
Nothing is shared between runs.
"""

from __future__ import annotations

import os
import stat
import sys
import warnings

from .._listing import list_secret_entries
from .._lookup import file_variables
from .._platform import resolve_dirs, trusted_link_roots
from .._read import DEFAULT_MAX_SIZE, read_file
from ..exceptions import InsecurePermissionsWarning, SecretReadError
from ._mountinfo import MountTable, read_mountinfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping

    from .._types import DirsArg

    #: A directory's listing: its entries, or why it could not be listed.
    Listing = list[tuple[str, os.DirEntry[str], bool]] | SecretReadError


class SecretFile:
    """A file that holds (or should hold) a secret: a directory entry or a ``_FILE`` target.

    Attributes:
        name: The secret's name (the entry's name, or the variable's without ``_FILE``).
        path: The file's path as configured (``/run/secrets/x``, or the ``_FILE`` value).
        real_path: ``path`` with every link resolved.
        directory: The secrets directory it was found in, or ``None`` for a ``_FILE`` target.
        variable: The ``_FILE`` variable naming it, or ``None`` for a directory entry.
        stat: Its ``os.stat`` (links followed), or ``None`` when that failed (a dangling link).
        is_link: Whether ``path`` itself is a symlink.
    """

    __slots__ = ("directory", "is_link", "name", "path", "real_path", "stat", "variable")

    def __init__(
        self,
        *,
        name: str,
        path: str,
        real_path: str,
        directory: str | None,
        variable: str | None,
        st: os.stat_result | None,
        is_link: bool,
    ) -> None:
        self.name = name
        self.path = path
        self.real_path = real_path
        self.directory = directory
        self.variable = variable
        self.stat = st
        self.is_link = is_link

    @property
    def dangling(self) -> bool:
        """Whether ``path`` is a link that leads nowhere."""
        return self.stat is None

    def __repr__(self) -> str:
        return f"SecretFile({self.path!r})"


class Context:
    """The inputs of one doctor run and the facts gathered during it.

    Args:
        dirs: The secrets directories (default: ``RUNSECRETS_DIR``, else the platform's).
        environ: The environment to inspect (default: ``os.environ``).
        prefix: The variable prefix for ``_FILE`` variables (``APP_``).
        proc_root: Where ``/proc`` is (a prepared directory in tests).
        min_days: A certificate with fewer days left is reported (default: the TLS default, 30).
        max_size: The size cap secrets are read with (default 500 KiB).
        now: The time certificates are judged at (timezone-aware; default now).
        platform: ``sys.platform`` to act for (Linux-only checks are skipped elsewhere).
    """

    def __init__(
        self,
        *,
        dirs: DirsArg | None = None,
        environ: Mapping[str, str] | None = None,
        prefix: str = "",
        proc_root: str = "/proc",
        min_days: int | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        now: datetime.datetime | None = None,
        platform: str | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.dirs = tuple(os.path.abspath(d) for d in resolve_dirs(dirs, self.environ, platform))
        self.prefix = prefix
        self.proc_root = proc_root
        self.min_days = min_days
        self.max_size = max_size
        self.now = now
        self.platform = sys.platform if platform is None else platform
        #: The ``(FOO, FOO_FILE)`` pairs whose ``FOO_FILE`` is set, as the core chooses them.
        self.file_variables = file_variables(self.environ, prefix)
        self._mounts: MountTable | OSError | None = None
        self._listings: dict[str, Listing | None] = {}
        self._reads: dict[str, tuple[bytes, os.stat_result] | SecretReadError] = {}
        self._files: list[SecretFile] | None = None

    @property
    def linux(self) -> bool:
        """Whether the Linux-only checks (mount table, inotify) apply."""
        return self.platform.startswith("linux")

    @property
    def checks_modes(self) -> bool:
        """Whether mode bits mean something here (Windows reports synthetic ones)."""
        return self.platform != "win32"

    def mounts(self) -> MountTable | OSError:
        """The mount table, or the error that kept it from being read (read once per run)."""
        if self._mounts is None:
            try:
                self._mounts = read_mountinfo(self.proc_root)
            except OSError as e:
                self._mounts = e
        return self._mounts

    def listing(self, directory: str) -> Listing | None:
        """``directory``'s secret entries (the core's lister), the error that kept it from
        being listed, or ``None`` when it does not exist or is not a directory."""
        if directory not in self._listings:
            try:
                found: Listing | None = list_secret_entries(directory)
            except (FileNotFoundError, NotADirectoryError):
                found = None
            except SecretReadError as e:
                found = e
            self._listings[directory] = found
        return self._listings[directory]

    def secret_files(self) -> list[SecretFile]:
        """Every secret file: the directories' entries (first directory first), then each
        ``_FILE`` target that exists and is not one of those entries."""
        if self._files is None:
            files = []
            for directory in self.dirs:
                files.extend(self._directory_files(directory))
            seen = {file.path for file in files}
            for variable, file_variable in self.file_variables:
                target = self._file_target(variable, file_variable)
                if target is not None and target.path not in seen:
                    files.append(target)
            self._files = files
        return self._files

    def _directory_files(self, directory: str) -> list[SecretFile]:
        listing = self.listing(directory)
        if listing is None or isinstance(listing, SecretReadError):
            return []
        real_directory = os.path.realpath(directory)
        files = []
        for name, entry, dangling in listing:
            is_link = entry.is_symlink()
            st: os.stat_result | None = None
            if not dangling:
                try:
                    st = entry.stat()
                except OSError:
                    st = None
            real = os.path.realpath(entry.path) if is_link else os.path.join(real_directory, name)
            files.append(
                SecretFile(
                    name=name,
                    path=entry.path,
                    real_path=real,
                    directory=directory,
                    variable=None,
                    st=st,
                    is_link=is_link,
                )
            )
        return files

    def _file_target(self, variable: str, file_variable: str) -> SecretFile | None:
        value = self.environ[file_variable]
        if not os.path.lexists(value):
            return None  # the environment checks report it, without echoing the value
        path = os.path.abspath(value)
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        return SecretFile(
            name=variable[len(self.prefix) :].lower() or file_variable,
            path=path,
            real_path=os.path.realpath(path),
            directory=None,
            variable=file_variable,
            st=st,
            is_link=os.path.islink(path),
        )

    def read(self, file: SecretFile) -> tuple[bytes, os.stat_result] | SecretReadError:
        """``file``'s content and ``fstat`` read under the core's reading rules (containment,
        size cap, never blocking), or the error reading it raised. Read once per run."""
        if file.path not in self._reads:
            self._reads[file.path] = self._read(file)
        return self._reads[file.path]

    def _read(self, file: SecretFile) -> tuple[bytes, os.stat_result] | SecretReadError:
        contain_in = () if file.directory is None else (file.directory, *trusted_link_roots())
        try:
            # The permission warning is the files family's finding, not a Python warning.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecurePermissionsWarning)
                result = read_file(
                    file.path,
                    name=file.name,
                    max_size=self.max_size,
                    contain_in=contain_in,
                    variable=file.variable,
                    seen=file.stat,
                    is_link=file.is_link,
                )
        except SecretReadError as e:
            return e
        assert result is not None  # missing_ok is off: a missing file raises
        return result


def is_regular(st: os.stat_result | None) -> bool:
    """Whether ``st`` describes a regular file."""
    return st is not None and stat.S_ISREG(st.st_mode)
