"""Reading every tracked secret at once, and reading it again until two reads agree.

A watcher never trusts one read: a Kubernetes swap or a rename can land between two files of the
same read, and an in-place writer can be caught half done. :func:`read_stable` reads all tracked
secrets, reads them again, and accepts the result only when both passes agree (bounded retries),
as Envoy does. A file whose identity (device, inode, size, times) has not changed since it was
last read, and was not modified within the last two seconds, is not read again: that keeps a
poll of a thousand secrets down to a thousand ``stat`` calls.
"""

from __future__ import annotations

import os
import time

from .._listing import list_secret_entries
from .._lookup import file_variables, is_secret_file_variable, places
from .._names import name_problem
from .._provenance import DIRECTORY, ENVIRONMENT, FILE_VARIABLE, Provenance
from .._read import Containment, describe_file, read_file
from .._scrub import scrubbed
from .._warn import WarnedFiles
from ..exceptions import RunSecretsError, SecretReadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TypeVar

    from .._lookup import Place
    from .._rules import ReadingRules

    _T = TypeVar("_T")

    #: What identifies one version of a file without reading it.
    Fingerprint = tuple[int, int, int, int, int]

# A file changed this recently may change again within the same timestamp tick without its
# fingerprint moving (coarse clocks, NFS); such files are always read again ("racy git").
_RACY_NS = 2_000_000_000
#: Pauses between the passes of :func:`read_stable` when two passes disagree.
RETRY_DELAYS = (0.0, 0.001, 0.002, 0.004, 0.008)


class Entry:
    """One secret as read: raw bytes, where from, and the file's fingerprint at the time."""

    __slots__ = ("fingerprint", "provenance", "raw", "read_at_ns")

    def __init__(
        self,
        raw: bytes,
        provenance: Provenance,
        fingerprint: Fingerprint | None = None,
        read_at_ns: int = 0,
    ) -> None:
        self.raw = raw
        self.provenance = provenance
        self.fingerprint = fingerprint
        self.read_at_ns = read_at_ns

    def same_as(self, other: Entry) -> bool:
        """Same content from the same place."""
        return (
            self.raw == other.raw
            and self.provenance.kind == other.provenance.kind
            and self.provenance.path == other.provenance.path
            and self.provenance.variable == other.provenance.variable
        )

    def __repr__(self) -> str:
        return f"Entry({self.provenance!r})"


class ScanPlan:
    """What a store tracks: its reading rules, an optional fixed list of names, extra rules.

    Attributes:
        rules: The reading rules (directories, sources, size cap...).
        names: Exactly these names, or ``None``: every secret the directories and the
            ``_FILE`` variables hold.
        ignore: Entry names to skip besides writer debris.
        file_rule: Without ``names``: which ``*_FILE`` variables name secrets.
        excluded: Without ``names``: names no longer tracked (files this process writes).
        warned: The files already warned about for their permissions.
    """

    __slots__ = ("excluded", "file_rule", "ignore", "names", "rules", "warned")

    def __init__(
        self,
        rules: ReadingRules,
        names: tuple[str, ...] | None,
        ignore: Callable[[str], bool] | None,
        file_rule: Callable[[str], bool] = is_secret_file_variable,
        warned: WarnedFiles | None = None,
    ) -> None:
        self.rules = rules
        self.names = names
        self.ignore = ignore
        self.file_rule = file_rule
        self.excluded: set[str] = set()
        self.warned = WarnedFiles() if warned is None else warned


class Pass:
    """The result of reading every tracked secret once.

    Attributes:
        entries: The secrets read whole, by name.
        incomplete: Names caught between two states (a dangling Kubernetes link, a file gone
            between listing and reading, a ``_FILE`` target missing), with a reason.
        errors: Names that could not be read, with the error (it never holds the value).
        missing_dirs: Configured directories that do not exist at the moment, or that cannot be
            listed (their values are kept either way).
        dir_errors: Why a directory could not be listed, when it exists (permission denied).
        file_targets: The files named by ``_FILE`` variables (their directories are watched).
    """

    __slots__ = (
        "dir_errors",
        "entries",
        "errors",
        "file_targets",
        "fresh_reads",
        "incomplete",
        "missing_dirs",
    )

    def __init__(self) -> None:
        self.fresh_reads = 0
        self.entries: dict[str, Entry] = {}
        self.incomplete: dict[str, str] = {}
        self.errors: dict[str, RunSecretsError] = {}
        self.missing_dirs: list[str] = []
        self.dir_errors: dict[str, SecretReadError] = {}
        self.file_targets: list[str] = []

    def agrees_with(self, other: Pass) -> bool:
        """Whether two passes saw the same thing (the double-read test)."""
        if (
            self.entries.keys() != other.entries.keys()
            or self.incomplete.keys() != other.incomplete.keys()
            or self.errors.keys() != other.errors.keys()
            or self.missing_dirs != other.missing_dirs
        ):
            return False
        return all(entry.same_as(other.entries[name]) for name, entry in self.entries.items())


