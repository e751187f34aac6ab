"""RotatingServerContext when things go wrong after validation: OpenSSL refusing the new pair,
and rotation listeners that raise. Real certificate files (tests/_pki.py), real handshakes."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from runsecrets import InvalidTLSMaterialError
from runsecrets.tls import RotatingServerContext, TLSMaterial
from runsecrets.tls import _context as _tls_context

from .._pki import (
    KEYS,
    Issued,
    client_trusting,
    key_bytes,
    make_ca,
    make_leaf,
    new_key,
    publish_material,
)
from .._tls_server import fetch_serial, running


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA (fast to sign with)."""
    return make_ca(KEYS.get("ec256-faults-root"), "Faults Root")


def _leaf(root: Issued) -> Issued:
    return make_leaf(root, new_key("ec256"))


def _context(directory: Path) -> RotatingServerContext:
    return RotatingServerContext(
        directory / "tls.crt", directory / "tls.key", directory / "ca.crt", watch=False
    )


def _openssl_mismatch() -> Callable[[ssl.SSLContext, bytes], None]:
    """A loader that hands OpenSSL the new chain with a stranger's key: a real ``ssl.SSLError``
    (KEY_VALUES_MISMATCH) from ``load_cert_chain``, as a pair OpenSSL refuses would give."""
    real = _tls_context.load_chain_and_key
    stranger = key_bytes(new_key("ec256"))

    def load(context: ssl.SSLContext, chain_and_key_pem: bytes) -> None:
        chain = chain_and_key_pem[: chain_and_key_pem.index(b"-----BEGIN PRIVATE KEY-----")]
        real(context, chain + stranger)

    return load


def _value_error(context: ssl.SSLContext, chain_and_key_pem: bytes) -> None:
    raise ValueError("context settings that do not fit")


@pytest.mark.parametrize(
    ("loader", "detail"),
    [(_openssl_mismatch, "SSLError KEY_VALUES_MISMATCH"), (lambda: _value_error, "ValueError")],
    ids=["ssl-error", "value-error"],
)
def test_openssl_refusal_is_invalid_material_and_the_same_pair_is_retried(
    tmp_path: Path,
    root: Issued,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    loader: Callable[[], Callable[[ssl.SSLContext, bytes], None]],
    detail: str,
) -> None:
    """ssl.SSLError or ValueError while loading a validated pair into the new context is an
    InvalidTLSMaterialError (reason openssl_refused) through the refusal path: counted, logged,
    the last good pair kept. The refused parts are not remembered as seen, so the next refresh
    (not forced: as a store's publish triggers it) examines the same files again and succeeds."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    context = _context(tmp_path)
    with running(context) as server:
        publish_material(tmp_path, second)
        monkeypatch.setattr(_tls_context, "load_chain_and_key", loader())
        with (
            caplog.at_level(logging.INFO, "runsecrets.tls"),
            pytest.raises(InvalidTLSMaterialError) as caught,
        ):
            context.reload()
        assert caught.value.reason == "openssl_refused"
        assert detail in str(caught.value)
        assert str(tmp_path / "tls.crt") in caught.value.files
        # OpenSSL's error is not chained: the frames it passed through hold the PEM key.
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None
        assert context.refusals == 1
        assert context.last_error is caught.value
        assert "still serving serial " + first.serial_hex in caplog.text
        assert fetch_serial(server.port, client_trusting(root)) == first.serial_hex

        monkeypatch.undo()  # OpenSSL takes the same files now
        context._refresh(force=False, raise_errors=True)
        assert context.rotations == 1
        assert context.last_error is None
        assert context.material.serial_hex == second.serial_hex
        assert fetch_serial(server.port, client_trusting(root)) == second.serial_hex
        assert not server.failures


def test_a_raising_listener_is_logged_by_type_and_place_only(
    tmp_path: Path, root: Issued, caplog: pytest.LogCaptureFixture, sentinel: str
) -> None:
    """A listener raising an error that quotes a value is one log line with its name, the error
    type and file:line, no message and no traceback; the next listener is still called."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    context = _context(tmp_path)
    seen: list[str] = []

    def bad_listener(material: TLSMaterial) -> None:
        raise RuntimeError(f"listener saw {sentinel}")

    context.subscribe(bad_listener)
    context.subscribe(lambda material: seen.append(material.serial_hex))
    publish_material(tmp_path, second)
    with caplog.at_level(logging.INFO, "runsecrets.tls"):
        assert context.reload()
    assert seen == [second.serial_hex]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert "bad_listener raised RuntimeError at " in message
    assert f"{__file__}:" in message
    assert record.exc_info is None
    assert record.name == "runsecrets.tls"


def test_a_raising_listener_shows_its_traceback_with_runsecrets_debug(
    tmp_path: Path, root: Issued, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RUNSECRETS_DEBUG=1 attaches the traceback to that log line (for debugging only)."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    context = _context(tmp_path)

    def bad_listener(material: TLSMaterial) -> None:
        raise KeyError("x")

    context.subscribe(bad_listener)
    publish_material(tmp_path, second)
    monkeypatch.setenv("RUNSECRETS_DEBUG", "1")
    with caplog.at_level(logging.INFO, "runsecrets.tls"):
        assert context.reload()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
