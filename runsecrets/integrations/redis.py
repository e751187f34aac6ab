"""redis-py: a ``CredentialProvider`` that returns the current rotated credentials at each connect.

::

    import redis
    from runsecrets.integrations.redis import CredentialProvider, rotation_retry

    client = redis.Redis(
        host="cache",
        credential_provider=CredentialProvider("redis_password", username="redis_user"),
        retry=rotation_retry(),
    )

It works for ``redis.Redis`` and ``redis.asyncio.Redis`` (``get_credentials`` and
``get_credentials_async``). redis-py authenticates each new connection with what the provider
returns (connections already open stay authenticated: Redis does not ask again), and the user
and the password always come from one snapshot of a store that follows the secrets. redis-py
retries a connect whose ``AUTH`` is refused under the client's ``retry`` policy, asking the
provider again each time; :func:`rotation_retry` gives one that covers a rotation whose two
steps (the server, the file) are a few seconds apart. With Redis ACLs a rotation needs no such
window: a user may have two passwords at once (``ACL SETUSER app >new``, switch the file, then
``ACL SETUSER app <old``).
"""

from __future__ import annotations

import threading

from redis.credentials import CredentialProvider as _RedisCredentialProvider

from ._credentials import CredentialFollower
from ._spec import CredentialSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.retry import Retry

    from .._types import DirsArg
    from ..reload.store import SecretStore

__all__ = ["CredentialProvider", "rotation_retry"]

# rotation_retry's backoff: doubling from 20 ms, never more than half a second.
_BASE = 0.01
_CAP = 0.5


class CredentialProvider(_RedisCredentialProvider):
    """A redis-py credential provider reading the user and password from secrets.

    Args:
        password: The secret holding the password.
        username: The secret holding the ACL user name (``None``: the password is sent alone,
            for the ``default`` user).
        store: Read this store (you start and close it); by default one is made for these
            secrets on first use (so a provider made before ``fork`` starts no thread), started,
            and closed by :meth:`close`.
        dirs: Secrets directories for the store made here.

    Raises:
        CredentialsError: From a connect, when a credential secret is missing, unreadable or
            empty (connections already open keep working).
    """

    def __init__(
        self,
        password: str,
        username: str | None = None,
        *,
        store: SecretStore | None = None,
        dirs: DirsArg | None = None,
    ) -> None:
        self.spec = CredentialSpec(password, username)
        if store is not None and dirs is not None:
            raise ValueError("give a store or dirs for a new one, not both")
        self._store = store
        self._dirs = dirs
        self._lock = threading.Lock()
        self._follower: CredentialFollower | None = None

    @property
    def follower(self) -> CredentialFollower:
        """The credentials, following the store (made on first use)."""
        follower = self._follower
        if follower is None:
            with self._lock:
                if self._follower is None:
                    self._follower = CredentialFollower(
                        self.spec, store=self._store, dirs=self._dirs, label="redis"
                    )
                follower = self._follower
        return follower

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        """``(username, password)``, or ``(password,)`` without a user secret."""
        credentials = self.follower.credentials()
        if credentials.user is None:
            return (credentials.password,)
        return (credentials.user, credentials.password)

    async def get_credentials_async(self) -> tuple[str] | tuple[str, str]:
        """The same, for ``redis.asyncio`` (reading a snapshot never blocks)."""
        return self.get_credentials()

    def close(self) -> None:
        """Stop following the secrets (a store made here is closed); safe to call twice."""
        with self._lock:
            follower, self._follower = self._follower, None
        if follower is not None:
            follower.detach()

    def __repr__(self) -> str:
        return f"CredentialProvider(password={self.spec.password!r}, username={self.spec.user!r})"


def rotation_retry(seconds: float = 5.0, *, asynchronous: bool = False) -> Retry | AsyncRetry:
    """A redis-py ``Retry`` that keeps retrying a refused connect for about ``seconds``.

    Backoff doubles from 20 ms to at most 0.5 s; it applies to every error redis-py retries
    (a refused ``AUTH`` is a ``ConnectionError`` to it). ``asynchronous=True`` gives the one
    ``redis.asyncio`` clients take.
    """
    from redis.backoff import ExponentialBackoff

    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, not {seconds!r}")
    retries, total = 0, 0.0
    while total < seconds:
        retries += 1
        total += min(_CAP, _BASE * 2**retries)
    backoff = ExponentialBackoff(cap=_CAP, base=_BASE)
    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRetry(backoff, retries)
    from redis.retry import Retry

    return Retry(backoff, retries)
