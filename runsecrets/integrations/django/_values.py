"""Values of ``secret()`` that Django's error reports do not show.

Django's ``SafeExceptionReporterFilter`` hides settings by name only (``API``, ``AUTH``,
``TOKEN``, ``KEY``, ``SECRET``, ``PASS``, ``SIGNATURE``): a ``DATABASE_URL`` or a ``SENTRY_DSN``
is shown in full in the report mailed or logged for a 500. Its reports render every setting, every
frame local and every ``request.META`` entry through ``repr`` (``pprint`` and ``%r``), so a
``str`` whose ``repr`` hides the value is hidden there, whatever its setting's name, and is still
a ``str`` everywhere else.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _H = TypeVar("_H", bound="_Hidden")


class _Hidden:
    """What :class:`SecretText` and :class:`SecretBytes` share: a name, and a hiding ``repr``."""

    secret_name: str

    def __new__(cls: type[_H], value: Any, secret_name: str) -> _H:
        made: _H = super().__new__(cls, value)  # type: ignore[call-arg]  # str's or bytes'
        made.secret_name = secret_name
        return made

    def __repr__(self) -> str:
        return f"<secret {self.secret_name!r}: value hidden>"

    def __reduce__(self) -> tuple[object, ...]:
        plain = type(self).__mro__[-2]  # str or bytes
        return (type(self), (plain(self), self.secret_name))


class SecretText(_Hidden, str):
    """A ``str`` read from a secret: equal to, and usable as, its text; its ``repr`` hides it.

    ``str(value)``, f-strings and every ``str`` method give the text itself (as plain ``str``):
    what is derived from it (a slice, a ``split``, a parsed URL's parts) is not hidden any more.

    Attributes:
        secret_name: The secret it was read from.
    """


class SecretBytes(_Hidden, bytes):
    """A ``bytes`` read from a secret; its ``repr`` hides it (see :class:`SecretText`).

    Attributes:
        secret_name: The secret it was read from.
    """
