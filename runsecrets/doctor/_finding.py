"""What ``runsecrets doctor`` reports: a :class:`Finding`, and the one table of codes."""

from __future__ import annotations

ERROR = "error"
WARNING = "warning"

#: Every code a finding can carry, with its severity. The rule behind each is documented where
#: the check lives and in ``docs/doctor.md``; a test keeps the two lists equal.
CODES: dict[str, str] = {
    # the environment
    "secret_in_environment": ERROR,
    "conflict": ERROR,
    "file_variable_not_a_path": ERROR,
    # directories and mounts
    "secrets_dir_missing": WARNING,
    "not_memory_backed": WARNING,
    "never_updates": WARNING,
    "invalid_name": WARNING,
    "dangling_link": WARNING,
    # files
    "insecure_permissions": WARNING,
    "unreadable": ERROR,
    "not_a_file": ERROR,
    "link_outside_directory": ERROR,
    "too_large": ERROR,
    "empty_secret": WARNING,
    # certificates
    "certificate_expiring": WARNING,
    "certificate_invalid": ERROR,
    # the watcher's limits
    "inotify_watches_low": WARNING,
    "inotify_instances_low": WARNING,
    "inotify_unavailable": WARNING,
    # an image
    "secret_in_image_environment": ERROR,
    "secret_build_argument": ERROR,
    "secret_in_image_history": ERROR,
    "image_not_checked": ERROR,
    # anything that could not be looked at
    "not_checked": WARNING,
}


class Finding:
    """One problem found: what it is, how bad, where, and how to fix it.

    A finding never holds a secret value, nor a hash of one: the subject names a variable, a
    file, a directory or a setting, and the message says what is wrong and the fix, in one line.

    Attributes:
        code: A stable code from :data:`CODES` (``secret_in_environment``, ``never_updates``...).
        severity: ``"error"`` or ``"warning"``, fixed by the code.
        subject: What the finding is about: a variable name, a path, a setting.
        message: The problem and its fix, one line.
    """

    __slots__ = ("code", "message", "severity", "subject")

    def __init__(self, code: str, subject: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown finding code {code!r}")
        self.code = code
        self.severity = CODES[code]
        self.subject = subject
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready mapping: ``code``, ``severity``, ``subject``, ``message``."""
        return {
            "code": self.code,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return (self.code, self.subject, self.message) == (other.code, other.subject, other.message)

    def __hash__(self) -> int:
        return hash((self.code, self.subject, self.message))

    def __repr__(self) -> str:
        return f"Finding({self.code!r}, {self.severity}, {self.subject!r})"
