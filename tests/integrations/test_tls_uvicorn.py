"""uvicorn serving through a RotatingServerContext (its ``ssl_context_factory`` hook)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext

from .._pki import KEYS, cert_pem, key_bytes, make_ca, make_leaf, new_key, write_material

uvicorn = pytest.importorskip("uvicorn")


async def _app(scope: dict[str, object], receive: object, send: object) -> None:
    if scope["type"] != "http":
        return
    body = str(scope["scheme"]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


def _get(port: int, client: ssl.SSLContext) -> tuple[str, bytes]:
    """The served serial and the response body."""
    from cryptography import x509

    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := tls.recv(4096):
            response += chunk
    return format(x509.load_der_x509_certificate(der).serial_number, "X"), response


def test_uvicorn_rotates_its_certificate_without_restart(tmp_path: Path) -> None:
    """uvicorn with an ssl_context_factory returning the context serves the rotated certificate,
    with no restart."""
    root = make_ca(KEYS.get("ec256-uvicorn-root"), "Uvicorn Root")
    first, second = make_leaf(root, new_key("ec256")), make_leaf(root, new_key("ec256"))
    cert, key, ca = write_material(tmp_path, first, root)
    contexts: list[RotatingServerContext] = []

    def factory(config: object, default: object) -> ssl.SSLContext:
        contexts.append(RotatingServerContext(cert, key, ca))
        return contexts[-1]

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(_app, ssl_context_factory=factory, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[listener])))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        client = ssl.create_default_context(cadata=cert_pem(root.cert).decode())
        serial, response = _get(port, client)
        assert serial == first.serial_hex
        assert b"\r\nhttps\r\n" in response  # the scope says https: uvicorn sees TLS
        write_rename(key, key_bytes(second.key))
        write_rename(cert, cert_pem(second.cert))
        while contexts[0].material.serial_hex != second.serial_hex:
            assert time.monotonic() < deadline + 10, "no rotation"
            time.sleep(0.01)
        assert _get(port, client)[0] == second.serial_hex
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        for context in contexts:
            context.close()
