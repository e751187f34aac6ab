"""``runsecrets doctor`` on the command line: exit codes 0/1/3, one line per finding, the JSON
form, planted values never printed, a failing family said and not fatal, and light imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets.cli import EXIT_INVALID, EXIT_OK, EXIT_WARNINGS, main
from runsecrets.cli._doctor import exit_code, format_finding
from runsecrets.doctor import Finding
from runsecrets.doctor._context import Context
from runsecrets.doctor._runner import run_families

from .._pki import DAY, KEYS, NOW, cert_pem, key_bytes, make_ca, make_leaf
from ..conftest import leaked


def _proc(root: Path, memory_dirs: list[Path]) -> Path:
    """A prepared /proc: ``memory_dirs`` are tmpfs mounts, the rest is an ext4 root, and the
    inotify limits are generous."""
    lines = ["1 0 254:0 / / rw,relatime - ext4 /dev/vda rw"]
    for number, directory in enumerate(memory_dirs, start=2):
        point = str(directory).replace(" ", "\\040")
        lines.append(f"{number} 1 0:{number} / {point} rw,nosuid - tmpfs tmpfs rw")
    (root / "self").mkdir(parents=True)
    (root / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
    limits = root / "sys" / "fs" / "inotify"
    limits.mkdir(parents=True)
    (limits / "max_user_watches").write_text("65536\n")
    (limits / "max_user_instances").write_text("128\n")
    return root


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment with nothing the doctor would report (the test's own variables gone)."""
    for variable in list(os.environ):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("HOME", "/root")


def test_clean_exits_0(
    tmp_path: Path, clean_environ: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Memory-backed, read-only secrets and a clean environment: exit 0, one line saying so;
    ``--json`` gives an empty list."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "db_password").write_text("x")
    (secrets / "db_password").chmod(0o444)
    proc = _proc(tmp_path / "proc", [secrets])
    args = ["doctor", "--dir", str(secrets), "--proc-root", str(proc)]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out == "no problems found\n"
    assert main([*args, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"findings": []}


def test_warnings_only_exit_1(
    tmp_path: Path, clean_environ: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lax file alone is a warning: exit 1, one line ``severity: code: subject: message``."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "token").write_text("x")
    (secrets / "token").chmod(0o666)
    proc = _proc(tmp_path / "proc", [secrets])
    assert main(["doctor", "--dir", str(secrets), "--proc-root", str(proc)]) == EXIT_WARNINGS
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"warning: insecure_permissions: {secrets / 'token'}: is writable")


def test_every_planted_problem_is_found_and_no_value_printed(
    tmp_path: Path,
    clean_environ: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sentinel: str,
) -> None:
    """Secret-shaped variables, a conflict, a pasted password in ``_FILE``, a disk directory,
    a 0666 file, an expiring certificate: each code appears, errors first, exit 3, and the
    sentinel planted in every value is in neither form of the output."""
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "db_password").write_text(sentinel)
    (disk / "lax").write_text(sentinel)
    (disk / "lax").chmod(0o666)
    root = make_ca(KEYS.get("ec256-doctor-cli-root"), "CLI Doctor Root")
    leaf = make_leaf(root, KEYS.get("ec256-doctor-cli-leaf"), not_after=NOW + 5 * DAY)
    (disk / "tls.crt").write_bytes(cert_pem(leaf.cert))
    (disk / "tls.key").write_bytes(key_bytes(leaf.key))
    token = "SWMTKN-1-" + sentinel.lower().replace("-", "") + "-" + "a" * 25
    monkeypatch.setenv("JOIN_TOKEN_VALUE", token)
    monkeypatch.setenv(
        "APP_SIGNING", f"-----BEGIN PRIVATE KEY-----\n{sentinel}\n-----END PRIVATE KEY-----"
    )
    monkeypatch.setenv("DB_PASSWORD", sentinel)
    monkeypatch.setenv("DB_PASSWORD_FILE", str(disk / "db_password"))
    monkeypatch.setenv("API_KEY_FILE", sentinel)
    monkeypatch.setenv("REDIS_URL", f"redis://:{sentinel}@cache:6379/0")
    proc = _proc(tmp_path / "proc", [])
    args = ["doctor", "--dir", str(disk), "--proc-root", str(proc)]
    assert main(args) == EXIT_INVALID
    text = capsys.readouterr()
    assert main([*args, "--json"]) == EXIT_INVALID
    out = capsys.readouterr()
    findings = json.loads(out.out)["findings"]
    pairs = {(f["code"], os.path.basename(f["subject"])) for f in findings}
    assert pairs == {
        ("secret_in_environment", "JOIN_TOKEN_VALUE"),
        ("secret_in_environment", "APP_SIGNING"),
        ("secret_in_environment", "REDIS_URL"),
        ("conflict", "DB_PASSWORD"),
        ("file_variable_not_a_path", "API_KEY_FILE"),
        ("not_memory_backed", "disk"),
        ("insecure_permissions", "lax"),
        ("certificate_expiring", "tls.crt"),
    }
    severities = [f["severity"] for f in findings]
    assert severities == sorted(severities)  # "error" before "warning"
    assert all(set(f) == {"code", "severity", "subject", "message"} for f in findings)
    assert len(text.out.splitlines()) == len(findings)
    assert not leaked(sentinel, text.out, text.err, out.out, out.err)
    assert not leaked(token, text.out, out.out)


def test_lines_stay_lines() -> None:
    """A subject holding a newline (a path may) is escaped, so each finding is one line."""
    line = format_finding(Finding("dangling_link", "/run/secrets/a\nb", "m"))
    assert line == "warning: dangling_link: /run/secrets/a\\x0ab: m"


def test_exit_codes_follow_the_worst_severity() -> None:
    """0 for nothing, 1 for warnings only, 3 once any error is there."""
    warning = Finding("empty_secret", "x", "m")
    error = Finding("unreadable", "x", "m")
    assert [exit_code([]), exit_code([warning]), exit_code([warning, error])] == [0, 1, 3]


def test_a_family_that_fails_is_reported_and_the_others_run(tmp_path: Path) -> None:
    """An unexpected exception in one family becomes ``not_checked`` (by type only, never its
    message) after what it found; the next family still runs."""

    def broken(context: Context) -> object:
        yield Finding("empty_secret", "first", "found before the failure")
        raise RuntimeError("a message that could quote a value")

    def fine(context: Context) -> object:
        yield Finding("dangling_link", "second", "m")

    context = Context(dirs=[str(tmp_path)], environ={})
    findings = run_families(context, [("broken", broken), ("fine", fine)])  # type: ignore[list-item]
    assert [(f.code, f.subject) for f in findings] == [
        ("empty_secret", "first"),
        ("not_checked", "broken"),
        ("dangling_link", "second"),
    ]
    assert "RuntimeError" in findings[1].message
    assert "could quote" not in findings[1].message


def test_the_parser_and_import_runsecrets_stay_light() -> None:
    """Building the parser (every command does) loads neither the doctor nor cryptography;
    ``import runsecrets`` does not load the doctor."""
    code = (
        "import sys, runsecrets\n"
        "from runsecrets.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('runsecrets.doctor', 'cryptography'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
