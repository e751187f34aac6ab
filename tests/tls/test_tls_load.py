"""``runsecrets.tls.load``: formats, sources and every reason code, on material made here."""

from __future__ import annotations

import datetime
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from runsecrets import CertificateExpiryWarning, InvalidTLSMaterialError, Secrets
from runsecrets.tls import REASONS, examine, load

from .._pki import (
    DAY,
    KEYS,
    NOW,
    Issued,
    cert_pem,
    key_bytes,
    make_ca,
    make_leaf,
    openssl_sign_sha1,
    write_material,
)


@pytest.fixture(scope="module")
def root() -> Issued:
    """A root CA (RSA 2048)."""
    return make_ca(KEYS.get("rsa2048-root"))


@pytest.fixture(scope="module")
def leaf(root: Issued) -> Issued:
    """A good server certificate for localhost and 127.0.0.1."""
    return make_leaf(root, KEYS.get("rsa2048-leaf"))


def _files(tmp_path: Path, leaf: Issued, ca: Issued | None, **kwargs: object) -> dict[str, Path]:
    cert, key, ca_path = write_material(tmp_path, leaf, ca, **kwargs)  # type: ignore[arg-type]
    files = {"cert": cert, "key": key}
    if ca_path is not None:
        files["ca"] = ca_path
    return files


def _reason(tmp_path: Path, leaf: Issued, ca: Issued | None, **load_args: object) -> str:
    files = _files(tmp_path, leaf, ca)
    load_args.setdefault("now", NOW)
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(files["cert"], files["key"], files.get("ca"), **load_args)  # type: ignore[arg-type]
    assert caught.value.reason in REASONS
    assert str(files["cert"]) in caught.value.files
    return caught.value.reason


def test_good_material_passes_every_check(tmp_path: Path, root: Issued, leaf: Issued) -> None:
    """A matching leaf, key and CA pass every check."""
    files = _files(tmp_path, leaf, root)
    material = load(files["cert"], files["key"], files["ca"], host="localhost", now=NOW)
    assert material.valid
    assert [c.verdict for c in material.checks] == ["ok"] * 7
    assert material.serial_number == leaf.cert.serial_number
    assert material.names == ["DNS:localhost", "IP:127.0.0.1"]
    assert material.key_type == "RSA"
    assert material.key_size == 2048
    assert material.days_left == 90
    assert not material.expiring
    assert material.files == (str(files["cert"]), str(files["key"]), str(files["ca"]))


def test_ip_address_host_is_matched_against_ip_entries(
    tmp_path: Path, root: Issued, leaf: Issued
) -> None:
    """An IP address host is matched against the IP entries of subjectAltName."""
    files = _files(tmp_path, leaf, root)
    assert load(files["cert"], files["key"], files["ca"], host="127.0.0.1", now=NOW).valid
    assert _reason(tmp_path, leaf, root, host="127.0.0.2") == "hostname_mismatch"


def test_key_of_another_certificate_is_key_mismatch(tmp_path: Path, root: Issued) -> None:
    """A key that belongs to another certificate is key_mismatch."""
    other = make_leaf(root, KEYS.get("rsa2048-leaf"))
    mismatched = Issued(other.cert, KEYS.get("rsa2048-other"))
    assert _reason(tmp_path, mismatched, root) == "key_mismatch"


def test_expired_and_future_certificates(tmp_path: Path, root: Issued) -> None:
    """Certificates past their notAfter or before their notBefore are refused."""
    key = KEYS.get("rsa2048-leaf")
    expired = make_leaf(root, key, not_before=NOW - 100 * DAY, not_after=NOW - DAY)
    future = make_leaf(root, key, not_before=NOW + DAY, not_after=NOW + 100 * DAY)
    assert _reason(tmp_path / "a", expired, root) == "expired"
    assert _reason(tmp_path / "b", future, root) == "not_yet_valid"


def test_clock_is_injectable(tmp_path: Path, root: Issued, leaf: Issued) -> None:
    """The same files are valid now and expired a year later."""
    files = _files(tmp_path, leaf, root)
    load(files["cert"], files["key"], now=NOW)
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(files["cert"], files["key"], now=NOW + 365 * DAY)
    assert caught.value.reason == "expired"
    with pytest.raises(ValueError, match="timezone-aware"):
        load(files["cert"], files["key"], now=datetime.datetime(2030, 1, 1))


