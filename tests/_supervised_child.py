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


def main(args: list[str]) -> None:
    shown = [name for name in os.environ.get("CHILD_SHOW", "").split(",") if name]
    env = {name: (os.environb.get(name.encode()) or b"").hex() for name in shown}
    unset = [name for name in shown if name.encode() not in os.environb]
    deadline = None
    zombie_check = None
    crash = False
    for option, value in zip(args[::2], args[1::2], strict=True):
        if option == "--trap":
            trap(signal.Signals["SIG" + value], "record")
        elif option == "--ignore":
            signal.signal(signal.Signals["SIG" + value], signal.SIG_IGN)
        elif option == "--exit":
            name, _, code = value.partition("=")
            trap(signal.Signals["SIG" + name], f"exit:{code}")
        elif option == "--crash-if":
            name, _, bad = value.partition("=")
            crash = os.environ.get(name) == bad
        elif option == "--exit-after":
            seconds, _, code = value.partition("=")
            deadline = (time.monotonic() + float(seconds), int(code))
        elif option == "--orphan":
            subprocess.run(["sh", "-c", f"sleep {value} &"], check=True)
        elif option == "--grandchild":
            process = subprocess.Popen(["sleep", "1000"])
            record("grandchild", grandchild=process.pid)
        elif option == "--zombies-after":
            zombie_check = time.monotonic() + float(value)
    # Recorded once every handler is in place: a test may signal as soon as it sees this.
    record("start", ppid=os.getppid(), pgid=os.getpgrp(), env=env, unset=unset)
    if crash:
        record("crash")
        sys.exit(1)
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline[0]:
            sys.exit(deadline[1])
        if zombie_check is not None and now >= zombie_check:
            record("zombies", zombies=zombies())
            zombie_check = None
        time.sleep(0.02)


if __name__ == "__main__":
    main(sys.argv[1:])
