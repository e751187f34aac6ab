"""A small HTTP server for ``/metrics``: what ``runsecrets watch --metrics HOST:PORT`` serves.

Only ``GET /metrics`` is answered (the text format, or OpenMetrics when the scraper asks for
it); anything else is a 404. Requests are served in threads of their own and logged nowhere:
a scrape every few seconds would drown the sidecar's own log.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Defined with every other error; importable from here as before.
from ..exceptions import MetricsAddressError as MetricsAddressError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._registry import Metrics

#: The host a bare ``--metrics PORT`` listens on: loopback, never every interface unasked.
DEFAULT_HOST = "127.0.0.1"
PATH = "/metrics"
#: How long :meth:`MetricsServer.close` waits for the serving thread, in seconds.
CLOSE_TIMEOUT = 5.0


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or a bare ``PORT`` (on loopback) as ``(host, port)``.

    Raises:
        MetricsAddressError: Not of that form, or the port is not in 0-65535.
    """
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host, port_text = DEFAULT_HOST, text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise MetricsAddressError(
            f"--metrics {text}: write an IPv6 address in brackets ([::1]:9100)", address=text
        )
    if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise MetricsAddressError(
            f"--metrics {text}: expected HOST:PORT (127.0.0.1:9100), [IPV6]:PORT or a port "
            "number from 0 to 65535",
            address=text,
        )
    return host, int(port_text)


def _family_for(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name: what it resolves to first
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return infos[0][0]


def _bind_failure(text: str, error: OSError) -> MetricsAddressError:
    why = {
        errno.EADDRINUSE: "the port is in use (another process listens there)",
        errno.EADDRNOTAVAIL: "the host is not an address of this machine",
        errno.EACCES: "permission denied (ports below 1024 need privileges)",
    }.get(error.errno or 0)
    if isinstance(error, socket.gaierror):
        why = "the host name does not resolve"
    if why is None:
        why = f"{type(error).__name__} {errno.errorcode.get(error.errno or 0, '')}".strip()
    return MetricsAddressError(f"--metrics {text}: cannot listen: {why}", address=text)


class MetricsServer:
    """Serves ``GET /metrics`` for ``metrics`` on ``address`` from a daemon thread.

    The socket is bound at construction (so a taken port fails before anything starts);
    :meth:`start` serves, :meth:`close` stops serving and waits for the thread.

    Raises:
        MetricsAddressError: The address is malformed or cannot be bound.
    """

    def __init__(self, metrics: Metrics, address: str) -> None:
        from prometheus_client import CollectorRegistry

        host, port = parse_address(address)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(metrics)  # a collector by its protocol
        handler = type("Handler", (_Handler,), {"registry": registry})
        try:
            server_class = type("Server", (_Server,), {"address_family": _family_for(host)})
            self._httpd = server_class((host, port), handler)
        except OSError as e:
            raise _bind_failure(address, e) from None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The host and port listened on (the port chosen when 0 was asked for)."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://HOST:PORT/metrics``."""
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{PATH}"

    def start(self) -> MetricsServer:
        """Serve in a daemon thread (no-op when serving)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="runsecrets-metrics",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop serving, close the socket and wait for the thread (at most ``timeout``)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._httpd.shutdown()
            thread.join(timeout)
        self._httpd.server_close()

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    registry: object

    def do_GET(self) -> None:
        if urlsplit(self.path).path != PATH:
            self.send_error(404, "only /metrics is served here")
            return
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body = encoder(self.registry)  # type: ignore[arg-type]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: scrapes are not news."""
