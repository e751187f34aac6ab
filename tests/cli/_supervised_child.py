"""A command for ``exec --restart-on-change`` tests: it records what it is and what happens.

Run as ``python _supervised_child.py [options]``; every event is one JSON line appended to the
file named by ``CHILD_LOG``: ``start`` (its pid, parent, process group, and the bytes of each
variable named in ``CHILD_SHOW``, in hex), ``signal`` (each signal it traps), ``zombies`` (the
zombie processes it sees). Options:

``--trap SIG``        record SIG and keep running (repeatable)
``--ignore SIG``      ignore SIG
``--exit SIG=CODE``   record SIG, then exit with CODE
``--crash-if V=X``    exit 1 at once when variable V is X (a command that refuses a password)
``--exit-after S=CODE``  exit by itself with CODE after S seconds
``--orphan S``        start ``sleep S`` through a shell that exits at once: an orphan
``--grandchild 1``    start ``sleep 1000`` (in its process group) and record its pid
``--zombies-after S`` after S seconds, record the zombies in ``/proc``
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def record(kind: str, **fields: object) -> None:
    line = json.dumps({"kind": kind, "pid": os.getpid(), "t": time.monotonic(), **fields})
    with open(os.environ["CHILD_LOG"], "a") as f:
        f.write(line + "\n")


def zombies() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if state == "Z":
                found.append(int(entry))
    return found


def trap(signum: int, action: str) -> None:
    def handler(number: int, frame: object) -> None:
        record("signal", signal=signal.Signals(number).name)
        if action.startswith("exit:"):
            sys.exit(int(action[5:]))

    signal.signal(signum, handler)


class Plan:
    """What the options ask for beyond handlers: a crash, a timed exit, a zombie check."""

    def __init__(self) -> None:
        self.crash = False
        self.deadline: tuple[float, int] | None = None
        self.zombie_check: float | None = None

    def apply(self, option: str, value: str) -> None:
        name, _, rest = value.partition("=")
        if option in ("--trap", "--ignore", "--exit"):
            signum = signal.Signals["SIG" + name]
            if option == "--ignore":
                signal.signal(signum, signal.SIG_IGN)
            else:
                trap(signum, "record" if option == "--trap" else f"exit:{rest}")
        elif option == "--crash-if":
            self.crash = os.environ.get(name) == rest
        elif option == "--exit-after":
            self.deadline = (time.monotonic() + float(name), int(rest))
        elif option == "--orphan":
            subprocess.run(["sh", "-c", f"sleep {value} &"], check=True)
        elif option == "--grandchild":
            record("grandchild", grandchild=subprocess.Popen(["sleep", "1000"]).pid)
        elif option == "--zombies-after":
            self.zombie_check = time.monotonic() + float(value)

    def tick(self) -> None:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline[0]:
            sys.exit(self.deadline[1])
        if self.zombie_check is not None and now >= self.zombie_check:
            record("zombies", zombies=zombies())
            self.zombie_check = None


def main(args: list[str]) -> None:
    shown = [name for name in os.environ.get("CHILD_SHOW", "").split(",") if name]
    env = {name: (os.environb.get(name.encode()) or b"").hex() for name in shown}
    unset = [name for name in shown if name.encode() not in os.environb]
    plan = Plan()
    for option, value in zip(args[::2], args[1::2], strict=True):
        plan.apply(option, value)
    # Recorded once every handler is in place: a test may signal as soon as it sees this.
    record("start", ppid=os.getppid(), pgid=os.getpgrp(), env=env, unset=unset)
    if plan.crash:
        record("crash")
        sys.exit(1)
    while True:
        plan.tick()
        time.sleep(0.02)


if __name__ == "__main__":
    main(sys.argv[1:])
