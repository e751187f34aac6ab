"""The lookup order, as a table: ``_FILE`` variable, variable, directories, default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import runsecrets
from runsecrets import SecretConflictError, SecretNotFoundError, Secrets
from runsecrets._platform import WINDOWS_SECRETS_DIR, resolve_dirs

# Each row: environment (with {d1}, {d2}, {ext} standing for directories), files to create
# (relative to tmp_path), the expected value (or an exception type), and the expected source kind.
ORDER_TABLE = [
    pytest.param({}, {"d1/db_password": "from-dir"}, "from-dir", "directory", id="directory-only"),
    pytest.param({"DB_PASSWORD": "from-env"}, {}, "from-env", "environment", id="env-only"),
    pytest.param(
        {"DB_PASSWORD_FILE": "{ext}/pw"},
        {"ext/pw": "from-file-var"},
        "from-file-var",
        "file_variable",
        id="file-variable-only",
    ),
    pytest.param(
        {"DB_PASSWORD": "from-env"},
        {"d1/db_password": "from-dir"},
        "from-env",
        "environment",
        id="env-beats-directory",
    ),
    pytest.param(
        {"DB_PASSWORD_FILE": "{ext}/pw"},
        {"ext/pw": "from-file-var", "d1/db_password": "from-dir"},
        "from-file-var",
        "file_variable",
        id="file-variable-beats-directory",
    ),
    pytest.param(
        {"DB_PASSWORD": "", "DB_PASSWORD_FILE": "{ext}/pw"},
        {"ext/pw": "from-file-var"},
        "from-file-var",
        "file_variable",
        id="empty-variable-counts-as-unset",
    ),
    pytest.param(
        {"DB_PASSWORD": "from-env", "DB_PASSWORD_FILE": ""},
        {},
        "from-env",
        "environment",
        id="empty-file-variable-counts-as-unset",
    ),
    pytest.param(
        {"DB_PASSWORD": ""},
        {"d1/db_password": "from-dir"},
        "from-dir",
        "directory",
        id="empty-variable-falls-through-to-directory",
    ),
    pytest.param(
        {"DB_PASSWORD": "from-env", "DB_PASSWORD_FILE": "{ext}/pw"},
        {"ext/pw": "from-file-var"},
        SecretConflictError,
        None,
        id="both-set-is-a-conflict",
    ),
    pytest.param(
        {},
        {"d1/db_password": "first", "d2/db_password": "second"},
        "first",
        "directory",
        id="first-directory-wins",
    ),
    pytest.param(
        {}, {"d2/db_password": "second"}, "second", "directory", id="later-directory-is-searched"
    ),
    pytest.param({}, {}, SecretNotFoundError, None, id="nowhere-is-not-found"),
    pytest.param(
        {"db_password": "lowercase-variable-is-not-ours"},
        {},
        SecretNotFoundError,
        None,
        id="variable-names-are-upper-case",
    ),
]


def _materialise(tmp_path: Path, environ: dict[str, str], files: dict[str, str]) -> dict[str, str]:
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content + "\n")
    for name in ("d1", "d2", "ext"):
        (tmp_path / name).mkdir(exist_ok=True)
    places = {"d1": tmp_path / "d1", "d2": tmp_path / "d2", "ext": tmp_path / "ext"}
    return {key: value.format(**places) for key, value in environ.items()}


@pytest.mark.parametrize(("environ", "files", "expected", "kind"), ORDER_TABLE)
def test_lookup_order(
    tmp_path: Path,
    environ: dict[str, str],
    files: dict[str, str],
    expected: str | type[Exception],
    kind: str | None,
) -> None:
    """Each row of the table resolves to the documented source, or raises the documented error."""
    env = _materialise(tmp_path, environ, files)
    secrets = Secrets([tmp_path / "d1", tmp_path / "d2"], environ=env)
    if isinstance(expected, type):
        with pytest.raises(expected):
            secrets.get("db_password")
        return
    assert secrets.get("db_password") == expected
    assert secrets.explain("db_password").kind == kind


def test_conflict_error_names_both_variables_and_the_rule() -> None:
    """The conflict message says which two variables clash, like the official entrypoints."""
    env = {"DB_PASSWORD": "a", "DB_PASSWORD_FILE": "/x"}
    with pytest.raises(SecretConflictError) as info:
        Secrets([], environ=env).get("db_password")
    assert info.value.variable == "DB_PASSWORD"
    assert info.value.file_variable == "DB_PASSWORD_FILE"
    assert "both DB_PASSWORD and DB_PASSWORD_FILE are set (but are exclusive)" in str(info.value)


def test_prefix_applies_to_both_variables(tmp_path: Path) -> None:
    """``prefix="APP_"`` reads ``APP_DB_PASSWORD`` and ``APP_DB_PASSWORD_FILE``, not the bare ones."""
    (tmp_path / "pw").write_text("via-prefixed-file")
    env = {"DB_PASSWORD": "unprefixed", "APP_DB_PASSWORD_FILE": str(tmp_path / "pw")}
    secrets = Secrets([], environ=env, prefix="APP_")
    assert secrets.get("db_password") == "via-prefixed-file"
    assert secrets.explain("db_password").variable == "APP_DB_PASSWORD_FILE"


def test_dashes_and_dots_map_to_underscores_in_variable_names() -> None:
    """A Swarm-style name ``db-password.v2`` reads ``DB_PASSWORD_V2``."""
    assert Secrets([], environ={"DB_PASSWORD_V2": "x"}).get("db-password.v2") == "x"


def test_default_is_returned_only_when_missing(tmp_path: Path) -> None:
    """A default (even ``None``) answers for a missing secret; a present one wins over it."""
    (tmp_path / "present").write_text("value")
    secrets = Secrets(tmp_path, environ={})
    assert secrets.get("absent", None) is None
    assert secrets.get("absent", "fallback") == "fallback"
    assert secrets.get_bytes("absent", b"x") == b"x"
    assert secrets.get("present", "fallback") == "value"


def test_default_does_not_hide_a_conflict() -> None:
    """An operator error (both variables set) raises even when the caller gave a default."""
    with pytest.raises(SecretConflictError):
        Secrets([], environ={"A": "1", "A_FILE": "/x"}).get("a", "default")


def test_not_found_lists_every_place_looked(tmp_path: Path) -> None:
    """The error names the variables and each directory path, and says a directory is missing."""
    missing_dir = tmp_path / "nope"
    with pytest.raises(SecretNotFoundError) as info:
        Secrets([tmp_path, missing_dir], environ={}).get("api_key")
    error = info.value
    assert isinstance(error, LookupError)
    assert error.name == "api_key"
    assert error.searched == (
        "environment variable API_KEY_FILE (unset)",
        "environment variable API_KEY (unset)",
        str(tmp_path / "api_key"),
        f"{missing_dir / 'api_key'} ({missing_dir} does not exist)",
    )
    assert str(tmp_path / "api_key") in str(error)


def test_directories_from_runsecrets_dir_variable(tmp_path: Path) -> None:
    """Without ``dirs``, ``RUNSECRETS_DIR`` (an ``os.pathsep`` list) chooses the directories."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "token").write_text("t")
    env = {"RUNSECRETS_DIR": os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")])}
    secrets = Secrets(environ=env)
    assert secrets.dirs == (str(tmp_path / "a"), str(tmp_path / "b"))
    assert secrets.get("token") == "t"


def test_argument_beats_runsecrets_dir(tmp_path: Path) -> None:
    """An explicit ``dirs`` argument wins over the environment."""
    secrets = Secrets(tmp_path, environ={"RUNSECRETS_DIR": "/elsewhere"})
    assert secrets.dirs == (str(tmp_path),)


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("linux", ("/run/secrets",)),
        ("darwin", ("/run/secrets",)),
        ("win32", (WINDOWS_SECRETS_DIR,)),
    ],
)
def test_platform_default_directory(platform: str, expected: tuple[str, ...]) -> None:
    """With no argument and no variable, the platform's container secrets directory is used.

    Windows cannot run here, so the platform is passed in; the function is pure.
    """
    assert resolve_dirs(None, {}, platform) == expected


