"""The signing key and certificate are parsed once per process, and again when either file changes."""

import shutil
from concurrent.futures import ThreadPoolExecutor
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


def test_signing_and_checking_work_inside_a_running_event_loop(configured):
    """pyHanko runs its work with `asyncio.run`, which refuses to start where an event loop is running (an
    async caller; a test thread Playwright keeps a loop on): there signing raised and a sound file was
    reported damaged. Both now run in a thread of their own there, and the same as anywhere else."""
    import asyncio

    data = html_to_pdf("<html lang='en'><body><p>Record</p></body></html>")
    outside = signing.check_signed_pdf(signing.sign_pdf(data, reason="Test", name="Test"))

    async def inside():
        signed = signing.sign_pdf(data, reason="Test", name="Test")
        return signed, signing.check_signed_pdf(signed)

    # In a thread of its own: `asyncio.run` refuses to start on this test's thread when an earlier browser
    # test in the same worker left Playwright's loop on it (which is the case signing must survive, but not
    # one this test can start from).
    with ThreadPoolExecutor(max_workers=1) as pool:
        signed, check = pool.submit(asyncio.run, inside()).result()
    assert _signer_name(signed) == "First certificate"
    assert check.genuine and outside.genuine and check.problem == ""