def test_expiring_soon_is_a_warning_and_days_left(
    tmp_path: Path, root: Issued, leaf: Issued
) -> None:
    """A certificate close to expiry is valid with a warning; days_left is reported."""
    files = _files(tmp_path, leaf, root)
    with pytest.warns(CertificateExpiryWarning, match="expires in 10 days"):
        material = load(files["cert"], files["key"], now=NOW + 80 * DAY)
    assert material.days_left == 10
    assert material.expiring
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(files["cert"], files["key"], now=NOW + 80 * DAY, min_valid_days=5).valid


def test_wrong_host(tmp_path: Path, root: Issued, leaf: Issued) -> None:
    """A host the certificate does not name is refused."""
    assert _reason(tmp_path, leaf, root, host="example.com") == "hostname_mismatch"


def test_wildcard_matches_one_label_only(tmp_path: Path, root: Issued) -> None:
    """A wildcard name matches exactly one label."""
    wildcard = make_leaf(root, KEYS.get("rsa2048-leaf"), names=("*.example.com",))
    files = _files(tmp_path, wildcard, root)
    assert load(files["cert"], files["key"], host="api.example.com", now=NOW).valid
    for host in ("example.com", "a.b.example.com"):
        material = examine(files["cert"], files["key"], host=host, now=NOW)
        assert material.failure is not None
        assert material.failure.reason == "hostname_mismatch"


