"""Where TLS material comes from: a secret name or a path, read under the core's reading rules.

A *spec* is either a path (an ``os.PathLike``, or a string holding a path separator) or a secret
name resolved by :class:`~runsecrets.Secrets` (``FOO_FILE``, ``FOO``, then the directories). A
:class:`MaterialSource` reads one set of parts: afresh (:class:`SpecSource`), or as a store's
snapshot holds them (:class:`StoreSource`).
"""

from __future__ import annotations

import collections
import os
from typing import cast

from .._names import file_env_name, validate_name
from .._provenance import FILE_VARIABLE
from .._read import decode_text, read_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping
    from typing import TypeAlias

    from .._secrets import Secrets
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore
    from ._material import RawParts

    #: A secret name, or a path to a file.
    Spec: TypeAlias = str | os.PathLike[str]

#: The parts of a set of TLS material, in the order they are read.
PARTS = ("cert", "key", "ca", "password")


def is_path(spec: Spec) -> bool:
    """Whether ``spec`` names a file rather than a secret (a bare name is a secret name)."""
    if isinstance(spec, os.PathLike):
        return True
    return os.sep in spec or bool(os.altsep and os.altsep in spec)


def read_spec(spec: Spec, secrets: Secrets) -> tuple[bytes, str]:
    """Read one part's raw bytes.

    Returns:
        The bytes and a label for messages: the file read, or the variable that held the value.

    Raises:
        SecretNotFoundError: A secret name that no source holds.
        SecretReadError: The file is missing, unreadable, too large or not a regular file.
    """
    if is_path(spec):
        path = os.fspath(spec)
        result = read_file(
            path,
            name=os.path.basename(path),
            max_size=secrets.max_size,
            warned=secrets.warned_files,
        )
        assert result is not None  # missing_ok is off: a missing file raises
        return result[0], path
    name = validate_name(str(spec))
    # One read gives both the bytes and where they came from (a label for messages).
    found = secrets.resolve(name)
    if found is None:
        raise secrets.not_found_error(name)
    raw, provenance = found
    label = provenance.path or provenance.variable or name
    return (os.fsencode(raw) if isinstance(raw, str) else raw), label


def password_bytes(raw: bytes, label: str) -> bytes:
    """A key password as bytes: UTF-8 text, trailing line endings dropped as ``$(< file)`` does."""
    return decode_text(raw, strip=True, name=os.path.basename(label), path=label).encode()


def describe_spec(spec: Spec) -> str:
    """A label for a spec before it is read: the path, or ``secret 'name'``."""
    return os.fspath(spec) if is_path(spec) else f"secret {spec!r}"


# Names under which an internal store tracks parts given as paths: each becomes a ``_FILE``
# variable of a private environment layered over the real one, so the store watches the file's
# directory as it watches any ``_FILE`` target.
_PATH_NAME = "runsecrets-tls-internal-{part}"


class MaterialSource:
    """Reads the raw parts (``cert``, ``key``, ``ca``, ``password``) of one set of material."""

    def read(self) -> RawParts:
        """The parts as they are now; a part not configured is ``None``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (a store it started)."""


class SpecSource(MaterialSource):
    """Secret names and paths, read afresh at each :meth:`read`."""

    def __init__(self, specs: Mapping[str, Spec | None], secrets: Secrets) -> None:
        self._specs = dict(specs)
        self._secrets = secrets

    def read(self) -> RawParts:
        return {
            part: None if spec is None else read_spec(spec, self._secrets)
            for part, spec in self._specs.items()
        }


class StoreSource(MaterialSource):
    """The parts as published by a :class:`~runsecrets.SecretStore`: one consistent snapshot."""

    def __init__(
        self, store: SecretStore, names: Mapping[str, str | None], *, owned: bool = False
    ) -> None:
        self.store = store
        self.names = dict(names)
        #: Whether the store was made for this source (it is closed with it).
        self.owned = owned

    def read(self) -> RawParts:
        return self.read_from(self.store.snapshot)

    def read_from(self, snapshot: Snapshot) -> RawParts:
        """The parts as ``snapshot`` (published or a candidate) holds them."""
        parts: dict[str, tuple[bytes, str] | None] = {}
        for part, name in self.names.items():
            if name is None:
                parts[part] = None
                continue
            provenance = snapshot.provenance(name)  # raises when the store does not hold it
            label = provenance.path or provenance.variable or name
            parts[part] = (snapshot.get_bytes(name), label)
        return parts

    def close(self) -> None:
        if self.owned:
            self.store.close()


def store_for_specs(specs: Mapping[str, Spec | None], secrets: Secrets) -> StoreSource:
    """An internal store that tracks exactly these parts, paths included."""
    from ..reload.store import SecretStore

    synthetic: dict[str, str] = {}
    names: dict[str, str | None] = {}
    for part, spec in specs.items():
        if spec is None:
            names[part] = None
        elif is_path(spec):
            name = _PATH_NAME.format(part=part)
            synthetic[file_env_name(name, secrets.prefix)] = str(spec)
            names[part] = name
        else:
            names[part] = str(spec)
    # Read live, never copied: the real environment is only ever read through this layer.
    rules = secrets.rules
    environ = collections.ChainMap(synthetic, cast("MutableMapping[str, str]", rules.environ))
    # The resolver's rules handed on whole (links, sources, case...), only the environment
    # layered: a part the resolver reads, the context's store reads the same way.
    changes: dict[str, object] = {"environ": environ}
    if synthetic and FILE_VARIABLE not in rules.sources:
        changes["sources"] = (FILE_VARIABLE, *rules.sources)  # how the store reads paths
    store = SecretStore(
        names=[n for n in names.values() if n is not None], rules=rules.replace(**changes)
    )
    return StoreSource(store, names, owned=True)
