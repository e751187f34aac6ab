"""Warnings attributed to the application's code, not to a line inside runsecrets."""

from __future__ import annotations

import sys

#: Packages whose frames are skipped: runsecrets itself, and the libraries that call into it
#: (pydantic builds a settings source; the user's line is the ``Settings()`` call).
_LIBRARIES = ("runsecrets", "pydantic", "pydantic_core", "pydantic_settings")


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` with the stack level of the first frame outside those libraries.

    So the warning shows the application's line, and ``filterwarnings(..., module=...)`` with
    the application's module name applies, whichever public entry point led here.
    """
    import warnings

    level = 2  # 1 is this function; 2 its caller
    frame = sys._getframe(1)  # noqa: SLF001  (the caller's frame, without importing inspect)
    while frame.f_back is not None and _is_library(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _is_library(module: str) -> bool:
    return module.partition(".")[0] in _LIBRARIES
