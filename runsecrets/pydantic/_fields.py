"""What a pydantic field's annotation asks of a secrets source: nesting, bytes, key names."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel, SecretBytes
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic.fields import FieldInfo

from ._compat import dataclass_config, dataclass_fields

_UNION_ORIGINS: tuple[object, ...] = (typing.Union, types.UnionType)
_BYTES_TYPES: tuple[type, ...] = (bytes, SecretBytes)


def unwrap(annotation: Any) -> Any:
    """The annotation without ``Annotated[...]`` and without an ``Optional`` around one type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in _UNION_ORIGINS:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def model_class(annotation: Any) -> type[Any] | None:
    """The pydantic model (or pydantic dataclass) a field holds, if it holds one."""
    inner = unwrap(annotation)
    if isinstance(inner, type) and (issubclass(inner, BaseModel) or is_pydantic_dataclass(inner)):
        return inner
    return None


def model_fields(model: type[Any]) -> dict[str, FieldInfo]:
    """The fields of a pydantic model or pydantic dataclass."""
    if issubclass(model, BaseModel):
        return dict(model.model_fields)
    return dataclass_fields(model)


def model_config(model: type[Any]) -> typing.Mapping[str, Any]:
    """The configuration of a pydantic model or pydantic dataclass."""
    if issubclass(model, BaseModel):
        return model.model_config
    return dataclass_config(model)


def wants_bytes(field: FieldInfo) -> bool:
    """Whether the field takes ``bytes`` or ``SecretBytes``: it then gets the file's raw bytes."""
    return unwrap(field.annotation) in _BYTES_TYPES


def nested_keys(
    name: str, field: FieldInfo, config: typing.Mapping[str, Any]
) -> list[tuple[str, bool]]:
    """The keys a field of a nested model may be given under, preferred first.

    Mirrors pydantic-settings' rule for top-level fields, without the prefix (which only the
    top level carries): the validation alias (each choice of an ``AliasChoices``; the head of an
    ``AliasPath``), then the field name when there is no alias or validation by name is on.

    Returns:
        ``(key, is_path)`` pairs; ``is_path`` marks an ``AliasPath`` head, whose value is JSON.
    """
    keys = _alias_heads(field) if config.get("validate_by_alias", True) else []
    by_name = config.get("validate_by_name") or config.get("populate_by_name")
    if not keys or by_name:
        keys.append((name, False))
    return keys


def every_key(name: str, field: FieldInfo) -> list[str]:
    """Every key a field may be read under, whatever its model's alias settings: its name, its
    alias and each head of its validation alias (a superset of what any setting allows)."""
    keys = [name, *(head for head, _ in _alias_heads(field))]
    if field.alias is not None:
        keys.append(field.alias)
    return keys


def _alias_heads(field: FieldInfo) -> list[tuple[str, bool]]:
    """The validation alias as keys: itself, each choice of an ``AliasChoices``, the head of an
    ``AliasPath``; with whether the key is a path head (its value is JSON)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [(alias, False)]
    if not isinstance(alias, (AliasChoices, AliasPath)):
        return []
    converted = alias.convert_to_aliases()
    choices = converted if isinstance(converted[0], list) else [converted]
    return [(choice[0], len(choice) > 1) for choice in choices if isinstance(choice[0], str)]
