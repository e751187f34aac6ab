"""SecretTokenAuth for httpx (sync and async) and requests, against a real HTTPS server that
accepts only its current token: the 401 rule (one retry, only for a changed token), rotation
followed by the store, and the token in no log, repr or error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import requests

from runsecrets import SecretStore, SecretValidationError
from runsecrets.integrations import httpx as rs_httpx
from runsecrets.integrations import requests as rs_requests
from runsecrets.testing import write_rename

from .._https import HTTPSServer, https_server
from .._pki import KEYS, cert_pem, client_trusting, make_ca, make_leaf, new_key, write_material
from .._waiting import wait_until


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """A server certificate for localhost and a client context that trusts it."""
    import ssl

    root = make_ca(KEYS.get("ec256-token"), "Token Root")
    directory = tmp_path_factory.mktemp("token-tls")
    cert, key, _ = write_material(directory, make_leaf(root, new_key("ec256")))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    (directory / "ca.pem").write_bytes(cert_pem(root.cert))
    return server, client_trusting(root)


@pytest.fixture
def server(tls: tuple[object, object]) -> Iterator[HTTPSServer]:
    """An HTTPS server that answers 200 to ``Bearer <server.token>`` only, 401 otherwise."""
    with https_server(tls[0], token="unset") as started:  # type: ignore[arg-type]
        yield started


def _client(tls: tuple[object, object]) -> httpx.Client:
    return httpx.Client(verify=tls[1])  # type: ignore[arg-type]


def _session(tls: tuple[object, object], tmp_path: Path) -> requests.Session:
    session = requests.Session()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"")
    session.mount("https://", rs_requests.TLSAdapter(tls[1]))  # type: ignore[arg-type]
    return session


class Tokens:
    """A token file in a store that does not watch: a change reaches the store only when it
    is read again (a rotation the watcher has not delivered yet)."""

    def __init__(self, directory: Path, first: str) -> None:
        self.path = directory / "api_token"
        write_rename(self.path, first.encode())
        self.store = SecretStore(directory, names=["api_token"], environ={})

    def write(self, value: str) -> None:
        write_rename(self.path, value.encode())


Flow = Callable[[HTTPSServer, Tokens], list[int]]


def _httpx_flow(tls: tuple[object, object]) -> Flow:
    def run(server: HTTPSServer, tokens: Tokens) -> list[int]:
        auth = rs_httpx.SecretTokenAuth("api_token", store=tokens.store)
        with _client(tls) as client:
            return [client.get(server.url, auth=auth).status_code]

    return run


def _httpx_async_flow(tls: tuple[object, object]) -> Flow:
    def run(server: HTTPSServer, tokens: Tokens) -> list[int]:
        auth = rs_httpx.SecretTokenAuth("api_token", store=tokens.store)

        async def scenario() -> int:
            async with httpx.AsyncClient(verify=tls[1]) as client:  # type: ignore[arg-type]
                return (await client.post(server.url, content=b"body", auth=auth)).status_code

        return [asyncio.run(scenario())]

    return run


def _requests_flow(tls: tuple[object, object], tmp_path: Path) -> Flow:
    def run(server: HTTPSServer, tokens: Tokens) -> list[int]:
        auth = rs_requests.SecretTokenAuth("api_token", store=tokens.store)
        with _session(tls, tmp_path) as session:
            response = session.post(server.url, data=b"body", auth=auth)
            return [r.status_code for r in (*response.history, response)]

    return run


@pytest.fixture(params=["httpx", "httpx-async", "requests"])
def flow(request: pytest.FixtureRequest, tls: tuple[object, object], tmp_path: Path) -> Flow:
    """One request through each library's SecretTokenAuth."""
    return {
        "httpx": lambda: _httpx_flow(tls),
        "httpx-async": lambda: _httpx_async_flow(tls),
        "requests": lambda: _requests_flow(tls, tmp_path),
    }[request.param]()


def test_a_401_with_a_renewed_token_is_retried_once(
    flow: Flow, server: HTTPSServer, tmp_path: Path
) -> None:
    """The server moved to the new token before the store saw it: 401, the store is read
    again, the request is sent once more with the new token, 200."""
    tokens = Tokens(tmp_path, "token-one")
    server.token = "token-two"
    tokens.write("token-two")
    flow(server, tokens)
    assert [s.status for s in server.seen] == [401, 200]