def test_extended_key_usage_must_fit_the_purpose(tmp_path: Path, root: Issued) -> None:
    """The extended key usage must allow the requested purpose (server or client)."""
    client_only = make_leaf(root, KEYS.get("rsa2048-leaf"), eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    assert _reason(tmp_path / "a", client_only, root) == "bad_key_usage"
    files = _files(tmp_path / "b", client_only, root)
    assert load(files["cert"], files["key"], files["ca"], purpose="client", now=NOW).valid
    server_only = make_leaf(root, KEYS.get("rsa2048-leaf"))
    assert _reason(tmp_path / "c", server_only, root, purpose="client") == "bad_key_usage"


def test_extended_key_usage_refusal_names_each_usage(tmp_path: Path, root: Issued) -> None:
    """The refusal names each usage the certificate has, by its short name or else its OID
    (an IKE usage, which cryptography names "Unknown OID"), and the one that was wanted."""
    eku = (ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.IPSEC_IKE)
    signer = make_leaf(root, KEYS.get("rsa2048-leaf"), eku=eku)
    files = _files(tmp_path, signer, root)
    failure = examine(files["cert"], files["key"], files["ca"], now=NOW).failure
    assert failure is not None
    assert failure.detail == (
        "extendedKeyUsage (codeSigning, 1.3.6.1.5.5.7.3.17) does not allow serverAuth "
        "(purpose 'server')"
    )


def test_certificate_without_eku_fits_any_purpose(tmp_path: Path, root: Issued) -> None:
    """A certificate without extended key usage fits any purpose."""
    any_use = make_leaf(root, KEYS.get("rsa2048-leaf"), eku=None)
    files = _files(tmp_path, any_use, root)
    assert load(files["cert"], files["key"], files["ca"], purpose="client", now=NOW).valid


def test_ca_certificate_used_as_leaf_is_bad_key_usage(tmp_path: Path, root: Issued) -> None:
    """A CA certificate used as the leaf is bad_key_usage."""
    assert _reason(tmp_path / "a", root, None) == "bad_key_usage"
    ca_leaf = make_leaf(root, KEYS.get("rsa2048-leaf"), is_ca=True)
    assert _reason(tmp_path / "b", ca_leaf, root) == "bad_key_usage"


def test_rsa_1024_is_weak_key(tmp_path: Path, root: Issued) -> None:
    """A 1024-bit RSA key is weak_key."""
    weak = make_leaf(root, KEYS.get("rsa1024"))
    assert _reason(tmp_path, weak, root) == "weak_key"


def test_small_ec_curve_is_weak_key(tmp_path: Path, root: Issued) -> None:
    """An elliptic curve below the minimum size is weak_key."""
    weak = make_leaf(root, KEYS.get("ec192"))
    assert _reason(tmp_path, weak, root) == "weak_key"


def test_sha1_signature_is_weak_signature(tmp_path: Path, root: Issued) -> None:
    """A SHA-1 signature is weak_signature."""
    sha1 = openssl_sign_sha1(root, KEYS.get("rsa2048-leaf"), tmp_path / "openssl")
    # openssl dates it from the real clock, later than NOW: check at the real time.
    assert _reason(tmp_path, sha1, root, min_valid_days=0, now=None) == "weak_signature"


def test_chain_to_another_ca_is_untrusted(tmp_path: Path, leaf: Issued) -> None:
    """A leaf that does not chain to the given CA is untrusted_chain."""
    stranger = make_ca(KEYS.get("rsa2048-other-root"), "Other CA")
    assert _reason(tmp_path, leaf, stranger) == "untrusted_chain"


def test_chain_with_an_intermediate(tmp_path: Path, root: Issued) -> None:
    """The file holds leaf + intermediate; the CA file only the root."""
    intermediate = make_ca(
        KEYS.get("ec256-intermediate"), "Intermediate", issuer=root, path_length=0
    )
    site = make_leaf(intermediate, KEYS.get("ec256-site"))
    files = _files(tmp_path, site, root, intermediates=(intermediate.cert,))
    material = load(files["cert"], files["key"], files["ca"], host="localhost", now=NOW)
    assert len(material.chain) == 2
    assert "Intermediate" in material.checks[-1].detail
    # Without the intermediate in the file, the chain does not reach the root.
    lone = _files(tmp_path / "lone", site, root)
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(lone["cert"], lone["key"], lone["ca"], now=NOW)
    assert caught.value.reason == "untrusted_chain"


def test_path_length_is_enforced(tmp_path: Path) -> None:
    """A root with pathlen 0 cannot have an intermediate under it."""
    strict_root = make_ca(KEYS.get("rsa2048-root"), "Strict Root", path_length=0)
    intermediate = make_ca(KEYS.get("ec256-intermediate"), "Intermediate", issuer=strict_root)
    site = make_leaf(intermediate, KEYS.get("ec256-site"))
    files = _files(tmp_path, site, strict_root, intermediates=(intermediate.cert,))
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(files["cert"], files["key"], files["ca"], now=NOW)
    assert caught.value.reason == "untrusted_chain"


def test_without_ca_only_links_inside_the_file_are_checked(tmp_path: Path, root: Issued) -> None:
    """Without a CA bundle, only the links between the certificates of the file are checked."""
    intermediate = make_ca(KEYS.get("ec256-intermediate"), "Intermediate", issuer=root)
    site = make_leaf(intermediate, KEYS.get("ec256-site"))
    files = _files(tmp_path, site, None, intermediates=(intermediate.cert,))
    material = load(files["cert"], files["key"], now=NOW)
    assert material.checks[-1].verdict == "skipped"
    wrong = _files(tmp_path / "wrong", site, None, intermediates=(root.cert,))
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(wrong["cert"], wrong["key"], now=NOW)
    assert caught.value.reason == "untrusted_chain"


_KEY_FORMATS = [
    (label, traditional, der)
    for label in ("ec256-site", "ed25519-site", "rsa2048-leaf")
    for traditional in (False, True)
    for der in (False, True)
    if not (traditional and label.startswith("ed25519"))  # Ed25519 has no traditional format
]


@pytest.mark.parametrize(("key_label", "traditional", "der"), _KEY_FORMATS)
def test_key_types_and_encodings(
    tmp_path: Path, root: Issued, key_label: str, traditional: bool, der: bool
) -> None:
    """RSA, EC and Ed25519; PKCS#8 and traditional keys; PEM and DER for cert and key."""
    site = make_leaf(root, KEYS.get(key_label))
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    cert = tmp_path / "cert"
    key = tmp_path / "key"
    cert.write_bytes(site.cert.public_bytes(encoding))
    key.write_bytes(key_bytes(site.key, encoding=encoding, traditional=traditional))
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert_pem(root.cert))
    material = load(cert, key, ca, host="localhost", now=NOW)
    assert material.key_type.split()[0] in {"RSA", "EC", "Ed25519"}
    # The context OpenSSL builds from the validated material accepts it too.
    material.server_context()


