"""The bearer token an HTTP client sends: the current value of one secret, and the 401 rule.

Shared by the httpx and requests integrations. The ``Authorization`` header value is derived
from the store's snapshots (built once per new token, never read from the disk per request).
After a 401 the store is read again, and the request is worth retrying only if the token
changed: the rule that ends every refusal in one retry at most.
"""

from __future__ import annotations

from ..exceptions import SecretValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..reload.derived import Derived
    from ..reload.snapshot import Snapshot
    from ..reload.store import SecretStore

# Visible ASCII: what a header value can carry without being split or rejected by a client
# library (whose error message would quote the value).
_VISIBLE = frozenset(range(0x21, 0x7F))


class BearerToken:
    """The ``Authorization`` header value for the current value of one secret.

    The header is one of the store's derived values (:meth:`SecretStore.derive
    <runsecrets.SecretStore.derive>`, ungated: a token this refuses does not hold the store's
    other secrets back), built once per new token and committed with the snapshot it came from.

    Args:
        name: The secret holding the token.
        store: The store to read it from; ``None``: an internal store that watches this one
            secret (stopped by :meth:`close`).
        scheme: The scheme before the token (``Bearer``); empty: the bare token.

    Raises:
        SecretNotFoundError, SecretReadError: The token cannot be read.
        SecretValidationError: It is empty or holds a character a header cannot carry.
    """

    __slots__ = ("_derived", "_name", "_owned", "_prefix", "_store", "scheme")

    def __init__(self, name: str, *, store: SecretStore | None, scheme: str) -> None:
        self._name = name
        self.scheme = scheme
        self._prefix = f"{scheme} " if scheme else ""
        self._owned = store is None
        if store is None:
            from ..reload.store import SecretStore

            store = SecretStore(names=[name])
        self._store = store
        try:
            self._derived: Derived[str] = store.derive(
                self._build, names=[name], gate=False, label=f"token {name!r}"
            )
            self.header()
        except BaseException:
            self.close()
            raise
        if self._owned:
            store.start()

    @property
    def name(self) -> str:
        """The secret's name."""
        return self._name

    def header(self) -> str:
        """The header value for the token published now.

        Raises:
            SecretValidationError: The token published now cannot be sent.
        """
        derived = self._derived
        error = derived.last_error
        if error is not None:
            raise error.with_traceback(None)
        return derived.value

    def renewed(self, sent: str) -> str | None:
        """After a 401 to a request sent with ``sent``: the header to retry with, or ``None``
        when the token has not changed (the refusal stands)."""
        current = self.header()
        if current == sent:
            self._store.reload()  # the watcher may not have seen the renewer's write yet
            current = self.header()
        return None if current == sent else current

    def close(self) -> None:
        """Stop following the token; stop the internal store, if there is one."""
        derived = getattr(self, "_derived", None)
        if derived is not None:
            derived.close()
        if self._owned:
            self._store.close()

    def _build(self, snapshot: Snapshot) -> str:
        return self._prefix + self._checked(snapshot.get(self._name))

    def _checked(self, token: str) -> str:
        problem = None
        if not token:
            problem = "it is empty"
        elif not all(ord(c) in _VISIBLE for c in token):
            problem = "it holds white space, a control character or a non-ASCII character"
        if problem is not None:
            raise SecretValidationError(
                f"secret {self._name!r} cannot be sent as a token: {problem}",
                validator="token",
                name=self._name,
            )
        return token


class TokenAuth:
    """What the ``SecretTokenAuth`` of each HTTP library shares: the token and its store."""

    def __init__(
        self, name: str, *, store: SecretStore | None = None, scheme: str = "Bearer"
    ) -> None:
        self._token = BearerToken(name, store=store, scheme=scheme)

    def close(self) -> None:
        """Stop the internal store, if there is one (a store given is yours to close)."""
        self._token.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._token.name!r}, scheme={self._token.scheme!r})"
