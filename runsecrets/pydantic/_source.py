"""The settings source, the ready base class and ``live()``: what a settings model installs."""

from __future__ import annotations

import contextlib
import os
import stat
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources import PydanticBaseEnvSettingsSource

from .._platform import DIRS_VARIABLE, default_dirs, resolve_dirs
from .._provenance import DIRECTORY, ENVIRONMENT, FILE_VARIABLE, SOURCE_KINDS
from .._read import DEFAULT_MAX_SIZE, describe_mode, os_reason
from .._rules import ReadingRules
from .._scrub import scrub_errors
from .._warn import warn
from ..exceptions import RunSecretsWarning, SecretsDirWarning
from . import _fields as fields
from ._errors import clean_errors_of, cleaning_errors
from ._index import SecretsIndex
from ._live import LiveSettings, OnChange, StoreWatcher, Vet
from ._load import Load, PinnedDirs, Variables, validation_error

if TYPE_CHECKING:
    from .._provenance import Provenance
    from .._types import DirsArg
    from ..reload.store import SecretStore

    #: What pydantic-settings accepts as ``secrets_dir``: a path or a sequence of paths.
    SecretsDirArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


_Settings = TypeVar("_Settings", bound=BaseSettings)

#: What this source reads unless told otherwise: ``_FILE`` variables, then the directories.
DEFAULT_SETTINGS_SOURCES: tuple[str, ...] = (FILE_VARIABLE, DIRECTORY)


