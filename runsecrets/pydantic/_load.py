"""One load of a settings model from ``_FILE`` variables and secrets directories.

A :class:`Load` lives for one call of the source: it holds the directory index (each directory
listed once), the environment view and the errors met, so nothing is shared between loads.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from .._lookup import places, read_secret_file
from .._names import FILE_SUFFIX
from .._provenance import DIRECTORY, FILE_VARIABLE, Provenance
from .._read import decode_text, too_large
from .._warn import WarnedFiles
from ..exceptions import RunSecretsError, SecretConflictError, SecretReadError
from . import _fields as fields
from ._compat import field_keys, match_field_names

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo
    from pydantic_settings.sources import PydanticBaseEnvSettingsSource

    from .._lookup import Place
    from .._rules import ReadingRules
    from ..reload.snapshot import Snapshot
    from ._index import SecretsIndex

#: Prefix of the pydantic error types this source reports (``runsecrets_conflict``...).
ERROR_TYPE_PREFIX = "runsecrets_"


class PinnedDirs(tuple):  # type: ignore[type-arg]  # a tuple of paths, as secrets_dir is
    """A model's secrets directories that also carry the files of a store's candidate snapshot.

    What a model built from a store's snapshot gets as its ``_secrets_dir`` (pydantic-settings'
    own init argument, handed to every source): its secrets directories as they are, so any
    source reads them as usual, and :attr:`files`, the bytes of the store's stable read by
    absolute path, which :class:`~runsecrets.pydantic.RunSecretsSettingsSource` passes on to
    its loader. The model then holds exactly the bytes that snapshot publishes, never a third
    read that could catch an in-place writer half way. Nothing is kept anywhere else: the
    files live as long as this value.

    Attributes:
        files: ``(raw, mtime)`` by absolute path.
        configured: The model's own ``secrets_dir`` (``None`` when it sets none).
    """

    files: Mapping[str, tuple[bytes, float]]
    configured: object

    def __new__(cls, configured: object, snapshot: Snapshot) -> PinnedDirs:
        if configured is None:
            dirs: tuple[str, ...] = ()
        elif isinstance(configured, (str, os.PathLike)):
            dirs = (os.fspath(configured),)
        else:
            dirs = tuple(os.fspath(d) for d in configured)  # type: ignore[attr-defined]
        pinned = super().__new__(cls, dirs)
        pinned.configured = configured
        pinned.files = snapshot_files(snapshot)
        return pinned


def snapshot_files(snapshot: Snapshot) -> dict[str, tuple[bytes, float]]:
    """The files ``snapshot`` holds, by absolute path: ``(raw, mtime)``."""
    files: dict[str, tuple[bytes, float]] = {}
    for entry in snapshot.entries.values():
        provenance = entry.provenance
        if provenance.path and provenance.mtime is not None:
            files[os.path.abspath(provenance.path)] = (entry.raw, provenance.mtime)
    return files


def _read(
    name: str,
    path: str,
    rules: ReadingRules,
    warned: WarnedFiles,
    files: Mapping[str, tuple[bytes, float]] | None,
    *,
    kind: str,
    variable: str | None = None,
    contain_in: tuple[str, ...] = (),
    missing_ok: bool = True,
) -> tuple[bytes, Provenance] | None:
    """The file's content: from ``files`` (a store's candidate) when it holds it, else read
    under the reading rules."""
    hit = None if files is None else files.get(os.path.abspath(path))
    if hit is None:
        return read_secret_file(
            name,
            path,
            rules,
            warned,
            kind=kind,
            variable=variable,
            contain_in=contain_in,
            missing_ok=missing_ok,
        )
    raw, mtime = hit
    if len(raw) > rules.max_size:  # the store may allow more than this model does
        raise too_large(len(raw), rules.max_size, name=name, path=path, variable=variable)
    return raw, Provenance(name, kind, path=path, variable=variable, size=len(raw), mtime=mtime)


class Variables:
    """The ``_FILE`` variables of one environment, matched with or without case."""

    __slots__ = ("_folded", "_stems", "any_set", "environ")

    def __init__(self, environ: Mapping[str, str], *, case_sensitive: bool) -> None:
        # One copy per load: a consistent view, and dictionary look-ups instead of os.environ's
        # encoding ones; folded once, as a per-field scan would make the load quadratic again.
        self.environ = dict(environ)
        # Folded by ASCII case only: ``str.lower`` maps the Kelvin sign to ``k``, which would
        # let a variable no name can have answer for one.
        self._folded = (
            None if case_sensitive else {key.lower(): key for key in self.environ if key.isascii()}
        )
        set_files = [
            key
            for key, value in self.environ.items()
            if value and key.upper().endswith(FILE_SUFFIX)
        ]
        #: Whether any ``*_FILE`` variable is set at all: when none is, no field needs a look.
        self.any_set = bool(set_files)
        # What comes before ``_FILE`` in each, lower-cased; None: one is not ASCII (then
        # :meth:`may_answer` passes over nothing).
        self._stems: frozenset[str] | None = (
            frozenset(key[: -len(FILE_SUFFIX)].lower() for key in set_files)
            if all(key.isascii() for key in set_files)
            else None
        )

    def may_answer(self, keys: list[str]) -> bool:
        """Whether one of the variables set may be the ``_FILE`` variable of a field read under
        ``keys`` (its name and aliases): only one whose name, before ``_FILE``, ends with a key
        (in any case) can be. Never false for a field that has one."""
        stems = self._stems
        if stems is None:
            return True
        return any(
            not key.isascii() or any(stem.endswith(key.lower()) for stem in stems) for key in keys
        )

    def actual(self, variable: str) -> str:
        """The variable of the environment that answers for ``variable`` (its own spelling)."""
        if self._folded is None:
            return variable
        return self._folded.get(variable.lower(), variable)


class FieldError:
    """A failure to load one field, reported by pydantic under the field's location."""

    __slots__ = ("loc", "message", "reason", "where")

    def __init__(self, loc: tuple[str, ...], reason: str, message: str, where: str) -> None:
        self.loc = loc
        self.reason = reason
        self.message = message
        self.where = where

    def details(self) -> InitErrorDetails:
        """The error as pydantic-core builds it; ``input`` says where, never what."""
        return InitErrorDetails(
            type=PydanticCustomError(
                ERROR_TYPE_PREFIX + self.reason, "{message}", {"message": self.message}
            ),
            loc=self.loc,
            input=self.where,
        )


