"""The doctor's directory, file and certificate checks on real files: each read as the core
reads it, each problem one finding with its fix, never the value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from runsecrets.doctor import Finding
from runsecrets.doctor._certificates import check_certificates
from runsecrets.doctor._context import Context
from runsecrets.doctor._directories import check_directories
from runsecrets.doctor._files import check_files

from .._pki import DAY, KEYS, NOW, Issued, cert_pem, key_bytes, make_ca, make_leaf
from .._privileges import run_without_dac_override
from ..conftest import leaked

Check = Callable[[Context], Iterable[Finding]]


def _found(check: Check, directory: Path, **options: Any) -> list[Finding]:
    return list(check(Context(dirs=[str(directory)], environ={}, **options)))


def _run(check: Check, directory: Path, **options: Any) -> list[tuple[str, str]]:
    """(code, file name) of each finding."""
    return [(f.code, os.path.basename(f.subject)) for f in _found(check, directory, **options)]


def _messages(check: Check, directory: Path, **options: Any) -> dict[str, str]:
    """Each finding's message by ``code:file name``."""
    found = _found(check, directory, **options)
    return {f"{f.code}:{os.path.basename(f.subject)}": f.message for f in found}


def test_a_clean_directory_has_no_file_findings(tmp_path: Path) -> None:
    """Read-only-for-others files with content: nothing to say."""
    (tmp_path / "db_password").write_text("x\n")
    (tmp_path / "db_password").chmod(0o444)
    assert _run(check_directories, tmp_path) == []
    assert _run(check_files, tmp_path) == []


def test_missing_and_not_a_directory(tmp_path: Path) -> None:
    """A directory that does not exist, or is a file, is a warning saying which."""
    afile = tmp_path / "afile"
    afile.write_text("")
    context = Context(dirs=[str(tmp_path / "nope"), str(afile)], environ={})
    findings = list(check_directories(context))
    assert [(f.code, f.severity) for f in findings] == [("secrets_dir_missing", "warning")] * 2
    assert findings[0].message.startswith("does not exist")
    assert findings[1].message.startswith("is not a directory")


def test_writable_files_and_directories(tmp_path: Path, sentinel: str) -> None:
    """A 0666 file and a 0777 directory are insecure_permissions warnings with the mode."""
    secret = tmp_path / "token"
    secret.write_text(sentinel)
    secret.chmod(0o666)
    tmp_path.chmod(0o777)
    try:
        assert _run(check_directories, tmp_path) == [("insecure_permissions", tmp_path.name)]
        messages = _messages(check_files, tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert list(messages) == ["insecure_permissions:token"]
    assert "writable by its group and others (mode 0666)" in messages["insecure_permissions:token"]
    assert not leaked(sentinel, str(messages))


def test_empty_large_dangling_outside_and_badly_named(tmp_path: Path) -> None:
    """Each problem the core would refuse or mis-handle has its own code."""
    outside = tmp_path / "outside"
    outside.write_text("elsewhere")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "empty").write_text("")
    (secrets / "big").write_bytes(b"x" * 2048)
    (secrets / "gone").symlink_to(secrets / "nothing")
    (secrets / "escape").symlink_to(outside)
    (secrets / "db password").write_text("x")
    (secrets / "draft.tmp").write_text("x")  # writer debris: skipped quietly, as by the core
    found = _run(check_files, secrets, max_size=1024)
    assert sorted(found) == [
        ("dangling_link", "gone"),
        ("empty_secret", "empty"),
        ("link_outside_directory", "escape"),
        ("too_large", "big"),
    ]
    messages = _messages(check_files, secrets, max_size=1024)
    assert "2048 bytes, over the 1024-byte cap" in messages["too_large:big"]
    assert _run(check_directories, secrets) == [("invalid_name", "db password")]


def test_file_variable_targets_are_checked_too(tmp_path: Path) -> None:
    """A ``_FILE`` target is read like a directory entry; a FIFO is not a file (and the doctor
    does not hang on it)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    lax = tmp_path / "lax"
    lax.write_text("x")
    lax.chmod(0o664)
    environ = {"A_FILE": str(fifo), "B_FILE": str(lax)}
    context = Context(dirs=[], environ=environ)
    findings = list(check_files(context))
    assert [(f.code, f.subject) for f in findings] == [
        ("not_a_file", str(fifo)),
        ("insecure_permissions", str(lax)),
    ]
    assert findings[0].message.startswith("(named by A_FILE) is a FIFO (named pipe)")


def _without_dac_override(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``runsecrets ARGS`` in a process that file permissions apply to."""
    return run_without_dac_override([sys.executable, "-m", "runsecrets", *args])


