"""Issue 15: the organisation's own signing certificate. A test certification authority and a signing
certificate it issued are made here (cryptography); the PKCS#12 file is uploaded through the page, a
record's PDF is signed with it, and poppler's `pdfsig` validates the signature against that authority
(an NSS database holding only the test CA, made with `certutil`). While the self-signed certificate is in
use, the verify page and the PDF say so."""

import logging
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditEvent, Role
from records.certificates import organisation_signer
from records.models import SigningCertificate
from records.pdf import _check_against_organisation, signing_self_signed, store_record_pdf
from tests.factories import StaffFactory
from tests.records.helpers import signed_record

PAGE = reverse("records:signing-certificate")
VERIFY = reverse("records:record-verify")
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def _name(common_name):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cast Trust"),
        ]
    )


def _usage(**on):
    names = [
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
        "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    ]  # fmt: skip
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("Cast Test Root CA"))
        .issuer_name(_name("Cast Test Root CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def make_leaf(ca, *, days=365, starts=-1, usage=None, is_ca=False, common_name="Cast Trust record signing"):
    ca_key, ca_certificate = ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=starts))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(usage or _usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def p12(key, certificate, chain=(), password=PASSWORD) -> bytes:
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"signing", key, certificate, list(chain), encryption)


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def leaf(ca):
    return make_leaf(ca)


def upload(client, data: bytes, password=PASSWORD, name="signing.p12"):
    return client.post(
        PAGE, {"file": SimpleUploadedFile(name, data, content_type="application/x-pkcs12"), "password": password}
    )


def field_errors(response, field):
    return response.context["form"].errors.get(field, [])


# --- Uploading --------------------------------------------------------------------------------------


def test_a_good_certificate_is_checked_stored_encrypted_and_audited_without_the_password(cast, login, ca, leaf, caplog):
    client = login(cast.org_admin)
    caplog.set_level(logging.DEBUG)
    response = upload(client, p12(*leaf, chain=[ca[1]]))
    assert response.status_code == 302
    stored = SigningCertificate.objects.get(organisation=cast.organisation)
    assert stored.replaced_at is None
    assert "Cast Trust record signing" in stored.subject and "Cast Test Root CA" in stored.issuer
    assert stored.fingerprint_sha256 == leaf[1].fingerprint(hashes.SHA256()).hex()
    assert "ENCRYPTED PRIVATE KEY" in stored.key_encrypted
    assert "Cast Test Root CA" in x509.load_pem_x509_certificate(stored.chain_pem.encode()).subject.rfc4514_string()
    event = AuditEvent.objects.get(action="organisation.signing_certificate_uploaded")
    assert event.details["before"] is None
    assert event.details["after"]["fingerprint_sha256"] == stored.fingerprint_sha256
    everything = str(event.details) + caplog.text + str(list(AuditEvent.objects.values_list("details", flat=True)))
    assert PASSWORD not in everything
    assert PASSWORD.encode() not in stored.key_encrypted.encode()
    page = client.get(PAGE)
    assert stored.fingerprint_sha256 in page.content.decode()


def test_the_key_opens_only_with_this_installations_secret(cast, login, leaf, settings):
    login(cast.org_admin)
    upload(login(cast.org_admin), p12(*leaf))
    stored = SigningCertificate.objects.get(organisation=cast.organisation)
    assert organisation_signer(stored).signing_cert.sha256 == leaf[1].fingerprint(hashes.SHA256())
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old]
    assert organisation_signer(stored) is not None  # a rotation keeps the old key as a fallback
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(Exception, match="cannot be opened"):
        organisation_signer(stored)


def test_a_replacement_keeps_the_earlier_certificate_for_checking(cast, login, ca, leaf):
    client = login(cast.org_admin)
    upload(client, p12(*leaf))
    upload(client, p12(*make_leaf(ca, common_name="Cast Trust signing 2")))
    current, earlier = SigningCertificate.objects.filter(organisation=cast.organisation).order_by("-id")
    assert current.replaced_at is None and earlier.replaced_at is not None
    event = AuditEvent.objects.filter(action="organisation.signing_certificate_uploaded").order_by("-id").first()
    assert event.details["before"]["fingerprint_sha256"] == earlier.fingerprint_sha256


@pytest.mark.parametrize(
    ("make", "password", "field", "message"),
    [
        (lambda ca, leaf: p12(*leaf), "wrong password", "password", "would not open with this password"),
        (lambda ca, leaf: b"not a certificate at all", "", "file", "not a PKCS#12"),
        (lambda ca, leaf: p12(*leaf, password=""), PASSWORD, "password", "opens without a password"),
        (
            lambda ca, leaf: pkcs12.serialize_key_and_certificates(
                b"x", None, leaf[1], None, serialization.BestAvailableEncryption(PASSWORD.encode())
            ),
            PASSWORD,
            "file",
            "no private key",
        ),
        (lambda ca, leaf: p12(*make_leaf(ca, days=-1, starts=-30)), PASSWORD, "file", "expired on"),
        (lambda ca, leaf: p12(*make_leaf(ca, days=60, starts=30)), PASSWORD, "file", "not valid until"),
        (
            lambda ca, leaf: p12(*make_leaf(ca, usage=_usage(key_encipherment=True))),
            PASSWORD,
            "file",
            "does not allow signing",
        ),
        (
            lambda ca, leaf: p12(*make_leaf(ca, is_ca=True, usage=_usage(digital_signature=True, key_cert_sign=True))),
            PASSWORD,
            "file",
            "certification authority",
        ),
        (lambda ca, leaf: b"0" * (65 * 1024), PASSWORD, "file", "too large"),
    ],
    ids=[
        "wrong password", "not pkcs12", "needs no password", "no key", "expired", "not yet valid",
        "no signing usage", "a ca", "too large",
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_beside_its_field_and_changes_nothing(
    cast, login, ca, leaf, make, password, field, message
):
    client = login(cast.org_admin)
    response = upload(client, make(ca, leaf), password=password)
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, field)), response.context["form"].errors
    assert not SigningCertificate.objects.exists()
    assert not AuditEvent.objects.filter(action="organisation.signing_certificate_uploaded").exists()


