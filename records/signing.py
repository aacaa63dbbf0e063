"""The organisation's signing certificate: signing a record's PDF, and checking a signed one.

The certificate and key come from settings (`RECORDS_SIGNING_CERT`, `RECORDS_SIGNING_KEY`, PEM files,
and `RECORDS_SIGNING_KEY_PASSPHRASE` when the key is encrypted). When neither is set, a self-signed
pair for development and the demo is generated once in PRIVATE_ROOT/signing/. Checking a PDF trusts
that certificate and nothing else: a PDF signed with any other key is reported as not genuine.
"""

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.general import load_cert_from_pemder
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

logger = logging.getLogger(__name__)

DEVELOPMENT_COMMON_NAME = "Supervision development signing"
CERTIFICATE_FILE = "certificate.pem"
KEY_FILE = "key.pem"
FIELD_NAME = "Signature1"
# Document information entries, written by WeasyPrint from the template's <meta> tags before signing
# (the HTML parser lowercases their names).
RECORD_KEY = "/supervisionrecord"
CONTENT_HASH_KEY = "/contentsha256"


@dataclass(frozen=True)
class SigningMaterial:
    certificate: Path
    key: Path
    passphrase: bytes | None
    development: bool


def signing_material() -> SigningMaterial:
    """The configured certificate and key, or the development pair (generated on first use)."""
    certificate, key = settings.RECORDS_SIGNING_CERT, settings.RECORDS_SIGNING_KEY
    if certificate or key:
        if not (certificate and key):
            raise ImproperlyConfigured("Set both RECORDS_SIGNING_CERT and RECORDS_SIGNING_KEY, or neither.")
        passphrase = settings.RECORDS_SIGNING_KEY_PASSPHRASE
        return SigningMaterial(Path(certificate), Path(key), passphrase.encode() if passphrase else None, False)
    directory = Path(settings.PRIVATE_ROOT) / "signing"
    ensure_development_certificate(directory)
    return SigningMaterial(directory / CERTIFICATE_FILE, directory / KEY_FILE, None, True)


def write_self_signed(directory: Path, *, common_name: str, organisation: str = "", years: int = 10) -> None:
    """A new RSA 2048 key (readable by the owner only) and a self-signed certificate, in `directory`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    name = x509.Name(attributes)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a little clock skew between machines
        .not_valid_after(now + timedelta(days=365 * years + years // 4))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # non-repudiation ("content commitment") is what PDF signature validators look for.
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(directory / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(key_pem)
    with open(directory / CERTIFICATE_FILE, "xb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))


def ensure_development_certificate(directory: Path) -> None:
    """Generate the development pair once. Both files appear together (a directory rename), so two
    workers starting at the same time never end up with a key that does not match the certificate."""
    if (directory / CERTIFICATE_FILE).is_file() and (directory / KEY_FILE).is_file():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".signing-", dir=directory.parent))  # mode 0700
    try:
        write_self_signed(staging, common_name=DEVELOPMENT_COMMON_NAME)
        try:
            os.rename(staging, directory)
        except OSError:
            # Another process got there first; use its pair.
            if not (directory / CERTIFICATE_FILE).is_file():
                raise ImproperlyConfigured(
                    f"{directory} exists without a certificate: remove it, or set RECORDS_SIGNING_CERT."
                ) from None
        else:
            logger.warning(
                "Generated a self-signed certificate for signing record PDFs in %s. It is for development "
                "and the demo: set RECORDS_SIGNING_CERT and RECORDS_SIGNING_KEY in production.",
                directory,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def installation_signer() -> signers.SimpleSigner:
    """The installation's signer, loaded once per process (`loaded_signer`)."""
    return loaded_signer(signing_material())


def installation_certificate_self_signed() -> bool:
    """Whether the installation's certificate (used by organisations without their own) is self-signed:
    PDF readers then show its signatures as of unknown validity, and the PDF and verify page say so."""
    path = signing_material().certificate

    def load():
        certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
        return certificate.issuer == certificate.subject

    return _cached("self_signed", _stamp(Path(path)), load)