def test_unreadable_file_and_unlistable_directory(tmp_path: Path, sentinel: str) -> None:
    """A file the process cannot read and a directory it cannot list are errors naming the
    mode, the owner and who the process is; exit 3, never a traceback, never the value."""
    readable = tmp_path / "ok"
    readable.mkdir()
    (readable / "locked").write_text(sentinel)
    (readable / "locked").chmod(0o000)
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "inside").write_text(sentinel)
    closed.chmod(0o000)
    try:
        result = _without_dac_override(
            "doctor", "--dir", str(readable), "--dir", str(closed), "--json"
        )
    finally:
        closed.chmod(0o755)
    assert result.returncode == 3, result.stderr
    findings = json.loads(result.stdout)["findings"]
    unreadable = {f["subject"]: f["message"] for f in findings if f["code"] == "unreadable"}
    assert set(unreadable) == {str(readable / "locked"), str(closed)}
    assert "mode 0000, owner uid" in unreadable[str(readable / "locked")]
    assert "cannot be listed (permission denied)" in unreadable[str(closed)]
    assert "Traceback" not in result.stderr
    assert not leaked(sentinel, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def root() -> Issued:
    """A root CA for the certificate checks."""
    return make_ca(KEYS.get("ec256-doctor-root"), "Doctor Root")


def _write_pair(directory: Path, leaf: Issued, stem: str = "tls") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.crt").write_bytes(cert_pem(leaf.cert))
    (directory / f"{stem}.key").write_bytes(key_bytes(leaf.key))


def test_good_certificates_and_a_ca_bundle_pass(tmp_path: Path, root: Issued) -> None:
    """A valid pair and a bundle of roots (CA certificates, unrelated) give no finding."""
    _write_pair(tmp_path, make_leaf(root, KEYS.get("ec256-doctor-leaf")))
    other = make_ca(KEYS.get("ec256-doctor-other"), "Other Root")
    (tmp_path / "ca.pem").write_bytes(cert_pem(root.cert, other.cert))
    assert _run(check_certificates, tmp_path) == []


def test_expiring_certificate_with_min_days(tmp_path: Path, root: Issued) -> None:
    """Ten days left is a warning at the default 30 days, none at --min-days 5."""
    leaf = make_leaf(root, KEYS.get("ec256-doctor-leaf"), not_after=NOW + 10 * DAY + DAY / 24)
    _write_pair(tmp_path, leaf)
    messages = _messages(check_certificates, tmp_path, now=NOW)
    assert list(messages) == ["certificate_expiring:tls.crt"]
    assert "expires in 10 day(s)" in messages["certificate_expiring:tls.crt"]
    assert "(fewer than 30)" in messages["certificate_expiring:tls.crt"]
    assert _run(check_certificates, tmp_path, now=NOW, min_days=5) == []


def test_invalid_certificates(tmp_path: Path, root: Issued) -> None:
    """Expired, weak, unparsable and mismatched material are certificate_invalid errors, each
    with the TLS module's reason; a key that does not parse is reported on the key."""
    _write_pair(
        tmp_path / "expired", make_leaf(root, KEYS.get("ec256-doctor-leaf"), not_after=NOW - DAY)
    )
    _write_pair(tmp_path / "weak", make_leaf(root, KEYS.get("rsa1024")))
    mismatch = tmp_path / "mismatch"
    _write_pair(mismatch, make_leaf(root, KEYS.get("ec256-doctor-leaf")))
    (mismatch / "tls.key").write_bytes(key_bytes(KEYS.get("ec256-doctor-other")))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "garbage.crt").write_bytes(b"not a certificate")
    pem = cert_pem(root.cert)
    (broken / "truncated.pem").write_bytes(pem[: len(pem) // 2] + b"\n-----END CERTIFICATE-----\n")
    _write_pair(broken, make_leaf(root, KEYS.get("ec256-doctor-leaf")), stem="badkey")
    (broken / "badkey.key").write_bytes(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    context = Context(
        dirs=[str(tmp_path / d) for d in ("expired", "weak", "mismatch", "broken")],
        environ={},
        now=NOW,
    )
    findings = list(check_certificates(context))
    found = [(f.code, os.path.relpath(f.subject, tmp_path)) for f in findings]
    assert found == [
        ("certificate_invalid", "expired/tls.crt"),
        ("certificate_invalid", "weak/tls.crt"),
        ("certificate_invalid", "mismatch/tls.crt"),
        ("certificate_invalid", "broken/badkey.key"),
        ("certificate_invalid", "broken/garbage.crt"),
        ("certificate_invalid", "broken/truncated.pem"),
    ]
    messages = [f.message for f in findings]
    assert "(expired)" in messages[0]
    assert "(weak_key)" in messages[1]
    assert "(key_mismatch)" in messages[2]
    assert "does not parse as a private key" in messages[3]
    assert all("does not parse as an X.509 certificate" in m for m in messages[4:])


def test_a_certificate_file_holding_its_key(tmp_path: Path, root: Issued) -> None:
    """A combined PEM (certificate and key in one file) is checked as a pair, and the key's
    bytes never reach a finding."""
    leaf = make_leaf(root, KEYS.get("ec256-doctor-leaf"))
    key = key_bytes(KEYS.get("ec256-doctor-other"))
    (tmp_path / "combined.pem").write_bytes(cert_pem(leaf.cert) + key)
    context = Context(dirs=[str(tmp_path)], environ={}, now=NOW)
    findings = list(check_certificates(context))
    assert [f.code for f in findings] == ["certificate_invalid"]
    assert "the key in the same file (key_mismatch)" in findings[0].message
    assert b"PRIVATE KEY" not in str(findings[0].as_dict()).encode()
