"""``typing.Generic`` and a type variable for the type checker, plain objects at run time.

Importing ``typing`` would load 25 modules; the classes built on these (the subscriber list, a
derived value) load with the store, which ``import runsecrets`` leaves out, but need no more.
"""

from __future__ import annotations

__all__ = ["Generic", "T"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Generic, TypeVar

    T = TypeVar("T")
else:
    T = object

    class Generic:
        """A base that ignores its parameters: ``Generic[T]`` is ``Generic``."""

        __slots__ = ()

        def __class_getitem__(cls, item: object) -> type:
            return cls
