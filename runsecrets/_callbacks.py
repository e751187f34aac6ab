"""Reporting a failing callback (a subscriber, a listener) without a value in the log."""

from __future__ import annotations

import os

from ._platform import debug_enabled

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


def log_callback_error(
    logger: logging.Logger, what: str, callback: object, error: Exception
) -> None:
    """Log that ``callback`` raised: its name, the error's type and where it was raised.

    The message and the traceback are left out (the callback is the application's, and either
    may quote a value) unless ``RUNSECRETS_DEBUG`` asks for the traceback.

    Args:
        logger: Where to log.
        what: What the callback is, in the plural (``"secrets subscribers"``).
        callback: The callable that raised.
        error: What it raised.
    """
    label = getattr(callback, "__qualname__", type(callback).__name__)
    where = "?"
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
    logger.error(
        "%s %s raised %s at %s; the other %s were still called",
        what.removesuffix("s"),
        label,
        type(error).__name__,
        where,
        what,
        exc_info=error if debug_enabled(os.environ) else None,
    )
