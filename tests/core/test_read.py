"""The reading rules: what a secret file may be, and how its bytes become a value."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from runsecrets import (
    InsecurePermissionsWarning,
    InvalidSecretNameError,
    SecretDecodeError,
    SecretNotFoundError,
    SecretReadError,
    Secrets,
    SecretTooLargeError,
)

from .._privileges import run_without_dac_override
from ..conftest import leaked


def _secrets(directory: Path, **kwargs: object) -> Secrets:
    return Secrets(directory, environ={}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        pytest.param(b"hunter2", "hunter2", id="plain"),
        pytest.param(b"hunter2\n", "hunter2", id="trailing-newline"),
        pytest.param(b"hunter2\n\n\n", "hunter2", id="all-trailing-newlines"),
        pytest.param(b"hunter2\r\n", "hunter2", id="crlf"),
        pytest.param(b"  spaced  \n", "  spaced  ", id="spaces-kept"),
        pytest.param(b"\nleading", "\nleading", id="leading-newline-kept"),
        pytest.param(b"line1\nline2\n", "line1\nline2", id="inner-newline-kept"),
        pytest.param(b"\xef\xbb\xbfbom\n", "bom", id="bom-dropped"),
        pytest.param("pässwörd\n".encode(), "pässwörd", id="utf8"),
        pytest.param(b"", "", id="empty"),
    ],
)
def test_text_decoding_rules(tmp_path: Path, raw: bytes, text: str) -> None:
    """Text is strict UTF-8, BOM dropped, trailing line endings stripped as ``$(< file)`` does."""
    (tmp_path / "s").write_bytes(raw)
    assert _secrets(tmp_path).get("s") == text


def test_bytes_are_returned_raw(tmp_path: Path) -> None:
    """``get_bytes`` strips nothing and decodes nothing."""
    raw = b"\xef\xbb\xbf\x00\xff binary \r\n\n"
    (tmp_path / "s").write_bytes(raw)
    assert _secrets(tmp_path).get_bytes("s") == raw


def test_strip_false_keeps_line_endings(tmp_path: Path) -> None:
    """``strip=False`` keeps a PEM's final newline, for instance."""
    (tmp_path / "s").write_bytes(b"v\n")
    assert _secrets(tmp_path, strip=False).get("s") == "v\n"


def test_invalid_utf8_is_a_clear_error_without_the_bytes(tmp_path: Path, sentinel: str) -> None:
    """Undecodable text names the file and the offset, never the bytes around it."""
    (tmp_path / "s").write_bytes(sentinel.encode() + b"\xff\xfe")
    with pytest.raises(SecretDecodeError) as info:
        _secrets(tmp_path).get("s")
    error = info.value
    assert error.offset == len(sentinel)
    assert error.reason == "not_utf8"
    assert error.__cause__ is None
    assert error.__context__ is None  # the UnicodeDecodeError (holding the bytes) is not chained
    assert str(tmp_path / "s") in str(error)
    assert not leaked(sentinel, str(error), repr(error), "\\xff")
    assert "xff" not in str(error)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../etc/passwd", "a/b", ".hidden", "a\\b", "a\x00b", "a b", "x" * 256, "é"],
)
def test_bad_names_are_rejected_before_any_disk_access(tmp_path: Path, name: str) -> None:
    """A name that is not one safe path component never reaches the file system."""
    with pytest.raises(InvalidSecretNameError) as info:
        _secrets(tmp_path / "does-not-exist").get(name)
    assert isinstance(info.value, ValueError)


