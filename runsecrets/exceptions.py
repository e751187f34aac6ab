"""The errors and warnings runsecrets raises.

Every error derives from :class:`RunSecretsError` and carries structured attributes (the secret's
name, the path or variable involved, the places searched). None of them ever holds or prints a
secret value: messages name *where* a value was looked for, never *what* it is.
"""

from __future__ import annotations


class _ReasonCodes:
    """``Literal[...]`` at run time without ``typing``: the codes themselves, as a tuple.

    Importing ``typing`` would load 25 modules, more than ``import runsecrets`` loads in all.
    A type checker sees the real ``Literal`` (below); at run time ``TLSReason`` is the tuple of
    its codes, which :func:`reason_codes` returns (``runsecrets.tls.REASONS`` is made so).
    """

    __slots__ = ()

    def __getitem__(self, codes: tuple[str, ...]) -> tuple[str, ...]:
        return codes


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Literal

    from .swarm import RotationReport
else:
    Literal = _ReasonCodes()

#: The ``reason`` codes of :class:`SecretReadError`.
ReadReason = Literal[
    "not_found",
    "permission_denied",
    "not_regular_file",
    "outside_directory",
    "too_large",
    "not_utf8",
    "os_error",
    "not_env_safe",
]
#: The ``reason`` codes of :class:`InvalidTLSMaterialError`, in the order of the checks.
TLSReason = Literal[
    "parse_error",
    "key_mismatch",
    "not_yet_valid",
    "expired",
    "bad_key_usage",
    "weak_key",
    "weak_signature",
    "hostname_mismatch",
    "untrusted_chain",
    "openssl_refused",
]
#: The ``reason`` codes of :class:`SwarmError`.
SwarmReason = Literal[
    "invalid_name",
    "empty",
    "too_large",
    "docker_missing",
    "invalid_docker_host",
    "engine_error",
    "conflict",
    "not_found",
    "unrecognised",
    "ambiguous",
    "mount_conflict",
    "busy",
    "rotation_incomplete",
]
#: The ``reason`` codes of :class:`CredentialsError`.
CredentialsReason = Literal["not_found", "unreadable", "empty", "half_rotation", "refused"]


def reason_codes(reasons: Any) -> tuple[str, ...]:
    """The codes of one of the reason types above, in order: ``reason_codes(TLSReason)``."""
    return tuple(getattr(reasons, "__args__", reasons))


__all__ = [
    "ActionError",
    "CertificateExpiryWarning",
    "CredentialsError",
    "InsecurePermissionsWarning",
    "InvalidSecretNameError",
    "InvalidSwarmSecretError",
    "InvalidTLSMaterialError",
    "MetricsAddressError",
    "RotationError",
    "RunSecretsError",
    "RunSecretsWarning",
    "SecretConflictError",
    "SecretDecodeError",
    "SecretNotFoundError",
    "SecretReadError",
    "SecretTooLargeError",
    "SecretValidationError",
    "SecretsDirWarning",
    "SwarmError",
    "UsageError",
    "WatchFallbackWarning",
]


