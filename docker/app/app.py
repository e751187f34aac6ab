"""A minimal app for the production image: it reads its secrets with runsecrets, says where each
one came from (never the value), and stays up until it is stopped.

Configuration (any of them):
    DB_PASSWORD_FILE=/run/secrets/db_password   turned into DB_PASSWORD by `runsecrets exec`
    /run/secrets/db_password                    read directly by runsecrets.get
"""

from __future__ import annotations

import signal
import sys

import runsecrets


def main() -> int:
    """Read the secrets the app needs, report their sources, and wait for SIGTERM."""
    secrets = runsecrets.Secrets()
    try:
        password = secrets.secret("db_password")
    except runsecrets.RunSecretsError as error:
        print(f"app: cannot start: {error}", file=sys.stderr)
        return 1
    print(f"app: db_password from {secrets.explain('db_password').describe()}: {password}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
