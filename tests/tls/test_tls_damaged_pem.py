"""Damaged PEM material is described in our words, never quoted (finding 1 of the hardening
issue), and a rotation to it is counted and recorded (finding 13).

cryptography's error for a PEM block whose first body line is followed by a blank line is
``InvalidHeader("<that line>")``: for a private key, key material. Each test plants the sentinel
in the damaged line of a real block (EC SEC1, RSA PKCS#1, PKCS#8, encrypted PKCS#8, a
certificate), in a file holding the certificate and its key, and looks at every surface:
the exception, ``RotatingServerContext.last_error``, the log, ``store.status`` and
``runsecrets tls check`` (text and JSON).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runsecrets import InvalidTLSMaterialError, SecretStore
from runsecrets.cli import main
from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext, examine, load

from .._pki import KEYS, Issued, cert_pem, key_bytes, make_ca, make_leaf

PASSWORD = b"correct horse"


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA."""
    return make_ca(KEYS.get("ec256-damaged-root"), "Damaged Root")


#: How each kind of block is written, and what its BEGIN line says.
KINDS: dict[str, tuple[str, Callable[[Issued], bytes]]] = {
    "ec-sec1": ("EC PRIVATE KEY", lambda leaf: key_bytes(leaf.key, traditional=True)),
    "rsa-pkcs1": ("RSA PRIVATE KEY", lambda leaf: key_bytes(leaf.key, traditional=True)),
    "pkcs8": ("PRIVATE KEY", lambda leaf: key_bytes(leaf.key)),
    "encrypted-pkcs8": (
        "ENCRYPTED PRIVATE KEY",
        lambda leaf: key_bytes(leaf.key, password=PASSWORD),
    ),
    "certificate": ("CERTIFICATE", lambda leaf: cert_pem(leaf.cert)),
}


def _leaf(root: Issued, kind: str) -> Issued:
    key = KEYS.get("rsa2048-damaged") if kind == "rsa-pkcs1" else KEYS.get("ec256-damaged")
    return make_leaf(root, key)


def _token(sentinel: str) -> str:
    """The sentinel without its dash: nothing but base64 characters, so it can sit in a body
    that is otherwise well formed."""
    return sentinel.replace("-", "")


def _damage(block: bytes, sentinel: str, how: str) -> bytes:
    """``block`` damaged ``how``, the sentinel planted in the damaged line."""
    lines = block.split(b"\n")
    if how == "blank-line":  # the reviewer's form: cryptography quotes the line as a header
        planted = sentinel.encode() + lines[1][len(sentinel) :]
        return b"\n".join([lines[0], planted, b"", *lines[2:]])
    if how == "not-base64":  # the sentinel's dash is the character that is not base64
        return b"\n".join([lines[0], sentinel.encode() + lines[1], *lines[2:]])
    assert how == "truncated"  # a body cut in the middle of a line, END line kept
    planted = _token(sentinel).encode() + lines[1][len(sentinel) - 1 :]
    return b"\n".join([lines[0], planted, lines[2][:-5], lines[-2], b""])


def _combined(root: Issued, kind: str, sentinel: str, how: str) -> tuple[bytes, Issued]:
    """A certificate file holding the leaf and its key, the ``kind`` block damaged."""
    leaf = _leaf(root, kind)
    _, write = KINDS[kind]
    if kind == "certificate":
        return _damage(cert_pem(leaf.cert), sentinel, how) + key_bytes(leaf.key), leaf
    return cert_pem(leaf.cert) + _damage(write(leaf), sentinel, how), leaf


def _quotes(error: BaseException, sentinel: str) -> bool:
    """Whether any text of ``error`` holds the sentinel or its base64 form."""
    texts = [str(error), repr(error), *map(str, error.args), getattr(error, "message", "")]
    return any(sentinel in text or _token(sentinel) in text for text in texts)


