"""runsecrets.swarm without an engine: validation, the version scheme, the rotation record's
pure logic, escaping, and the command line's own checks (rotation on a fake Engine API is in
tests/test_swarm_rotate_unit.py; the real Swarm in tests/e2e)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from runsecrets import RunSecretsError, cli
from runsecrets import swarm as sw
from runsecrets._text import printable
from runsecrets.exceptions import SwarmError
from runsecrets.swarm._model import SecretInfo
from runsecrets.swarm._record import claimed_version, read_record, record_key, trace

# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["db_password", "a", "A1", "db.password-2", "x" * 64, "db_password_v0002"]
)
def test_valid_names(name: str) -> None:
    """Names Swarm accepts pass."""
    sw.validate_name(name)


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "-lead", "trail_", "a b", "a/b", "é", ".hidden", "db_password."]
)
def test_invalid_names(name: str) -> None:
    """Names Swarm refuses raise InvalidSwarmSecretError, a RunSecretsError and ValueError."""
    with pytest.raises(sw.InvalidSwarmSecretError) as caught:
        sw.validate_name(name)
    assert caught.value.reason == "invalid_name"
    assert isinstance(caught.value, RunSecretsError)
    assert isinstance(caught.value, ValueError)


def test_size_limit_is_less_than_512000_bytes(sentinel: str) -> None:
    """Finding 7: 1 byte to 511,999 bytes; exactly 512,000 is refused, as Swarm refuses it
    ("less than 512000"). The message gives sizes, never the data."""
    sw.validate_data(b"x")
    sw.validate_data(b"x" * (sw.MAX_SECRET_SIZE - 1))
    with pytest.raises(sw.InvalidSwarmSecretError) as exact:
        sw.validate_data(b"x" * 512_000)
    assert exact.value.reason == "too_large"
    with pytest.raises(sw.InvalidSwarmSecretError) as empty:
        sw.validate_data(b"")
    assert empty.value.reason == "empty"
    big = sentinel.encode() * (sw.MAX_SECRET_SIZE // len(sentinel) + 1)
    with pytest.raises(sw.InvalidSwarmSecretError) as large:
        sw.validate_data(big)
    assert str(len(big)) in str(large.value)
    assert sentinel not in str(large.value)


def test_errors_live_under_the_one_root() -> None:
    """SwarmError, InvalidSwarmSecretError and RotationError are in runsecrets.exceptions,
    under RunSecretsError, and still importable from runsecrets.swarm."""
    from runsecrets import exceptions

    assert sw.SwarmError is exceptions.SwarmError
    assert sw.RotationError is exceptions.RotationError
    assert sw.InvalidSwarmSecretError is exceptions.InvalidSwarmSecretError
    assert issubclass(exceptions.RotationError, exceptions.SwarmError)
    assert issubclass(exceptions.SwarmError, RunSecretsError)


def test_swarm_package_keeps_every_public_name_of_the_module() -> None:
    """Every name ``runsecrets.swarm`` exported as a module is exported by the package."""
    names = {
        "LABEL_LOGICAL_NAME", "LABEL_REMOVE_OLD", "LABEL_VERSION", "MAX_NAME_LENGTH",
        "MAX_SECRET_SIZE", "AuditEntry", "InvalidSwarmSecretError", "RotationError",
        "RotationReport", "SecretInfo", "SecretReference", "ServiceUpdate", "SwarmError",
        "TaskUse", "audit", "client_from_env", "inventory", "parse_version", "rotate",
        "validate_data", "validate_name", "versioned_name",
    }  # fmt: skip
    assert names <= set(sw.__all__)
    assert all(hasattr(sw, name) for name in sw.__all__)


# --- the version scheme -----------------------------------------------------------------------


def test_versioned_names_sort_and_parse_back() -> None:
    """``<logical>_v<NNNN>``: zero-padded so names sort like versions; parsed back."""
    names = [sw.versioned_name("db_password", n) for n in (1, 2, 9, 10, 100)]
    assert names[1] == "db_password_v0002"
    assert sorted(names) == names
    assert [sw.parse_version(n) for n in names] == [("db_password", n) for n in (1, 2, 9, 10, 100)]


def test_parse_version_for_display() -> None:
    """What a listing shows: ``x`` is version 1, ``x_v2`` version 2; labels win, unless their
    version is not a sane number (a 5,000-digit or non-ASCII one must not break a listing)."""
    assert sw.parse_version("db_password") == ("db_password", 1)
    assert sw.parse_version("db_password_v2") == ("db_password", 2)
    assert sw.parse_version("api_v2_v0003") == ("api_v2", 3)
    labels = {sw.LABEL_LOGICAL_NAME: "api_v2", sw.LABEL_VERSION: "7"}
    assert sw.parse_version("anything", labels) == ("api_v2", 7)
    for bad in ("x", "9" * 5000, "²", "-3", "0"):
        labels = {sw.LABEL_LOGICAL_NAME: "other", sw.LABEL_VERSION: bad}
        assert sw.parse_version("db_password_v2", labels) == ("db_password", 2)


def test_versioned_name_rejects_version_zero_and_overlong() -> None:
    """Versions start at 1; a logical name too long for the suffix is refused."""
    with pytest.raises(ValueError, match="start at 1"):
        sw.versioned_name("a", 0)
    with pytest.raises(sw.InvalidSwarmSecretError):
        sw.versioned_name("x" * 59, 2)


# --- the rotation record (pure) ---------------------------------------------------------------

ROTATION = "ab" * 16


def _secret(secret_id: str, name: str, **labels: str) -> SecretInfo:
    logical, version = sw.parse_version(name, labels)
    return SecretInfo(secret_id, name, logical, version, labels, "", "")


def _version(
    secret_id: str, logical: str, number: int, rotation: str = ROTATION, replaces: str = ""
) -> SecretInfo:
    return _secret(
        secret_id,
        sw.versioned_name(logical, number),
        **{
            sw.LABEL_LOGICAL_NAME: logical,
            sw.LABEL_VERSION: str(number),
            sw.LABEL_ROTATION: rotation,
            sw.LABEL_REPLACES: replaces,
        },
    )


def _service(name: str, *secret_ids: str, record: str | None = None) -> dict[str, object]:
    labels = {} if record is None else {record_key("pw"): record}
    refs = [{"SecretID": i, "SecretName": i, "File": {"Name": i}} for i in secret_ids]
    return {
        "ID": name,
        "Spec": {
            "Name": name,
            "Labels": labels,
            "TaskTemplate": {"ContainerSpec": {"Secrets": refs}},
        },
    }


def test_a_claim_must_match_its_name_exactly() -> None:
    """A version's own labels claim a version only when the name is exactly
    ``<logical>_v<NNNN>`` for it and the rotation id is well formed."""
    assert claimed_version(_version("a", "pw", 2), "pw") == 2
    assert claimed_version(_version("a", "pw", 2), "other") is None
    wrong_name = _secret("b", "pw_v2", **_version("b", "pw", 2).labels)
    assert claimed_version(wrong_name, "pw") is None
    huge = _secret("c", "pw_v0002", **{**_version("c", "pw", 2).labels, sw.LABEL_VERSION: "9" * 40})
    assert claimed_version(huge, "pw") is None
    no_rotation = _secret(
        "d", "pw_v0002", **{**_version("d", "pw", 2).labels, sw.LABEL_ROTATION: "x"}
    )
    assert claimed_version(no_rotation, "pw") is None


def test_records_are_parsed_strictly() -> None:
    """A service record is ``<32 hex>/<id>``; anything else is no record."""
    assert read_record({record_key("pw"): f"{ROTATION}/abc123"}, "pw") == (ROTATION, "abc123")
    for bad in ("", f"{ROTATION}", f"{ROTATION}/", "zz" * 16 + "/abc", f"{ROTATION}/a/b"):
        assert read_record({record_key("pw"): bad}, "pw") is None
    assert read_record(None, "pw") is None


def test_only_a_live_service_record_proves_a_version() -> None:
    """Labels alone (a perfect copy included) prove nothing; a service record naming the id,
    on a service that references it, does; a stale record (the service moved off) does not."""
    real = _version("real", "pw", 2)
    copy = _secret("copy", "pw_v0003", **{**real.labels, sw.LABEL_VERSION: "3"})
    lineage = trace("pw", [real, copy], [_service("s", "real", record=f"{ROTATION}/real")])
    assert [v.id for v in lineage.versions] == ["real"]
    assert [s.id for s in lineage.ignored] == ["copy"]
    stale = trace("pw", [real], [_service("s", "other", record=f"{ROTATION}/real")])
    assert stale.versions == ()
    unproven = trace("pw", [real, copy], [_service("s", "real", "copy")])
    assert unproven.versions == ()


def test_older_versions_are_recognised_through_the_newer_ones_record() -> None:
    """A kept older version is recognised when a recognised newer one lists it as replaced;
    an older-numbered secret it does not list is not."""
    old = _version("v2", "pw", 2, rotation="cd" * 16)
    other = _version("v1x", "pw", 3, rotation="ef" * 16)
    new = _version("v4", "pw", 4, replaces="v2,root")
    lineage = trace("pw", [old, other, new], [_service("s", "v4", record=f"{ROTATION}/v4")])
    assert [v.id for v in lineage.versions] == ["v2", "v4"]
    assert [s.id for s in lineage.ignored] == ["v1x"]


def test_two_versions_claiming_one_rotation_are_refused() -> None:
    """Two recognised versions with the same rotation id: runsecrets cannot tell which it made
    (``ambiguous``)."""
    one, two = _version("a", "pw", 2), _version("b", "pw", 3)
    services = [
        _service("s1", "a", record=f"{ROTATION}/a"),
        _service("s2", "b", record=f"{ROTATION}/b"),
    ]
    with pytest.raises(SwarmError) as caught:
        trace("pw", [one, two], services)
    assert caught.value.reason == "ambiguous"


def test_the_next_version_skips_taken_names_and_ignores_forged_numbers() -> None:
    """The next number follows the newest recognised version (or the root), skipping names
    already taken; a forged version number has no say."""
    root = _secret("root", "pw")
    forged = _secret("f", "pw_v0007", **{sw.LABEL_LOGICAL_NAME: "pw", sw.LABEL_VERSION: "99999999"})
    lineage = trace("pw", [root, forged], [])
    assert lineage.next_version(["pw", "pw_v0007"]) == 2
    assert lineage.next_version(["pw", "pw_v0002", "pw_v0003"]) == 4


# --- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name", "plain name"),
        ("\x1b[31mred\n", "\\x1b[31mred\\n"),
        ("a\\nb", "a\\\\nb"),
        ("tab\there\r", "tab\\there\\r"),
        ("bidi\u202eoverride", "bidi\\u202eoverride"),
        ("line\u2028sep", "line\\u2028sep"),
        ("\x7f\x9b", "\\x7f\\x9b"),
        ("accents é ok", "accents é ok"),
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    """Control and format characters and separators are escaped, backslashes doubled."""
    assert printable(raw) == shown


# --- the command line -------------------------------------------------------------------------


def test_docker_host_that_is_no_address_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 9: ``DOCKER_HOST='tcp://[::1'`` (the real docker SDK, which raises ValueError
    while parsing it) gives a typed SwarmError (``invalid_docker_host``) and one line naming
    DOCKER_HOST, exit 3, not "unexpected ValueError"."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://[::1")
    with pytest.raises(SwarmError) as caught:
        sw.client_from_env()
    assert caught.value.reason == "invalid_docker_host"
    assert caught.value.variable == "DOCKER_HOST"
    assert cli.main(["swarm", "ls"]) == 3
    err = capsys.readouterr().err
    assert "DOCKER_HOST is not an address" in err
    assert "unexpected" not in err


def test_rotate_input_is_read_up_to_the_limit() -> None:
    """``--from-file /dev/zero`` stops at the size limit (then refused by the size check)
    instead of filling the memory; ``--generate`` of the limit or more is refused first."""
    from runsecrets.cli._swarm import _new_value

    endless = argparse.Namespace(generate=None, from_stdin=False, from_file="/dev/zero")
    assert len(_new_value(endless)) == sw.MAX_SECRET_SIZE
    with pytest.raises(sw.InvalidSwarmSecretError):
        sw.validate_data(_new_value(endless))
    for length in (sw.MAX_SECRET_SIZE, 10**9):
        huge = argparse.Namespace(generate=length, from_stdin=False, from_file=None)
        with pytest.raises(RunSecretsError, match="--generate takes a length from 1 to 511999"):
            _new_value(huge)


def test_importing_runsecrets_does_not_import_docker() -> None:
    """``import runsecrets`` (and even runsecrets.swarm) leaves docker unloaded."""
    code = (
        "import sys, runsecrets, runsecrets.swarm, runsecrets.cli\n"
        "from runsecrets.cli import _swarm\n"
        "runsecrets.cli.build_parser().parse_args(['swarm', 'ls'])\n"
        "assert 'docker' not in sys.modules, 'docker imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