def validation_error(title: str, errors: list[FieldError]) -> ValidationError:
    """One ``ValidationError`` listing every field that could not be loaded."""
    return ValidationError.from_exception_data(title, [error.details() for error in errors])


class Load:
    """Fill the fields of one settings model from the configured places.

    Args:
        source: The pydantic-settings source (its alias rules, JSON decoding, case folding).
        rules: The reading rules: the sources walked, the directories by priority, the size
            cap, the links followed.
        index: The secrets directories, listed once; ``None`` when directories are not read.
        variables: The ``_FILE`` variables; ``None`` when they are not read.
        state: What higher-priority sources already provided: those values are not read from
            the directories (as in the core order, the environment beats the directory).
        files: The files of a store's candidate snapshot, by absolute path: read from here
            rather than the disk (see :class:`PinnedDirs`).
        nested_delimiter: ``env_nested_delimiter``, or ``None``.
        case_sensitive: Whether names keep their case.
    """

    def __init__(
        self,
        source: PydanticBaseEnvSettingsSource,
        rules: ReadingRules,
        *,
        index: SecretsIndex | None,
        variables: Variables | None,
        state: Mapping[str, Any],
        nested_delimiter: str | None,
        case_sensitive: bool,
        files: Mapping[str, tuple[bytes, float]] | None = None,
    ) -> None:
        self._source = source
        self._files = files
        self._rules = rules
        self._warned = WarnedFiles()  # per load: a lax file is warned about once
        self._index = index
        self._variables = variables
        self._state = state
        self._delimiter = nested_delimiter
        self._case_sensitive = case_sensitive
        self.errors: list[FieldError] = []
        self.provenance: dict[str, Provenance] = {}

    def fields(self, model_fields: Mapping[str, FieldInfo]) -> dict[str, Any]:
        """The values found for the top-level fields, by the key pydantic expects."""
        data: dict[str, Any] = {}
        if self._index is None and (self._variables is None or not self._variables.any_set):
            return data
        for field_name, field in model_fields.items():
            nested = fields.model_class(field.annotation) if self._delimiter else None
            if self._passes_over(field_name, field, nested):
                continue
            for key, env_name, value_is_complex in field_keys(self._source, field, field_name):
                value = self._value((key,), (env_name,), field_name, field, value_is_complex)
                value = self._with_leaves(value, nested, (key,), (env_name,))
                if value is not None:
                    data[key] = value
                    break
        return data

    def _passes_over(self, field_name: str, field: FieldInfo, nested: type[Any] | None) -> bool:
        """Whether the field surely finds nothing: only ``_FILE`` variables are read, and none
        set can be its own (a nested model's leaves have variables of their own: looked at)."""
        if self._index is not None or self._variables is None or nested is not None:
            return False
        return not self._variables.may_answer(fields.every_key(field_name, field))

    def _model(
        self, model: type[Any], loc: tuple[str, ...], parts: tuple[str, ...]
    ) -> dict[str, Any]:
        """The values found for the fields of a nested model, by their own names."""
        data: dict[str, Any] = {}
        config = fields.model_config(model)
        for field_name, field in fields.model_fields(model).items():
            nested = fields.model_class(field.annotation)
            for key, is_path in fields.nested_keys(field_name, field, config):
                sub_loc = (*loc, key)
                sub_parts = (*parts, key if self._case_sensitive else key.lower())
                value = self._value(sub_loc, sub_parts, field_name, field, is_path)
                value = self._with_leaves(value, nested, sub_loc, sub_parts)
                if value is not None:
                    data[key] = value
                    break
        return data

    def _with_leaves(
        self, value: Any, nested: type[Any] | None, loc: tuple[str, ...], parts: tuple[str, ...]
    ) -> Any:
        """``value`` (a JSON object or nothing) with the nested model's own leaf files merged
        over it: a file per leaf wins over the same key in a whole-model JSON file."""
        if nested is None:
            return value
        leaves = self._model(nested, loc, parts)
        if not leaves:
            return value
        return _merge(value if isinstance(value, dict) else {}, leaves)

    def _value(
        self,
        loc: tuple[str, ...],
        parts: tuple[str, ...],
        field_name: str,
        field: FieldInfo,
        value_is_complex: bool,
    ) -> Any:
        found = self._find(loc, parts, field)
        if found is None:
            return None
        raw, provenance = found
        name = provenance.name
        try:
            if isinstance(raw, bytes) and fields.wants_bytes(field):
                value: Any = raw
            else:
                text = (
                    raw
                    if isinstance(raw, str)
                    else decode_text(raw, strip=True, name=name, path=provenance.path)
                )
                value = self._source.prepare_field_value(field_name, field, text, value_is_complex)
        except RunSecretsError as e:
            self._fail(loc, e, provenance.describe())
            return None
        except ValueError as e:
            # Said in our own words: a JSON error carries the whole document in ``.doc`` and
            # its message is the parser's (never repeated); its position is ours to give.
            detail = (
                f" (at line {e.lineno}, column {e.colno}, byte offset {e.pos})"
                if isinstance(e, json.JSONDecodeError)
                else ""
            )
            problem = f"is not valid JSON{detail}"
        except RecursionError:
            problem = "is JSON nested too deeply to decode"
        else:
            self.provenance[".".join(loc)] = provenance
            if isinstance(value, dict) and not self._case_sensitive:
                value = match_field_names(self._source, field, value)
            return value
        where = provenance.describe()
        self.errors.append(
            FieldError(loc, "invalid_json", f"secret {name!r} from {where} {problem}", where)
        )
        return None

    def _find(
        self, loc: tuple[str, ...], parts: tuple[str, ...], field: FieldInfo
    ) -> tuple[bytes | str, Provenance] | None:
        name = (self._delimiter or "").join(parts)
        variables = self._variables
        try:
            walk = (
                places(name, self._rules)
                if variables is None
                else places(
                    name,
                    self._rules,
                    variable=variables.actual(name),
                    file_variable=variables.actual(name + FILE_SUFFIX),
                    environ=variables.environ,
                    conflicts=True,  # pydantic-settings reads the plain variable itself
                )
            )
            for place in walk:
                found = self._read_place(name, place, loc, parts)
                if found is not None or place.kind == FILE_VARIABLE:
                    return found
        except RunSecretsError as e:
            self._fail(loc, e, e.path or e.variable or name)
        return None

    def _read_place(
        self, name: str, place: Place, loc: tuple[str, ...], parts: tuple[str, ...]
    ) -> tuple[bytes, Provenance] | None:
        """The file at ``place``: a ``_FILE`` target (it must exist), or the indexed file of a
        directory, unless a higher-priority source already gave the value."""
        if place.kind == FILE_VARIABLE:
            assert place.path is not None
            return _read(
                name,
                place.path,
                self._rules,
                self._warned,
                self._files,
                kind=FILE_VARIABLE,
                variable=place.variable,
                missing_ok=False,
            )
        if self._index is None or place.directory is None or _provided(self._state, loc):
            return None
        found = self._index.find(parts, place.directory)
        if found is None:
            return None
        contain_in = self._rules.contain_in(found.root)
        return _read(
            name,
            found.path,
            self._rules,
            self._warned,
            self._files,
            kind=DIRECTORY,
            contain_in=contain_in,
        )

    def _fail(self, loc: tuple[str, ...], error: RunSecretsError, where: str) -> None:
        reason = error.reason if isinstance(error, SecretReadError) else _reason(error)
        self.errors.append(FieldError(loc, reason, error.message, where))


def _reason(error: RunSecretsError) -> str:
    return "conflict" if isinstance(error, SecretConflictError) else "error"


def _provided(state: Mapping[str, Any], loc: tuple[str, ...]) -> bool:
    """Whether a higher-priority source already gave a value at ``loc``."""
    node: Any = state
    for key in loc:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return not isinstance(node, dict)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` laid over it, nested dictionaries merged key by key."""
    merged = dict(base)
    for key, value in update.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged
