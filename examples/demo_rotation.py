"""``make demo``, hot reload part: one secret rotated three ways, each picked up by a store.

Each rotation is written by another process, the way producers really do it: the kubelet's
``..data`` swap, a renewer's temp file and rename, and a naive writer that truncates, pauses and
writes. The store publishes each new value once it is whole; the latency printed runs from the
writer's last system call to the subscriber's call. Values are never printed, only their size.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import runsecrets

# Run in a separate process; prints time.monotonic_ns() right after its last write.
_WRITERS = {
    "kubernetes": "from runsecrets.testing import kubernetes_swap as w; w(D, {'db_password': V})",
    "rename": "from runsecrets.testing import write_rename as w; w(D + '/db_password', V)",
    "in_place": (
        "from runsecrets.testing import write_in_place as w; "
        "w(D + '/db_password', V, pause=0.02, chunk=8)"
    ),
}


def _write_in_another_process(style: str, directory: Path, value: str) -> int:
    code = f"import time; D, V = {str(directory)!r}, {value!r}; {_WRITERS[style]}; "
    code += "print(time.monotonic_ns())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout)


def _whole(snapshot: runsecrets.Snapshot) -> bool:
    # The demo's values end with "-end": anything else is a half-written file.
    return snapshot.get("db_password", "").endswith("-end")


def rotate_once(style: str, directory: Path, value: str) -> None:
    """Start a store, rotate the secret with ``style``, and report the pick-up."""
    store = runsecrets.SecretStore(directory, environ={}, validate=_whole)
    arrived = threading.Event()
    called_at: list[int] = []

    def on_change(changes: runsecrets.Changes) -> None:
        called_at.append(time.monotonic_ns())
        arrived.set()

    store.subscribe(on_change)
    with store.watch():
        before = store.snapshot.version
        written_at = _write_in_another_process(style, directory, value)
        if not arrived.wait(5):
            print(f"  {style:10}: not picked up within 5 s (status: {store.status!r})")
            return
        status = store.status
    latency = max(0, called_at[0] - written_at) / 1e6
    held = status.counters["incomplete"] + status.counters["refused"]
    note = f"; held back {held}x while half written" if held else ""
    print(
        f"  {style:10}: snapshot v{before} -> v{status.version}, new value of "
        f"{len(store.get('db_password'))} characters, picked up in {latency:.1f} ms "
        f"({status.mode}){note}"
    )


def run_demo() -> None:
    """Rotate ``db_password`` with the kubelet's swap, a rename and an in-place write."""
    with tempfile.TemporaryDirectory(prefix="runsecrets-rotation-") as tmp:
        root = Path(tmp)
        kubernetes_dir = root / "kubernetes-volume"
        _write_in_another_process("kubernetes", kubernetes_dir, "first-password-end")
        plain_dir = root / "run-secrets"
        plain_dir.mkdir()
        (plain_dir / "db_password").write_text("first-password-end")
        print("  a store watches the directory; another process rotates the secret:")
        rotate_once("kubernetes", kubernetes_dir, "second-password-from-kubelet-end")
        rotate_once("rename", plain_dir, "third-password-from-a-renewer-end")
        rotate_once("in_place", plain_dir, "fourth-password-written-in-place-end")


if __name__ == "__main__":
    run_demo()
