"""``make demo``, sidecar part: a renewer rewrites the certificate, the app reloads on a signal.

Three real processes: the HTTPS app of ``examples/sidecar/``, ``runsecrets watch`` signalling it
with SIGHUP, and the renewer writing a new key and certificate. The certificate served by real
handshakes on 127.0.0.1 changes, and the app's process id does not.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIDECAR = HERE / "sidecar"
_BIN = Path(sys.executable).parent
_TIMEOUT = 20.0


def served_serial(port: int) -> int:
    """The serial number of the certificate a fresh TLS handshake on 127.0.0.1 gets."""
    from cryptography import x509

    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # the demo's certificate is self-signed
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def renew(secrets: Path) -> int:
    """Run the renewer in its own process; the new serial."""
    out = subprocess.run(
        [sys.executable, str(SIDECAR / "renew.py"), str(secrets)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout.split()[-1], 16)


class Pod:
    """The app and its sidecar, started in ``work`` (stopped with :meth:`stop`)."""

    def __init__(self, work: Path, *, action: list[str] | None = None) -> None:
        self.work = work
        self.secrets = work / "secrets"
        self.pidfile = work / "app.pid"
        self.port = free_port()
        env = {**os.environ, "RUNSECRETS_DIR": str(self.secrets), "PORT": str(self.port)}
        env["PIDFILE"] = str(self.pidfile)
        env["PYTHONUNBUFFERED"] = "1"
        self.app_log = work / "app.log"
        self.watch_log = work / "watch.log"
        with open(self.app_log, "wb") as log:
            self.app = subprocess.Popen(
                [sys.executable, str(SIDECAR / "app.py")], env=env, stdout=log, stderr=log
            )
        self._wait(lambda: "serving" in self.app_log.read_text(), "the app to listen")
        action = action or ["--signal", "HUP", "--pidfile", str(self.pidfile)]
        with open(self.watch_log, "wb") as log:
            self.watch = subprocess.Popen(
                [str(_BIN / "runsecrets"), "watch", "--dir", str(self.secrets), *action],
                stdout=log,
                stderr=log,
            )
        self._wait(lambda: "watching" in self.watch_log.read_text(), "the sidecar to watch")

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + _TIMEOUT
        while not ready():  # type: ignore[operator]
            if time.monotonic() > deadline or self.app.poll() is not None:
                raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")
            time.sleep(0.02)

    def wait_for_serial(self, serial: int) -> float:
        """Seconds until new handshakes get ``serial``."""
        start = time.monotonic()
        self._wait(lambda: served_serial(self.port) == serial, f"serial {serial:x}")
        return time.monotonic() - start

    def logs(self) -> str:
        """Both processes' output."""
        return "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}"
            for p in (self.app_log, self.watch_log)
            if p.exists()
        )

    def stop(self) -> tuple[int | None, int | None]:
        """SIGTERM both; their exit codes."""
        codes = []
        for process in (getattr(self, "watch", None), self.app):
            if process is None:
                codes.append(None)
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                codes.append(process.wait(timeout=15))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes[0], codes[1]


def run_demo() -> None:
    """Start the app and its sidecar, renew the certificate twice, show what is served."""
    with tempfile.TemporaryDirectory(prefix="runsecrets-sidecar-") as tmp:
        work = Path(tmp)
        first = renew(work / "secrets")
        pod = Pod(work)
        try:
            print(f"  app pid {pod.app.pid} serves certificate serial {served_serial(pod.port):x}")
            assert served_serial(pod.port) == first
            for round_ in (1, 2):
                serial = renew(work / "secrets")
                seconds = pod.wait_for_serial(serial)
                print(
                    f"  renewal {round_}: new serial {serial:x} served {seconds * 1000:.0f} ms "
                    f"after the renewer finished; app pid still {pod.app.pid}"
                )
        finally:
            codes = pod.stop()
        print("  sidecar log:")
        for line in pod.watch_log.read_text().splitlines():
            print(f"    {line}")
        print(f"  stopped cleanly: sidecar exit {codes[0]}, app exit {codes[1]}")


if __name__ == "__main__":
    run_demo()