class RunSecretsError(Exception):
    """Root of every error raised by runsecrets.

    Attributes:
        message: The human-readable message (never contains a secret value).
        name: The logical secret name, when one is involved.
        path: The file involved, when one is.
        variable: The environment variable involved, when one is.
        searched: Every place that was looked at, in order, as readable descriptions.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        path: str | None = None,
        variable: str | None = None,
        searched: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.path = path
        self.variable = variable
        self.searched: tuple[str, ...] = tuple(searched)

    def __str__(self) -> str:
        return self.message


class SecretNotFoundError(RunSecretsError, LookupError):
    """No source holds the secret and the caller gave no default."""


class SecretConflictError(RunSecretsError):
    """Both ``FOO`` and ``FOO_FILE`` are set (non-empty): the official images refuse this too.

    Attributes:
        file_variable: The ``_FILE`` variable that was set beside :attr:`variable`.
    """

    def __init__(self, message: str, *, file_variable: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.file_variable = file_variable


class SecretReadError(RunSecretsError):
    """A secret exists but cannot be used: unreadable, not a regular file, outside its directory...

    Attributes:
        reason: A stable code: ``not_found``, ``permission_denied``, ``not_regular_file``,
            ``outside_directory``, ``too_large``, ``not_utf8``, ``os_error``, ``not_env_safe``
            (``runsecrets exec``: a NUL byte, which no environment variable can carry).
        errno: The operating system's error number, when the failure came from a system call.
    """

    def __init__(
        self, message: str, *, reason: ReadReason, errno: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.reason: ReadReason = reason
        self.errno = errno


class SecretTooLargeError(SecretReadError):
    """The file is larger than the configured size cap (checked before reading it).

    Attributes:
        size: The file's size in bytes.
        limit: The cap in bytes.
    """

    def __init__(self, message: str, *, size: int, limit: int, **kwargs: Any) -> None:
        super().__init__(message, reason="too_large", **kwargs)
        self.size = size
        self.limit = limit


class SecretDecodeError(SecretReadError, ValueError):
    """The file is not valid UTF-8 (use the bytes API for binary secrets).

    Attributes:
        offset: Byte offset of the first invalid byte (the byte itself is never shown).
    """

    def __init__(self, message: str, *, offset: int, **kwargs: Any) -> None:
        super().__init__(message, reason="not_utf8", **kwargs)
        self.offset = offset


class InvalidSecretNameError(RunSecretsError, ValueError):
    """The name is not a single safe path component; rejected before touching the disk."""


class InvalidTLSMaterialError(RunSecretsError, ValueError):
    """Certificate, key or CA material failed validation.

    Attributes:
        reason: A stable code, one of :data:`runsecrets.tls.REASONS`: ``parse_error``,
            ``key_mismatch``, ``not_yet_valid``, ``expired``, ``bad_key_usage``, ``weak_key``,
            ``weak_signature``, ``hostname_mismatch``, ``untrusted_chain`` (a failed check,
            see :mod:`runsecrets.tls`), ``openssl_refused`` (OpenSSL would not load material
            that passed every check).
        files: The files (or secret names) the material came from.
    """

    def __init__(
        self, message: str, *, reason: TLSReason, files: Iterable[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.reason: TLSReason = reason
        self.files: tuple[str, ...] = tuple(files)


class SecretValidationError(RunSecretsError, ValueError):
    """A validation hook refused a snapshot of secrets (at start-up, where no older one exists).

    Attributes:
        validator: The name of the hook that refused it.
    """

    def __init__(self, message: str, *, validator: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.validator = validator


class SwarmError(RunSecretsError):
    """A Swarm operation (:mod:`runsecrets.swarm`) failed, or was refused before any change.

    Attributes:
        reason: A stable code: ``invalid_name``, ``empty`` or ``too_large`` (a name or value
            Swarm would refuse), ``docker_missing`` (no docker package),
            ``invalid_docker_host`` (``DOCKER_HOST`` is not an address), ``engine_error`` (the
            engine or the connection to it failed), ``conflict`` (the next version's name is
            taken meanwhile), ``not_found`` (nothing to rotate, or an ``adopt`` name that does
            not exist), ``unrecognised`` (the services use versions runsecrets cannot prove it
            made), ``ambiguous`` (two secrets claim one rotation), ``mount_conflict`` (one
            service would mount the new version at targets with different owners or modes),
            ``busy`` (a service to move was still updating or rolling back when the timeout
            ran out: an earlier update, such as an interrupted rotation's rollback),
            ``rotation_incomplete`` (:class:`RotationError`).
    """

    def __init__(self, message: str, *, reason: SwarmReason, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason: SwarmReason = reason


class InvalidSwarmSecretError(SwarmError, ValueError):
    """A name or a value that Swarm would refuse, caught before any call to the engine."""


class RotationError(SwarmError):
    """A rotation did not complete; :attr:`report` says what changed and what did not.

    Raised when a service could not be moved, and when the engine or the connection to it
    failed midway (after the new version was chosen): the report then holds what was done
    until then. Every service still uses an existing secret (failed updates are rolled back,
    versions are removed last), and running :func:`runsecrets.swarm.rotate` again finishes the
    rotation.

    Attributes:
        report: The :class:`runsecrets.swarm.RotationReport` of what was done.
    """

    def __init__(self, message: str, *, report: RotationReport, **kwargs: Any) -> None:
        super().__init__(message, reason="rotation_incomplete", **kwargs)
        self.report = report


class CredentialsError(RunSecretsError):
    """Database or cache credentials taken from secrets could not be used to log in.

    Raised by a connect (never at import or set-up): the pool keeps serving with the
    connections it already has. The message names the secrets and where they were looked for;
    a driver's error text is never included (it is about secret material), only its type and
    code.

    Attributes:
        reason: ``not_found`` (a credential secret is missing), ``unreadable`` (it cannot be
            read, or is not text), ``empty``, ``half_rotation`` (a new user with the previous
            password, before any pair was in use), or ``refused`` (the server kept refusing
            the login for the whole retry time).
        secrets: The names of the credential secrets (the user's first, when it is one).
        attempts: Logins tried before giving up (``refused``; else 0).
        elapsed: Seconds spent retrying (``refused``; else 0.0).
        driver_error: The type of the driver's last error, such as
            ``psycopg.OperationalError`` (``refused``; else ``None``).
        code: That error's SQLSTATE or error number, when the driver gives one.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: CredentialsReason,
        secrets: Iterable[str],
        attempts: int = 0,
        elapsed: float = 0.0,
        driver_error: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.reason: CredentialsReason = reason
        self.secrets: tuple[str, ...] = tuple(secrets)
        self.attempts = attempts
        self.elapsed = elapsed
        self.driver_error = driver_error
        self.code = code


class ActionError(RunSecretsError):
    """A ``runsecrets watch`` action could not be carried out (no target process, a command
    that failed, a POST refused).

    Its message names processes, commands and URLs, never a secret value.
    """


class UsageError(RunSecretsError, ValueError):
    """A combination of command-line options that does not make sense (exit code 2)."""


class MetricsAddressError(RunSecretsError, ValueError):
    """The address given for the metrics server cannot be used (malformed, or binding fails).

    Attributes:
        address: The address as given.
    """

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class RunSecretsWarning(UserWarning):
    """Root of the warnings runsecrets emits."""


class CertificateExpiryWarning(RunSecretsWarning):
    """A certificate is valid but expires within the configured number of days."""


class InsecurePermissionsWarning(RunSecretsWarning):
    """A secret file is writable by its group or by others (warned once per file)."""


class SecretsDirWarning(RunSecretsWarning):
    """A configured secrets directory does not exist (yet)."""


class WatchFallbackWarning(RunSecretsWarning):
    """File-system notifications are unavailable (or their limit is reached): polling instead."""
