"""httpx: a bearer token read from a secret, and connection pools that follow a rotating client
certificate.

::

    import httpx
    from runsecrets.integrations.httpx import RotatingTransport, SecretTokenAuth
    from runsecrets.tls import RotatingClientContext

    context = RotatingClientContext("client.crt", "client.key", "ca.crt")
    client = httpx.Client(
        transport=RotatingTransport(context),  # or verify=context
        auth=SecretTokenAuth("api_token"),
    )

``httpx.Client(verify=context)`` (and ``AsyncClient``) already opens every new connection with
the certificate in use; the transports also retire the pooled connections opened with an older
certificate, once no response in flight uses them. This module is the only one that imports
httpx.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from ._retire import RetiringPools
from ._token import TokenAuth

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator

    from ..tls import RotatingClientContext

__all__ = ["AsyncRotatingTransport", "RotatingTransport", "SecretTokenAuth"]


class SecretTokenAuth(TokenAuth, httpx.Auth):
    """Sends the current value of a secret as a bearer token; for ``httpx.Client`` and
    ``httpx.AsyncClient`` alike (``auth=SecretTokenAuth("api_token")``).

    Each request carries the token the store publishes at that moment. On a 401 the store is
    read again: if the token changed (a rotation the watcher had not delivered yet), the
    request is sent once more with the new one; if it did not, the 401 is the answer. Never
    more than one retry. A request whose body is a stream is not retried (it cannot be sent
    twice): its 401 is returned.

    Args:
        name: The secret holding the token (a Kubernetes projected service-account token, an
            API key...).
        store: The :class:`~runsecrets.SecretStore` to read it from; ``None``: an internal
            store that watches this one secret (stop it with :meth:`close`).
        scheme: The scheme before the token; ``""`` sends the bare token.

    Raises:
        SecretNotFoundError, SecretReadError: The token cannot be read.
        SecretValidationError: It is empty or holds a character a header cannot carry.
    """

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """The flow of ``httpx.Client``."""
        sent = self._token.header()
        request.headers["Authorization"] = sent
        response = yield request
        if response.status_code == 401 and isinstance(request.stream, httpx.ByteStream):
            renewed = self._token.renewed(sent)
            if renewed is not None:
                request.headers["Authorization"] = renewed
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The flow of ``httpx.AsyncClient``: the store is read again in a worker thread."""
        sent = self._token.header()
        request.headers["Authorization"] = sent
        response = yield request
        if response.status_code == 401 and isinstance(request.stream, httpx.ByteStream):
            import anyio.to_thread  # httpx's own dependency (asyncio and trio alike)

            renewed = await anyio.to_thread.run_sync(self._token.renewed, sent)
            if renewed is not None:
                request.headers["Authorization"] = renewed
                yield request


class RotatingTransport(httpx.BaseTransport):
    """An ``httpx.HTTPTransport`` per client certificate: after each rotation of ``context``,
    new requests go over new connections, and the pool of the old certificate is closed as soon
    as its last response is, so a server never sees that certificate again.

    Args:
        context: The :class:`~runsecrets.tls.RotatingClientContext` (any ``ssl.SSLContext``
            works, without the retiring).
        **options: What ``httpx.HTTPTransport`` takes besides ``verify`` and ``cert``
            (``http2``, ``limits``, ``retries``, ``proxy``...).
    """

    def __init__(self, context: RotatingClientContext, **options: Any) -> None:
        _refuse_tls_options(options)
        self._pools = RetiringPools(context, lambda: httpx.HTTPTransport(verify=context, **options))
        self._pools.follow(httpx.HTTPTransport.close)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the pool of the certificate in use."""
        generation, retired = self._pools.enter()
        self._close(retired)
        once = threading.Lock()

        def done() -> None:
            if once.acquire(blocking=False):
                self._close(self._pools.leave(generation))

        try:
            response = generation.pool.handle_request(request)
        except BaseException:
            done()
            raise
        return _tracked(response, _Closing(response.stream, done))

    def close(self) -> None:
        """Close the pool in use (a retired one closes with its last response)."""
        self._close(self._pools.close())

    @staticmethod
    def _close(pools: list[httpx.HTTPTransport]) -> None:
        for pool in pools:
            pool.close()


class AsyncRotatingTransport(httpx.AsyncBaseTransport):
    """The ``httpx.AsyncClient`` form of :class:`RotatingTransport`.

    A retired pool is closed on the event loop: when its last response is closed, or at the
    first request after the rotation when it is idle. Each pool connects with the inner context
    of its certificate (``context.serving_context``), so anyio hands no connection to a worker
    thread; settings made on ``context`` after a pool was made reach the next one.

    Args:
        context: The :class:`~runsecrets.tls.RotatingClientContext`.
        **options: What ``httpx.AsyncHTTPTransport`` takes besides ``verify`` and ``cert``.
    """

    def __init__(self, context: RotatingClientContext, **options: Any) -> None:
        _refuse_tls_options(options)
        # Each pool takes the inner context of its certificate, a plain ssl.SSLContext: anyio
        # calls wrap_bio of any other type in a worker thread (about 56 us per connection).
        # Settings made on the context later reach the pools of later rotations.
        self._pools = RetiringPools(
            context,
            lambda: httpx.AsyncHTTPTransport(
                verify=getattr(context, "serving_context", context), **options
            ),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the pool of the certificate in use."""
        generation, retired = self._pools.enter()
        await self._close(retired)
        done_once = False

        async def done() -> None:
            nonlocal done_once
            if not done_once:
                done_once = True
                await self._close(self._pools.leave(generation))

        try:
            response = await generation.pool.handle_async_request(request)
        except BaseException:
            await done()
            raise
        return _tracked(response, _AsyncClosing(response.stream, done))

    async def aclose(self) -> None:
        """Close the pool in use (a retired one closes with its last response)."""
        await self._close(self._pools.close())

    @staticmethod
    async def _close(pools: list[httpx.AsyncHTTPTransport]) -> None:
        for pool in pools:
            await pool.aclose()


def _refuse_tls_options(options: dict[str, Any]) -> None:
    given = sorted({"verify", "cert"} & options.keys())
    if given:
        raise TypeError(f"the context decides verification and the certificate: remove {given}")


def _tracked(
    response: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        status_code=response.status_code,
        headers=response.headers,
        stream=stream,
        extensions=response.extensions,
    )


class _Closing(httpx.SyncByteStream):
    """A response body that tells its pool when it is closed."""

    def __init__(self, stream: Any, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._done()


class _AsyncClosing(httpx.AsyncByteStream):
    """The async form of :class:`_Closing`."""

    def __init__(self, stream: Any, done: Callable[[], Any]) -> None:
        self._stream = stream
        self._done = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            await self._done()
