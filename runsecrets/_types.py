"""Type aliases shared by the modules (imported only while type checking)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeAlias, Union

#: A directory argument: one path, or an iterable of paths read first to last.
DirsArg: TypeAlias = Union[str, "os.PathLike[str]", Iterable[Union[str, "os.PathLike[str]"]]]