def test_windows_runsecrets_dir_splits_on_semicolons() -> None:
    """On Windows the list separator is ``;`` (drive letters contain ``:``)."""
    assert resolve_dirs(None, {"RUNSECRETS_DIR": r"C:\a;D:\b"}, "win32") == (r"C:\a", r"D:\b")


def test_case_insensitive_file_lookup_is_an_option(tmp_path: Path) -> None:
    """``case_sensitive=False`` finds ``DB_Password`` for ``db_password``; the default does not."""
    (tmp_path / "DB_Password").write_text("v")
    assert Secrets(tmp_path, environ={}).get("db_password", None) is None
    assert Secrets(tmp_path, environ={}, case_sensitive=False).get("db_password") == "v"


@pytest.mark.parametrize(
    ("on_disk", "asked"),
    [("\u212aey", "key"), ("pa\u017f\u017fword", "password"), ("\u212aEY", "KEY")],
    ids=["kelvin-sign", "long-s", "kelvin-upper"],
)
def test_case_insensitive_lookup_never_matches_a_name_the_rule_rejects(
    tmp_path: Path, on_disk: str, asked: str
) -> None:
    """``case_sensitive=False`` compares ASCII case only (finding 14 of the hardening issue):
    a file named with the Kelvin sign (U+212A) or long s (U+017F), which Unicode case folding
    equates with ``k`` and ``s`` but no secret name may hold, never answers for ``key`` or
    ``password``, neither in the resolver nor in the pydantic source."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    from runsecrets.pydantic import RunSecretsSettingsSource

    (tmp_path / on_disk).write_text("from the lookalike")
    assert Secrets(tmp_path, environ={}, case_sensitive=False).get(asked, None) is None

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(case_sensitive=False)
        key: str = "default"
        password: str = "default"

    field = asked.lower()
    env = {f"{on_disk}_FILE": str(tmp_path / on_disk)}
    source = RunSecretsSettingsSource(Settings, tmp_path, environ=env)
    assert field not in source()


def test_sources_order_is_configurable(tmp_path: Path) -> None:
    """Putting the directory first makes a file win over a variable."""
    (tmp_path / "token").write_text("file")
    env = {"TOKEN": "env"}
    secrets = Secrets(tmp_path, environ=env, sources=("directory", "environment"))
    assert secrets.get("token") == "file"


def test_unknown_source_kind_is_rejected() -> None:
    """A typo in ``sources`` fails at construction, not silently at lookup."""
    with pytest.raises(ValueError, match="unknown source kinds"):
        Secrets([], environ={}, sources=("directory", "vault"))


def test_environment_is_read_at_each_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no ``environ`` argument the live ``os.environ`` is read per call (no import-time read)."""
    secrets = Secrets(tmp_path)
    monkeypatch.setenv("LATE_TOKEN", "set-later")
    assert secrets.get("late_token") == "set-later"