CASES = [
    (kind, how)
    for kind in KINDS
    for how in ("blank-line", "not-base64", "truncated")
    # The truncated RSA case is the same as the EC one; keep the grid small.
    if not (kind == "rsa-pkcs1" and how == "truncated")
]


@pytest.mark.parametrize(("kind", "how"), CASES)
def test_load_and_examine_name_the_damaged_block_never_its_content(
    tmp_path: Path, root: Issued, sentinel: str, kind: str, how: str
) -> None:
    """``load`` and ``examine`` raise ``parse_error`` saying which block is damaged (its kind,
    its position and a byte offset) and how, and nothing of the block's text."""
    label, _ = KINDS[kind]
    data, _ = _combined(root, kind, sentinel, how)
    path = tmp_path / "tls.pem"
    path.write_bytes(data)
    password = tmp_path / "password"
    password.write_bytes(PASSWORD)
    with_password = {"password": password} if kind == "encrypted-pkcs8" else {}
    for function in (load, examine):
        with pytest.raises(InvalidTLSMaterialError) as caught:
            function(path, **with_password)  # type: ignore[operator]
        error = caught.value
        assert error.reason == "parse_error"
        assert not _quotes(error, sentinel)
        index = 1 if kind == "certificate" else 2
        offset = data.index(b"-----BEGIN " + label.encode())
        assert f"block {index} ({label}) at byte offset {offset}" in error.message


@pytest.mark.parametrize("kind", list(KINDS))
def test_rotation_to_a_damaged_block_is_counted_and_reported_without_its_content(
    tmp_path: Path,
    root: Issued,
    sentinel: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store-backed context shown a damaged certificate file keeps serving the last good
    one, counts the refusal and records it in ``last_error`` (finding 13: it used to count
    nothing for material that does not parse), and neither that, the store's log nor
    ``store.status`` quotes the damaged line."""
    good = _leaf(root, "pkcs8")
    write_rename(tmp_path / "tls.pem", cert_pem(good.cert) + key_bytes(good.key), mode=0o600)
    caplog.set_level(logging.DEBUG)
    store = SecretStore(tmp_path, environ={})
    with store, RotatingServerContext("tls.pem", store=store) as context:
        damaged, _ = _combined(root, kind, sentinel, "blank-line")
        write_rename(tmp_path / "tls.pem", damaged, mode=0o600)
        deadline = time.monotonic() + 10
        while context.last_error is None or store.status.last_error is None:
            assert time.monotonic() < deadline, "the damaged file was not refused"
            time.sleep(0.01)
        assert context.refusals >= 1
        assert context.rotations == 0
        assert context.material.serial_hex == good.serial_hex
        error = context.last_error
        assert error is not None
        assert isinstance(error, InvalidTLSMaterialError)
        assert error.reason == "parse_error"
        assert "at byte offset" in error.message
        assert not _quotes(error, sentinel)
        status = json.dumps(store.status.as_dict())
        assert "parse_error" in status or "at byte offset" in status
        assert sentinel not in status
    assert sentinel not in caplog.text


@pytest.mark.parametrize("kind", ["ec-sec1", "pkcs8", "certificate"])
def test_tls_check_names_the_damaged_block_in_text_and_json(
    tmp_path: Path,
    root: Issued,
    sentinel: str,
    kind: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``runsecrets tls check`` on a damaged file: exit 3, the block named, no content, both
    as the one error line and in ``--json``."""
    data, _ = _combined(root, kind, sentinel, "blank-line")
    path = tmp_path / "tls.pem"
    path.write_bytes(data)
    assert main(["tls", "check", "--cert", str(path)]) == 3
    captured = capsys.readouterr()
    assert "at byte offset" in captured.err
    assert sentinel not in captured.out + captured.err
    assert main(["tls", "check", "--cert", str(path), "--json"]) == 3
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["reason"] == "parse_error"
    assert "at byte offset" in report["message"]
    assert sentinel not in captured.out + captured.err
