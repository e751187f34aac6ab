"""A load driver that runs as a Swarm task on the overlay network (``python3 -c`` of this file).

Usage: ``python3 -c SOURCE NAME PORT PATH THREADS``. It resolves ``tasks.NAME`` (endpoint mode
``dnsrr``: one address per running task) every 0.2 s, as a client-side load balancer does, and
sends ``POST PATH`` from THREADS threads (``runsecrets.testing.Load``), round robin over the
addresses it knows, a new connection per request. A connection that cannot be made (refused,
unreachable, timed out: nothing was sent) is tried on the next address and counted as a retry;
anything else but a 200 (an error status, a reset or a timeout once the request was sent) is a
failure, recorded by its type.

It writes ``/tmp/progress`` (counts) every 0.5 s. When ``/tmp/stop`` appears it stops and
writes ``/tmp/load.json``: ``samples`` and ``failures`` as ``Load`` has them (``when`` on
``time.monotonic()``, which is the same clock in every container and on the host: Docker makes
no time namespace), ``served`` (``[when, address]`` of each success) and ``retries``
(``[when, address, error type]``); then it waits to be stopped.

Not a test module: the cluster tests send its source to a task (the nodes have only the
images the suite built, and this needs nothing but them).
"""

import http.client
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time

from runsecrets.testing import Load

NAME, PORT, PATH, THREADS = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
#: How long a request keeps trying other addresses before it counts as failed.
CONNECT_BUDGET = 10.0


class HTTPStatusError(Exception):
    """The replica answered with a status other than 200."""


class Unreachable(Exception):
    """No replica accepted a connection within the budget."""


addresses: list[str] = []
served: list[list[object]] = []
retries: list[list[object]] = []
lock = threading.Lock()
turn = itertools.count()
done = threading.Event()


def resolve() -> None:
    global addresses
    while not done.is_set():
        try:
            found = sorted({str(a[4][0]) for a in socket.getaddrinfo(f"tasks.{NAME}", PORT)})
        except OSError:
            found = []
        if found:
            addresses = found
        time.sleep(0.2)


def connect() -> tuple[http.client.HTTPConnection, str]:
    """A connection to the next replica that accepts one (nothing is sent before that)."""
    deadline = time.monotonic() + CONNECT_BUDGET
    while True:
        known = addresses
        address = known[next(turn) % len(known)]
        connection = http.client.HTTPConnection(address, PORT, timeout=10)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            with lock:
                retries.append([time.monotonic(), address, type(error).__name__])
            if time.monotonic() > deadline:
                raise Unreachable(type(error).__name__) from None
            time.sleep(0.05)
            continue
        return connection, address


def request() -> None:
    connection, address = connect()
    try:
        connection.request("POST", PATH, body=b"")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise HTTPStatusError(response.status)
    with lock:
        served.append([time.monotonic(), address])


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1 has no default action
    threading.Thread(target=resolve, daemon=True).start()
    while not addresses:
        time.sleep(0.1)
    load = Load(request, threads=THREADS, max_seconds=1800).start()
    while not os.path.exists("/tmp/stop"):
        with lock:
            progress = {
                "ok": load.operations,
                "failed": len(load.failures),
                "retries": len(retries),
            }
        with open("/tmp/progress.tmp", "w") as file:
            json.dump(progress, file)
        os.replace("/tmp/progress.tmp", "/tmp/progress")
        time.sleep(0.5)
    load.stop()
    done.set()
    result = {
        "samples": load.samples,
        "failures": load.failures,
        "served": served,
        "retries": retries,
    }
    with open("/tmp/load.tmp", "w") as file:
        json.dump(result, file)
    os.replace("/tmp/load.tmp", "/tmp/load.json")
    while True:
        time.sleep(3600)


main()