def test_a_401_for_the_current_token_is_the_answer(
    flow: Flow, server: HTTPSServer, tmp_path: Path
) -> None:
    """The token did not change: one request, its 401 returned, no retry and no loop."""
    tokens = Tokens(tmp_path, "token-one")
    server.token = "another-token"
    flow(server, tokens)
    assert [s.status for s in server.seen] == [401]


def test_the_retried_request_is_refused_too_and_that_ends_it(
    flow: Flow, server: HTTPSServer, tmp_path: Path
) -> None:
    """The renewed token is refused as well: two requests, the second 401 returned."""
    tokens = Tokens(tmp_path, "token-one")
    server.token = "neither"
    tokens.write("token-two")
    flow(server, tokens)
    assert [s.status for s in server.seen] == [401, 401]


def test_httpx_does_not_retry_a_streamed_body(
    tls: tuple[object, object], server: HTTPSServer, tmp_path: Path
) -> None:
    """A body from a generator cannot be sent twice: its 401 is returned as it is."""
    tokens = Tokens(tmp_path, "token-one")
    server.token = "token-two"
    tokens.write("token-two")
    auth = rs_httpx.SecretTokenAuth("api_token", store=tokens.store)
    with _client(tls) as client:
        response = client.post(server.url, content=iter([b"a", b"b"]), auth=auth)
    assert response.status_code == 401
    assert [s.status for s in server.seen] == [401]


def test_requests_does_not_retry_a_file_body(
    tls: tuple[object, object], server: HTTPSServer, tmp_path: Path
) -> None:
    """A file body was read by the first send: its 401 is returned as it is."""
    tokens = Tokens(tmp_path, "token-one")
    server.token = "token-two"
    tokens.write("token-two")
    body = tmp_path / "upload"
    body.write_bytes(b"data")
    auth = rs_requests.SecretTokenAuth("api_token", store=tokens.store)
    with _session(tls, tmp_path) as session, body.open("rb") as upload:
        assert session.post(server.url, data=upload, auth=auth).status_code == 401
    assert [s.status for s in server.seen] == [401]


