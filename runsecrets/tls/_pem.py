"""Saying where PEM data is damaged, in our own words.

cryptography's errors quote what they could not parse: for a PEM block with a blank line after
its first body line, the error is ``InvalidHeader("<that line>")``, and in a damaged private key
that line is key material. So its messages are never shown. When it refuses PEM data, this
module walks the blocks itself and says which block is damaged (its kind, its position in the
file, a byte offset) and how, never what the bytes are.

Only the failure path comes here: well-formed material is parsed by cryptography alone.
"""

from __future__ import annotations

_BEGIN = b"-----BEGIN "
_DASHES = b"-----"
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
#: Block labels shown as they are; any other label is not repeated (it could be anything).
KNOWN_KINDS = frozenset(
    {
        "CERTIFICATE",
        "X509 CERTIFICATE",
        "TRUSTED CERTIFICATE",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PUBLIC KEY",
        "RSA PUBLIC KEY",
        "EC PARAMETERS",
        "DH PARAMETERS",
        "X509 CRL",
        "CERTIFICATE REQUEST",
        "NEW CERTIFICATE REQUEST",
        "PKCS7",
    }
)
#: The labels cryptography reads certificates from.
CERTIFICATE_KINDS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})


class Block:
    """One PEM block: its label, its position and its decoded body (never shown).

    Attributes:
        kind: The label between ``BEGIN`` and the dashes, when it is a known one; else
            ``"unknown kind"``.
        index: Its position among the file's blocks, from 1.
        offset: The byte offset of its ``-----BEGIN`` line.
    """

    __slots__ = ("der", "index", "kind", "offset")

    def __init__(self, kind: str, index: int, offset: int, der: bytes) -> None:
        self.kind = kind
        self.index = index
        self.offset = offset
        self.der = der

    def describe(self) -> str:
        """``block 2 (EC PRIVATE KEY) at byte offset 1196``."""
        return f"block {self.index} ({self.kind}) at byte offset {self.offset}"

    def __repr__(self) -> str:
        return f"Block({self.describe()})"


class _Damage(Exception):
    """Internal: the walk stops at the first damaged block (never leaves this module)."""


def read_blocks(data: bytes) -> tuple[list[Block], str | None]:
    """The PEM blocks of ``data`` in order, bodies decoded, up to the first damaged one.

    Returns:
        The well-formed blocks, and what is wrong with the next one (``None``: nothing is):
        a BEGIN line not closed, no END line, a blank line or a character that is not base64
        inside the body, a body that does not decode (truncated), an empty body. The
        description gives the block's kind, position and byte offsets, never its content.
    """
    found: list[Block] = []
    position = data.find(_BEGIN)
    while position >= 0:
        try:
            block, position = _block(data, position, len(found) + 1)
        except _Damage as damage:
            return found, str(damage)
        found.append(block)
        position = data.find(_BEGIN, position)
    return found, None


def _block(data: bytes, begin: int, index: int) -> tuple[Block, int]:
    line_end = _line_end(data, begin)
    line = data[begin:line_end].rstrip(b"\r\t ")
    where = f"block {index} at byte offset {begin}"
    if not line.endswith(_DASHES) or len(line) <= len(_BEGIN) + len(_DASHES):
        raise _Damage(f"{where}: its BEGIN line is not closed by five dashes")
    label = line[len(_BEGIN) : -len(_DASHES)]
    kind = _kind(label)
    where = f"block {index} ({kind}) at byte offset {begin}"
    end_line = b"-----END " + label + _DASHES
    end = data.find(end_line, line_end)
    following = data.find(_BEGIN, line_end)
    if end < 0 or 0 <= following < end:
        raise _Damage(f"{where}: no END line for it (the file is truncated or blocks overlap)")
    body_start = min(line_end + 1, end)
    der = _body(data[body_start:end], body_start, where)
    return Block(kind, index, begin, der), end + len(end_line)


def _kind(label: bytes) -> str:
    try:
        text = label.decode("ascii")
    except UnicodeDecodeError:
        return "unknown kind"
    return text if text in KNOWN_KINDS else "unknown kind"


def _line_end(data: bytes, start: int) -> int:
    end = data.find(b"\n", start)
    return len(data) if end < 0 else end


def _body(body: bytes, base: int, where: str) -> bytes:
    """The decoded body; RFC 1421 headers (``Proc-Type: ...`` then a blank line) are skipped."""
    lines = _lines(body, base)
    if lines and b":" in lines[0][1]:
        # Encapsulated headers of a traditional encrypted key: up to the first blank line.
        while lines and lines[0][1]:
            lines.pop(0)
        if not lines:
            raise _Damage(f"{where}: headers with no blank line after them")
        lines.pop(0)
    encoded = bytearray()
    for offset, text in lines:
        if not text:
            raise _Damage(f"{where}: a blank line inside the body, at byte offset {offset}")
        bad = next((i for i, byte in enumerate(text) if byte not in _BASE64), None)
        if bad is not None:
            raise _Damage(f"{where}: a character that is not base64 at byte offset {offset + bad}")
        encoded += text
    if not encoded:
        raise _Damage(f"{where}: its body is empty")
    import base64
    import binascii

    try:
        return base64.b64decode(bytes(encoded), validate=True)
    except binascii.Error:
        raise _Damage(
            f"{where}: its body does not decode as base64 (truncated, or padding misplaced)"
        ) from None


def _lines(body: bytes, base: int) -> list[tuple[int, bytes]]:
    """The body's lines with their byte offsets, whitespace around each removed; a trailing
    line ending (before the END line) is not a line."""
    lines = []
    start = 0
    while start < len(body):
        end = body.find(b"\n", start)
        if end < 0:
            end = len(body)
        lines.append((base + start, body[start:end].strip(b"\r\t ")))
        start = end + 1
    return lines
