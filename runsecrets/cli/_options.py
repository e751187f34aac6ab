"""Options shared by several commands."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

_DIR_HELP = (
    "a secrets directory (repeat for several, first match wins); default RUNSECRETS_DIR, "
    "else the platform's (/run/secrets)"
)


def add_dir_option(parser: argparse.ArgumentParser, help: str = _DIR_HELP) -> None:
    """``--dir DIR``, repeatable, collected in ``args.dirs``."""
    parser.add_argument("--dir", dest="dirs", action="append", metavar="DIR", help=help)


def add_prefix_option(parser: argparse.ArgumentParser) -> None:
    """``--prefix P``: the environment variable prefix."""
    parser.add_argument(
        "--prefix", default="", help="environment variable prefix (APP_ reads APP_DB_PASSWORD)"
    )
