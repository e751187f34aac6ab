"""The doctor's environment checks: secrets in plain variables (by shape and by name), ``FOO``
beside ``FOO_FILE``, a ``FOO_FILE`` naming no file; never a value in a finding."""

from __future__ import annotations

from pathlib import Path

from runsecrets.doctor import Finding
from runsecrets.doctor._context import Context
from runsecrets.doctor._environment import check_environment

from ..conftest import leaked


def _findings(environ: dict[str, str], prefix: str = "") -> list[Finding]:
    return list(check_environment(Context(dirs=[], environ=environ, prefix=prefix)))


def _codes(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.subject) for f in findings]


def test_secret_shaped_values_are_found_under_any_name(sentinel: str) -> None:
    """A PEM key, a join token or a cloud key is reported whatever the variable is called,
    and the finding says what it is without quoting it."""
    environ = {
        "TLS_MATERIAL": f"-----BEGIN EC PRIVATE KEY-----\n{sentinel}\n-----END EC PRIVATE KEY-----",
        "JOIN": f"SWMTKN-1-{sentinel.lower().replace('-', '')}-abc",
        "CLOUD": "AKIAIOSFODNN7EXAMPLE",
        "HOSTNAME": "web-1",
        "PATH": "/usr/bin:/bin",
    }
    findings = _findings(environ)
    assert _codes(findings) == [
        ("secret_in_environment", "CLOUD"),
        ("secret_in_environment", "JOIN"),
        ("secret_in_environment", "TLS_MATERIAL"),
    ]
    messages = {f.subject: f.message for f in findings}
    assert messages["TLS_MATERIAL"].startswith("holds a PEM private key")
    assert messages["JOIN"].startswith("holds a Docker Swarm join token")
    assert "set TLS_MATERIAL_FILE to its path" in messages["TLS_MATERIAL"]
    text = repr(findings) + str([f.as_dict() for f in findings])
    assert not leaked(sentinel, text)
    assert "AKIAIOSFODNN7EXAMPLE" not in text


def test_secret_names_are_found_by_name_with_the_documented_exceptions(
    tmp_path: Path, sentinel: str
) -> None:
    """A set variable named like a password or token is reported, unless it is a switch or
    the path of an existing file; official images' GPG_KEY and PYTHON_SHA256 are not."""
    key_file = tmp_path / "gcp.json"
    key_file.write_text("{}")
    environ = {
        "DB_PASSWORD": sentinel,
        "GITHUB_TOKEN": sentinel,
        "EMPTY_PASSWORD": "",
        "USE_TOKEN": "true",
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "GPG_KEY": "A035C8C19219BA821ECEA86B64E628F8D684696D",
        "PYTHON_SHA256": "3f4e5c6d7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",
        "PASSWORD_MIN_LENGTH": "12",
        "PWD": "/app",
    }
    findings = _findings(environ)
    assert _codes(findings) == [
        ("secret_in_environment", "DB_PASSWORD"),
        ("secret_in_environment", "GITHUB_TOKEN"),
    ]
    assert findings[0].message.startswith("is set and named like a password")
    assert not leaked(sentinel, str([f.as_dict() for f in findings]))


def test_conflict_is_reported_once_with_the_cores_message(tmp_path: Path, sentinel: str) -> None:
    """``FOO`` and ``FOO_FILE`` both set is a conflict, and ``FOO`` is not reported again as a
    secret in the environment."""
    target = tmp_path / "db_password"
    target.write_text(sentinel)
    findings = _findings({"DB_PASSWORD": sentinel, "DB_PASSWORD_FILE": str(target)})
    assert _codes(findings) == [("conflict", "DB_PASSWORD")]
    assert findings[0].severity == "error"
    assert "both DB_PASSWORD and DB_PASSWORD_FILE are set" in findings[0].message
    assert not leaked(sentinel, findings[0].message)


def test_a_file_variable_that_names_no_file_is_never_echoed(sentinel: str) -> None:
    """A pasted password in ``FOO_FILE`` (or a path that does not exist) is reported by the
    variable's name only."""
    findings = _findings({"API_KEY_FILE": sentinel, "CERT_FILE": f"/run/secrets/{sentinel}"})
    assert _codes(findings) == [
        ("file_variable_not_a_path", "API_KEY_FILE"),
        ("file_variable_not_a_path", "CERT_FILE"),
    ]
    assert not leaked(sentinel, str([f.as_dict() for f in findings]))


def test_file_variables_follow_the_cores_choice(tmp_path: Path) -> None:
    """Tool settings such as ``SSL_CERT_FILE`` are not secrets, and a prefix limits which
    ``_FILE`` variables count, exactly as for ``runsecrets exec``."""
    environ = {
        "SSL_CERT_FILE": "/nonexistent/ca.pem",
        "OTHER_FILE": "not a path",
        "APP_DB_PASSWORD_FILE": "not a path either",
    }
    findings = _findings(environ, prefix="APP_")
    assert _codes(findings) == [("file_variable_not_a_path", "APP_DB_PASSWORD_FILE")]