@pytest.mark.parametrize("library", ["httpx", "requests"])
def test_rotation_under_load_against_a_server_that_accepts_only_the_current_token(
    tls: tuple[object, object],
    server: HTTPSServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    library: str,
) -> None:
    """Two threads send requests without pause through an auth with its own watching store;
    the token is rotated 10 times, the server accepting only what the file holds at each
    request: every request ends in 200 (a 401 at the switch is retried with the new token)."""
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    write_rename(tmp_path / "api_token", b"token-0")
    server.token = (tmp_path / "api_token").read_text
    auth_class = rs_httpx.SecretTokenAuth if library == "httpx" else rs_requests.SecretTokenAuth
    auth = auth_class("api_token")
    answers: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def send_forever() -> None:
        if library == "httpx":
            with _client(tls) as client:
                while not stop.is_set():
                    answers.append(client.get(server.url, auth=auth).status_code)  # type: ignore[arg-type]
            return
        with _session(tls, tmp_path) as session:
            while not stop.is_set():
                answers.append(session.get(server.url, auth=auth).status_code)  # type: ignore[arg-type]

    def guarded() -> None:
        try:
            send_forever()
        except BaseException as e:  # noqa: BLE001 - every failure is the test's finding
            errors.append(e)

    threads = [threading.Thread(target=guarded) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for i in range(1, 11):
            # Rotations further apart than a request and its one retry take (the rule allows
            # one retry: two rotations inside one request would end it in a 401).
            time.sleep(0.1)
            assert wait_until(lambda i=i: len(answers) > 5 * i)
            write_rename(tmp_path / "api_token", f"token-{i}".encode())
        assert wait_until(lambda: len(answers) > 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        auth.close()
    assert not errors, errors[:3]
    assert set(answers) == {200}
    retried = sum(s.status == 401 for s in server.seen)
    assert len(server.seen) == len(answers) + retried  # each 401 retried once, then 200


def test_the_token_leaks_nowhere(
    tls: tuple[object, object],
    server: HTTPSServer,
    tmp_path: Path,
    sentinel: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sentinel as the token: sent and accepted, yet in no log record (httpx, httpcore and
    urllib3 log at DEBUG here), no repr, and no error (the conftest hook checks them all)."""
    tokens = Tokens(tmp_path, sentinel)
    server.token = sentinel
    with caplog.at_level("DEBUG"):
        for auth in (
            rs_httpx.SecretTokenAuth("api_token", store=tokens.store),
            rs_requests.SecretTokenAuth("api_token", store=tokens.store),
        ):
            assert sentinel not in repr(auth)
        with _client(tls) as client:
            assert (
                client.get(
                    server.url, auth=rs_httpx.SecretTokenAuth("api_token", store=tokens.store)
                ).status_code
                == 200
            )
        with _session(tls, tmp_path) as session:
            assert (
                session.get(
                    server.url, auth=rs_requests.SecretTokenAuth("api_token", store=tokens.store)
                ).status_code
                == 200
            )
    assert sentinel not in caplog.text


@pytest.mark.parametrize(
    ("value", "problem"),
    [("{sentinel} and more", "white space"), ("{sentinel}\tx", "control"), ("", None)],
)
def test_a_token_a_header_cannot_carry_is_refused_without_showing_it(
    tmp_path: Path, sentinel: str, value: str, problem: str | None
) -> None:
    """White space or a control character inside the token (a client library's own error
    would quote the header): a SecretValidationError that names the secret, not the value.
    An empty file: the store holds it back, or the auth refuses it."""
    (tmp_path / "api_token").write_text(value.format(sentinel=sentinel))
    store = SecretStore(tmp_path, names=["api_token"], environ={}, allow_empty=True)
    with pytest.raises(SecretValidationError) as caught:
        rs_httpx.SecretTokenAuth("api_token", store=store)
    assert "'api_token'" in str(caught.value)
    assert (problem or "empty") in str(caught.value)


def test_without_a_store_the_auth_watches_the_secret_itself(
    tls: tuple[object, object], server: HTTPSServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """store=None: an internal store resolves the name as usual (RUNSECRETS_DIR here) and
    follows the file, so a rotated token is sent without a 401 first."""
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    write_rename(tmp_path / "api_token", b"token-one")
    server.token = "token-one"
    auth = rs_httpx.SecretTokenAuth("api_token")
    try:
        with _client(tls) as client:
            assert client.get(server.url, auth=auth).status_code == 200
            write_rename(tmp_path / "api_token", b"token-two")
            assert wait_until(lambda: auth._token.header() == "Bearer token-two")
            server.token = "token-two"
            assert client.get(server.url, auth=auth).status_code == 200
    finally:
        auth.close()
    assert [s.status for s in server.seen] == [200, 200]


def test_a_scheme_of_choice(
    tls: tuple[object, object], server: HTTPSServer, tmp_path: Path
) -> None:
    """scheme="" sends the bare token (an API key header taken as Authorization)."""
    tokens = Tokens(tmp_path, "k")
    auth = rs_requests.SecretTokenAuth("api_token", store=tokens.store, scheme="")
    prepared = requests.Request("GET", server.url, auth=auth).prepare()
    assert prepared.headers["Authorization"] == "k"


def test_requests_retry_goes_through_the_mounted_adapter(
    tls: tuple[object, object], server: HTTPSServer, tmp_path: Path
) -> None:
    """The retried request is sent by the TLSAdapter mounted, not by one of its pools, so it
    takes the pools of the certificate in use at that moment."""
    tokens = Tokens(tmp_path, "token-one")
    server.token = "token-two"
    tokens.write("token-two")
    adapter = rs_requests.TLSAdapter(tls[1])  # type: ignore[arg-type]
    with requests.Session() as session:
        session.mount("https://", adapter)
        response = session.get(
            server.url, auth=rs_requests.SecretTokenAuth("api_token", store=tokens.store)
        )
    assert response.status_code == 200
    assert response.connection is adapter
    assert [r.status_code for r in response.history] == [401]