class RunSecretsSettingsSource(PydanticBaseEnvSettingsSource):
    """A pydantic-settings source reading ``_FILE`` variables and secrets directories.

    For each field (with the model's ``env_prefix``, aliases and ``case_sensitive``):

    1. ``<PREFIX><FIELD>_FILE`` in the environment names a file to read; it must exist. Set
       together with ``<PREFIX><FIELD>`` (both non-empty), the field fails with a conflict
       error naming both variables.
    2. A file named ``<prefix><field>`` in the secrets directories. Each directory is listed
       once per load, so a model with n fields costs O(n), not O(n * n).

    With ``env_nested_delimiter`` (say ``__``), the fields of a nested model also come from
    ``db__password`` files and ``db/password`` sub-directory files (the flat file first). Complex
    fields (lists, dicts, models) read JSON, as pydantic-settings does. Text values keep their
    spaces and lose only trailing line endings; ``bytes``/``SecretBytes`` fields get the raw
    bytes. Every failure (a conflict, a missing ``_FILE`` target, a file over the size cap, a
    FIFO, invalid UTF-8 or JSON, a symlink out of its directory) is reported by pydantic as a
    ``ValidationError`` for that field, typed ``runsecrets_<reason>``, and never shows a value.

    The model it is installed on gets ``hide_input_in_errors=True`` (see
    ``hide_input_in_errors()`` in this module): pydantic's own errors about a value read here (a
    port that is not a number) would otherwise quote it.

    Args:
        settings_cls: The settings model.
        dirs: Secrets directories, first match wins (like ``PATH``). When not given: the
            model's ``secrets_dir`` (a path or a list, the *later* directory wins, as in
            pydantic-settings), else ``RUNSECRETS_DIR``, else the platform default
            (``/run/secrets``; ``C:\\ProgramData\\Docker\\secrets`` on Windows).
        secrets_dir: Overrides the model's ``secrets_dir`` (pydantic-settings' meaning).
        sources: What to read, in order: ``"file_variable"`` and/or ``"directory"``.
        case_sensitive: Default: the model's ``case_sensitive``.
        env_prefix: Default: the model's ``env_prefix``.
        env_nested_delimiter: Default: the model's ``env_nested_delimiter``.
        max_size: Refuse files larger than this many bytes (default 500 KiB, Swarm's limit).
        allow_external_links: Follow symlinks that lead out of their secrets directory.
        environ: The environment to read. Default: ``os.environ``, read at each load.

    Attributes:
        provenance: After a load, where each field's value came from (by dotted field path:
            ``"db.password"``), never the value.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        dirs: DirsArg | None = None,
        *,
        secrets_dir: SecretsDirArg | None = None,
        sources: Iterable[str] = DEFAULT_SETTINGS_SOURCES,
        case_sensitive: bool | None = None,
        env_prefix: str | None = None,
        env_nested_delimiter: str | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        allow_external_links: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        hide_input_in_errors(settings_cls)
        super().__init__(settings_cls, case_sensitive=case_sensitive, env_prefix=env_prefix)
        kinds = tuple(sources)
        if ENVIRONMENT in kinds:
            raise ValueError(
                "plain environment variables are pydantic-settings' own EnvSettingsSource's job; "
                f"use sources made of {FILE_VARIABLE!r} and {DIRECTORY!r}"
            )
        unknown = set(kinds) - SOURCE_KINDS
        if unknown:
            raise ValueError(f"unknown source kinds {sorted(unknown)}")
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        self.sources = kinds
        self.env_nested_delimiter: str | None = (
            env_nested_delimiter
            if env_nested_delimiter is not None
            else self.config.get("env_nested_delimiter")
        ) or None
        self.max_size = max_size
        self.allow_external_links = allow_external_links
        self._dirs_arg = dirs
        configured = secrets_dir if secrets_dir is not None else self.config.get("secrets_dir")
        # A model built from a store's snapshot: its directories, and that snapshot's bytes.
        self._files = None
        if isinstance(configured, PinnedDirs):
            self._files = configured.files
            configured = configured.configured  # type: ignore[assignment]  # the model's own
        self._secrets_dir = configured
        self._environ = environ
        self.provenance: dict[str, Provenance] = {}

    def directories(self, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
        """The secrets directories this source reads, highest priority first."""
        return self._directories(os.environ if environ is None else environ)[0]

    def _directories(self, environ: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
        """The directories by priority, and whether the user named them (not the default)."""
        if self._dirs_arg is not None:
            return resolve_dirs(self._dirs_arg, environ), True
        if self._secrets_dir is not None:
            configured = self._secrets_dir
            if isinstance(configured, (str, os.PathLike)):
                configured = [configured]
            # pydantic-settings' meaning: the last directory of the list wins.
            expanded = [os.path.expanduser(os.fspath(d)) for d in configured]
            return tuple(reversed(expanded)), True
        if environ.get(DIRS_VARIABLE):
            return resolve_dirs(None, environ), True
        return default_dirs(), False

    def _existing_directories(self, environ: Mapping[str, str]) -> tuple[str, ...]:
        dirs, named = self._directories(environ)
        existing = []
        for directory in dirs:
            try:
                st = os.stat(directory)
            except FileNotFoundError:
                if named:
                    # pydantic-settings warns too; the default directory may well be absent
                    # outside a container, which is not worth a warning.
                    warn(f'secrets directory "{directory}" does not exist', SecretsDirWarning)
                continue
            except OSError as e:
                raise SettingsError(
                    f'secrets directory "{directory}" cannot be used: {os_reason(e)}'
                ) from e
            if not stat.S_ISDIR(st.st_mode):
                kind = "a file" if stat.S_ISREG(st.st_mode) else describe_mode(st.st_mode)
                raise SettingsError(
                    f'secrets_dir must reference a directory, not {kind}: "{directory}"'
                )
            existing.append(directory)
        return tuple(existing)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Not used: :meth:`__call__` loads every field at once, from one directory listing."""
        raise NotImplementedError("RunSecretsSettingsSource loads all fields in __call__")

    @scrub_errors
    def __call__(self) -> dict[str, Any]:
        """Load every field found; raise one ``ValidationError`` for the fields that failed."""
        environ = os.environ if self._environ is None else self._environ
        dirs = self._existing_directories(environ) if DIRECTORY in self.sources else ()
        # The one reading-rules value for this load: what the loader walks and reads with.
        rules = ReadingRules(
            dirs,
            environ=environ,
            prefix=self.env_prefix,
            sources=self.sources,
            case_sensitive=self.case_sensitive,
            max_size=self.max_size,
            allow_external_links=self.allow_external_links,
        )
        index = None
        if DIRECTORY in self.sources:
            index = SecretsIndex(
                rules.dirs,
                case_sensitive=rules.case_sensitive,
                nested_delimiter=self.env_nested_delimiter,
                link_roots=rules.link_roots,
                allow_external_links=rules.allow_external_links,
            )
        variables = (
            Variables(environ, case_sensitive=self.case_sensitive)
            if FILE_VARIABLE in self.sources
            else None
        )
        load = Load(
            self,
            rules,
            index=index,
            variables=variables,
            state=self.current_state,
            nested_delimiter=self.env_nested_delimiter,
            case_sensitive=self.case_sensitive,
            files=self._files,
        )
        data = load.fields(self.settings_cls.model_fields)
        self.provenance = load.provenance
        if load.errors:
            raise validation_error(self.settings_cls.__name__, load.errors)
        return data

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sources={list(self.sources)!r}, "
            f"dirs={list(self.directories(self._environ))!r})"
        )


