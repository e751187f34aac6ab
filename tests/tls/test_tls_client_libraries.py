"""RotatingClientContext with each client library, against a real HTTPS server that requires
client certificates: every library opens new connections with the certificate in use, and the
pooled ones of a rotated-out certificate are retired as each library allows (docs/client-tls.md)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests

from runsecrets.integrations.httpx import AsyncRotatingTransport, RotatingTransport
from runsecrets.integrations.requests import TLSAdapter
from runsecrets.tls import RotatingClientContext

from .._https import HTTPSServer, https_server
from .._mtls import client_files, client_leaf, mtls_server_context, server_leaf
from .._pki import KEYS, Issued, make_ca
from .._waiting import wait_until


@pytest.fixture(scope="module")
def root() -> Issued:
    """The mesh CA."""
    return make_ca(KEYS.get("ec256-libraries"), "Libraries Root")


class Rotation:
    """A client context on files of its own, and the next pair to rotate to."""

    def __init__(self, directory: Path, root: Issued) -> None:
        self.directory = directory
        self.root = root
        self.first = client_leaf(root)
        self.second = client_leaf(root)
        files = client_files(directory, self.first, root)
        self.context = RotatingClientContext(*files, watch=False)

    def rotate(self) -> None:
        client_files(self.directory, self.second)
        assert self.context.reload()


@pytest.fixture
def rotation(tmp_path: Path, root: Issued) -> Iterator[Rotation]:
    """A rotation ready to happen; its context closed at the end."""
    made = Rotation(tmp_path / "client", root)
    with made.context:
        yield made


@pytest.fixture
def server(tmp_path: Path, root: Issued) -> Iterator[HTTPSServer]:
    """An HTTPS server requiring client certificates from the mesh CA, keep-alive on."""
    with https_server(mtls_server_context(tmp_path / "server", root, server_leaf(root))) as s:
        yield s


def test_httpx_client_with_verify_context(rotation: Rotation, server: HTTPSServer) -> None:
    """httpx.Client(verify=context): a new connection after the rotation presents the new
    certificate; httpx's ALPN setting reaches the inner contexts."""
    with httpx.Client(verify=rotation.context) as client:
        assert client.get(server.url, headers={"Connection": "close"}).status_code == 200
        rotation.rotate()
        assert client.get(server.url, headers={"Connection": "close"}).status_code == 200
    assert server.serials() == [rotation.first.serial_hex, rotation.second.serial_hex]
    assert server.connections() == [1, 2]
    assert ("set_alpn_protocols", (["http/1.1"],)) in rotation.context._calls
    assert not server.failures


def test_httpx_async_client_with_verify_context(rotation: Rotation, server: HTTPSServer) -> None:
    """httpx.AsyncClient(verify=context) (anyio's wrap_bio): the same."""

    async def scenario() -> None:
        async with httpx.AsyncClient(verify=rotation.context) as client:
            assert (
                await client.get(server.url, headers={"Connection": "close"})
            ).status_code == 200
            rotation.rotate()
            assert (
                await client.get(server.url, headers={"Connection": "close"})
            ).status_code == 200

    asyncio.run(scenario())
    assert server.serials() == [rotation.first.serial_hex, rotation.second.serial_hex]


