"""Raised and kept errors hold no value anywhere an error reporter looks (findings 4 and 5 of
the hardening issue).

Each test plants the sentinel where the failing code reads it and walks the error as Sentry
would (``where_held``: text, arguments, attributes, ``__cause__`` and ``__context__``, every
frame's local variables), and hands what it keeps to the suite's own check (``expose``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from runsecrets import (
    InvalidTLSMaterialError,
    RunSecretsError,
    SecretDecodeError,
    Secrets,
    SecretStore,
    get,
)
from runsecrets.pydantic import SecretsSettings, live
from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext, load

from .._pki import KEYS, Issued, cert_pem, key_bytes, make_ca, make_leaf
from .._pydantic_models import plain_model
from ..conftest import where_held

Expose = Callable[..., None]


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA."""
    return make_ca(KEYS.get("ec256-nothing-held-root"), "Nothing Held Root")


def _latin1(sentinel: str) -> bytes:
    return sentinel.encode() + "é".encode("latin-1")


# --- finding 4: the core read path --------------------------------------------------------------


def test_a_decode_error_from_get_holds_no_byte_of_the_value(
    tmp_path: Path, sentinel: str, expose: Expose
) -> None:
    """``get()`` on a Latin-1 file: the ``SecretDecodeError`` chains no ``UnicodeDecodeError``
    (whose ``.object`` is the value) and no frame of its traceback holds the bytes, through
    the module function and the resolver alike."""
    (tmp_path / "s").write_bytes(_latin1(sentinel))
    for read in (lambda: get("s", dirs=tmp_path), lambda: Secrets(tmp_path).secret("s")):
        with pytest.raises(SecretDecodeError) as caught:
            read()
        assert caught.value.__context__ is None
        assert caught.value.__traceback__ is not None  # lines are kept, locals are not
        assert where_held(sentinel, caught.value) == []
        expose(caught.value)


def test_errors_a_store_keeps_hold_no_value(tmp_path: Path, sentinel: str, expose: Expose) -> None:
    """``snapshot.errors`` (a decode error, a read error) and what ``store.get`` raises from
    them carry neither frames with the value nor a chained error; ``status`` neither."""
    (tmp_path / "latin").write_bytes(_latin1(sentinel))
    (tmp_path / "large").write_text(sentinel * 10)
    store = SecretStore(tmp_path, environ={}, max_size=len(sentinel) * 5)
    errors = store.snapshot.errors
    assert set(errors) == {"latin", "large"}
    assert where_held(sentinel, errors) == []  # before get() raises them again
    for name in errors:
        with pytest.raises(RunSecretsError) as caught:
            store.get(name)
        assert where_held(sentinel, caught.value, errors[name]) == []
        expose(caught.value)
    assert where_held(sentinel, errors, store.status.as_dict()) == []
    expose(errors, store.status.as_dict())


# --- finding 4: TLS -------------------------------------------------------------------------


