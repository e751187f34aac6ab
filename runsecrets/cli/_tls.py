"""``tls check``: validate a certificate, its key and CA, and show a verdict per check.

``cryptography`` is imported by the handler only, so that building the parser (every command
does) stays cheap.
"""

from __future__ import annotations

import json
import os

from ..exceptions import RunSecretsError
from ._exit import EXIT_INVALID, EXIT_OK, exit_code_for
from ._options import add_dir_option, add_prefix_option

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..tls import TLSMaterial

_PARTS = ("cert", "key", "ca", "password")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tls`` with its sub-command ``check``."""
    tls = subparsers.add_parser("tls", help="TLS material: validate certificates and keys")
    commands = tls.add_subparsers(dest="tls_command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="validate a certificate, its key and CA; exit 0 valid, 3 invalid",
        description="Parse the certificate (chain) and key, check that they match, the dates, "
        "the extended key usage for the purpose, key strength, signature hashes, the host name "
        "and the chain to the CA. Prints subject, names, issuer, serial, validity, days left, "
        "key type and size, and a verdict per check. Exit codes: 0 valid, 1 a secret not "
        "found, 3 invalid (the reason code is in the JSON).",
    )
    for part, what in (
        ("cert", "the certificate, optionally followed by its intermediates (PEM or DER)"),
        ("key", "the private key (default: in the certificate file)"),
        ("ca", "the CA bundle the chain must verify to"),
        ("password", "the file holding the key's passphrase"),
    ):
        group = check.add_mutually_exclusive_group(required=part == "cert")
        group.add_argument(f"--{part}", metavar="PATH", help=f"{what}: a file")
        group.add_argument(
            f"--{part}-secret",
            metavar="NAME",
            help=f"{what}: a secret name (NAME_FILE, NAME, then the secrets directories)",
        )
    check.add_argument("--host", help="a DNS name or IP address the certificate must cover")
    check.add_argument(
        "--purpose", choices=("server", "client"), default="server", help="default: server"
    )
    check.add_argument(
        "--min-days",
        type=int,
        default=None,
        metavar="N",
        help="warn when fewer than N days of validity are left (default 30)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    add_dir_option(check)
    add_prefix_option(check)
    check.set_defaults(handler=run_tls_check)


def _spec(args: argparse.Namespace, part: str) -> str | os.PathLike[str] | None:
    path = getattr(args, part)
    if path is not None:
        # A path given on the command line is a path even without a separator ("cert.pem").
        from pathlib import Path

        return Path(path)
    name: str | None = getattr(args, f"{part}_secret")
    if name is not None:
        # A name, never a path in disguise: "--key-secret /etc/key" is refused, not read.
        from .._names import validate_name

        validate_name(name)
    return name


def run_tls_check(args: argparse.Namespace) -> int:
    """Examine the material and print the verdicts; 0 valid, 3 invalid, 1 a secret not found.

    With ``--json`` every outcome is one JSON object, failures to read included.
    """
    from .._secrets import Secrets
    from ..tls import DEFAULT_MIN_VALID_DAYS, examine

    try:
        specs = {part: _spec(args, part) for part in _PARTS}
        cert = specs["cert"]
        assert cert is not None  # argparse requires one of --cert / --cert-secret
        material = examine(
            cert,
            specs["key"],
            specs["ca"],
            password=specs["password"],
            host=args.host,
            purpose=args.purpose,
            min_valid_days=DEFAULT_MIN_VALID_DAYS if args.min_days is None else args.min_days,
            secrets=Secrets(args.dirs, prefix=args.prefix),
        )
    except RunSecretsError as e:
        if not args.json:
            raise  # main() prints the one-line error: exit 1 not found, else 3
        print(json.dumps(_error_report(e), indent=2))
        return exit_code_for(e)
    if args.json:
        print(json.dumps(material.as_dict(), indent=2))
    else:
        _print_report(material)
    return EXIT_OK if material.valid else EXIT_INVALID


def _error_report(error: RunSecretsError) -> dict[str, object]:
    """The JSON object for material that could not be examined (never a value)."""
    files = getattr(error, "files", None) or ([error.path] if error.path else [])
    return {
        "valid": False,
        "reason": getattr(error, "reason", None),
        "error": type(error).__name__,
        "message": error.message,
        "files": list(files),
        "searched": list(error.searched),
    }


def _print_report(material: TLSMaterial) -> None:
    intermediates = len(material.chain) - 1
    rows = [
        ("files", ", ".join(material.files)),
        ("subject", material.subject),
        ("names", ", ".join(material.names) or "(no subjectAltName)"),
        ("issuer", material.issuer),
        ("serial", material.serial_hex),
        ("not before", f"{material.not_before:%Y-%m-%dT%H:%M:%SZ}"),
        ("not after", f"{material.not_after:%Y-%m-%dT%H:%M:%SZ}"),
        ("days left", str(material.days_left)),
        ("key", f"{material.key_type}, {material.key_size} bits"),
        (
            "chain",
            f"leaf + {intermediates} intermediate(s); "
            f"CA bundle: {len(material.ca_certificates)} certificate(s)",
        ),
        ("purpose", material.purpose + (f", host {material.host}" if material.host else "")),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    print("checks:")
    name_width = max(len(check.name) for check in material.checks)
    for check in material.checks:
        reason = f" [{check.reason}]" if check.reason else ""
        print(f"  {check.verdict.ljust(7)}  {check.name.ljust(name_width)}  {check.detail}{reason}")
    failed = material.failure
    if failed is not None:
        print(f"verdict: INVALID ({failed.reason})")
    elif material.expiring:
        print(
            f"verdict: valid, but expires in {material.days_left} days "
            f"(fewer than {material.min_valid_days})"
        )
    else:
        print("verdict: valid")
