"""Running ``runsecrets exec --restart-on-change`` for real in tests, and leaving nothing.

:class:`Supervised` starts the supervisor as a subprocess in a session of its own, with the
recording command of ``_supervised_child.py``, and reads what that command recorded. Its
:meth:`~Supervised.close` kills whatever is left in the session (the supervisor, each command,
anything they started; every command is in the session, whatever its process group) and
asserts that nothing was: a test ends with no process of its own left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runsecrets.testing import wait_until

CHILD = str(Path(__file__).with_name("_supervised_child.py"))


def clean_environ(**extra: str) -> dict[str, str]:
    """This environment without ``*_FILE``, ``FILE__*`` or runsecrets' variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not (key.endswith("_FILE") or key.startswith(("FILE__", "RUNSECRETS_")))
        and "PASSWORD" not in key
    }
    return {**env, **extra}


def session_processes(sid: int) -> list[int]:
    """The pids of every live process (zombies included) in session ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _no_signal_ignored() -> None:
    """In the supervisor's process, before it starts: every signal at its default, whatever the
    test run inherited. Run under ``nohup``, SIGHUP arrives ignored, and the supervisor rightly
    keeps an ignored signal ignored (a test of that passes ``prefix=["nohup"]``), so the tests
    of forwarding would not be testing forwarding."""
    for signum in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(signum) == signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)


class Supervised:
    """One supervisor run.

    Args:
        tmp_path: Where the command's record and the supervisor's standard error go.
        env: The supervisor's environment (``CHILD_LOG`` and ``CHILD_SHOW`` are added).
        options: ``exec`` options before ``--`` (``--restart-on-change`` is added).
        child_args: Options for ``_supervised_child.py``.
        show: The variables the command records.
        command: Run this instead of the recording command.
        prefix: Run the supervisor under this (``unshare ...``).
    """

    def __init__(
        self,
        tmp_path: Path,
        env: dict[str, str],
        *,
        options: Sequence[str] = (),
        child_args: Sequence[str] = (),
        show: Sequence[str] = ("DB_PASSWORD",),
        command: Sequence[str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.log = tmp_path / "child.jsonl"
        self.stderr_path = tmp_path / "supervisor.err"
        env = {**env, "CHILD_LOG": str(self.log), "CHILD_SHOW": ",".join(show)}
        run = [*prefix, sys.executable, "-m", "runsecrets", "exec", "--restart-on-change"]
        argv = [*run, *options, "--", *(command or [sys.executable, CHILD, *child_args])]
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                preexec_fn=_no_signal_ignored,
            )
        self.sid = self.process.pid

    # ----------------------------------------------------------------- reading
    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """What the commands recorded, in order (``kind``: only those)."""
        try:
            lines = self.log.read_text().splitlines()
        except FileNotFoundError:
            return []
        events = [json.loads(line) for line in lines if line.endswith("}")]
        return [e for e in events if kind is None or e["kind"] == kind]

    def starts(self) -> list[dict[str, Any]]:
        """Each command started, with its environment (variable -> bytes, unset ones absent)."""
        starts = self.records("start")
        for start in starts:
            start["values"] = {k: bytes.fromhex(v) for k, v in start["env"].items()}
            for name in start["unset"]:
                start["values"].pop(name)
        return starts

    def wait_starts(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` commands have started; return the starts."""
        wait_until(lambda: len(self.starts()) >= count, timeout=timeout)
        return self.starts()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        wait_until(predicate, timeout=timeout)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    # ----------------------------------------------------------------- acting
    def send(self, signum: int) -> None:
        """Signal the supervisor."""
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the supervisor to exit; its exit code."""
        return self.process.wait(timeout)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def close(self) -> list[int]:
        """Kill what is left of the session; return the pids that were left (the supervisor
        too, if it was still running)."""
        running = self.process.poll() is None
        left = [pid for pid in session_processes(self.sid) if pid != self.process.pid]
        deadline = time.monotonic() + 0.5
        while left and not running and time.monotonic() < deadline:
            # The supervisor exited: a zombie it had not reaped yet goes to init, which reaps
            # it at once. Anything still here after that was left behind.
            time.sleep(0.02)
            left = session_processes(self.sid)
        if running:
            left.insert(0, self.process.pid)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        deadline = time.monotonic() + 5
        while session_processes(self.sid) and time.monotonic() < deadline:
            time.sleep(0.02)
        return left

    def __enter__(self) -> Supervised:
        return self

    def __exit__(self, *exc: object) -> None:
        left = self.close()
        if exc[0] is None:
            assert left == [], f"left behind: {left}\n{self.stderr}"
