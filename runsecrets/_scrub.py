"""Errors that carry no value: no frame locals, no foreign exception in their chain.

An exception keeps far more than its message. Its traceback keeps every frame it passed
through, each with its local variables (the bytes just read, a passphrase, a parsed key), and
its ``__context__`` / ``__cause__`` keep the exceptions it replaced (a ``UnicodeDecodeError``
holds the whole value in ``.object``, cryptography's errors quote PEM lines, a pydantic
``ValidationError`` keeps each input). Error reporters read all of it: Sentry captures frame
locals by default, Django's debug page shows them. ``raise ... from None`` only hides the
context when printing; the attribute stays set.

So every runsecrets error that leaves a public entry point, and every error a store or a
context keeps for later, passes through :func:`scrubbed` first. The public entry points use
:func:`scrub_errors`.
"""

from __future__ import annotations

from .exceptions import RunSecretsError, RunSecretsWarning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import ParamSpec, TypeVar

    _E = TypeVar("_E", bound=BaseException)
    _P = ParamSpec("_P")
    _R = TypeVar("_R")

# Frames of these kinds of code belong to a generator or coroutine: clearing one that is only
# suspended would finalize it, so such frames are cut out of the traceback instead.
_GENERATOR_FLAGS = (
    0x20 | 0x80 | 0x100 | 0x200
)  # GENERATOR, COROUTINE, ITERABLE_COROUTINE, ASYNC_GENERATOR
#: Exceptions whose every attribute runsecrets writes itself (names, places, reasons, never values).
_OWN = (RunSecretsError, RunSecretsWarning)


def scrubbed(error: _E) -> _E:
    """Return ``error`` itself, emptied of everything that could hold a secret value.

    - Its traceback keeps its lines (file, function, line number) but no local variables: each
      finished frame is cleared. A frame still running (the one handling the error and its
      callers, whose locals keep changing) or belonging to a generator is cut out instead.
    - Its ``__cause__`` and ``__context__`` keep runsecrets' own errors (scrubbed the same way)
      and drop any other exception: an ``OSError``, a ``UnicodeDecodeError`` or a parser's
      error may hold or quote the value, and what it says is already in our error's own
      attributes (``errno``, ``offset``, ``reason``).
    """
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = _cleared(current.__traceback__)
        cause = current.__cause__
        context = current.__context__
        current.__cause__ = cause if isinstance(cause, _OWN) else None
        current.__context__ = context if isinstance(context, _OWN) else None
        current.__suppress_context__ = current.__cause__ is not None
        # Ours chain only ours: scrub the links that remain the same way.
        pending.extend(link for link in (current.__cause__, current.__context__) if link)
    return error


def _cleared(tb: TracebackType | None) -> TracebackType | None:
    """The traceback ``tb`` without local variables: cleared frames kept, the others cut."""
    head: TracebackType | None = None
    last: TracebackType | None = None
    while tb is not None:
        following = tb.tb_next
        if _clear(tb.tb_frame):
            if last is None:
                head = tb
            else:
                last.tb_next = tb
            last = tb
        tb = following
    if last is not None:
        last.tb_next = None
    return head


def _clear(frame: FrameType) -> bool:
    """Drop ``frame``'s local variables; ``False`` when it cannot be (running, a generator's)."""
    if frame.f_code.co_flags & _GENERATOR_FLAGS:
        return False
    try:
        frame.clear()
    except RuntimeError:  # still running: its locals are not ours to clear
        return False
    return True


def scrub_errors(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a public entry point: any exception leaving it is :func:`scrubbed` first.

    The exception is raised again from a frame that holds nothing but the exception itself:
    the call's arguments (a passphrase given by value) are dropped before it is raised.
    """

    def entry(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - re-raised, only scrubbed
            error = e
        del args, kwargs
        raise scrubbed(error)

    entry.__name__ = function.__name__
    entry.__qualname__ = function.__qualname__
    entry.__doc__ = function.__doc__
    entry.__module__ = function.__module__
    entry.__wrapped__ = function  # type: ignore[attr-defined]  # for inspect.signature and Sphinx
    return entry