def test_httpx_rotating_transport_retires_the_old_pool(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """Kept-alive connections are reused until a rotation; then new requests get a new
    connection with the new certificate, a response open across the rotation is still read
    whole, and the old connection is closed once that response is."""
    with httpx.Client(transport=RotatingTransport(rotation.context)) as client:
        assert client.get(server.url).status_code == 200
        with client.stream("GET", server.url) as open_response:
            rotation.rotate()
            assert client.get(server.url).status_code == 200
            assert 1 not in server.closed  # in use: left open
            assert open_response.read() == f"200 {rotation.first.serial_hex}\n".encode()
        assert wait_until(lambda: 1 in server.closed, timeout=5)
        assert client.get(server.url).status_code == 200
    first, second = rotation.first.serial_hex, rotation.second.serial_hex
    assert server.serials() == [first, first, second, second]
    assert server.connections() == [1, 1, 2, 2]


def test_httpx_plain_client_keeps_using_its_idle_connection(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """Without the transport, httpx reuses a kept-alive connection after a rotation (it
    presented the old certificate): what RotatingTransport is for."""
    with httpx.Client(verify=rotation.context) as client:
        client.get(server.url)
        rotation.rotate()
        client.get(server.url)
    assert server.connections() == [1, 1]
    assert server.serials() == [rotation.first.serial_hex] * 2


def test_httpx_async_rotating_transport_retires_the_old_pool(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """AsyncRotatingTransport: the same, the old pool closed on the event loop."""

    async def scenario() -> None:
        transport = AsyncRotatingTransport(rotation.context)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(server.url)
            await client.get(server.url)
            rotation.rotate()
            await client.get(server.url)

    asyncio.run(scenario())
    assert server.connections() == [1, 1, 2]
    assert wait_until(lambda: 1 in server.closed, timeout=5)
    assert server.serials()[-1] == rotation.second.serial_hex


def test_requests_adapter_uses_the_context_and_retires_the_old_pool(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """TLSAdapter: connections reuse until the rotation, then a new connection with the new
    certificate; the idle one of the old certificate is closed at the rotation."""
    with requests.Session() as session:
        session.mount("https://", TLSAdapter(rotation.context))
        assert session.get(server.url).status_code == 200
        assert session.get(server.url).status_code == 200
        rotation.rotate()
        assert wait_until(lambda: 1 in server.closed, timeout=5)
        assert session.get(server.url).status_code == 200
    first, second = rotation.first.serial_hex, rotation.second.serial_hex
    assert server.serials() == [first, first, second]
    assert server.connections() == [1, 1, 2]


def test_requests_adapter_keeps_requests_own_tls_options_out(
    rotation: Rotation, server: HTTPSServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """requests' CA bundle (REQUESTS_CA_BUNDLE here, which trusts nothing of ours) is not
    loaded into the context; verify=False and cert= are refused."""
    bundle = tmp_path / "other-bundle.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with requests.Session() as session:
        session.mount("https://", TLSAdapter(rotation.context))
        assert session.get(server.url).status_code == 200
        with pytest.raises(ValueError, match="verify=False"):
            session.get(server.url, verify=False)
        with pytest.raises(ValueError, match="cert="):
            session.get(server.url, cert=("a.crt", "a.key"))
    assert rotation.context._calls == [("set_alpn_protocols", (["http/1.1"],))]


def test_urllib_request_opens_a_new_connection_each_time(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """urllib.request.urlopen(url, context=context): no pool, so nothing to retire."""
    with urllib.request.urlopen(server.url, context=rotation.context) as response:
        assert response.status == 200
    rotation.rotate()
    with urllib.request.urlopen(server.url, context=rotation.context) as response:
        assert response.status == 200
    assert server.serials() == [rotation.first.serial_hex, rotation.second.serial_hex]


def test_asyncio_open_connection_and_is_current(rotation: Rotation, server: HTTPSServer) -> None:
    """asyncio.open_connection(ssl=context): the connection opened before a rotation keeps
    working and is no longer current; a new one presents the new certificate."""

    async def request(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> bytes:
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return await reader.readexactly(length)

    async def scenario() -> None:
        reader, writer = await asyncio.open_connection(
            "localhost", server.port, ssl=rotation.context
        )
        await request(writer, reader)
        rotation.rotate()
        assert (await request(writer, reader)).startswith(b"200")
        assert not rotation.context.is_current(writer.get_extra_info("ssl_object"))
        writer.close()
        await writer.wait_closed()
        reader, writer = await asyncio.open_connection(
            "localhost", server.port, ssl=rotation.context
        )
        assert rotation.context.is_current(writer.get_extra_info("ssl_object"))
        await request(writer, reader)
        writer.close()
        await writer.wait_closed()

    asyncio.run(scenario())
    first, second = rotation.first.serial_hex, rotation.second.serial_hex
    assert server.serials() == [first, first, second]


def test_aiohttp_with_the_context_and_per_rotation_pools(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """aiohttp (ssl=context): works as given; ssl=context.serving_context per request keys
    aiohttp's pool by the certificate in use, so a rotation starts new connections."""

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url, ssl=rotation.context) as response:
                assert response.status == 200
            for _ in range(2):
                async with session.get(server.url, ssl=rotation.context.serving_context) as r:
                    await r.read()
            rotation.rotate()
            async with session.get(server.url, ssl=rotation.context.serving_context) as r:
                await r.read()

    asyncio.run(scenario())
    first, second = rotation.first.serial_hex, rotation.second.serial_hex
    assert server.serials() == [first, first, first, second]
    assert server.connections() == [1, 2, 2, 3]


def test_the_inner_context_is_no_plain_copy_of_the_outer_verification(
    rotation: Rotation, server: HTTPSServer
) -> None:
    """The inner contexts verify the server as the outer does: a wrong host name fails."""
    raw = socket.create_connection(("127.0.0.1", server.port))
    with pytest.raises(ssl.SSLCertVerificationError):
        rotation.context.wrap_socket(raw, server_hostname="not-localhost")
    raw.close()
