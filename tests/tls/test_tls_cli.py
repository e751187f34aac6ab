"""``runsecrets tls check``: facts, a verdict per check, exit 0 valid and 3 invalid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runsecrets.cli import main

from .._pki import DAY, KEYS, NOW, Issued, cert_pem, key_bytes, make_ca, make_leaf, write_material
from ..conftest import leaked


@pytest.fixture(scope="module")
def root() -> Issued:
    """A root CA."""
    return make_ca(KEYS.get("ec256-cli-root"), "CLI Root")


@pytest.fixture
def material(tmp_path: Path, root: Issued) -> tuple[Path, Path, Path]:
    """A good leaf for localhost, its key and the CA, as files."""
    cert, key, ca = write_material(tmp_path, make_leaf(root, KEYS.get("ec256-cli-leaf")), root)
    assert ca is not None
    return cert, key, ca


def test_valid_material_prints_facts_and_exits_0(
    material: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Valid material: the facts and a verdict per check are printed, exit 0."""
    cert, key, ca = material
    code = main(["tls", "check", "--cert", str(cert), "--key", str(key), "--ca", str(ca),
                 "--host", "localhost"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    for expected in ("CN=localhost", "DNS:localhost, IP:127.0.0.1", "CN=CLI Root", "EC secp256r1",
                     "days left", "verdict: valid"):  # fmt: skip
        assert expected in out
    assert out.count("  ok ") == 7
    assert "PRIVATE KEY" not in out


def test_mismatched_key_exits_3_with_reason_in_json(
    tmp_path: Path, material: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A key of another certificate exits 3, with the reason in the JSON report."""
    cert, _, ca = material
    other = tmp_path / "other.key"
    other.write_bytes(key_bytes(KEYS.get("ec256-cli-other")))
    code = main(["tls", "check", "--cert", str(cert), "--key", str(other), "--ca", str(ca),
                 "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert report["valid"] is False
    assert report["reason"] == "key_mismatch"
    verdicts = {row["check"]: row["verdict"] for row in report["checks"]}
    assert verdicts["key_pair"] == "FAILED"
    assert verdicts["chain"] == "ok"


def test_expiring_certificate_is_valid_with_a_warning_verdict(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    """A certificate expiring within --min-days is valid (exit 0) with a warning verdict."""
    soon = make_leaf(root, KEYS.get("ec256-cli-leaf"), not_after=NOW + 5 * DAY)
    cert, key, _ = write_material(tmp_path, soon)
    code = main(["tls", "check", "--cert", str(cert), "--key", str(key), "--min-days", "10"])
    out = capsys.readouterr().out
    assert code == 0
    # 5 days from the reference second, so 4 whole days by the time the command runs.
    assert re.search(r"verdict: valid, but expires in [45] days \(fewer than 10\)", out)


def test_secret_names_and_encrypted_key(
    tmp_path: Path, root: Issued, capsys: pytest.CaptureFixture[str], sentinel: str
) -> None:
    """--cert-secret/--key-secret/--password-secret resolve names; the password never shows."""
    leaf = make_leaf(root, KEYS.get("ec256-cli-leaf"))
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "tls_cert").write_bytes(cert_pem(leaf.cert))
    (secrets_dir / "tls_key").write_bytes(key_bytes(leaf.key, password=sentinel.encode()))
    (secrets_dir / "tls_pass").write_text(sentinel)
    code = main(["tls", "check", "--cert-secret", "tls_cert", "--key-secret", "tls_key",
                 "--password-secret", "tls_pass", "--dir", str(secrets_dir), "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["valid"] is True
    assert not leaked(sentinel, captured.out, captured.err)


def test_unparseable_material_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Material that does not parse exits 3: one error line, or parse_error in the JSON."""
    junk = tmp_path / "junk.pem"
    junk.write_text("junk")
    assert main(["tls", "check", "--cert", str(junk), "--key", str(junk)]) == 3
    assert "runsecrets: error:" in capsys.readouterr().err
    assert main(["tls", "check", "--cert", str(junk), "--key", str(junk), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["reason"] == "parse_error"


def test_missing_secret_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --cert-secret that no source holds exits 1, as a missing secret does."""
    code = main(["tls", "check", "--cert-secret", "nope", "--dir", str(tmp_path)])
    assert code == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["--cert", "{tmp}/missing.pem"], 3, "SecretReadError"),
        (["--cert-secret", "nope"], 1, "SecretNotFoundError"),
        (
            ["--cert-secret", "tls_cert", "--key-secret", "{tmp}/key.pem"],
            3,
            "InvalidSecretNameError",
        ),
    ],
    ids=["missing-file", "secret-not-found", "path-as-secret-name"],
)
def test_json_reports_every_failure_and_a_secret_name_is_never_a_path(
    tmp_path: Path,
    material: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    error: str,
) -> None:
    """``--json`` prints one JSON object for a missing file and a secret not found too, with
    the documented exit code; ``--key-secret`` given a path is refused as a bad name, not read
    as the path (finding 17 of the hardening issue)."""
    cert, key, _ = material
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "tls_cert").write_bytes(cert.read_bytes())
    argv = ["tls", "check", *(a.format(tmp=tmp_path) for a in args), "--json"]
    assert key == tmp_path / "key.pem"  # a readable, matching key: refused all the same
    assert main([*argv, "--dir", str(tmp_path / "secrets")]) == code
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["valid"] is False
    assert report["error"] == error
    assert report["message"]
    assert captured.err == ""
