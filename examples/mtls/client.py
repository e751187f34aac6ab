"""A client under load that presents a rotating client certificate and trusts a rotating CA.

Its certificate, key and CA bundle are secrets (``RUNSECRETS_DIR``: ``tls.crt``, ``tls.key``,
``ca.crt``) followed by a :class:`~runsecrets.tls.RotatingClientContext`; httpx connects with
it through :class:`~runsecrets.integrations.httpx.RotatingTransport`, which also retires the
pooled connections of a rotated-out certificate. Threads send requests without pause for a
while, then the client prints what it saw: failures, and the certificates presented (as the
server reported them) and served (as the connections carried them), in the order they came.

    RUNSECRETS_DIR=client-secrets python client.py https://localhost:8443/ SECONDS
"""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx
from cryptography import x509

from runsecrets.integrations.httpx import RotatingTransport
from runsecrets.tls import RotatingClientContext

THREADS = 2


def _served(response: httpx.Response) -> str:
    """The serial of the server certificate of the connection that carried ``response``."""
    ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
    return format(x509.load_der_x509_certificate(ssl_object.getpeercert(True)).serial_number, "X")


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    context = RotatingClientContext("tls.crt", "tls.key", "ca.crt")
    client = httpx.Client(transport=RotatingTransport(context), timeout=10)
    seen: list[list[tuple[str, str]]] = [[] for _ in range(THREADS)]
    failures: list[str] = []
    deadline = time.monotonic() + seconds

    def send(mine: list[tuple[str, str]]) -> None:
        while time.monotonic() < deadline:
            try:
                with client.stream("GET", url) as response:
                    served = _served(response)  # while the connection is surely open
                    response.raise_for_status()
                    mine.append((json.loads(response.read())["client"], served))
            except httpx.HTTPError as e:
                failures.append(type(e).__name__)

    threads = [threading.Thread(target=send, args=(mine,)) for mine in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    context.close()
    print(f"requests: {sum(map(len, seen))}, failed: {len(failures)}")
    refused = context.refusals
    print(f"client: {context.rotations} rotations, half-written pairs refused {refused} times")
    for number, mine in enumerate(seen, 1):
        # Each thread's requests in order, repeats run together: a certificate that came back
        # after a newer one would show twice.
        for label, index in (("presented", 0), ("served", 1)):
            steps = [pair[index] for pair in mine]
            runs = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
            print(f"thread {number} {label}: {' '.join(runs)}")


if __name__ == "__main__":
    main()
