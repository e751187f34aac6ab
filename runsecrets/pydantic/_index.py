"""Secrets directories listed once per load and looked up by name.

pydantic-settings' ``SecretsSettingsSource`` iterates the whole directory for every field (and
every alias of it), so a model with n fields over a directory of n files costs n * n entry
checks. Here each directory is listed once, into a dictionary keyed by the (case-folded) entry
name, and each field is then one dictionary look-up: the load is linear in the field count.

No pydantic here: this module only knows directories, names and the one directory lister
(:func:`runsecrets._listing.list_entries`).

Sub-directories (``db/password`` for a nested ``db.password``) are followed only while they
resolve inside their secrets directory: the reader checks a file's *own* symlink against the
directory, so a sub-directory that is itself a link out of it (``db -> /etc``) would otherwise
smuggle in any file. Links that stay inside (Kubernetes' ``db -> ..data/db``) are fine.
"""

from __future__ import annotations

import logging
import os

from .._listing import DIRECTORY, list_entries
from .._read import resolves_inside
from ..exceptions import SecretReadError

logger = logging.getLogger("runsecrets.pydantic")


class Found:
    """A file in a secrets directory that answers a look-up.

    Attributes:
        path: The file's path.
        root: The top secrets directory it was found under; a symlink must resolve inside it.
    """

    __slots__ = ("path", "root")

    def __init__(self, path: str, root: str) -> None:
        self.path = path
        self.root = root


class DirectoryListing:
    """One directory's entries, listed once: files and sub-directories by (folded) name.

    Entries skipped as in :func:`runsecrets._listing.list_secret_files`: dot-entries (Kubernetes'
    ``..data``), writer debris and names that are not valid secret names. Unlike that function,
    entries that are not regular files are kept as files, so that reading one (a FIFO, a socket)
    gives the reading rules' clear error rather than a silent "not found".

    Args:
        path: The directory to list.
        root: The top secrets directory ``path`` lies under.
        case_sensitive: Whether names keep their case.
        contain_in: The directories a sub-directory must resolve into (all links followed) to
            be listed: the root and the platform's trusted link roots. Empty: no check
            (``allow_external_links``).
    """

    __slots__ = ("_case_sensitive", "_contain_in", "_dirs", "_files", "_subdirs", "path", "root")

    def __init__(
        self,
        path: str,
        root: str,
        *,
        case_sensitive: bool,
        contain_in: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.root = root
        self._case_sensitive = case_sensitive
        self._contain_in = contain_in
        self._files: dict[str, list[str]] = {}
        self._dirs: dict[str, list[str]] = {}
        self._subdirs: dict[str, DirectoryListing | None] = {}
        try:
            entries = list_entries(path)
        except (OSError, SecretReadError):  # missing, not a directory, unreadable: nothing here
            return
        for name, _, kind in entries:
            key = name if case_sensitive else name.lower()
            (self._dirs if kind == DIRECTORY else self._files).setdefault(key, []).append(name)

    def file(self, key: str) -> str | None:
        """The path of the file named ``key`` (already folded when case-insensitive)."""
        name = self._pick(self._files.get(key), key)
        return None if name is None else os.path.join(self.path, name)

    def has_directory(self, key: str) -> bool:
        """Whether a sub-directory answers ``key``."""
        return self._pick(self._dirs.get(key), key) is not None

    def subdirectory(self, key: str) -> DirectoryListing | None:
        """The listing of the sub-directory named ``key``, listed on first use.

        ``None`` when there is none, or when it resolves outside the secrets directory (a
        symlinked sub-directory leading out of it is skipped, with a debug log, never read).
        """
        if key in self._subdirs:
            return self._subdirs[key]
        name = self._pick(self._dirs.get(key), key)
        listing = None
        if name is not None:
            path = os.path.join(self.path, name)
            if self._contain_in and not resolves_inside(path, self._contain_in):
                logger.debug(
                    "skipping sub-directory %s: it resolves outside the secrets directory %s",
                    path,
                    self.root,
                )
            else:
                listing = DirectoryListing(
                    path,
                    self.root,
                    case_sensitive=self._case_sensitive,
                    contain_in=self._contain_in,
                )
        self._subdirs[key] = listing
        return listing

    @staticmethod
    def _pick(names: list[str] | None, key: str) -> str | None:
        # Case-insensitive: the entry spelled exactly as asked wins, else the only one that
        # matches; two spellings and neither exact (``Token`` and ``TOKEN``) match nothing,
        # as in the core resolver, rather than one picked by directory order.
        if not names:
            return None
        if len(names) == 1:
            return names[0]
        return key if key in names else None


class SecretsIndex:
    """Several secrets directories, each listed once, looked up in priority order.

    Args:
        dirs: The directories, highest priority first.
        case_sensitive: With ``False``, look-up keys must be lower-cased by the caller and
            entries match whatever their case.
        nested_delimiter: Joins the parts of a nested name in a flat file name (``db__password``);
            ``None`` disables nested look-ups.
        link_roots: Directories outside a secrets directory its links may lead into (the
            platform's own, see :func:`runsecrets._platform.trusted_link_roots`).
        allow_external_links: Follow sub-directories that resolve outside their secrets
            directory too (the same switch as for files).
    """

    __slots__ = ("_listings", "_nested_delimiter")

    _listings: dict[str, DirectoryListing]

    def __init__(
        self,
        dirs: tuple[str, ...],
        *,
        case_sensitive: bool,
        nested_delimiter: str | None,
        link_roots: tuple[str, ...] = (),
        allow_external_links: bool = False,
    ) -> None:
        self._listings = {
            d: DirectoryListing(
                d,
                d,
                case_sensitive=case_sensitive,
                contain_in=() if allow_external_links else (d, *link_roots),
            )
            for d in dirs
        }
        self._nested_delimiter = nested_delimiter

    def find(self, parts: tuple[str, ...], directory: str) -> Found | None:
        """The file of ``directory`` holding the value for the name ``parts``
        (``("db", "password")``); ``None`` for a directory not indexed.

        The flat file (``db__password``) first, then the same name under sub-directories
        (``db/password``; ``db/tls__key`` and ``db/tls/key`` for three parts). A single part is
        a plain file name.
        """
        delimiter = self._nested_delimiter
        if len(parts) > 1 and delimiter is None:
            return None
        listing = self._listings.get(directory)
        current: DirectoryListing | None = listing
        for depth in range(len(parts)):
            if current is None:
                break
            rest = parts[depth:]
            path = current.file(rest[0] if len(rest) == 1 else (delimiter or "").join(rest))
            if path is not None:
                return Found(path, directory)
            if len(rest) > 1:
                current = current.subdirectory(parts[depth])
        return None

    def is_directory(self, name: str) -> bool:
        """Whether a top-level entry named ``name`` is a directory (and no file is)."""
        return any(listing.has_directory(name) for listing in self._listings.values())
