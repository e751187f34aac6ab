"""The doctor's pure rules: what counts as a secret-shaped value or a secret's name, and the
mount table parser (escapes, odd lines, lookups, the Swarm and Kubernetes mount shapes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runsecrets.doctor import CODES, ERROR, WARNING, Finding
from runsecrets.doctor._mountinfo import parse_line, parse_mountinfo, unescape
from runsecrets.doctor._shapes import secret_name_reason, value_shape

# Built by concatenation so that no scanner mistakes this file for a leak.
_PEM_KEY = "-----BEGIN " + "PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (_PEM_KEY, "a PEM private key"),
        ("-----BEGIN RSA " + "PRIVATE KEY-----", "a PEM private key"),
        ("-----BEGIN OPENSSH " + "PRIVATE KEY-----", "a PEM private key"),
        ("-----BEGIN ENCRYPTED " + "PRIVATE KEY-----", "a PEM private key"),
        ('{"private_key": "-----BEGIN ' + 'PRIVATE KEY-----\\nMII"}', "a PEM private key"),
        ("SWMTKN-1-" + "3" * 50 + "-" + "a" * 25, "a Docker Swarm join token"),
        ("SWMKEY-1-" + "A" * 43, "a Docker Swarm unlock key"),
        ("AKIA" + "Q" * 16, "an AWS access key id"),
        ("ASIA" + "2" * 16, "an AWS access key id"),
        ("AIza" + "b" * 35, "a Google API key"),
        ("GOCSPX-" + "c" * 28, "a Google OAuth client secret"),
        (
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + "d" * 86 + "==",
            "an Azure storage account key",
        ),
        (
            "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=" + "e" * 43 + "=",
            "an Azure shared access key",
        ),
        (
            "https://a.blob.core.windows.net/c?sv=2022&sig=" + "f" * 44,
            "an Azure shared access signature",
        ),
        ("abc8Q~" + "g" * 34, "an Azure (Entra ID) client secret"),
        ("ghp_" + "h" * 36, "a GitHub token"),
        ("glpat-" + "i" * 20, "a GitLab token"),
        ("xoxb-" + "1" * 12, "a Slack token"),
        ("sk_live_" + "j" * 24, "a Stripe secret key"),
        ("postgres://app:pw@db:5432/app", "a URL with a password"),
        ("redis://:pw@cache:6379/0", "a URL with a password"),
    ],
)
def test_value_shapes_are_recognised(value: str, kind: str) -> None:
    """Each documented credential shape is named by its kind."""
    assert value_shape(value) == kind


@pytest.mark.parametrize(
    "value",
    [
        "/usr/local/bin:/usr/bin:/bin",  # PATH
        "3f4e5c6d7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",  # PYTHON_SHA256
        "A035C8C19219BA821ECEA86B64E628F8D684696D",  # GPG_KEY: a key fingerprint
        "-----BEGIN CERTIFICATE-----",  # public
        "https://example.com/path?x=1",
        "postgres://app@db/app",  # no password
        "AKIA123",  # too short for a key id
        "xAKIA" + "Q" * 16 + "x",  # inside a longer word
    ],
)
def test_ordinary_values_have_no_shape(value: str) -> None:
    """Paths, digests, fingerprints, certificates and plain URLs are not credentials."""
    assert value_shape(value) is None


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "PASSWORD",
        "SMTP_PASS",
        "DB_PWD",
        "KEY_PASSPHRASE",
        "GITHUB_TOKEN",
        "JWT_SECRET",
        "CLIENT_SECRET",
        "API_KEY",
        "STRIPE_APIKEY",
        "AWS_SECRET_ACCESS_KEY",
        "SECRET_KEY",
        "APP_KEY",
        "NEW_RELIC_LICENSE_KEY",
        "db_password",
    ],
)
def test_secret_names(name: str) -> None:
    """A name whose last word is a secret word, or ends in a qualified key, names a secret."""
    assert secret_name_reason(name) is not None


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "HOSTNAME",
        "PWD",
        "OLDPWD",
        "PYTHON_SHA256",
        "GPG_KEY",
        "SORT_KEY",
        "PASSWORD_MIN_LENGTH",
        "TOKEN_URL",
        "SECRETS_DIR",
        "DB_PASSWORD_FILE",
        "AWS_ACCESS_KEY_ID",
        "BYPASS",
        "_",
    ],
)
def test_not_secret_names(name: str) -> None:
    """Only the end of a name counts; ``KEY`` alone, ``PWD`` and ``*_FILE`` are not secrets."""
    assert secret_name_reason(name) is None


def test_every_code_has_a_severity_and_findings_refuse_unknown_codes() -> None:
    """The code table is the one source of severities; a typo in a code is caught."""
    assert set(CODES.values()) == {ERROR, WARNING}
    finding = Finding("conflict", "DB_PASSWORD", "m")
    assert finding.severity == ERROR
    assert finding.as_dict() == {
        "code": "conflict",
        "severity": "error",
        "subject": "DB_PASSWORD",
        "message": "m",
    }
    with pytest.raises(ValueError, match="unknown finding code"):
        Finding("no_such_code", "x", "m")


def test_unescape_decodes_the_kernels_octal_escapes() -> None:
    r"""``\040`` space, ``\011`` tab, ``\012`` newline and ``\134`` backslash are decoded."""
    assert unescape(rb"/run/my\040secrets\011x\012y\134z") == "/run/my secrets\tx\ny\\z"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (rb"/a\x", "/a\\x"),  # not octal
        (rb"/a\04", "/a\\04"),  # too short
        (rb"/a\400", "/a\\400"),  # above \377
        (rb"/a\\", "/a\\\\"),
        (b"/caf\xc3\xa9", "/caf\u00e9"),
        (b"/bad\xff", "/bad\udcff"),  # not UTF-8: as os.fsdecode gives it
        (rb"/a\303\251", "/a\u00e9"),  # escaped UTF-8 bytes
    ],
)
def test_odd_escapes_are_kept_as_written(raw: bytes, decoded: str) -> None:
    """Backslashes that are not a valid escape stay; raw bytes decode as ``os`` paths do."""
    assert unescape(raw) == decoded


_TABLE = b"""\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
60 27 0:50 / /run/secrets rw,nosuid,nodev - tmpfs tmpfs rw,size=1024k
61 27 0:51 / /run/my\\040dir rw - tmpfs tmpfs rw
62 60 254:0 /home/u/db.txt /run/secrets/db rw,relatime shared:1 master:2 - ext4 /dev/vda rw
63 27 0:47 /m21tnpz184118f35ikod34w7a /run/swarm/s ro,relatime master:10 - tmpfs tmpfs ro
64 27 0:52 /..2026_11_22_10_00_00.123/tls.crt /etc/tls.crt ro - tmpfs tmpfs rw
this line is not mountinfo
65 27 0:53 / relative rw - tmpfs tmpfs rw
66 27 0:54 / /x rw -
"""


def test_the_mount_table_parses_and_counts_odd_lines() -> None:
    """Optional fields, escapes and fstypes are read; lines of another shape are counted."""
    table = parse_mountinfo(_TABLE)
    assert table.bad_lines == 3
    assert [m.mount_point for m in table.mounts] == [
        "/proc",
        "/",
        "/run/secrets",
        "/run/my dir",
        "/run/secrets/db",
        "/run/swarm/s",
        "/etc/tls.crt",
    ]
    db = table.at("/run/secrets/db")
    assert db is not None
    assert (db.root, db.fstype, db.source, db.read_only) == (
        "/home/u/db.txt",
        "ext4",
        "/dev/vda",
        False,
    )


def test_lookups_find_the_deepest_mount() -> None:
    """``holding`` walks up to the deepest mount point; ``at`` only matches the point itself."""
    table = parse_mountinfo(_TABLE)
    holder = table.holding("/run/secrets/other")
    assert holder is not None
    assert holder.mount_point == "/run/secrets"
    assert holder.memory_backed
    root = table.holding("/srv/data/x")
    assert root is not None
    assert root.mount_point == "/"
    assert not root.memory_backed
    assert table.at("/run/secrets/other") is None
    spaced = table.holding("/run/my dir/x")
    assert spaced is not None
    assert spaced.mount_point == "/run/my dir"


def test_a_later_mount_on_the_same_point_wins() -> None:
    """Mounting over a mount point hides the first mount: the last line is the visible one."""
    table = parse_mountinfo(
        b"1 0 0:1 / / rw - ext4 /dev/vda rw\n"
        b"2 1 0:2 / /run/secrets rw - ext4 /dev/vda rw\n"
        b"3 1 0:3 / /run/secrets rw - tmpfs tmpfs rw\n"
    )
    mount = table.at("/run/secrets")
    assert mount is not None
    assert mount.fstype == "tmpfs"


def test_swarm_and_kubernetes_mount_shapes() -> None:
    """A Swarm secret (read-only tmpfs file named by its id) and a subPath mount are told
    apart from a plain bind mount."""
    table = parse_mountinfo(_TABLE)
    swarm, subpath, bind = (
        table.at(p) for p in ("/run/swarm/s", "/etc/tls.crt", "/run/secrets/db")
    )
    assert swarm is not None
    assert subpath is not None
    assert bind is not None
    assert (swarm.swarm_secret, swarm.kubernetes_subpath) == (True, False)
    assert (subpath.swarm_secret, subpath.kubernetes_subpath) == (False, True)
    assert (bind.swarm_secret, bind.kubernetes_subpath) == (False, False)
    # The same id on a writable tmpfs is not Swarm's shape.
    writable = parse_line(b"9 1 0:5 /m21tnpz184118f35ikod34w7a /s rw - tmpfs tmpfs rw")
    assert writable is not None
    assert not writable.swarm_secret


def test_the_docs_page_lists_every_code_with_its_severity() -> None:
    """docs/drafts/doctor.md's table of codes and :data:`CODES` say the same."""
    page = (Path(__file__).parents[2] / "docs" / "drafts" / "doctor.md").read_text()
    table = page.split("## Codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (error|warning) \|", table, re.MULTILINE))
    assert rows == CODES
