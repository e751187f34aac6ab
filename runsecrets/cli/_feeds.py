"""The files that feed the command's environment, and the store that watches exactly them.

What ``exec`` read is told by what it did, not by a second copy of its rules: every variable
whose (non-empty) value ``prepare_environment`` removed or replaced is a variable it read a
file from (``X_FILE``, ``FILE__X``), and its value is that file's path. An ``--only`` variable
fed by none of them may come from the secrets directories (the directories are then watched
for its file; when its own value stood instead, a change there restarts nothing, as the
environment is compared, not the files).

The store is a :class:`~runsecrets.SecretStore` over those files only: it watches their
directories (Kubernetes' ``..data`` swap, a rename, an in-place write), groups bursts, reads a
stable snapshot and publishes only when some file's bytes changed. It is the trigger; what the
command gets is decided by ``prepare_environment`` run again, and compared.
"""

from __future__ import annotations

from .._names import FILE_SUFFIX, env_name, name_problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..reload.snapshot import Changes
    from ..reload.store import SecretStore
    from ._exec import ExecRequest

#: Environment variables of runsecrets itself that the store reads (the rest it is given).
_STORE_SETTINGS = ("RUNSECRETS_POLL",)


class WatchPlan:
    """What to watch for one command's environment.

    Attributes:
        files: Each file read from a variable: the variable and the path it names.
        dirs: The secrets directories, when an ``--only`` variable may come from them.
        dir_names: The secrets looked up there (the variable in lower case).
        store_environ: The environment the store reads its file variables from: one
            ``NAME_FILE`` per file, ``NAME`` chosen so that it is the real variable whenever
            the real one follows the convention (``DB_PASSWORD_FILE``), so the store's log
            lines name it.
        store_names: The names the store tracks (the files', then the directories').
    """

    __slots__ = ("dir_names", "dirs", "files", "store_environ", "store_names")

    def __init__(
        self,
        files: dict[str, str],
        dirs: tuple[str, ...],
        dir_names: tuple[str, ...],
        store_environ: dict[str, str],
        store_names: tuple[str, ...],
    ) -> None:
        self.files = files
        self.dirs = dirs
        self.dir_names = dir_names
        self.store_environ = store_environ
        self.store_names = store_names

    def __repr__(self) -> str:
        return (
            f"WatchPlan(files={sorted(self.files)!r}, dirs={list(self.dirs)!r}, "
            f"dir_names={list(self.dir_names)!r})"
        )


def watch_plan(
    request: ExecRequest, given: Mapping[str, str], prepared: Mapping[str, str]
) -> WatchPlan:
    """The files and directory names that feed ``prepared``, made from ``given`` by ``exec``."""
    from ._exec_env import file_variables_of

    files = {
        variable: path
        for variable, path in sorted(given.items())
        if path and prepared.get(variable) != path
    }
    dir_names = tuple(
        variable.lower()
        for variable in request.only or ()
        if not any(source in files for source in file_variables_of(variable, request))
    )
    dirs: tuple[str, ...] = ()
    if dir_names:
        from ._exec_env import exec_rules

        dirs = exec_rules(request, given).dirs
    environ = {key: given[key] for key in _STORE_SETTINGS if key in given}
    taken = {env_name(name) for name in dir_names}
    names = []
    for index, (variable, path) in enumerate(files.items()):
        name = _store_name(variable, request.file_prefix, index, taken)
        taken.add(env_name(name))
        environ[env_name(name) + FILE_SUFFIX] = path
        names.append(name)
    return WatchPlan(files, dirs, dir_names, environ, (*names, *dir_names))


def _store_name(variable: str, file_prefix: str | None, index: int, taken: set[str]) -> str:
    """The store's name for the file ``variable`` names: ``x`` for ``X_FILE`` (so its own
    variable is the one the store reads) or ``FILE__X``, as ``exec``'s own errors name it;
    else a name made from the variable, else a number."""
    stem = variable.removesuffix(FILE_SUFFIX)
    if file_prefix and variable.startswith(file_prefix) and variable != stem + FILE_SUFFIX:
        stem = variable[len(file_prefix) :]
    for name in (stem.lower(), variable.lower(), f"file-{index}"):
        if name_problem(name) is None and env_name(name) not in taken:
            return name
    raise AssertionError("unreachable: numbered names are unique")  # pragma: no cover


def open_store(plan: WatchPlan, on_change: Callable[[Changes], object]) -> SecretStore:
    """A started store over exactly the plan's files, calling ``on_change`` after each
    publish (in its watcher thread)."""
    from .._provenance import DIRECTORY, FILE_VARIABLE
    from ..reload.store import SecretStore

    store = SecretStore(
        plan.dirs,
        names=plan.store_names,
        environ=plan.store_environ,
        sources=(FILE_VARIABLE, DIRECTORY),
    )
    store.subscribe(on_change)
    return store.start()
