"""A value wrapper that does not show its value."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._provenance import Provenance

_MASK = "**********"


class Secret:
    """A secret text whose ``repr``, ``str`` and format never show it.

    Use :meth:`reveal` where the value is really needed. Compare a credential someone sent with
    :meth:`matches`; equality also compares in constant time. An empty secret matches nothing
    and equals nothing, not even another empty one: an empty token file must not let in a
    request that sends no token.

    Attributes:
        provenance: Where the value came from (source, size, modification time), when known.
    """

    __slots__ = ("_value", "provenance")

    def __init__(self, value: str, provenance: Provenance | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps text, not {type(value).__name__}")
        self._value = value
        self.provenance = provenance

    def reveal(self) -> str:
        """Return the value itself."""
        return self._value

    def __repr__(self) -> str:
        if self.provenance is None:
            return f"Secret({_MASK!r})"
        return f"Secret({self.provenance.name!r}, from {self.provenance.describe()})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def matches(self, given: str | bytes | Secret | None) -> bool:
        """Whether ``given`` (a token a client sent, say) is this secret, in constant time.

        False when either is empty or ``given`` is ``None``.
        """
        if isinstance(given, Secret):
            given = given.reveal()
        if not given or not self._value:
            return False
        from hmac import compare_digest

        sent = given.encode() if isinstance(given, str) else given
        return compare_digest(sent, self._value.encode())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self.matches(other)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Copying is fine; what matters is that no display path shows the value.
        return (Secret, (self._value, self.provenance))
