"""The mutual TLS example, really run: a CA renews a server's and a client's certificates
three times while the client sends requests without pause, and nothing restarts."""

from __future__ import annotations

import re

import pytest

from .._servers import load_example

demo = load_example("demo_mtls")


def _steps(out: str, thread: int, label: str) -> list[int]:
    """The issue numbers one thread saw, in order (repeats already run together)."""
    line = re.search(rf"^thread {thread} {label}: (.*)$", out, re.MULTILINE)
    assert line, out
    return [int(step[1:]) for step in line.group(1).split()]


def test_client_and_server_rotate_under_load_with_no_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No request fails; each thread sees the client and server certificates in the order
    they were issued, never an older one again; the last ones are reached; both programs
    end cleanly, never restarted."""
    demo.run_demo()
    out = capsys.readouterr().out
    assert re.search(r"^requests: [1-9]\d*, failed: 0$", out, re.MULTILINE), out
    last = {"presented": 0, "served": 0}
    for thread in (1, 2):
        for label in last:
            steps = _steps(out, thread, label)
            assert steps == sorted(set(steps)), out  # each certificate once, in issue order
            last[label] = max(last[label], steps[-1])
    assert last == {"presented": 4, "served": 4}, out
    assert "client: 3 rotations" in out
    assert "server: 3 rotations" in out
    assert "exit codes: client 0, server 0" in out
    assert "PRIVATE KEY" not in out