def _outside_any_event_loop(call):
    """`call()`, where pyHanko can run it. Its synchronous functions run its asynchronous ones with
    `asyncio.run`, which refuses to start in a thread whose event loop is running: an async caller, or a
    test's thread that Playwright keeps a loop on, where signing raised and checking a signature reported a
    sound file as damaged. There the call runs in a thread of its own; in the web processes and the workers
    (no loop) it runs here, as before."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def sign_pdf(data: bytes, *, reason: str, name: str, signer: signers.Signer | None = None) -> bytes:
    """Sign the whole PDF, certifying that no change is allowed: with `signer` (an organisation's own
    certificate, records/certificates.py), or the installation's certificate."""
    signer = signer or installation_signer()
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        reason=reason,
        name=name,
        md_algorithm="sha256",
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(BytesIO(data))
    signed = _outside_any_event_loop(
        lambda: signers.sign_pdf(writer, metadata, signer=signer, bytes_reserved=signer.bytes_reserved).getvalue()
    )
    if signer.bytes_reserved is None:
        [signature] = PdfFileReader(BytesIO(signed)).embedded_regular_signatures
        start, length, end, _ = (int(n) for n in signature.byte_range)
        signer.bytes_reserved = end - (start + length) - 2  # the hex digits between < and >
    return signed


# The parsed key and certificate, kept for the life of the process: loading them costs more than the rest
# of a signature. Keyed by the files' identity, size and modification time (and the passphrase), so a
# certificate renewed in place, or a setting pointing elsewhere, is loaded afresh at the next signature.
_loaded: dict[str, tuple[tuple, object]] = {}
_loaded_lock = threading.Lock()


