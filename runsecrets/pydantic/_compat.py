"""The private parts of pydantic-settings and pydantic that runsecrets relies on, in one place.

Supported: pydantic-settings 2.5 to 2.16 (``>=2.5,<2.17``) with pydantic 2.7 and later 2.x
(``>=2.7,<3``), the bounds in ``pyproject.toml``; ``make compat`` runs the pydantic tests against
the lowest (pydantic-settings 2.5.0, pydantic 2.7.0) and the newest releases within them. Below
2.5, pydantic-settings lacks ``SettingsError`` at the top level (2.3) and a list of secrets
directories (2.4). The upper bound is the newest minor release tested: a private API may change
in any release, so a new one is let in once ``make compat`` passes on it.

What is relied on, each behind one function here (a release that moves one breaks here):

- ``PydanticBaseEnvSettingsSource._extract_field_info``: the names a top-level field is read
  under (aliases, the prefix, case folding). Reusing it keeps the file names exactly those of
  pydantic-settings' own ``SecretsSettingsSource``.
- ``PydanticBaseEnvSettingsSource._replace_field_names_case_insensitively``: the keys of a JSON
  object matched to the nested model's fields without case, as pydantic-settings does.
- pydantic dataclasses' ``__pydantic_fields__`` and ``__pydantic_config__``: their fields and
  configuration (models have the public ``model_fields`` and ``model_config``).
- ``BaseModel.__init__`` validates by calling ``__pydantic_validator__.validate_python(data,
  self_instance=self)`` with a dictionary of its own: what :func:`init_data` recognises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo
    from pydantic_settings.sources import PydanticBaseEnvSettingsSource


def field_keys(
    source: PydanticBaseEnvSettingsSource, field: FieldInfo, field_name: str
) -> list[tuple[str, str, bool]]:
    """The ``(key, name, value_is_complex)`` triples a top-level field may be read under.

    ``key`` is what the model is given, ``name`` the environment name (prefix and case
    applied), ``value_is_complex`` whether the value is JSON; preferred first.
    """
    return source._extract_field_info(field, field_name)


def match_field_names(
    source: PydanticBaseEnvSettingsSource, field: FieldInfo, values: dict[str, Any]
) -> dict[str, Any]:
    """``values`` (a JSON object for ``field``) with its keys matched to the fields without case."""
    matched: dict[str, Any] = source._replace_field_names_case_insensitively(field, values)
    return matched


def dataclass_fields(model: type[Any]) -> dict[str, FieldInfo]:
    """The fields of a pydantic dataclass."""
    fields: dict[str, FieldInfo] = getattr(model, "__pydantic_fields__", {})
    return fields


def dataclass_config(model: type[Any]) -> Mapping[str, Any]:
    """The configuration of a pydantic dataclass."""
    config: Mapping[str, Any] = getattr(model, "__pydantic_config__", None) or {}
    return config


def init_data(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The dictionary ``BaseModel.__init__`` hands its validator, when this is that call."""
    if kwargs.get("self_instance") is not None and args and isinstance(args[0], dict):
        return args[0]
    return None
