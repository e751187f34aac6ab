"""Every metric runsecrets exports: its name, type, labels and meaning, in one table.

The Prometheus collector, the OpenTelemetry instruments and the health endpoints' facts are all
made from this table and from the readings of :mod:`._readers`, so a figure has one name
everywhere. Labels carry names only (a store's label, a secret's name, a model's class name),
never a value nor anything derived from one.
"""

from __future__ import annotations

#: A counter only ever grows (``_total``); a gauge is a reading at this moment.
COUNTER = "counter"
GAUGE = "gauge"

#: The watcher modes a store reports, each a sample of ``runsecrets_watcher_mode``.
WATCHER_MODES = ("inotify", "watchfiles", "poll", "stopped")

PREFIX = "runsecrets_"


class Family:
    """One metric: a name, a type, its label names and what it means.

    Attributes:
        name: The Prometheus name (counters end in ``_total``).
        kind: ``"counter"`` or ``"gauge"``.
        labels: The label names, ``store`` first.
        help: One line for ``# HELP`` and the instrument's description.
        boolean: A 0/1 gauge, shown as ``true``/``false`` in the health endpoints' facts.
    """

    __slots__ = ("boolean", "help", "kind", "labels", "name")

    def __init__(
        self, name: str, kind: str, labels: tuple[str, ...], help: str, *, boolean: bool = False
    ) -> None:
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
        self.boolean = boolean

    @property
    def fact(self) -> str:
        """The field name in the health endpoints: the name without ``runsecrets_``."""
        return self.name[len(PREFIX) :]

    @property
    def unit(self) -> str:
        """The OpenTelemetry unit: ``s`` for durations and times, else none."""
        return "s" if self.name.endswith("_seconds") else ""

    def __repr__(self) -> str:
        return f"Family({self.name!r}, {self.kind}, labels={list(self.labels)!r})"


_STORE = ("store",)
_SECRET = ("store", "secret")
_SETTINGS = ("store", "settings")
_CREDENTIALS = ("store", "credentials")


def _family(name: str, kind: str, labels: tuple[str, ...], help: str, **kw: bool) -> Family:
    return Family(PREFIX + name, kind, labels, help, **kw)


#: Every family, in the order they are exported.
FAMILIES: tuple[Family, ...] = (
    # A store's snapshot and health.
    _family("secrets", GAUGE, _STORE, "Secrets in the published snapshot."),
    _family("snapshot_version", GAUGE, _STORE, "Version of the published snapshot (0: first)."),
    _family("healthy", GAUGE, _STORE, "1 when the last re-read found nothing wrong.", boolean=True),
    _family(
        "watcher_mode",
        GAUGE,
        ("store", "mode"),
        "1 for the watcher's mode (inotify, watchfiles, poll, stopped), 0 for the others.",
    ),
    _family("reads_total", COUNTER, _STORE, "Re-reads of the files."),
    _family("publishes_total", COUNTER, _STORE, "Snapshots published (the first included)."),
    _family("refusals_total", COUNTER, _STORE, "Candidate snapshots a validator refused."),
    _family(
        "incomplete_reads_total",
        COUNTER,
        _STORE,
        "Re-reads that caught files between two states (kept back, retried).",
    ),
    _family("read_errors_total", COUNTER, _STORE, "Files or directories that could not be read."),
    _family("subscriber_errors_total", COUNTER, _STORE, "Subscriber callbacks that raised."),
    _family(
        "last_publish_timestamp_seconds",
        GAUGE,
        _STORE,
        "When the published snapshot was published (Unix time).",
    ),
    _family(
        "last_error_timestamp_seconds",
        GAUGE,
        _STORE,
        "When the most recent problem was seen (Unix time; 0: never).",
    ),
    _family(
        "held_back",
        GAUGE,
        _STORE,
        "1 while an update is held back (refused or half written): the last good values serve.",
        boolean=True,
    ),
    _family(
        "held_back_seconds", GAUGE, _STORE, "How long the current hold-back has lasted (0: none)."
    ),
    _family(
        "kept_secrets", GAUGE, _STORE, "Secrets whose file is gone but whose last value is kept."
    ),
    _family(
        "skipped_files",
        GAUGE,
        _STORE,
        "Files not tracked because this process writes them (its own log, say).",
    ),
    # Certificates: those of TLS contexts, and certificate secrets of a store asked to read them.
    _family(
        "certificate_not_after_timestamp_seconds",
        GAUGE,
        _SECRET,
        "End of validity of the certificate (Unix time): the one served by a TLS context, or "
        "the earliest in a certificate secret.",
    ),
    # TLS contexts that follow rotation.
    _family("tls_rotations_total", COUNTER, _SECRET, "New TLS material put in service."),
    _family("tls_refusals_total", COUNTER, _SECRET, "Candidate TLS material refused."),
    _family(
        "tls_healthy",
        GAUGE,
        _SECRET,
        "1 when the latest TLS candidate was accepted (0: refused, the last good one serves).",
        boolean=True,
    ),
    # Live settings models.
    _family("settings_reloads_total", COUNTER, _SETTINGS, "Reloads that replaced the settings."),
    _family("settings_refusals_total", COUNTER, _SETTINGS, "Reloads the model refused."),
    _family(
        "settings_healthy",
        GAUGE,
        _SETTINGS,
        "1 when the last reload was accepted (0: refused, the last valid instance serves).",
        boolean=True,
    ),
    # Database and cache credentials that follow rotation.
    _family("credentials_connects_total", COUNTER, _CREDENTIALS, "Connections opened with them."),
    _family("credentials_refusals_total", COUNTER, _CREDENTIALS, "Logins the server refused."),
    _family(
        "credentials_failures_total",
        COUNTER,
        _CREDENTIALS,
        "Connects that failed for want of credentials (missing, unreadable, empty).",
    ),
    _family(
        "credentials_changes_total", COUNTER, _CREDENTIALS, "Rotations of the credentials seen."
    ),
    # The sidecar (runsecrets watch).
    _family("watch_actions_total", COUNTER, _STORE, "Actions the sidecar ran on a change."),
    _family("watch_action_failures_total", COUNTER, _STORE, "Actions that failed."),
    _family(
        "watch_last_action_timestamp_seconds",
        GAUGE,
        _STORE,
        "When the sidecar's last action ended (Unix time; 0: none yet).",
    ),
)

#: The families by name.
BY_NAME: dict[str, Family] = {family.name: family for family in FAMILIES}
