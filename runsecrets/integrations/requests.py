"""requests: a bearer token read from a secret, and an adapter that connects with a rotating
client certificate.

::

    import requests
    from runsecrets.integrations.requests import SecretTokenAuth, TLSAdapter
    from runsecrets.tls import RotatingClientContext

    context = RotatingClientContext("client.crt", "client.key", "ca.crt")
    session = requests.Session()
    session.mount("https://", TLSAdapter(context))
    session.auth = SecretTokenAuth("api_token")

requests builds its own SSL context for every pool and takes no context as an argument; the
adapter hands urllib3 this one instead, keeps requests' CA bundle and certificate options from
being loaded into it, and retires the pooled connections of an older certificate after each
rotation. This module is the only one that imports requests.
"""

from __future__ import annotations

from typing import Any

import requests
import requests.adapters
import requests.auth

from ._retire import RetiringPools
from ._token import TokenAuth

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl


__all__ = ["SecretTokenAuth", "TLSAdapter"]


class SecretTokenAuth(TokenAuth, requests.auth.AuthBase):
    """Sends the current value of a secret as a bearer token (``session.auth = ...`` or
    ``requests.get(url, auth=...)``): the arguments and the rule of
    :class:`runsecrets.integrations.httpx.SecretTokenAuth`.

    Each request carries the token the store publishes at that moment. On a 401 the store is
    read again: if the token changed, the request is sent once more with the new one; if it did
    not, the 401 is the answer. Never more than one retry. A request whose body is a file or a
    generator is not retried (it cannot be sent twice): its 401 is returned.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._token.header()
        if self._after not in request.hooks["response"]:  # a request authenticated again
            request.register_hook("response", self._after)
        return request

    def _after(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        request = response.request
        if not isinstance(request.body, bytes | str | type(None)):
            return response  # a file or a generator: already consumed
        sent = str(request.headers.get("Authorization", ""))
        renewed = self._token.renewed(sent)
        if renewed is None:
            return response
        response.content  # noqa: B018  (read to the end: the connection goes back to its pool)
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = renewed
        retry.deregister_hook("response", self._after)  # once only: the answer stands
        answer: requests.Response = response.connection.send(retry, **kwargs)
        answer.history.append(response)
        answer.request = retry
        return answer


class TLSAdapter(requests.adapters.BaseAdapter):
    """A transport adapter whose connections use ``context`` for TLS:
    ``session.mount("https://", TLSAdapter(context))``.

    The context decides what is trusted and which certificate is presented: requests' CA bundle
    (``verify=True``, ``REQUESTS_CA_BUNDLE``, a ``verify`` path) is not loaded into it, and
    ``verify=False`` or ``cert=`` is refused with a ``ValueError``. With a
    :class:`~runsecrets.tls.RotatingClientContext`, each rotation starts new pools: a pooled
    connection of the old certificate is closed once no request uses it, and never reused.

    Args:
        context: The client context (a :class:`~runsecrets.tls.RotatingClientContext`, or any
            ``ssl.SSLContext``).
        **options: What ``requests.adapters.HTTPAdapter`` takes (``pool_connections``,
            ``pool_maxsize``, ``max_retries``, ``pool_block``).
    """

    def __init__(self, context: ssl.SSLContext, **options: Any) -> None:
        super().__init__()
        self._pools = RetiringPools(context, lambda: _ContextAdapter(self, context, **options))
        self._pools.follow(_ContextAdapter.close)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """As ``HTTPAdapter.send``, on the pools of the certificate in use."""
        generation, retired = self._pools.enter()
        self._close(retired)
        try:
            return generation.pool.send(request, **kwargs)
        finally:
            self._close(self._pools.leave(generation))

    def close(self) -> None:
        """Stop following rotation and close every pool no request uses."""
        self._close(self._pools.close())

    @staticmethod
    def _close(adapters: list[_ContextAdapter]) -> None:
        for adapter in adapters:
            adapter.close()


class _ContextAdapter(requests.adapters.HTTPAdapter):
    """The pools of one certificate: an ``HTTPAdapter`` whose urllib3 pools all use the
    context, with none of requests' own TLS options."""

    def __init__(self, owner: TLSAdapter, context: ssl.SSLContext, **options: Any) -> None:
        self._owner = owner
        self._context = context
        super().__init__(**options)  # calls init_poolmanager

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        # What sends again from a response (an auth's retry) goes through the owner, onto the
        # pools of the certificate in use then.
        response.connection = self._owner  # type: ignore[assignment]  # any adapter sends
        return response

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(
            connections, maxsize, block, ssl_context=self._context, **pool_kwargs
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("ssl_context", self._context)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        if verify is False:
            raise ValueError("TLSAdapter verifies servers with its context: verify=False refused")
        if cert:
            raise ValueError("TLSAdapter presents its context's certificate: cert= refused")
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        return host_params, {"cert_reqs": "CERT_REQUIRED"}
