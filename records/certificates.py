"""An organisation's own signing certificate: checking an uploaded PKCS#12 file, keeping its key, and
choosing what signs an organisation's PDFs (records/signing.py signs with it).

The key is kept as encrypted PKCS#8 in the database, with a passphrase derived from SECRET_KEY and the
organisation (SECRET_KEY_FALLBACKS still open keys after a rotation); the uploaded file and its password
are never stored, logged or put in the audit trail. Until an organisation uploads one, its PDFs are signed
with the installation's certificate (RECORDS_SIGNING_CERT, or the self-signed development pair), and the
verify page and the PDF say when that certificate is self-signed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from accounts.audit import audit_event
from accounts.models import Organisation, StaffMember

from .models import SigningCertificate
from .signing import kept_signer

PKCS12_MAX_BYTES = 64 * 1024
KEY_SALT = "records.certificates.signing-key"


@dataclass(frozen=True)
class CheckedCertificate:
    """What an uploaded PKCS#12 file holds, once it has passed every check."""

    certificate: x509.Certificate
    key_pem: bytes  # unencrypted PKCS#8, in memory only
    chain: list[x509.Certificate]

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()[:255]


def check_pkcs12(data: bytes, password: str) -> CheckedCertificate:
    """Open the file with its password and check it can sign PDFs: it has a private key that belongs to
    the certificate, the certificate is valid today and its key usage allows signing. ValidationError
    keyed by the form field at fault ("file" or "password")."""
    if len(data) > PKCS12_MAX_BYTES:
        raise ValidationError({"file": "That file is too large for a certificate (the limit is 64 KB)."})
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError as error:
        # cryptography says "Invalid password or PKCS12 data" for both; tell which where we can.
        try:
            pkcs12.load_key_and_certificates(data, None)
        except ValueError:
            if password:
                raise ValidationError(
                    {"password": "The file would not open with this password (or it is not a PKCS#12 file)."}
                ) from error
            raise ValidationError(
                {"file": "This is not a PKCS#12 (.p12 or .pfx) file, or it needs a password."}
            ) from None
        raise ValidationError({"password": "The file opens without a password: leave the password empty."}) from error
    if key is None:
        raise ValidationError({"file": "The file has no private key: export the certificate with its private key."})
    if certificate is None:
        raise ValidationError({"file": "The file has a private key but no certificate."})
    if not isinstance(
        key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
    ):
        raise ValidationError({"file": "The key is of a kind PDF signatures do not use: RSA or elliptic curve only."})
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != certificate.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise ValidationError({"file": "The private key in the file does not belong to its certificate."})
    now = datetime.now(UTC)
    if certificate.not_valid_after_utc <= now:
        expired = timezone.localtime(certificate.not_valid_after_utc).strftime("%a %-d %b %Y")
        raise ValidationError({"file": f"The certificate expired on {expired}: ask your provider for a new one."})
    if certificate.not_valid_before_utc > now:
        starts = timezone.localtime(certificate.not_valid_before_utc).strftime("%a %-d %b %Y")
        raise ValidationError({"file": f"The certificate is not valid until {starts}."})
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise ValidationError(
            {"file": "The certificate's key usage does not allow signing (digital signature or non-repudiation)."}
        )
    try:
        basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    if basic is not None and basic.ca:
        raise ValidationError({"file": "This is a certification authority's certificate: upload the signing one."})
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CheckedCertificate(certificate=certificate, key_pem=key_pem, chain=list(extra or []))


def _passphrase(organisation_code, secret) -> bytes:
    return salted_hmac(KEY_SALT, str(organisation_code), secret=secret, algorithm="sha256").hexdigest().encode()


def _encrypt_key(key_pem: bytes, organisation: Organisation) -> str:
    key = serialization.load_pem_private_key(key_pem, password=None)
    encryption = serialization.BestAvailableEncryption(_passphrase(organisation.code, settings.SECRET_KEY))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


@transaction.atomic
def certificate_upload(*, actor: StaffMember, checked: CheckedCertificate, request=None) -> SigningCertificate:
    """Make the checked certificate the organisation's: it signs every PDF from now on. The one it replaces
    is kept (marked replaced) so PDFs it signed still check. Audited without the password or the key."""
    organisation = Organisation.objects.select_for_update().get(pk=actor.organisation_id)
    certificate = checked.certificate
    previous = SigningCertificate.objects.filter(organisation=organisation, replaced_at__isnull=True).first()
    now = timezone.now()
    if previous is not None:
        SigningCertificate.objects.filter(pk=previous.pk).update(replaced_at=now)
    made = SigningCertificate.objects.create(
        organisation=organisation,
        subject=_name(certificate.subject),
        issuer=_name(certificate.issuer),
        serial_number=format(certificate.serial_number, "x")[:80],
        fingerprint_sha256=checked.fingerprint,
        not_valid_before=certificate.not_valid_before_utc,
        not_valid_after=certificate.not_valid_after_utc,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        chain_pem="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in checked.chain),
        key_encrypted=_encrypt_key(checked.key_pem, organisation),
        uploaded_by=actor,
        uploaded_at=now,
    )
    audit_event(
        action="organisation.signing_certificate_uploaded",
        actor=actor.user,
        obj=organisation,
        request=request,
        details={
            "before": _summary(previous) if previous else None,
            "after": _summary(made),
        },
    )
    return made


def _summary(certificate: SigningCertificate) -> dict:
    return {
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial_number": certificate.serial_number,
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "not_valid_after": certificate.not_valid_after.isoformat(),
    }


def current_certificate(organisation_id: int) -> SigningCertificate | None:
    return SigningCertificate.objects.filter(organisation_id=organisation_id, replaced_at__isnull=True).first()


def organisation_signer(certificate: SigningCertificate) -> signers.SimpleSigner:
    """A pyHanko signer from the stored certificate, its chain and its decrypted key: decrypted once per
    process (a stored certificate never changes; a new upload is a new row)."""
    secrets = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", []))
    stamp = (certificate.pk, certificate.key_encrypted, secrets)
    return kept_signer(f"organisation-{certificate.pk}", stamp, lambda: _organisation_signer(certificate))


def _organisation_signer(certificate: SigningCertificate) -> signers.SimpleSigner:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    key = None
    for secret in secrets:
        try:
            key = load_private_key_from_pemder_data(
                certificate.key_encrypted.encode(), _passphrase(certificate.organisation.code, secret)
            )
            break
        except (ValueError, TypeError):
            continue
    if key is None:
        raise ValidationError(
            "The organisation's signing key cannot be opened with this installation's SECRET_KEY: "
            "upload the certificate again."
        )
    signing_cert = asn1_x509.Certificate.load(
        x509.load_pem_x509_certificate(certificate.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    )
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in x509.load_pem_x509_certificates(certificate.chain_pem.encode())
    ] if certificate.chain_pem else []  # fmt: skip
    return signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([signing_cert, *chain]),
    )


def trusted_pems(organisation_id: int) -> list[str]:
    """The certificates a PDF of the organisation may be signed with: every one it uploaded, current or
    replaced (PDFs signed before a replacement still check). The installation's is added by the caller."""
    return list(
        SigningCertificate.objects.filter(organisation_id=organisation_id).values_list("certificate_pem", flat=True)
    )
