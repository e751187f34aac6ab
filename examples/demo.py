"""``make demo``: runsecrets loading, explaining, refusing and handing over secrets for real.

Each part works on a fresh temporary secrets directory and real processes. The later parts
(rotation, pydantic settings, TLS, the sidecar) live in their own modules beside this one.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import runsecrets

HERE = Path(__file__).resolve().parent
# The parts after the core one, in order: module name in examples/, and its title.
LATER_PARTS = (
    ("demo_rotation", "Hot reload: one secret rotated three ways"),
    ("demo_settings", "pydantic-settings: live settings re-validated on rotation"),
    ("demo_tls", "TLS: validate, refuse a mismatched key, rotate a live server"),
    ("demo_mtls", "Mutual TLS: a client and a server rotate their certificates under load"),
    ("demo_sidecar", "Sidecar: a watcher signals the app when a secret changes"),
)


def heading(title: str) -> None:
    """Print a section heading."""
    print(f"\n=== {title}")


def command_line(*args: str) -> list[str]:
    """``args`` with ``runsecrets`` replaced by this environment's own command."""
    if args[0] != "runsecrets":
        return list(args)
    script = Path(sys.executable).parent / "runsecrets"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "runsecrets"]
    return [*launcher, *args[1:]]


def run(*args: str, env: dict[str, str] | None = None) -> None:
    """Run a command, echoing it and its output."""
    print(f"$ {' '.join(args)}")
    result = subprocess.run(
        command_line(*args), env=env, capture_output=True, text=True, check=False
    )
    for line in (result.stdout + result.stderr).splitlines():
        print(f"  {line}")
    print(f"  (exit {result.returncode})")


def core_part(root: Path) -> None:
    """Resolve from each source, explain, refuse a conflict, and wrap an entrypoint."""
    secrets_dir = root / "run-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "db_password").write_text("demo-db-password\n")
    (secrets_dir / "api_key").write_text("demo-api-key")
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "smtp").write_text("demo-smtp-password\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_PASSWORD": "demo-redis-from-env",
        "SMTP_PASSWORD_FILE": str(root / "elsewhere" / "smtp"),
        "RUNSECRETS_DIR": str(secrets_dir),
    }

    heading("Resolving from each kind of source (values are never printed, only where from)")
    secrets = runsecrets.Secrets(environ=env)
    for name in ("db_password", "redis_password", "smtp_password"):
        secret = secrets.secret(name)
        print(f"  {name:15} -> {secret!r}  [{len(secret.reveal())} characters]")

    heading("`runsecrets explain`: source, size, age; never a value or a hash")
    run("runsecrets", "explain", env=env)

    heading("`runsecrets get` is the one command that prints a value, on purpose")
    run("runsecrets", "get", "db_password", env=env)

    heading("Both SMTP_PASSWORD and SMTP_PASSWORD_FILE set: refused, as the official images do")
    run("runsecrets", "get", "smtp_password", env={**env, "SMTP_PASSWORD": "inline"})

    heading("A missing secret: a typed error that lists every place looked")
    try:
        secrets.get("stripe_key")
    except runsecrets.SecretNotFoundError as e:
        print(f"  {type(e).__name__}: {e}")

    heading("Entrypoint wrapper: `runsecrets exec` turns SMTP_PASSWORD_FILE into SMTP_PASSWORD")
    child = (
        "import os; v = os.environ['SMTP_PASSWORD']; "
        "print('child got SMTP_PASSWORD,', len(v), 'characters; SMTP_PASSWORD_FILE present:',"
        " 'SMTP_PASSWORD_FILE' in os.environ)"
    )
    run("runsecrets", "exec", "--", sys.executable, "-c", child, env=env)


def main() -> int:
    """Run every part of the demo."""
    print(f"runsecrets {runsecrets.__version__} demo")
    with tempfile.TemporaryDirectory(prefix="runsecrets-demo-") as tmp:
        core_part(Path(tmp))
    sys.path.insert(0, str(HERE))
    for module_name, title in LATER_PARTS:
        heading(title)
        importlib.import_module(module_name).run_demo()
    print("\ndemo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