def _material(tmp_path: Path, root: Issued, passphrase: bytes, *, good_ca: bool) -> dict[str, Path]:
    leaf = make_leaf(root, KEYS.get("ec256-nothing-held"))
    paths = {part: tmp_path / f"{part}.pem" for part in ("cert", "key", "ca", "password")}
    paths["cert"].write_bytes(cert_pem(leaf.cert))
    paths["key"].write_bytes(key_bytes(leaf.key, password=passphrase))
    ca = cert_pem(root.cert)
    paths["ca"].write_bytes(ca if good_ca else ca[: len(ca) // 2])  # a truncated certificate
    return paths


@pytest.mark.parametrize("case", ["wrong-passphrase", "truncated-ca"])
def test_tls_errors_hold_neither_the_passphrase_nor_the_key(
    tmp_path: Path, root: Issued, sentinel: str, expose: Expose, case: str
) -> None:
    """``tls.load`` with a wrong passphrase, or with the right one and a truncated CA (the key
    is decrypted by then): the passphrase (the sentinel) is in no frame of the error, nor is
    the key's PEM text; the same for a ``RotatingServerContext`` refusing at start-up."""
    right = sentinel.encode() if case == "truncated-ca" else b"another passphrase"
    paths = _material(tmp_path, root, right, good_ca=case == "wrong-passphrase")
    paths["password"].write_bytes(sentinel.encode() + b"\n")
    key_text = paths["key"].read_bytes().split(b"\n")[1].decode()
    for make in (load, lambda *a, **k: RotatingServerContext(*a, watch=False, **k)):
        with pytest.raises(InvalidTLSMaterialError) as caught:
            make(paths["cert"], paths["key"], paths["ca"], password=paths["password"])
        assert caught.value.reason == "parse_error"
        assert where_held(sentinel, caught.value) == []
        assert where_held(key_text, caught.value) == []
        expose(caught.value)


def test_a_rotating_context_keeps_no_value_in_its_last_error(
    tmp_path: Path, root: Issued, sentinel: str, expose: Expose
) -> None:
    """A rotation refused for a wrong passphrase: ``last_error`` (kept for health checks) holds
    no frame with the passphrase or the raw parts, whichever path refused it: the store's
    validator, or :meth:`reload` of a context that reads the files itself."""
    leaf = make_leaf(root, KEYS.get("ec256-nothing-held"))
    write_rename(tmp_path / "tls.crt", cert_pem(leaf.cert))
    write_rename(tmp_path / "tls.key", key_bytes(leaf.key, password=sentinel.encode()))
    write_rename(tmp_path / "pass", sentinel)
    secrets = Secrets(tmp_path, environ={})
    with (
        SecretStore(tmp_path, environ={}) as store,
        RotatingServerContext("tls.crt", "tls.key", password="pass", store=store) as gated,
        RotatingServerContext(
            "tls.crt", "tls.key", password="pass", secrets=secrets, watch=False
        ) as reading,
    ):
        write_rename(tmp_path / "pass", sentinel + "-wrong")
        store.reload()
        assert gated.refusals >= 1  # the watcher may have refused it first
        with pytest.raises(InvalidTLSMaterialError) as caught:
            reading.reload()
        assert reading.last_error is caught.value
        assert where_held(sentinel, gated.last_error, caught.value) == []
        expose(gated.last_error, caught.value)


# --- findings 4 and 5: pydantic -----------------------------------------------------------------


def _renderings(error: ValidationError) -> list[object]:
    return [error, str(error), repr(error), error.errors(), error.json()]


def test_a_settings_error_carries_no_input_in_any_rendering(
    tmp_path: Path, sentinel: str, expose: Expose
) -> None:
    """``SecretsSettings()`` refusing a secret (a port that is not a number, a dictionary
    whose keys and values come from the file): no input in ``errors()``, ``json()``, ``str()``,
    ``repr()``, nor in a frame of the call (finding 5); locations name fields, a key read from
    the file shows as ``[hidden]``."""
    (tmp_path / "port").write_text(sentinel)
    (tmp_path / "limits").write_text(json.dumps({sentinel: "many"}))

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        port: int
        limits: dict[str, int] = {}  # noqa: RUF012 - pydantic copies field defaults
        token: SecretStr = SecretStr("x")

    with pytest.raises(ValidationError) as caught:
        Settings()
    error = caught.value
    assert [(e["loc"], e["type"]) for e in error.errors()] == [
        (("port",), "int_parsing"),
        (("limits", "[hidden]"), "int_parsing"),
    ]
    assert where_held(sentinel, *_renderings(error)) == []
    expose(error)


@pytest.mark.parametrize("calls", [1, 2])
def test_a_plain_model_with_our_source_raises_no_input_from_its_first_call(
    tmp_path: Path, sentinel: str, expose: Expose, calls: int
) -> None:
    """A plain ``BaseSettings`` that installs ``RunSecretsSettingsSource``: from its very first
    instantiation (the one during which the source is built), its ``ValidationError`` carries
    no input in any rendering (finding 5)."""
    (tmp_path / "port").write_text(sentinel)
    model = plain_model(tmp_path)
    for _ in range(calls):
        with pytest.raises(ValidationError) as caught:
            model()
        assert where_held(sentinel, *_renderings(caught.value)) == []
        expose(caught.value)


def test_live_first_error_chains_nothing(tmp_path: Path, sentinel: str, expose: Expose) -> None:
    """``live()``'s cleaned error no longer chains the original ``ValidationError`` (with its
    input) through ``__context__``, and no frame holds the value (finding 4)."""
    (tmp_path / "port").write_text(sentinel)
    for model in (plain_model(tmp_path, ours=False), plain_model(tmp_path)):
        with pytest.raises(ValidationError) as caught:
            live(model, watch=False)
        assert caught.value.__context__ is None
        assert where_held(sentinel, *_renderings(caught.value)) == []
        expose(caught.value)


# --- finding 18: a _FILE variable holding a value, not a path -------------------------------------


def test_a_value_pasted_into_a_file_variable_is_never_echoed(
    tmp_path: Path,
    sentinel: str,
    expose: Expose,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``DB_PASSWORD_FILE=<the password itself>``: the error says the file named by the
    variable does not exist, with the value's length, and never repeats the value: not in the
    resolver's error (message or ``path``), the store's status, the pydantic error, nor the
    output of ``check``, ``explain`` (text and JSON) and ``exec`` (finding 18)."""
    from pydantic_settings import BaseSettings

    from runsecrets.cli import main
    from runsecrets.pydantic import RunSecretsSettingsSource

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("DB_PASSWORD_FILE", sentinel)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    with pytest.raises(RunSecretsError) as caught:
        Secrets(tmp_path).get("db_password")
    assert caught.value.path is None
    assert caught.value.variable == "DB_PASSWORD_FILE"
    assert f"{len(sentinel)} characters" in caught.value.message
    expose(caught.value)

    store = SecretStore(tmp_path, names=["db_password"])
    status = store.status.as_dict()
    assert status["problem"] is not None
    expose(status, store.snapshot.errors)
    with pytest.raises(RunSecretsError) as from_store:
        store.get("db_password")
    expose(from_store.value)

    class Settings(BaseSettings):
        db_password: str = "default"

    with pytest.raises(ValidationError) as invalid:
        Settings.model_validate(RunSecretsSettingsSource(Settings, tmp_path)())
    expose(invalid.value, invalid.value.errors(), invalid.value.json())

    for argv in (
        ["check", "db_password"],
        ["explain"],
        ["explain", "--json"],
        ["exec", "--", "true"],
    ):
        assert main(argv) == 3, argv
    captured = capsys.readouterr()
    assert "named by DB_PASSWORD_FILE" in captured.err + captured.out


# --- the mechanism -----------------------------------------------------------------------------


def test_scrubbed_clears_every_frame_and_keeps_only_our_own_chain(sentinel: str) -> None:
    """``scrubbed`` (finding 4): the frames of the error and of every runsecrets error chained
    to it, by ``__cause__`` or ``__context__``, lose their locals but keep their lines; a
    foreign exception in the chain (here a ``KeyError`` quoting the value) is dropped."""
    from runsecrets._scrub import scrubbed

    def inner(value: str) -> None:
        try:
            raise KeyError(value)
        except KeyError:
            raise RunSecretsError("inner refusal") from None

    def outer(value: str) -> RunSecretsError:
        try:
            try:
                inner(value)
            except RunSecretsError as first:
                raise RunSecretsError("outer refusal") from first
        except RunSecretsError as error:
            return error
        raise AssertionError("unreachable")

    error = outer(sentinel)
    # The test's own frames are left out by where_held: look at the frames directly.
    chained = error.__cause__
    assert chained is not None
    assert chained.__context__ is not None  # the KeyError, hidden by "from None" only
    scrubbed(error)
    assert chained.__context__ is None
    for link in (error, chained):
        tb = link.__traceback__
        assert tb is not None
        while tb is not None:
            assert sentinel not in repr(tb.tb_frame.f_locals)
            tb = tb.tb_next
