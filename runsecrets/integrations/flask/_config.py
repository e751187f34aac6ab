"""The Flask extension's typing of config values, and its ``SECRET_KEY_FALLBACKS`` list.

Pure functions, no Flask import: a secret is text, and Flask reads some of its own keys as
something else. ``SECRET_KEY_FALLBACKS`` is a list (a string there would make every character a
valid signing key); the others that are not text (``DEBUG``, ``MAX_CONTENT_LENGTH``, ...) are
refused, since no file content is right for them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

SECRET_KEY = "SECRET_KEY"  # noqa: S105  (a config key's name)
FALLBACKS = "SECRET_KEY_FALLBACKS"

#: Flask's own config keys that hold text: a secret may fill them as it is.
_FLASK_TEXT_KEYS = frozenset(
    (
        SECRET_KEY,
        "SERVER_NAME",
        "APPLICATION_ROOT",
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_COOKIE_PATH",
        "SESSION_COOKIE_SAMESITE",
        "PREFERRED_URL_SCHEME",
    )
)


class ConfigValueError(ValueError):
    """A secret's text cannot be the value of a config key (the message never holds the text)."""


def refusal(key: str, flask_keys: Iterable[str]) -> str | None:
    """Why ``key`` cannot be filled from a secret, or ``None`` when it can.

    ``flask_keys`` are the keys of ``Flask.default_config``: of those, only the text keys and
    ``SECRET_KEY_FALLBACKS`` (one key per line) can come from a file. Keys Flask does not define
    (an extension's, the app's own) take text.
    """
    if key == FALLBACKS or key in _FLASK_TEXT_KEYS or key not in set(flask_keys):
        return None
    return f"Flask's {key} is not text, and a secret is"


def config_value(key: str, text: str) -> object:
    """The config value for ``key`` from a secret's text.

    ``SECRET_KEY_FALLBACKS`` becomes a list, one key per line (blank lines skipped); every other
    key gets the text as it is.

    Raises:
        ConfigValueError: An empty ``SECRET_KEY`` (Flask would sign nothing, and an empty key
            is no key).
    """
    if key == FALLBACKS:
        return [line for line in text.splitlines() if line.strip()]
    if key == SECRET_KEY and not text.strip():
        raise ConfigValueError("SECRET_KEY would be empty")
    return text


def app_fallbacks(value: object) -> list[str | bytes]:
    """The app's own ``SECRET_KEY_FALLBACKS`` as a list, checked.

    Raises:
        ConfigValueError: A string or bytes (Flask would take each character for a key), another
            type, or an empty key in the list.
    """
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        raise ConfigValueError(
            "app.config['SECRET_KEY_FALLBACKS'] is a string: Flask would accept every character "
            "of it as a signing key; give a list of keys"
        )
    if not isinstance(value, (list, tuple)):
        raise ConfigValueError(
            f"app.config['SECRET_KEY_FALLBACKS'] must be a list of keys, not {type(value).__name__}"
        )
    keys: list[str | bytes] = []
    for item in value:
        if not isinstance(item, (str, bytes)) or not item:
            raise ConfigValueError(
                "app.config['SECRET_KEY_FALLBACKS'] holds an empty key or one that is not "
                "str or bytes"
            )
        keys.append(item)
    return keys


def fallback_list(
    current: object, retired: Iterable[str | bytes], own: Iterable[str | bytes]
) -> list[str | bytes]:
    """``SECRET_KEY_FALLBACKS``: the retired keys (newest first), then the app's own list.

    The current key and repeats are left out.
    """
    keys: list[str | bytes] = []
    for key in (*retired, *own):
        if key != current and key not in keys:
            keys.append(key)
    return keys
