"""``runsecrets doctor`` on 1,000 secrets (issue 17): target at most 0.5 s.

Run: ``python benchmarks/bench_doctor.py [--runs N]``. The secrets are written to a tmpfs
when ``/dev/shm`` is one (as in a container), else to a temporary directory; one variant adds a
certificate and its key (``cryptography`` is then imported). Baselines measured in the same run,
interleaved: a bare interpreter, and ``runsecrets explain`` of the same directory (which lists
and reads every secret too).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from _timing import bytecode_env, time_calls, time_commands, verdict

from runsecrets.doctor import diagnose

TARGET_SECONDS = 0.5


def _write_secrets(directory: Path, count: int, *, with_tls: bool) -> None:
    directory.mkdir()
    for i in range(count - (2 if with_tls else 0)):
        path = directory / f"secret_{i:04d}"
        path.write_text(f"value-{i}\n")
        path.chmod(0o444)
    if with_tls:
        from tests._pki import KEYS, cert_pem, key_bytes, make_ca, make_leaf

        root = make_ca(KEYS.get("ec256-bench-root"))
        leaf = make_leaf(root, KEYS.get("ec256-bench-leaf"))
        (directory / "tls.crt").write_bytes(cert_pem(leaf.cert))
        (directory / "tls.key").write_bytes(key_bytes(leaf.key))


def _command(*args: str) -> list[str]:
    script = shutil.which("runsecrets", path=str(Path(sys.executable).parent))
    return [script, *args] if script else [sys.executable, "-m", "runsecrets", *args]


def measure(root: Path, runs: int, count: int = 1000) -> None:
    """Print the command's median wall time for each variant, with the baselines."""
    env = bytecode_env()
    for key in [k for k in env if k.endswith("_FILE")]:
        del env[key]  # the directory alone, as in the target
    for with_tls in (False, True):
        directory = root / ("with-tls" if with_tls else "plain")
        _write_secrets(directory, count, with_tls=with_tls)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "runsecrets explain": _command("explain", "--dir", str(directory)),
            "runsecrets doctor": _command("doctor", "--dir", str(directory)),
        }
        medians = time_commands(commands, runs, env=env, check=False)
        doctor = medians["runsecrets doctor"]
        label = f"{count} secrets" + (" (incl. a TLS pair)" if with_tls else "")
        print(
            f"{label}: doctor {doctor * 1000:.0f} ms (target <= {TARGET_SECONDS * 1000:.0f} ms: "
            f"{verdict(doctor, TARGET_SECONDS)}); python -c pass "
            f"{medians['python -c pass'] * 1000:.0f} ms ({doctor / medians['python -c pass']:.1f}x); "
            f"explain {medians['runsecrets explain'] * 1000:.0f} ms "
            f"({doctor / medians['runsecrets explain']:.2f}x)"
        )
        inside = time_calls({"diagnose": lambda d=directory: diagnose([str(d)])}, runs)
        print(f"  diagnose() in process: {inside['diagnose'] * 1000:.1f} ms")


def main() -> None:
    """Run the doctor benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        print(f"secrets in {'/dev/shm (tmpfs)' if base else tmp}")
        measure(Path(tmp), args.runs)
    print(f"({time.perf_counter() - started:.1f} s in all)")


if __name__ == "__main__":
    main()
