"""The sidecar example, really run: renewer, ``runsecrets watch`` and the HTTPS app."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .._servers import load_example

pytest.importorskip("cryptography")

demo = load_example("demo_sidecar")


def test_renewed_certificate_is_served_without_restart(tmp_path: Path) -> None:
    """After the renewer runs, new handshakes get the new certificate from the same process."""
    first = demo.renew(tmp_path / "secrets")
    pod = demo.Pod(tmp_path)
    try:
        assert demo.served_serial(pod.port) == first
        app_pid = pod.app.pid
        second = demo.renew(tmp_path / "secrets")
        pod.wait_for_serial(second)
        assert pod.app.poll() is None
        assert pod.app.pid == app_pid
    finally:
        codes = pod.stop()
    assert codes == (0, 0), pod.logs()
    assert "sent SIGHUP" in pod.watch_log.read_text()


def test_a_key_without_its_certificate_is_never_served(tmp_path: Path) -> None:
    """Key rewritten, certificate not yet: the old pair keeps serving; then the new one."""
    from runsecrets.testing import write_rename

    first = demo.renew(tmp_path / "secrets")
    pod = demo.Pod(tmp_path)
    staging = tmp_path / "staging"
    second = demo.renew(staging)
    try:
        write_rename(pod.secrets / "tls.key", (staging / "tls.key").read_bytes())
        assert _wait_for_log(pod, "not reloaded"), pod.logs()
        assert "key_mismatch" in pod.app_log.read_text() or "match" in pod.app_log.read_text()
        assert demo.served_serial(pod.port) == first
        write_rename(pod.secrets / "tls.crt", (staging / "tls.crt").read_bytes())
        pod.wait_for_serial(second)
    finally:
        pod.stop()


def _wait_for_log(pod: object, text: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in pod.app_log.read_text():  # type: ignore[attr-defined]
            return True
        time.sleep(0.02)
    return False


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """``make demo``'s sidecar part runs and reports two renewals and a clean stop."""
    demo.run_demo()
    out = capsys.readouterr().out
    assert out.count("served") == 2
    assert "stopped cleanly: sidecar exit 0, app exit 0" in out
