"""pydantic's ``ValidationError`` without the values it refused, in every rendering.

``hide_input_in_errors`` only changes how an error prints: ``errors()``, ``json()`` and the
error object itself keep each refused input, and a validator's own message may quote it. A
settings model that reads secrets raises the cleaned copy made here instead (see
:func:`cleaning_errors`).
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from .._scrub import scrubbed
from . import _fields as fields
from ._compat import init_data

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Error types whose message is written by the model's own validators and may quote the value.
_VALIDATOR_ERROR_TYPES = frozenset({"value_error", "assertion_error"})
#: Error types raised by runsecrets' source: their messages name places, never values.
_OWN_ERROR_PREFIX = "runsecrets_"
#: What a cleaned error holds where pydantic would keep the refused input, or a location key
#: that came from the input (a key of a dictionary read from a secret file).
HIDDEN_INPUT = "[hidden]"
_CORE_ERROR_TYPES = frozenset(typing.get_args(core_schema.ErrorType))
# Location parts pydantic takes from the schema, not the input: the names it gives the members
# of a union (``int``, ``str``, ``function-after[...]``...), beside field names and aliases.
_SCHEMA_WORDS = frozenset(
    {
        "any",
        "bool",
        "bytes",
        "callable",
        "complex",
        "date",
        "datetime",
        "decimal",
        "dict",
        "float",
        "frozenset",
        "generator",
        "int",
        "json",
        "list",
        "multi-host-url",
        "none",
        "set",
        "str",
        "time",
        "timedelta",
        "tuple",
        "url",
        "uuid",
        "[key]",
    }
)


def clean_validation_error(
    error: ValidationError, model: type[Any] | None = None
) -> ValidationError:
    """``error`` rebuilt without anything that could be a secret value.

    For every line: the location and the error type are kept; the input is dropped (shown as
    ``[hidden]``, and the new error's ``hide_input`` is set); pydantic's own message is kept
    unless it contains the input's text; the message of a model's validator (``value_error``,
    ``assertion_error``, a custom error type) is replaced, since it may quote the value;
    runsecrets' own ``runsecrets_*`` messages (places, never values) are kept. Given the
    ``model``, a location part that is none of its field names, aliases or model names (a key
    of a dictionary the input held) is shown as ``[hidden]`` too. Works whatever the model's
    ``hide_input_in_errors`` says; the new error has no traceback and no chained exception.
    """
    known = None if model is None else _schema_names(model)
    lines: list[InitErrorDetails] = []
    for item in error.errors(include_url=False, include_context=False):
        kind = item["type"]
        lines.append(
            InitErrorDetails(
                type=PydanticCustomError(kind, "{message}", {"message": _message(item)}),
                loc=tuple(_location(item["loc"], known)),
                input=HIDDEN_INPUT,
            )
        )
    return ValidationError.from_exception_data(error.title, lines, hide_input=True)


def _message(item: Any) -> str:
    kind = item["type"]
    message: str = item["msg"]
    raw = item.get("input")
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    if kind.startswith(_OWN_ERROR_PREFIX):
        return message
    if kind in _VALIDATOR_ERROR_TYPES or kind not in _CORE_ERROR_TYPES:
        return "refused by a validator of the model (its message is hidden: it may quote a value)"
    if isinstance(text, str) and text and text in message:
        return "invalid value (the message is hidden: it quotes the value)"
    return message


def _location(loc: tuple[int | str, ...], known: frozenset[str] | None) -> Iterator[int | str]:
    for part in loc:
        if known is None or isinstance(part, int) or part in known or _schema_word(part):
            yield part
        else:
            yield HIDDEN_INPUT


def _schema_word(part: str) -> bool:
    # Union members pydantic names after their schema: ``function-after[...]``, ``list[int]``.
    return part in _SCHEMA_WORDS or "[" in part


def _schema_names(model: type[Any]) -> frozenset[str]:
    """Every field name, alias and model name reachable from ``model``'s annotations."""
    names: set[str] = set()
    pending: list[Any] = [model]
    seen: set[int] = set()
    while pending:
        annotation = pending.pop()
        if id(annotation) in seen:
            continue
        seen.add(id(annotation))
        pending.extend(typing.get_args(annotation))
        nested = fields.model_class(annotation)
        if nested is None:
            continue
        names.add(nested.__name__)
        for name, field in fields.model_fields(nested).items():
            names.add(name)
            for alias in (field.alias, field.validation_alias):
                if isinstance(alias, str):
                    names.add(alias)
                elif alias is not None:
                    converted = alias.convert_to_aliases()
                    choices = converted if isinstance(converted[0], list) else [converted]
                    names.update(
                        part for choice in choices for part in choice if isinstance(part, str)
                    )
            pending.append(field.annotation)
    return frozenset(names)


def cleaning_errors(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a settings model's ``__init__`` so that what it raises holds no value.

    A ``ValidationError`` becomes its :func:`clean_validation_error` copy; any other exception
    is :func:`~runsecrets._scrub.scrubbed` (no frame locals: pydantic's frames hold every value
    the sources read). Both are raised from a frame that holds no argument of the call.
    """

    def __init__(self: BaseModel, /, *args: Any, **kwargs: Any) -> None:
        model = type(self)
        try:
            init(self, *args, **kwargs)
        except ValidationError as e:
            error: Exception = clean_validation_error(e, model)
        except Exception as e:  # noqa: BLE001 - re-raised, only scrubbed
            error = scrubbed(e)
        else:
            return
        del self, args, kwargs
        raise error

    __init__.__qualname__ = getattr(init, "__qualname__", "__init__")
    __init__.__doc__ = init.__doc__
    __init__.__wrapped__ = init  # type: ignore[attr-defined]  # the signature pydantic shows
    __init__.runsecrets_cleans_errors = True  # type: ignore[attr-defined]
    return __init__


def cleans_errors(settings_cls: type[BaseModel]) -> bool:
    """Whether ``settings_cls``'s ``__init__`` already cleans its errors (its own or a base's)."""
    return getattr(settings_cls.__init__, "runsecrets_cleans_errors", False) is True


def clean_errors_of(settings_cls: type[BaseModel]) -> None:
    """Make a model that is already defined raise only cleaned errors (once; bases untouched).

    Its ``__init__`` is wrapped by :func:`cleaning_errors`, and its validator by
    :class:`CleaningValidator`: a model's first instantiation is already under way when its
    sources are built (the one moment runsecrets gets hold of the class), and only the
    validator is looked up again after that, so this call's error is cleaned too.
    """
    if cleans_errors(settings_cls):
        return
    settings_cls.__init__ = cleaning_errors(settings_cls.__init__)  # type: ignore[method-assign]
    settings_cls.__pydantic_validator__ = CleaningValidator(  # type: ignore[assignment]
        settings_cls.__pydantic_validator__, settings_cls
    )


class CleaningValidator:
    """A model's validator whose ``ValidationError`` is the cleaned copy; otherwise the same.

    pydantic itself wraps validators this way for its plugins: every attribute but
    ``validate_python`` is the wrapped validator's.
    """

    __slots__ = ("_model", "_validator")

    def __init__(self, validator: Any, model: type[BaseModel]) -> None:
        self._validator = validator
        self._model = model

    def validate_python(self, *args: Any, **kwargs: Any) -> Any:
        """As the wrapped validator's, raising the cleaned error."""
        try:
            return self._validator.validate_python(*args, **kwargs)
        except ValidationError as e:
            error = clean_validation_error(e, self._model)
        data = init_data(args, kwargs)
        if data is not None:
            # Called by ``BaseModel.__init__`` with its own ``**data``: a dictionary made for
            # this call, of every value the sources read, which the frame of that call (still
            # running, above this one) would keep in the traceback. Nothing else holds it, and
            # pydantic raises at once: emptied, it keeps nothing.
            data.clear()
        del data
        del args, kwargs
        raise error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._validator, name)
