"""Where a value came from, without what it is."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The value came from the file named by a ``FOO_FILE`` variable.
FILE_VARIABLE = "file_variable"
#: The value came from a plain ``FOO`` variable.
ENVIRONMENT = "environment"
#: The value came from a file in a secrets directory.
DIRECTORY = "directory"
#: The value is the caller's default.
DEFAULT = "default"

#: The lookup order used unless a caller configures another, as the official images do.
DEFAULT_SOURCES: tuple[str, ...] = (FILE_VARIABLE, ENVIRONMENT, DIRECTORY)
SOURCE_KINDS = frozenset((FILE_VARIABLE, ENVIRONMENT, DIRECTORY))
_FIELDS = ("name", "kind", "path", "variable", "size", "mtime")


class Provenance:
    """The source of one resolved secret: kind, file or variable, size and modification time.

    It never holds the value (nor anything derived from it but its size), so it is safe to log,
    print and serialise.

    Attributes:
        name: The logical secret name.
        kind: ``"file_variable"``, ``"environment"``, ``"directory"`` or ``"default"``.
        path: The file read, for the file kinds.
        variable: The variable read (``FOO`` or ``FOO_FILE``), for the environment kinds.
        size: Size of the raw value in bytes.
        mtime: The file's modification time (seconds since the epoch), for the file kinds.
    """

    __slots__ = ("kind", "mtime", "name", "path", "size", "variable")

    def __init__(
        self,
        name: str,
        kind: str,
        *,
        path: str | None = None,
        variable: str | None = None,
        size: int | None = None,
        mtime: float | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.path = path
        self.variable = variable
        self.size = size
        self.mtime = mtime

    def describe(self) -> str:
        """One phrase saying where the value came from, for logs and messages."""
        if self.kind == FILE_VARIABLE:
            return f"file {self.path} (named by {self.variable})"
        if self.kind == ENVIRONMENT:
            return f"environment variable {self.variable}"
        if self.kind == DIRECTORY:
            return f"file {self.path}"
        return "the caller's default"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every attribute."""
        return {field: getattr(self, field) for field in _FIELDS}

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, field) for field in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Provenance):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Provenance({self.name!r}, {self.describe()}, size={self.size})"