def test_non_string_name_is_rejected() -> None:
    """A bytes or None name is a typed error, not a TypeError from deep inside."""
    with pytest.raises(InvalidSecretNameError, match="must be a string"):
        Secrets([], environ={}).get(b"x")  # type: ignore[arg-type]


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO where a secret should be raises at once; opening it would wait for a writer."""
    os.mkfifo(tmp_path / "s")
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            _secrets(tmp_path).get("s")
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            outcome.append(e)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], SecretReadError)
    assert outcome[0].reason == "not_regular_file"
    assert "FIFO" in str(outcome[0])


def test_fifo_named_by_file_variable_is_refused(tmp_path: Path) -> None:
    """A ``_FILE`` variable pointing at a FIFO is refused the same way."""
    os.mkfifo(tmp_path / "pipe")
    env = {"TOKEN_FILE": str(tmp_path / "pipe")}
    with pytest.raises(SecretReadError, match="FIFO") as info:
        Secrets([], environ=env).get("token")
    assert info.value.variable == "TOKEN_FILE"


def test_directory_in_place_of_a_secret_is_refused(tmp_path: Path) -> None:
    """A sub-directory asked for by name is an error; it is not a secret."""
    (tmp_path / "s").mkdir()
    with pytest.raises(SecretReadError, match="is a directory") as info:
        _secrets(tmp_path).get("s")
    assert info.value.path == str(tmp_path / "s")


def test_device_is_refused(tmp_path: Path) -> None:
    """A character device (here a link to /dev/null, allowed out) is not a regular file."""
    (tmp_path / "s").symlink_to("/dev/null")
    with pytest.raises(SecretReadError, match="device"):
        _secrets(tmp_path, allow_external_links=True).get("s")


def test_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    """A link to a file outside the secrets directory (think /etc/shadow) is not followed."""
    outside = tmp_path / "outside"
    outside.write_text("not a secret of ours")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "s").symlink_to(outside)
    with pytest.raises(SecretReadError, match="leads outside") as info:
        _secrets(secrets_dir).get("s")
    assert info.value.reason == "outside_directory"
    assert _secrets(secrets_dir, allow_external_links=True).get("s") == "not a secret of ours"


def test_symlink_to_etc_is_refused(tmp_path: Path) -> None:
    """The classic escape, a link to a system file, is refused with the path named."""
    (tmp_path / "s").symlink_to("/etc/passwd")
    with pytest.raises(SecretReadError, match="outside its secrets directory"):
        _secrets(tmp_path).get("s")


def _kubernetes_volume(root: Path, files: dict[str, str]) -> None:
    """Lay out a volume exactly as the kubelet's atomic writer does."""
    stamp = root / "..2026_11_22_10_00_00.000000001"
    stamp.mkdir(parents=True)
    for name, value in files.items():
        (stamp / name).write_text(value)
    (root / "..data").symlink_to(stamp.name)
    for name in files:
        (root / name).symlink_to(f"..data/{name}")
    sa = root / "kubernetes.io" / "serviceaccount"
    sa.mkdir(parents=True)
    (sa / "token").write_text("platform token")


def test_kubernetes_layout_reads_through_data_links(tmp_path: Path) -> None:
    """``key -> ..data/key -> ..<timestamp>/key`` stays inside the volume and is followed."""
    _kubernetes_volume(tmp_path, {"username": "admin", "password": "pw"})
    secrets = _secrets(tmp_path)
    assert secrets.get("password") == "pw"
    assert list(secrets) == ["password", "username"]