def test_only_an_organisation_wide_admin_uploads(cast, login, leaf):
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    assert upload(login(setting_admin), p12(*leaf)).status_code == 403
    assert upload(login(cast.head), p12(*leaf)).status_code == 403
    assert not SigningCertificate.objects.exists()


# --- Signing with it, and checking ------------------------------------------------------------------


def nss_database(directory, ca_certificate) -> str:
    """An NSS database trusting only the test CA, for pdfsig."""
    directory.mkdir()
    database = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "-d", database, "--empty-password"], check=True, capture_output=True)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    subprocess.run(
        ["certutil", "-A", "-d", database, "-n", "Cast Test Root CA", "-t", "CT,C,C", "-i", str(ca_file)],
        check=True,
        capture_output=True,
    )
    return database


def pdfsig(data: bytes, tmp_path, database: str) -> str:
    path = tmp_path / "record.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdfsig", "-nssdir", database, str(path)], capture_output=True, text=True, check=False
    ).stdout


@pytest.mark.skipif(not (shutil.which("pdfsig") and shutil.which("certutil")), reason="poppler-utils and libnss3-tools")
def test_a_pdf_signed_after_the_upload_validates_with_pdfsig_against_the_ca(cast, login, ca, leaf, tmp_path):
    record = signed_record(cast)
    before = store_record_pdf(record.id).read_bytes()  # the self-signed development certificate
    upload(login(cast.org_admin), p12(*leaf, chain=[ca[1]]))
    # A stored PDF is never replaced (issue 17): the next record signed is the one with the new certificate.
    after = store_record_pdf(signed_record(cast, days_ago=5).id).read_bytes()

    database = nss_database(tmp_path / "nss", ca[1])
    signed_with_ours = pdfsig(after, tmp_path, database)
    assert "Cast Trust record signing" in signed_with_ours
    assert "Signature Validation: Signature is Valid." in signed_with_ours
    assert "Certificate Validation: Certificate is Trusted." in signed_with_ours
    # The same database does not vouch for the self-signed certificate: the test can tell them apart.
    self_signed = pdfsig(before, tmp_path, database)
    assert "Signature is Valid." in self_signed
    assert "Certificate is Trusted." not in self_signed


def test_the_verify_page_checks_pdfs_of_either_certificate(cast, login, ca, leaf):
    client = login(cast.org_admin)
    earlier = store_record_pdf(signed_record(cast).id).read_bytes()  # self-signed
    upload(client, p12(*leaf, chain=[ca[1]]))
    later = store_record_pdf(signed_record(cast, days_ago=5).id).read_bytes()  # the organisation's own
    for data in (earlier, later):
        response = client.post(VERIFY, {"file": SimpleUploadedFile("r.pdf", data, content_type="application/pdf")})
        assert response.context["result"].confirmed
        # The signature itself, as checked in the child process for a file that is not a stored copy.
        check = _check_against_organisation(data, cast.organisation.id)
        assert check.genuine, check.problem
    assert "Cast Trust record signing" in _check_against_organisation(later, cast.organisation.id).signer
    # Another organisation's checks do not trust this organisation's certificate.
    assert not _check_against_organisation(later, cast.other_organisation.id).trusted


def test_the_self_signed_certificate_is_named_plainly_until_the_organisations_own_is_uploaded(cast, login, ca, leaf):
    client = login(cast.org_admin)
    assert signing_self_signed(cast.organisation.id)
    response = client.get(VERIFY)
    assert 'id="self-signed-notice"' in response.content.decode()
    assert "self-signed certificate" in response.content.decode()
    record = signed_record(cast)
    text = pdf_text(store_record_pdf(record.id).read_bytes())
    assert "signed with a self-signed certificate" in " ".join(text.split())

    upload(client, p12(*leaf, chain=[ca[1]]))
    assert not signing_self_signed(cast.organisation.id)
    assert 'id="self-signed-notice"' not in client.get(VERIFY).content.decode()
    later = signed_record(cast, days_ago=5)  # the first record's PDF stays as it was stored
    text = " ".join(pdf_text(store_record_pdf(later.id).read_bytes()).split())
    assert "self-signed" not in text
    assert "signed with Cast Trust's certificate" in text
    # The other organisation still signs with the installation's self-signed one, and is told so.
    assert signing_self_signed(cast.other_organisation.id)


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def test_the_page_takes_the_same_number_of_queries_for_1_and_4_certificates(cast, login, ca):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(cast.org_admin)

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(PAGE)
        return len(queries), len(response.context["earlier"])

    upload(client, p12(*make_leaf(ca)))
    upload(client, p12(*make_leaf(ca)))
    small, small_earlier = count()
    for _ in range(3):
        upload(client, p12(*make_leaf(ca)))
    large, large_earlier = count()
    assert (small_earlier, large_earlier) == (1, 4)
    assert small == large