def read_pass(plan: ScanPlan, cache: Mapping[str, Entry]) -> Pass:
    """Read every tracked secret once, reusing ``cache`` entries whose file has not changed."""
    rules = plan.rules
    result = Pass()
    listings: dict[str, dict[str, tuple[os.DirEntry[str], bool]]] = {}
    for directory in rules.dirs:
        try:
            listing = list_secret_entries(directory, plan.ignore)
        except (FileNotFoundError, NotADirectoryError):
            result.missing_dirs.append(directory)
            continue
        except SecretReadError as e:
            # Unreadable for now (permissions being fixed, a mount going away): keep its values
            # and say why.
            result.missing_dirs.append(directory)
            result.dir_errors[directory] = scrubbed(e)
            continue
        listings[directory] = {name: (entry, dangling) for name, entry, dangling in listing}
    # One per directory and pass: the real path of each root is resolved once per pass.
    containments = {directory: Containment(rules.contain_in(directory)) for directory in listings}
    for name in sorted(tracked_names(plan, listings)):
        try:
            _read_one(name, plan, listings, containments, cache, result)
        except RunSecretsError as e:
            result.errors[name] = scrubbed(e)  # kept by the store: no frame, no chained error
    return result


def tracked_names(plan: ScanPlan, listings: Mapping[str, Mapping[str, object]]) -> set[str]:
    """The names a pass reads: the fixed list, else every file listed and every ``_FILE`` name
    the plan's rule counts, less the excluded ones."""
    if plan.names is not None:
        return set(plan.names)
    rules = plan.rules
    names: set[str] = set()
    for listing in listings.values():
        names.update(listing)
    if FILE_VARIABLE in rules.sources:
        for variable, _ in file_variables(rules.environ, rules.prefix, rule=plan.file_rule):
            name = variable[len(rules.prefix) :].lower()
            if name_problem(name) is None:
                names.add(name)
    return names - plan.excluded


def _read_one(
    name: str,
    plan: ScanPlan,
    listings: Mapping[str, Mapping[str, tuple[os.DirEntry[str], bool]]],
    containments: Mapping[str, Containment],
    cache: Mapping[str, Entry],
    result: Pass,
) -> None:
    """Walk the lookup order for ``name``: the first place that holds it decides (read whole,
    caught between two states, or an error raised)."""
    for place in places(name, plan.rules):
        if place.kind == DIRECTORY:
            listed = _listed(
                listings.get(place.directory or "", {}), name, plan.rules.case_sensitive
            )
            if listed is None:
                continue
            assert place.directory is not None
            _read_listed(name, plan, listed, containments[place.directory], cache, result)
        elif place.kind == FILE_VARIABLE:
            _read_file_variable(name, plan, place, cache, result)
        else:
            _read_variable(name, plan, place, result)
        return


def _read_file_variable(
    name: str, plan: ScanPlan, place: Place, cache: Mapping[str, Entry], result: Pass
) -> None:
    path, variable = place.path, place.variable
    assert path is not None
    result.file_targets.append(path)
    entry = read_entry(name, path, plan, cache.get(name), kind=FILE_VARIABLE, variable=variable)
    _take(name, entry, f"{describe_file(path, variable)} is missing", cache, result)


def _read_variable(name: str, plan: ScanPlan, place: Place, result: Pass) -> None:
    assert place.variable is not None
    raw = os.fsencode(plan.rules.environ.get(place.variable, ""))
    provenance = Provenance(name, ENVIRONMENT, variable=place.variable, size=len(raw))
    result.entries[name] = Entry(raw, provenance)


