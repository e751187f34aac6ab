"""Running the families of checks: each guarded, so one that fails says so and the rest run."""

from __future__ import annotations

from .._platform import debug_enabled
from .._read import DEFAULT_MAX_SIZE
from ._certificates import check_certificates
from ._context import Context
from ._directories import check_directories, check_mounts
from ._environment import check_environment
from ._files import check_files
from ._finding import ERROR, Finding
from ._watcher import check_watcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Mapping

    from .._types import DirsArg

    Family = Callable[[Context], Iterable[Finding]]

#: The families, in the order they run and report.
FAMILIES: tuple[tuple[str, Family], ...] = (
    ("environment", check_environment),
    ("directories", check_directories),
    ("mounts", check_mounts),
    ("files", check_files),
    ("certificates", check_certificates),
    ("watcher", check_watcher),
)


def diagnose(
    dirs: DirsArg | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    prefix: str = "",
    proc_root: str = "/proc",
    min_days: int | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    now: datetime.datetime | None = None,
    platform: str | None = None,
) -> list[Finding]:
    """Inspect this container (or host) and return every finding, errors first.

    Looks at the environment, the secrets directories, every ``_FILE`` target, the mount table,
    certificates among the secrets and the inotify limits; never returns or prints a value.

    Args:
        dirs: The secrets directories (default: ``RUNSECRETS_DIR``, else ``/run/secrets``).
        environ: The environment to inspect (default: ``os.environ``).
        prefix: The prefix of the application's variables (``APP_``).
        proc_root: Where ``/proc`` is mounted.
        min_days: Certificates with fewer days left are reported (default 30).
        max_size: The size cap the application reads secrets with (default 500 KiB).
        now: When certificates are judged (timezone-aware; default now).
        platform: The ``sys.platform`` to act for (default this one).
    """
    context = Context(
        dirs=dirs,
        environ=environ,
        prefix=prefix,
        proc_root=proc_root,
        min_days=min_days,
        max_size=max_size,
        now=now,
        platform=platform,
    )
    return run_families(context)


def run_families(
    context: Context, families: Iterable[tuple[str, Family]] = FAMILIES
) -> list[Finding]:
    """Run each family on ``context``; errors first, then warnings, each in the order found.

    A family that raises is reported as ``not_checked`` (by the exception's type, never its
    message) after what it found so far; with ``RUNSECRETS_DEBUG`` on, the exception propagates.
    """
    findings: list[Finding] = []
    for label, family in families:
        try:
            for finding in family(context):
                findings.append(finding)
        except Exception as e:
            if debug_enabled(context.environ):
                raise
            findings.append(_stopped(label, e))
    return sorted(findings, key=_errors_first)


def _stopped(label: str, error: Exception) -> Finding:
    return Finding(
        "not_checked",
        label,
        f"the {label} checks stopped on an unexpected {type(error).__name__}; what they did "
        "not reach was not checked (RUNSECRETS_DEBUG=1 shows the traceback)",
    )


def _errors_first(finding: Finding) -> int:
    return 0 if finding.severity == ERROR else 1
