"""Text from elsewhere (labels, names, engine messages) made safe to print on a terminal."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape.

    Control characters (an escape sequence, a newline that would forge a row), format
    characters such as bidirectional overrides, and separators other than the space become
    ``\\x1b``, ``\\n``, ``\\u202e``...; a backslash is doubled, so an escape cannot be faked
    either. Printable text comes back unchanged.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
