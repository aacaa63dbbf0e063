"""The signing key and certificate are parsed once per process, and again when either file changes."""

import shutil
from io import BytesIO

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers

from records import signing
from records.pdf import html_to_pdf


@pytest.fixture
def configured(settings, tmp_path):
    folder = tmp_path / "trust"
    signing.write_self_signed(folder, common_name="First certificate", organisation="Cast Trust")
    settings.RECORDS_SIGNING_CERT = str(folder / "certificate.pem")
    settings.RECORDS_SIGNING_KEY = str(folder / "key.pem")
    settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return folder


@pytest.fixture
def loads(monkeypatch):
    calls = []
    original = signers.SimpleSigner.load

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(signers.SimpleSigner, "load", counting)
    return calls


def _signer_name(data: bytes) -> str:
    [signature] = PdfFileReader(BytesIO(data)).embedded_regular_signatures
    return signature.signer_cert.subject.native["common_name"]


def test_the_key_is_loaded_once_for_many_signatures(configured, loads):
    pdf = html_to_pdf("<p>A record</p>")
    for _ in range(3):
        signed = signing.sign_pdf(pdf, reason="Test", name="Test")
    assert len(loads) == 1
    assert signing.check_signed_pdf(signed).genuine


def test_a_certificate_renewed_in_place_is_used_at_the_next_signature(configured, loads, tmp_path):
    pdf = html_to_pdf("<p>A record</p>")
    assert _signer_name(signing.sign_pdf(pdf, reason="Test", name="Test")) == "First certificate"
    renewed = tmp_path / "renewed"
    signing.write_self_signed(renewed, common_name="Renewed certificate", organisation="Cast Trust")
    for name in ("certificate.pem", "key.pem"):
        shutil.copyfile(renewed / name, configured / name)
    signed = signing.sign_pdf(pdf, reason="Test", name="Test")
    assert _signer_name(signed) == "Renewed certificate"
    assert len(loads) == 2
    # Checks trust the renewed certificate too, not the one parsed before.
    assert signing.check_signed_pdf(signed).genuine
