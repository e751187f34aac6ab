"""A writer process for the store tests and benchmarks: rotates secrets as real producers do.

Usage: ``python _store_writers.py STYLE DIRECTORY NAMES COUNT INTERVAL``

STYLE is ``kubernetes`` (the kubelet's atomic swap of every name at once), ``rename`` (temp file
and rename, one name after the other), ``in_place`` (truncate, pause, write in pieces, one name
after the other) or ``mixed``: the three in turn (rotation ``n`` swaps the Kubernetes volume
``DIRECTORY/k8s`` holding NAMES when ``n % 3 == 0``, renames ``DIRECTORY/plain/renamed`` when it
is 1, rewrites ``DIRECTORY/plain/inplace`` in place when it is 2). Rotation ``n`` writes
``make_value(n)`` to every name. After each rotation it prints ``n monotonic_ns`` taken right
after its last system call, so a reader in another process can measure the latency (the
monotonic clock is shared by every process on Linux).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _store_fixtures import make_value

from runsecrets.testing import kubernetes_swap, write_in_place, write_rename


def rotate(style: str, directory: Path, names: list[str], n: int) -> None:
    """Write rotation ``n`` of every name with one writer style."""
    value = make_value(n)
    if style == "kubernetes":
        kubernetes_swap(directory, dict.fromkeys(names, value))
        return
    for name in names:
        if style == "rename":
            write_rename(directory / name, value)
        else:
            write_in_place(directory / name, value, pause=0.001, chunk=16)


def main(argv: list[str]) -> int:
    """Run the rotations given on the command line."""
    style, directory, names, count, interval = argv
    root = Path(directory)
    for n in range(1, int(count) + 1):
        if style == "mixed":
            if n % 3 == 0:
                rotate("kubernetes", root / "k8s", names.split(","), n)
            else:
                plain = ["renamed"] if n % 3 == 1 else ["inplace"]
                rotate("rename" if n % 3 == 1 else "in_place", root / "plain", plain, n)
        else:
            rotate(style, root, names.split(","), n)
        print(n, time.monotonic_ns(), flush=True)
        time.sleep(float(interval))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
