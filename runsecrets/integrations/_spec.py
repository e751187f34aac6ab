"""The credentials value and the pure rule that reads it from one snapshot.

``CredentialSpec.build(snapshot, previous)`` depends on nothing but its arguments: it is the
builder a store's derived value needs, and what every driver integration reads through.
"""

from __future__ import annotations

from ..exceptions import CredentialsError, RunSecretsError, SecretNotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..exceptions import CredentialsReason
    from ..reload.snapshot import Snapshot

__all__ = ["CredentialSpec", "Credentials", "again"]


class Credentials:
    """A user and a password taken from one snapshot, so they belong to the same rotation.

    Attributes:
        user: The user name, or ``None`` when the user is not a secret (the driver's own
            setting applies).
        password: The password.
        version: The version of the snapshot they were read from.
    """

    __slots__ = ("password", "user", "version")

    def __init__(self, user: str | None, password: str, version: int) -> None:
        self.user = user
        self.password = password
        self.version = version

    def same_as(self, other: Credentials | None) -> bool:
        """Whether ``other`` holds the same user and password (versions aside)."""
        return other is not None and other.user == self.user and other.password == self.password

    def as_kwargs(
        self,
        user_key: str = "user",
        password_key: str = "password",  # noqa: S107  (a keyword's name)
    ) -> dict[str, str]:
        """The driver's keyword arguments: the password, and the user when it is a secret."""
        kwargs = {password_key: self.password}
        if self.user is not None:
            kwargs[user_key] = self.user
        return kwargs

    def __repr__(self) -> str:
        return f"Credentials(version={self.version})"  # never a value, not even the user's


class CredentialSpec:
    """Which secrets make the credentials, and the pure rule that reads them from a snapshot.

    Args:
        password: The name of the secret holding the password.
        user: The name of the secret holding the user name (``None``: the user is not a
            secret).

    Raises:
        ValueError: A name is empty or not a string, or both are the same.
    """

    __slots__ = ("password", "user")

    def __init__(self, password: str, user: str | None = None) -> None:
        for label, value in (("password", password), ("user", user)):
            if value is None and label == "user":
                continue
            if not isinstance(value, str) or not value:
                raise ValueError(f"{label} must be the name of a secret, not {value!r}")
        if user == password:
            raise ValueError(f"user and password must be two secrets, not both {password!r}")
        self.password = password
        self.user = user

    @property
    def names(self) -> tuple[str, ...]:
        """The secrets' names, the user's first when it is a secret."""
        return (self.password,) if self.user is None else (self.user, self.password)

    def build(self, snapshot: Snapshot, previous: Credentials | None = None) -> Credentials:
        """The credentials in ``snapshot``: both halves from it, or a refusal.

        A half that is missing, unreadable or empty is never completed with a value from
        another snapshot: the whole pair is refused. Given the ``previous`` credentials, a new
        user with the previous password is half of an alternating-users rotation (the user
        file written, the password file not yet): refused too, so the previous pair, whose user
        still works, stays in use until the password follows.

        Raises:
            CredentialsError: ``not_found``, ``unreadable`` or ``empty``, naming the secret and
                where it was looked for; ``half_rotation``.
        """
        user = None if self.user is None else self._read(snapshot, self.user)
        password = self._read(snapshot, self.password)
        if (
            previous is not None
            and user != previous.user
            and password == previous.password
            and self.user is not None
        ):
            raise CredentialsError(
                f"credentials: secret {self.user!r} changed but {self.password!r} did not: "
                "half a rotation, the previous pair stays in use",
                reason="half_rotation",
                secrets=self.names,
                name=self.password,
            )
        return Credentials(user, password, snapshot.version)

    def _read(self, snapshot: Snapshot, name: str) -> str:
        try:
            value = snapshot.get(name)
        except SecretNotFoundError as e:
            raise self._error(f"credentials: {e.message}", "not_found", e) from e
        except RunSecretsError as e:
            raise self._error(
                f"credentials: cannot use secret: {e.message}", "unreadable", e
            ) from e
        if not value:
            where = snapshot.provenance(name).describe()
            raise CredentialsError(
                f"credentials: secret {name!r} is empty ({where})",
                reason="empty",
                secrets=self.names,
                name=name,
                searched=(where,),
            )
        return value

    def _error(
        self, message: str, reason: CredentialsReason, cause: RunSecretsError
    ) -> CredentialsError:
        return CredentialsError(
            message,
            reason=reason,
            secrets=self.names,
            name=cause.name,
            path=cause.path,
            variable=cause.variable,
            searched=cause.searched,
        )

    def __repr__(self) -> str:
        return f"CredentialSpec(password={self.password!r}, user={self.user!r})"


def again(error: CredentialsError) -> CredentialsError:
    """A new error like ``error``, for one more connect: one instance raised in several threads
    would share (and mix) its traceback."""
    return CredentialsError(
        error.message,
        reason=error.reason,
        secrets=error.secrets,
        name=error.name,
        path=error.path,
        variable=error.variable,
        searched=error.searched,
    )
