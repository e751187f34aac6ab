"""Deliver Swarm secrets into a directory that running apps watch, then wait to be stopped.

A Swarm secret is fixed for the life of a task: rotating it replaces the tasks that mount it.
This agent is the only task that mounts the secrets; it copies each one into a volume it shares
with the app on its node (``docker/seed002/stack.yaml``: a tmpfs volume). A rotation replaces
the agent's task, whose start writes the new values; the app's ``SecretStore`` sees the files
change and follows them, with no restart of the app.

    python3 deliver.py --to /run/app-secrets db_user db_password

Each secret is written to a temporary file in the target directory, flushed, then renamed over
the old one, so a reader sees the old content or the new, never a part. The secrets are written
in the order given: for the alternating-users rotation put the user first (a reader that sees
the new user with the old password keeps the previous pair until the password follows). Nothing
is removed when the agent stops: the app keeps the last values delivered. No value is ever
printed: only names and sizes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path


def deliver(source: Path, target: Path, names: list[str]) -> None:
    """Copy each named secret from ``source`` into ``target`` (mode 0400), atomically."""
    for name in names:
        data = (source / name).read_bytes()
        handle, temporary = tempfile.mkstemp(dir=target, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                os.fchmod(file.fileno(), 0o400)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        print(f"deliver: {name} ({len(data)} bytes) written to {target}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Deliver once, then sleep until SIGTERM or SIGINT (exit 0)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", default="/run/secrets", type=Path)
    parser.add_argument("--to", dest="target", required=True, type=Path)
    parser.add_argument("names", nargs="+", help="the secrets to deliver, in order")
    args = parser.parse_args(argv)
    try:
        deliver(args.source, args.target, args.names)
    except OSError as error:
        # The error names the file (never its content): missing secret, unwritable volume.
        print(f"deliver: {error.strerror}: {error.filename}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