def test_encrypted_key_with_password_from_a_secret(
    tmp_path: Path, root: Issued, leaf: Issued, sentinel: str
) -> None:
    """An encrypted key is opened with a password read from a secret."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "tls_password").write_text(sentinel + "\n")
    key = tmp_path / "key.pem"
    key.write_bytes(key_bytes(leaf.key, password=sentinel.encode()))
    cert = tmp_path / "cert.pem"
    cert.write_bytes(cert_pem(leaf.cert))
    secrets = Secrets(secrets_dir, environ={})
    material = load(cert, key, password="tls_password", secrets=secrets, now=NOW)
    assert material.valid
    assert sentinel not in repr(material)
    (secrets_dir / "wrong_password").write_text("not-it")
    with pytest.raises(InvalidTLSMaterialError, match="wrong password") as caught:
        load(cert, key, password="wrong_password", secrets=secrets, now=NOW)
    assert caught.value.reason == "parse_error"
    with pytest.raises(InvalidTLSMaterialError, match="encrypted") as caught:
        load(cert, key, secrets=secrets, now=NOW)
    assert caught.value.reason == "parse_error"


def test_secret_names_are_resolved_by_the_core(tmp_path: Path, root: Issued, leaf: Issued) -> None:
    """Names come from the directories, from NAME_FILE, or from a NAME variable holding PEM."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "tls.crt").write_bytes(cert_pem(leaf.cert))
    outside = tmp_path / "elsewhere.key"
    outside.write_bytes(key_bytes(leaf.key))
    environ = {"TLS_KEY_FILE": str(outside), "TLS_CA": cert_pem(root.cert).decode()}
    material = load(
        "tls.crt", "tls.key", "tls_ca", secrets=Secrets(secrets_dir, environ=environ), now=NOW
    )
    assert material.files == (str(secrets_dir / "tls.crt"), str(outside), "TLS_CA")
    assert material.checks[-1].verdict == "ok"


def test_key_in_the_certificate_file(tmp_path: Path, root: Issued, leaf: Issued) -> None:
    """A key in the certificate's file is found there; a certificate alone is parse_error."""
    combined = tmp_path / "combined.pem"
    combined.write_bytes(cert_pem(leaf.cert) + key_bytes(leaf.key))
    assert load(combined, now=NOW).valid
    lone = tmp_path / "lone.pem"
    lone.write_bytes(cert_pem(leaf.cert))
    with pytest.raises(InvalidTLSMaterialError, match="no private key") as caught:
        load(lone, now=NOW)
    assert caught.value.reason == "parse_error"


def test_garbage_is_parse_error(tmp_path: Path, leaf: Issued) -> None:
    """A certificate file holding bytes that are not a certificate is parse_error."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate")
    key = tmp_path / "key.pem"
    key.write_bytes(key_bytes(leaf.key))
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(garbage, key)
    assert caught.value.reason == "parse_error"
    cert = tmp_path / "cert.pem"
    cert.write_bytes(cert_pem(leaf.cert))
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(cert, garbage)
    assert caught.value.reason == "parse_error"


def test_key_material_never_appears_in_errors_or_repr(
    tmp_path: Path, root: Issued, leaf: Issued
) -> None:
    """Key bytes never appear in an error message or a repr."""
    other = Issued(leaf.cert, KEYS.get("rsa2048-other"))
    files = _files(tmp_path, other, root)
    key_text = files["key"].read_text()
    body = "".join(key_text.splitlines()[1:-1])
    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(files["cert"], files["key"], files["ca"], now=NOW)
    material = examine(files["cert"], files["key"], files["ca"], now=NOW)
    for text in (str(caught.value), repr(material), str(material.as_dict())):
        assert body[:40] not in text
        assert "PRIVATE KEY" not in text


def test_import_runsecrets_does_not_import_cryptography() -> None:
    """import runsecrets does not load cryptography."""
    code = "import sys, runsecrets; print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