def hide_input_in_errors(settings_cls: type[BaseSettings]) -> None:
    """Turn on ``hide_input_in_errors`` for a model that reads secrets through this source.

    Without it pydantic's ``ValidationError`` quotes the refused input (``input_value='...'``),
    which here is a secret. A plain ``BaseSettings`` that installs
    :class:`RunSecretsSettingsSource` gets it set on its own config and its validator rebuilt
    (once: the setting then stays), before the source reads anything, so the first error is
    already clean. It changes only how errors print, never what validates. A model that set it
    to ``False`` on purpose is overridden too, with a :class:`RunSecretsWarning` saying so.

    As the setting changes only how errors print, the model is also made to raise the cleaned
    copy of its ``ValidationError`` (no input in ``errors()``, ``json()``, ``str()`` or
    ``repr()``, no value in a frame of the call): see
    :func:`runsecrets.pydantic._errors.clean_errors_of`.
    """
    config = settings_cls.model_config
    if config.get("hide_input_in_errors") is not True:
        if "hide_input_in_errors" in config:
            warn(
                f"{settings_cls.__name__} sets hide_input_in_errors=False; "
                "RunSecretsSettingsSource turns it on, as its errors would quote secret values",
                RunSecretsWarning,
            )
        # Each model class has its own config dictionary: its bases are left as they are.
        config["hide_input_in_errors"] = True
        settings_cls.model_rebuild(force=True)
    # What prints is not all: errors(), json() and the frames of the call keep the input.
    clean_errors_of(settings_cls)


