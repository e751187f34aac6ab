"""Every error and warning in one module, with its reason codes as types."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets import exceptions, tls
from runsecrets.exceptions import (
    ActionError,
    CredentialsReason,
    ReadReason,
    RunSecretsError,
    SwarmReason,
    TLSReason,
    UsageError,
    reason_codes,
)

EXCEPTIONS = Path(exceptions.__file__)


def literal_codes(type_name: str) -> tuple[str, ...]:
    """The codes of the ``Literal`` named ``type_name``, read from the module's source."""
    for node in ast.parse(EXCEPTIONS.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == type_name:
            assert isinstance(node.value, ast.Subscript)
            elements = node.value.slice
            assert isinstance(elements, ast.Tuple)
            return tuple(ast.literal_eval(element) for element in elements.elts)
    raise AssertionError(f"no {type_name} in {EXCEPTIONS}")


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("ReadReason", ReadReason),
        ("TLSReason", TLSReason),
        ("SwarmReason", SwarmReason),
        ("CredentialsReason", CredentialsReason),
    ],
)
def test_each_reason_type_is_its_codes_at_run_time(name: str, reasons: object) -> None:
    """At run time a reason type is the tuple of the codes its ``Literal`` spells."""
    assert reason_codes(reasons) == literal_codes(name)


def test_tls_reasons_are_generated_from_the_type_and_include_openssl_refused() -> None:
    """``runsecrets.tls.REASONS`` is every TLS code, ``openssl_refused`` among them."""
    assert literal_codes("TLSReason") == tls.REASONS
    assert "openssl_refused" in tls.REASONS


def test_every_error_class_of_the_package_lives_in_exceptions() -> None:
    """No module of the package defines an error or a warning of its own."""
    package = EXCEPTIONS.parent
    found = []
    for path in package.rglob("*.py"):
        if path == EXCEPTIONS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith(("Error", "Warning", "Exception")) for base in node.bases
            ):
                found.append(f"{path.relative_to(package)}:{node.name}")
    # Signals inside one module or integration, caught there and never raised out of it.
    internal = ["integrations/flask/_config.py:ConfigValueError", "tls/_pem.py:_Damage"]
    assert sorted(found) == internal


def test_action_and_usage_errors_are_still_importable_from_the_command_line_modules() -> None:
    """The two command-line errors moved into ``exceptions`` and keep their old homes."""
    from runsecrets.cli._actions import ActionError as from_actions
    from runsecrets.cli._watch_run import UsageError as from_watch_run

    assert from_actions is ActionError
    assert from_watch_run is UsageError
    assert issubclass(ActionError, RunSecretsError)
    assert issubclass(UsageError, RunSecretsError)
    assert issubclass(UsageError, ValueError)


def test_the_reason_types_cost_no_typing_import() -> None:
    """Importing the errors (and so ``runsecrets``) does not load ``typing``."""
    code = "import sys, runsecrets.exceptions; print('typing' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