def test_module_functions_use_the_same_rules(tmp_path: Path) -> None:
    """``runsecrets.get`` and ``get_bytes`` resolve exactly as a ``Secrets`` does."""
    (tmp_path / "api_key").write_bytes(b"k\r\n")
    assert runsecrets.get("api_key", dirs=[tmp_path]) == "k"
    assert runsecrets.get_bytes("api_key", dirs=[tmp_path]) == b"k\r\n"
    assert runsecrets.get("absent", "d", dirs=[tmp_path]) == "d"


def test_iteration_lists_what_the_directories_hold(tmp_path: Path) -> None:
    """Iteration yields each secret once, first directory winning, sorted; ``in`` resolves."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("1")
    (tmp_path / "b" / "x").write_text("2")
    (tmp_path / "b" / "y").write_text("3")
    secrets = Secrets([tmp_path / "a", tmp_path / "b"], environ={})
    assert list(secrets) == ["x", "y"]
    assert "y" in secrets
    assert "z" not in secrets
    assert repr(secrets) == f"Secrets(dirs={[str(tmp_path / 'a'), str(tmp_path / 'b')]!r})"


def test_environment_value_as_bytes_round_trips() -> None:
    """``get_bytes`` of a variable gives its file-system encoding, nothing stripped."""
    assert Secrets([], environ={"TOKEN": "é \n"}).get_bytes("token") == "é \n".encode()


def test_windows_trusts_its_internal_secrets_directory() -> None:
    """On Windows, links into Docker's internal secrets directory are the platform's own.

    Windows cannot run here, so the platform is passed in; the function is pure.
    """
    from runsecrets._platform import WINDOWS_INTERNAL_SECRETS_DIR, trusted_link_roots

    assert trusted_link_roots("win32") == (WINDOWS_INTERNAL_SECRETS_DIR,)
    assert trusted_link_roots("linux") == ()


@pytest.mark.parametrize("kind", ["directory", "too-large"])
def test_a_bad_file_variable_target_is_named_with_its_variable(tmp_path: Path, kind: str) -> None:
    """A ``_FILE`` target that is a directory or too large: the error names the variable that
    pointed there as well as the path, so the user knows which setting to fix."""
    from runsecrets import SecretReadError

    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_bytes(b"x" * 64)
    secrets = Secrets([], environ={"DB_PASSWORD_FILE": str(target)}, max_size=16)
    with pytest.raises(SecretReadError) as caught:
        secrets.get("db_password")
    assert f"{target} (named by DB_PASSWORD_FILE)" in str(caught.value)


def test_reading_rules_are_one_frozen_value_handed_on_whole(tmp_path: Path) -> None:
    """``Secrets.rules`` holds every reading option; another resolver (or a store) made from
    it reads the same way; it is immutable, its repr never shows the environment's values,
    and giving it with separate options is refused rather than half applied."""
    from runsecrets import SecretStore
    from runsecrets._rules import ReadingRules

    (tmp_path / "Token").write_text("t\n")
    env = {"SECRET_VALUE": "hunter2"}
    first = Secrets(tmp_path, environ=env, case_sensitive=False, strip=False, prefix="APP_")
    again = Secrets(rules=first.rules)
    assert again.rules == first.rules
    assert again.get("token") == "t\n"
    store = SecretStore(names=["token"], rules=first.rules)
    assert store.get("token") == "t\n"
    assert store.rules == first.rules
    with pytest.raises(AttributeError):
        first.rules.prefix = "OTHER_"  # type: ignore[misc]
    assert "hunter2" not in repr(first.rules)
    assert first.rules.replace(prefix="X_").prefix == "X_"
    with pytest.raises(ValueError, match="not both"):
        Secrets(rules=first.rules, prefix="APP_")
    assert isinstance(first.rules, ReadingRules)