class SecretsSettings(BaseSettings):
    """A ``BaseSettings`` whose secrets come from runsecrets.

    Sources, highest priority first: init arguments; environment variables and
    ``<PREFIX><FIELD>_FILE`` variables (both set for one field is an error); the dotenv file;
    the secrets directories (the model's ``secrets_dir``, else ``RUNSECRETS_DIR``, else
    ``/run/secrets`` or Windows' ``C:\\ProgramData\\Docker\\secrets``). Override
    :meth:`settings_customise_sources` as usual to change that.

    ``hide_input_in_errors`` is on: pydantic's own validation errors (a port that is not a
    number) would otherwise quote the value they refused.

    pydantic-settings' environment source is left out of a load when no variable's name holds
    a field's name or alias, and its dotenv source when no dotenv file is configured: each
    would go through every field to find nothing. The values are the same either way.
    """

    model_config = SettingsConfigDict(hide_input_in_errors=True)

    # A ValidationError raised by a model of secrets is the cleaned copy: hide_input_in_errors
    # only changes how it prints; errors(), json() and the frames of the call keep each input.
    __init__ = cleaning_errors(BaseSettings.__init__)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init, environment and ``_FILE`` variables, dotenv, then secrets directories."""
        # The built-in sources already merged init-time overrides (``_secrets_dir=``,
        # ``_env_prefix=``, ``_case_sensitive=``, ``_env_nested_delimiter=``) with the config.
        options: dict[str, Any] = {
            "secrets_dir": getattr(file_secret_settings, "secrets_dir", None),
            "case_sensitive": getattr(file_secret_settings, "case_sensitive", None),
            "env_prefix": getattr(file_secret_settings, "env_prefix", None),
            "env_nested_delimiter": getattr(env_settings, "env_nested_delimiter", None),
        }
        # pydantic-settings' own sources go through every field even when they can find
        # nothing: with many fields, that is most of a load. Left out then, never otherwise.
        env = () if _environment_holds_no_field(env_settings, settings_cls) else (env_settings,)
        dotenv = () if _reads_no_file(dotenv_settings) else (dotenv_settings,)
        return (
            init_settings,
            *env,
            RunSecretsSettingsSource(settings_cls, sources=(FILE_VARIABLE,), **options),
            *dotenv,
            RunSecretsSettingsSource(settings_cls, sources=(DIRECTORY,), **options),
        )


def _environment_holds_no_field(
    env_settings: PydanticBaseSettingsSource, settings_cls: type[BaseSettings]
) -> bool:
    """Whether pydantic-settings' environment source surely finds nothing for the model.

    A variable it reads for a field (``<prefix><key>``, or ``<prefix><key><delimiter>...`` for
    a nested one) has the field's name or one of its aliases in its name: when no variable's
    name holds any (compared without case; names that are not ASCII are never judged), the
    source would return nothing.
    """
    if type(env_settings) is not EnvSettingsSource:
        return False  # a subclass may read more than this knows
    names = "\0".join(env_settings.env_vars).lower()
    if not names.isascii():
        return False
    return not any(
        not key.isascii() or key.lower() in names
        for name, field in settings_cls.model_fields.items()
        for key in fields.every_key(name, field)
    )


def _reads_no_file(dotenv_settings: PydanticBaseSettingsSource) -> bool:
    """Whether the dotenv source was given no file (the default): it would find nothing."""
    return type(dotenv_settings) is DotEnvSettingsSource and not dotenv_settings.env_file


@scrub_errors
def live(
    settings_cls: type[_Settings],
    *,
    factory: Callable[[], _Settings] | None = None,
    watch: bool = True,
    store: SecretStore | None = None,
    dirs: DirsArg | None = None,
    gate_store: bool = True,
) -> LiveSettings[_Settings]:
    """Load ``settings_cls`` now and keep its latest valid instance in ``.current``.

    Started (``with live(Settings) as settings:`` or ``.start()``), it follows the secrets: a
    :class:`~runsecrets.SecretStore` watches the model's secrets directories (and the
    sub-directories its nested fields were read from, and the ``_FILE`` targets), and each
    change it publishes re-validates the whole model. A refused model is never published,
    and the store does not publish the values it refused either: the model is one of the
    store's gated derived values (built from each candidate's own bytes), so the store keeps its
    last good snapshot and retries on its timer.

    Args:
        settings_cls: The settings model (a :class:`SecretsSettings`, or any ``BaseSettings``:
            its ``secrets_dir``, else ``RUNSECRETS_DIR``, else the platform default is watched).
        factory: Builds an instance; default ``settings_cls()``, which the store builds from
            each candidate's own bytes (a factory of your own reads the files anew then).
        watch: Follow changes once started; ``False`` leaves only :meth:`LiveSettings.reload`.
        store: A store to follow instead of one made here (shared with other consumers).
        dirs: The directories to watch instead of the model's.
        gate_store: With ``store``: make the model one of the store's gated derived values while
            started, so that no reader of the store sees values the model refuses (a refusal
            then holds back the store's other secrets too until it is fixed). ``False``: only
            these settings refuse them, after the store published them. The store made here
            is always gated.

    Raises:
        pydantic.ValidationError: The first load fails: there is no valid instance to serve.
            The error is a cleaned copy (raised ``from None``): locations and error types,
            pydantic's own messages, never the input nor a validator's own message, whatever
            the model's ``hide_input_in_errors``.
    """
    watcher = None
    if watch:

        def make_store() -> SecretStore:
            return _store_for(settings_cls, dirs)

        def watcher(on_change: OnChange, vet: Vet) -> StoreWatcher:
            gated = store is None or gate_store
            return StoreWatcher(on_change, store=store, make_store=make_store, vet=vet, gate=gated)

    return LiveSettings(factory or settings_cls, watcher=watcher)


def _store_for(settings_cls: type[BaseSettings], dirs: DirsArg | None) -> SecretStore:
    """A store watching what ``settings_cls`` reads: directories, nested sub-directories."""
    from ..reload.store import SecretStore

    source = RunSecretsSettingsSource(settings_cls, dirs)
    directories = list(source.directories())
    with warnings.catch_warnings():
        # The first load already said what is wrong; here only the paths read matter.
        warnings.simplefilter("ignore")
        # A failing field still leaves the other fields' paths in the provenance.
        with contextlib.suppress(Exception):
            source()
    for provenance in source.provenance.values():
        if provenance.kind == DIRECTORY and provenance.path:
            parent = os.path.dirname(provenance.path)
            if parent not in directories:
                directories.append(parent)
    return SecretStore(directories, prefix=source.env_prefix.upper())