def _read_listed(
    name: str,
    plan: ScanPlan,
    listed: tuple[os.DirEntry[str], bool],
    containment: Containment,
    cache: Mapping[str, Entry],
    result: Pass,
) -> None:
    entry, dangling = listed
    path = entry.path
    if plan.rules.allow_external_links and entry.is_symlink():
        # It may lead anywhere: watched as a _FILE target is, its real directory too.
        result.file_targets.append(path)
    read = (
        None
        if dangling
        else read_entry(name, path, plan, cache.get(name), contain_in=containment, listed=entry)
    )
    _take(name, read, f"{path} is a link to nothing or vanished while read", cache, result)


def _take(
    name: str, entry: Entry | None, missing: str, cache: Mapping[str, Entry], result: Pass
) -> None:
    """Record what was read for ``name`` (``None``: caught between two states, ``missing``)."""
    if entry is None:
        result.incomplete[name] = missing
    else:
        result.entries[name] = entry
        result.fresh_reads += entry is not cache.get(name)


def _listed(listing: Mapping[str, _T], name: str, case_sensitive: bool) -> _T | None:
    """The entry listed for ``name``; without case, the only one equal to it in ASCII case
    (listed names are valid secret names: ASCII only)."""
    found = listing.get(name)
    if found is not None or case_sensitive:
        return found
    wanted = name.lower()
    matches = [key for key in listing if key.lower() == wanted]
    return listing[matches[0]] if len(matches) == 1 else None


def read_entry(
    name: str,
    path: str,
    plan: ScanPlan,
    cached: Entry | None,
    *,
    kind: str = DIRECTORY,
    variable: str | None = None,
    contain_in: tuple[str, ...] | Containment = (),
    listed: os.DirEntry[str] | None = None,
) -> Entry | None:
    """Read one file, or reuse ``cached`` when its fingerprint proves the file unchanged.

    Args:
        listed: The directory scan's entry for ``path``: its stat is reused (for a symlink the
            scan has already followed it), which saves a system call per file and pass.

    Returns:
        The entry, or ``None`` when nothing (or a dangling link) is at ``path`` right now.

    Raises:
        SecretReadError: The file exists but cannot be used (see :func:`read_file`).
    """
    is_link = False
    try:
        if listed is not None:
            is_link = listed.is_symlink()
            st: os.stat_result | None = listed.stat()
        else:
            st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        st = None  # let read_file report it with the reading rules' wording
    fingerprint = _fingerprint(st) if st is not None else None
    if (
        cached is not None
        and fingerprint is not None
        and cached.fingerprint == fingerprint
        and cached.provenance.path == path
        and cached.read_at_ns - fingerprint[4] > _RACY_NS
    ):
        return cached
    read_at_ns = time.time_ns()
    found = read_file(
        path,
        name=name,
        max_size=plan.rules.max_size,
        contain_in=contain_in,
        variable=variable,
        missing_ok=True,
        seen=st if listed is not None else None,
        is_link=is_link,
        warned=plan.warned,
    )
    if found is None:
        return None
    data, opened = found
    if _fingerprint(opened) != fingerprint or len(data) != opened.st_size:
        # Replaced between the stat and the open, or written while read: never trust this one.
        fingerprint = None
    provenance = Provenance(
        name, kind, path=path, variable=variable, size=len(data), mtime=opened.st_mtime
    )
    return Entry(data, provenance, fingerprint, read_at_ns)


def _fingerprint(st: os.stat_result) -> Fingerprint:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_stable(
    plan: ScanPlan,
    cache: Mapping[str, Entry],
    delays: tuple[float, ...] = RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Pass, bool]:
    """Read until two consecutive passes agree, at most ``len(delays) + 1`` passes.

    Returns:
        The last pass, and whether it agreed with the one before (``False``: still changing).
    """
    previous = read_pass(plan, cache)
    if (
        not previous.fresh_reads
        and not previous.incomplete
        and not previous.errors
        and previous.entries.keys() == cache.keys()
    ):
        # Every file proved unchanged since an accepted read: nothing was read, nothing can be
        # torn. This keeps an idle poll of many secrets to one pass of stat calls.
        return previous, True
    for delay in delays:
        if delay:
            sleep(delay)
        current = read_pass(plan, previous.entries)
        if current.agrees_with(previous):
            return current, True
        previous = current
    return previous, False