def _stamp(*paths: Path) -> tuple:
    stamps = []
    for path in paths:
        stat = path.stat()
        stamps.append((str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


def _cached(name: str, stamp: tuple, load):
    with _loaded_lock:
        hit = _loaded.get(name)
        if hit and hit[0] == stamp:
            return hit[1]
    value = load()
    with _loaded_lock:
        _loaded[name] = (stamp, value)
    return value


class _ParsedKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner parses its private key again for every raw signature, and a PDF takes two
    (the container's size is estimated by signing too): about 0.2 s each for RSA 2048, most of a
    signature's time. This one parses it once; other mechanisms than RSA PKCS#1 v1.5 go through pyHanko."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._private_key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        # The space pyHanko reserved for the signature in this signer's first PDF: it depends on the
        # certificate and key only, so later PDFs reuse it instead of estimating it by a trial signature.
        self.bytes_reserved: int | None = None

    @classmethod
    def from_loaded(cls, signer: signers.SimpleSigner) -> "_ParsedKeySigner":
        return cls(
            signing_cert=signer.signing_cert,
            signing_key=signer.signing_key,
            cert_registry=signer.cert_registry,
            signature_mechanism=signer.signature_mechanism,
        )

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._private_key, rsa.RSAPrivateKey):
            return self._private_key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return super().sign_raw(data, digest_algorithm)


def kept_signer(name: str, stamp: tuple, load) -> signers.SimpleSigner:
    """A signer built by `load()` once per process for this name and stamp (an organisation's certificate,
    records/certificates.py), with its key parsed once like the installation's."""
    return _cached(name, stamp, lambda: _ParsedKeySigner.from_loaded(load()))


def loaded_signer(material: SigningMaterial) -> signers.SimpleSigner:
    """The signer for this key and certificate, loaded once per process and again when either file changes."""

    def load():
        signer = signers.SimpleSigner.load(
            str(material.key), str(material.certificate), key_passphrase=material.passphrase
        )
        if signer is None:  # pyHanko logs why
            raise ImproperlyConfigured(f"Could not load the signing key {material.key} and certificate.")
        return _ParsedKeySigner.from_loaded(signer)

    stamp = (_stamp(material.key, material.certificate), material.passphrase)
    return _cached("signer", stamp, load)


def trusted_certificate():
    """The certificate checks trust, loaded once per process and again when its file changes."""
    path = signing_material().certificate
    return _cached("certificate", _stamp(path), lambda: load_cert_from_pemder(str(path)))


@dataclass(frozen=True)
class SignatureCheck:
    """What a PDF says about itself, and whether its signature holds."""

    readable: bool
    signed: bool = False
    intact: bool = False  # the signed bytes still hash to the digest that was signed
    valid: bool = False  # the signature over that digest is cryptographically valid
    whole_file: bool = False  # the signature covers the entire file: nothing added after signing
    trusted: bool = False  # made with this installation's certificate
    signer: str = ""
    signed_at: datetime | None = None
    record_code: str = ""
    content_sha256: str = ""
    problem: str = ""
    # Not checked at all: the file needed more time or memory than a record's PDF (records/pdfcheck.py).
    refused: bool = False

    @property
    def genuine(self) -> bool:
        return all((self.readable, self.signed, self.intact, self.valid, self.whole_file, self.trusted))


def check_signed_pdf(data: bytes, *, trusted: list | None = None) -> SignatureCheck:
    """Validate the one signature of a record PDF against the installation's certificate, or the
    certificates in `trusted` (the installation's and the organisation's own).

    Anything unexpected (a file that does not parse, no signature or several, a signature that cannot
    be read) is reported as a problem, never as intact. Running out of memory is not a problem of the
    file's but a refusal to check it: MemoryError goes up. Parses the file in this process: uploads are
    checked through records.pdfcheck, in a child process with limits.
    """
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        info = reader.trailer_view.get("/Info")
        info = info.get_object() if info is not None else {}
        record_code = str(info.get(RECORD_KEY, ""))
        content_sha256 = str(info.get(CONTENT_HASH_KEY, ""))
        signatures = reader.embedded_regular_signatures
    except MemoryError:
        raise
    except Exception as error:  # a damaged file can fail anywhere in the parser
        logger.info("Unreadable PDF uploaded for checking: %r", error)
        return SignatureCheck(readable=False, problem="The file could not be read as a PDF.")
    claimed = {"record_code": record_code.strip(), "content_sha256": content_sha256.strip().lower()}
    if len(signatures) != 1:
        problem = "The file has no digital signature." if not signatures else "The file has more than one signature."
        return SignatureCheck(readable=True, problem=problem, **claimed)
    try:
        context = ValidationContext(trust_roots=list(trusted or [trusted_certificate()]))
        usage = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"})
        status = _outside_any_event_loop(
            lambda: validate_pdf_signature(signatures[0], context, key_usage_settings=usage)
        )
    except MemoryError:
        raise
    except Exception as error:
        logger.info("Signature of an uploaded PDF could not be validated: %r", error)
        return SignatureCheck(
            readable=True, signed=True, problem="The signature could not be read: the file is damaged.", **claimed
        )
    subject = status.signing_cert.subject
    check = SignatureCheck(
        readable=True,
        signed=True,
        intact=bool(status.intact),
        valid=bool(status.valid),
        whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE and status.docmdp_ok is not False,
        trusted=bool(status.trusted),
        signer=subject.native.get("common_name") or subject.human_friendly,
        signed_at=status.signer_reported_dt,
        **claimed,
    )
    untouched = _signature_bytes_untouched(data, signatures[0])
    if not untouched:
        check = replace(check, whole_file=False)
    if not (check.intact and check.valid) or not untouched:
        problem = "The file has changed since it was signed."
    elif not check.whole_file:
        problem = "Something was added to the file after it was signed."
    elif not check.trusted:
        problem = "The file was not signed with this organisation's certificate."
    else:
        problem = ""
    return replace(check, problem=problem)


def _signature_bytes_untouched(data: bytes, signature) -> bool:
    """The one part of a signed PDF its signature cannot cover is the hex string that holds the
    signature itself. A changed byte in its zero padding, or a hex digit turned to lower case, leaves
    the signature valid but the file different: require exactly the signature's own digits, then zeros."""
    try:
        start, length, end, _ = (int(n) for n in signature.byte_range)
        contents = signature.pkcs7_content
        _, _, _, header, body, trailer = asn1_parser.parse(contents)
    except (TypeError, ValueError):
        return False
    if contents[len(header) + len(body) + len(trailer) :].strip(b"\x00"):
        return False
    digits = contents.hex().encode("ascii")
    return data[start + length : end] in (b"<" + digits.upper() + b">", b"<" + digits + b">")