def test_kubernetes_service_account_directory_is_skipped_quietly(tmp_path: Path) -> None:
    """``kubernetes.io/serviceaccount`` and the dot-entries are not listed and warn nothing."""
    _kubernetes_volume(tmp_path, {"password": "pw"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _secrets(tmp_path).names() == ["password"]


def test_dangling_symlink_counts_as_missing(tmp_path: Path) -> None:
    """Between the steps of a swap a key may dangle: that is "not here", not a crash."""
    (tmp_path / "s").symlink_to("..data/s")
    with pytest.raises(SecretNotFoundError):
        _secrets(tmp_path).get("s")


def test_listing_skips_debris_and_invalid_names(tmp_path: Path) -> None:
    """Writers' temp files, backups and names we could never look up are not secrets."""
    for name in ("ok", "x.tmp", "y.bak", "z~", ".hidden", "with space"):
        (tmp_path / name).write_text("v")
    (tmp_path / "sub").mkdir()
    assert _secrets(tmp_path).names() == ["ok"]


def test_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    """A file over the cap raises with its size and the limit; the default cap is 500 KiB."""
    (tmp_path / "big").write_bytes(b"x" * (500 * 1024 + 1))
    (tmp_path / "max").write_bytes(b"x" * (500 * 1024))
    with pytest.raises(SecretTooLargeError) as info:
        _secrets(tmp_path).get_bytes("big")
    assert (info.value.size, info.value.limit) == (500 * 1024 + 1, 500 * 1024)
    assert len(_secrets(tmp_path).get_bytes("max")) == 500 * 1024
    with pytest.raises(SecretTooLargeError):
        _secrets(tmp_path, max_size=10).get_bytes("max")


def test_file_variable_pointing_nowhere_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    """The operator asked for that file: its absence raises, even with a directory match."""
    (tmp_path / "token").write_text("from-dir")
    env = {"TOKEN_FILE": str(tmp_path / "missing")}
    with pytest.raises(SecretReadError, match="named by TOKEN_FILE") as info:
        Secrets(tmp_path, environ=env).get("token", "default")
    assert info.value.reason == "not_found"


def test_file_variable_may_point_anywhere(tmp_path: Path) -> None:
    """A ``_FILE`` path is explicit: no containment rule applies to it."""
    target = tmp_path / "elsewhere" / "deep" / "token"
    target.parent.mkdir(parents=True)
    target.write_text("v")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert Secrets([], environ={"TOKEN_FILE": str(link)}).get("token") == "v"


def test_group_writable_file_warns_once(tmp_path: Path) -> None:
    """A file others can rewrite is worth one warning per resolver, not one per read; what a
    resolver remembers is its own (no state shared between instances)."""
    path = tmp_path / "s"
    path.write_text("v")
    path.chmod(0o664)
    secrets = _secrets(tmp_path)
    with pytest.warns(InsecurePermissionsWarning, match="writable by its group"):
        secrets.get("s")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        secrets.get("s")
    with pytest.warns(InsecurePermissionsWarning, match="writable by its group"):
        _secrets(tmp_path).get("s")


def test_warned_files_memory_is_bounded() -> None:
    """The memory of warned files forgets the oldest past its limit instead of growing."""
    from runsecrets._warn import WarnedFiles

    warned = WarnedFiles(limit=3)
    assert [warned.first_time((1, n)) for n in range(5)] == [True] * 5
    assert len(warned) == 3
    assert not warned.first_time((1, 4))
    assert warned.first_time((1, 0))  # forgotten: warned again


def _run_without_dac_override(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a process that file permissions apply to."""
    return run_without_dac_override([sys.executable, "-c", code])


def test_unreadable_file_names_path_mode_and_uid(tmp_path: Path, sentinel: str) -> None:
    """Permission denied says which file, its mode and owner, and who we are; never the value."""
    path = tmp_path / "s"
    path.write_text(sentinel)
    path.chmod(0o000)
    code = (
        "import runsecrets, sys\n"
        f"try: runsecrets.get('s', dirs=[{str(tmp_path)!r}])\n"
        "except runsecrets.SecretReadError as e: print(e.reason, '|', e)\n"
    )
    result = _run_without_dac_override(code)
    assert result.returncode == 0, result.stderr
    reason, message = result.stdout.split(" | ", 1)
    assert reason == "permission_denied"
    assert str(path) in message
    assert "mode 0000" in message
    assert "this process runs as uid" in message
    assert not leaked(sentinel, result.stdout, result.stderr)


def test_errors_never_contain_the_value(tmp_path: Path, sentinel: str) -> None:
    """Every error kind, its repr and its structured attributes are free of the value."""
    (tmp_path / "big").write_text(sentinel * 10)
    (tmp_path / "bad").write_bytes(sentinel.encode() + b"\xff")
    env = {"TOKEN": sentinel, "TOKEN_FILE": str(tmp_path / "big")}
    errors: list[Exception] = []
    for secrets, name in (
        (_secrets(tmp_path, max_size=20), "big"),
        (_secrets(tmp_path), "bad"),
        (Secrets(tmp_path, environ=env), "token"),
        (_secrets(tmp_path), "missing"),
    ):
        with pytest.raises(Exception) as info:  # noqa: PT011 - any error kind, checked below
            secrets.get(name)
        errors.append(info.value)
    for error in errors:
        assert not leaked(sentinel, str(error), repr(error), vars(error))


def _escaping_link(tmp_path: Path) -> tuple[Path, Path]:
    """A secrets directory whose entry ``s`` links to a readable file outside it."""
    outside = tmp_path / "outside"
    outside.write_text("not a secret of ours")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "s").symlink_to(outside)
    return secrets_dir, outside


def test_containment_is_checked_on_the_opened_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With /proc, a link's target is judged by what the descriptor opened, not by a second
    walk of the path that a swap could fool: even a path walk made to lie (the link "resolving"
    inside) does not get an escaping link through. A Kubernetes link is still followed."""
    from runsecrets import _read

    if _read._PROC_FD is None or not os.path.isdir(_read._PROC_FD):
        pytest.skip("no /proc/self/fd here")
    secrets_dir, outside = _escaping_link(tmp_path)
    fd = os.open(secrets_dir / "s", os.O_RDONLY)
    try:
        assert _read.opened_path(fd) == str(outside.resolve())
    finally:
        os.close(fd)
    link = str(secrets_dir / "s")
    real_realpath = os.path.realpath

    def fooled(path: str) -> str:
        return path if os.fspath(path) == link else real_realpath(path)

    monkeypatch.setattr(_read.os.path, "realpath", fooled)
    with pytest.raises(SecretReadError, match="leads outside") as info:
        _read.read_file(link, name="s", contain_in=(str(secrets_dir),))
    assert info.value.reason == "outside_directory"
    monkeypatch.undo()
    _kubernetes_volume(tmp_path / "k8s", {"password": "pw"})
    found = _read.read_file(
        str(tmp_path / "k8s" / "password"), name="password", contain_in=(str(tmp_path / "k8s"),)
    )
    assert found is not None
    assert found[0] == b"pw"


def test_containment_falls_back_to_the_path_without_proc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where /proc is missing the link is resolved by path instead: the same verdicts."""
    from runsecrets import _read

    monkeypatch.setattr(_read, "_PROC_FD", None)
    secrets_dir, _ = _escaping_link(tmp_path)
    assert _read.opened_path(0) is None
    with pytest.raises(SecretReadError, match="leads outside") as info:
        _secrets(secrets_dir).get("s")
    assert info.value.reason == "outside_directory"
    _kubernetes_volume(tmp_path / "k8s", {"password": "pw"})
    assert _secrets(tmp_path / "k8s").get("password") == "pw"


def test_an_entry_replaced_by_an_escaping_link_after_the_scan_is_refused(tmp_path: Path) -> None:
    """The scan saw a regular file; by the open it is a link out of the directory. The opened
    file is not the one stated, so containment is checked anyway and refuses it."""
    from runsecrets._read import read_file

    secrets_dir, outside = _escaping_link(tmp_path)
    (secrets_dir / "s").unlink()
    (secrets_dir / "s").write_text("ours")
    seen = os.stat(secrets_dir / "s")
    (secrets_dir / "s").unlink()
    (secrets_dir / "s").symlink_to(outside)
    with pytest.raises(SecretReadError, match="leads outside") as info:
        read_file(
            str(secrets_dir / "s"),
            name="s",
            contain_in=(str(secrets_dir),),
            seen=seen,
            is_link=False,
        )
    assert info.value.reason == "outside_directory"


def test_an_unlistable_directory_is_a_permission_error_naming_it(tmp_path: Path) -> None:
    """Listing a directory the process may not read raises ``SecretReadError``
    (``permission_denied``, the directory named), not a bare ``PermissionError``."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "s").write_text("v")
    secrets_dir.chmod(0o311)  # searchable, not readable
    code = (
        "import runsecrets\n"
        f"s = runsecrets.Secrets([{str(secrets_dir)!r}], environ={{}})\n"
        "try: s.names()\n"
        "except runsecrets.SecretReadError as e: print(e.reason, '|', e.path, '|', e)\n"
    )
    try:
        result = _run_without_dac_override(code)
    finally:
        secrets_dir.chmod(0o755)
    assert result.returncode == 0, result.stderr
    reason, path, message = result.stdout.strip().split(" | ", 2)
    assert (reason, path) == ("permission_denied", str(secrets_dir))
    assert str(secrets_dir) in message
    assert "permission denied" in message


def test_a_warning_points_at_the_application_line(tmp_path: Path) -> None:
    """Whichever public entry point reads the file, the warning is attributed to the caller's
    line (not to a line inside runsecrets), so ``filterwarnings(module=...)`` with the
    application's module applies and the display shows the user's code."""
    import runsecrets

    secret = tmp_path / "db_password"
    secret.write_text("x")
    secret.chmod(0o664)
    with pytest.warns(InsecurePermissionsWarning) as caught:
        runsecrets.get("db_password", dirs=[tmp_path])
    assert caught[0].filename == __file__
    with pytest.warns(InsecurePermissionsWarning) as caught:
        runsecrets.SecretStore(tmp_path, environ={}).close()
    assert caught[0].filename == __file__


@pytest.mark.parametrize("target", ["fifo", "nothing", "named-deleted"])
def test_a_link_out_of_the_directory_is_refused_as_outside(tmp_path: Path, target: str) -> None:
    """A link out of the directory is refused as ``outside_directory`` whatever it leads to:
    to a FIFO (the more telling reason, and before any open that could block), to nothing (a
    link out, not a missing file), or to a sibling file merely *named* "<secrets dir>
    (deleted)" (``/proc/self/fd`` marks unlinked files so; this one is not inside)."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    outside = {
        "fifo": tmp_path / "pipe",
        "nothing": tmp_path / "nothing-here",
        "named-deleted": tmp_path / "secrets (deleted)",
    }[target]
    if target == "fifo":
        os.mkfifo(outside)
    elif target == "named-deleted":
        outside.write_text("from outside")
    (secrets_dir / "s").symlink_to(outside)
    with pytest.raises(SecretReadError) as info:
        _secrets(secrets_dir).get("s")
    assert info.value.reason == "outside_directory"
