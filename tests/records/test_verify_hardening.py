"""Issue 13: /records/verify/ answers a crafted PDF quickly and never parses an upload in the web process.

A 20 KB PDF whose cross-reference stream declares millions of entries used to take the server 15 s
and 750 MB. Now a stored copy is recognised by its SHA-256 without parsing, a file declaring far more
objects than a record has is refused unread, and everything else is parsed in a child process with
CPU, memory and wall-clock limits.
"""

import time
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditEvent
from records import pdfcheck
from records.pdf import store_record_pdf

from .helpers import signed_record

pytestmark = pytest.mark.django_db

NOT_CHECKED = "This file could not be checked"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def crafted_pdf(entries: int = 3_000_000, *, size_key: bytes = b"/Size") -> bytes:
    """A valid-looking PDF of about 20 KB whose cross-reference stream declares `entries` entries
    (/Size and /Index), its data a compressed run of zeros (7 bytes an entry)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    out += b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    out += b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    xref_at = len(out)
    squeeze = zlib.compressobj(9)
    chunk = bytes(7 * 100_000)
    data = b"".join(squeeze.compress(chunk) for _ in range(entries // 100_000)) + squeeze.flush()
    out += b"3 0 obj\n<< /Type /XRef %s %d /W [1 4 2] /Index [0 %d] /Root 1 0 R /Filter /FlateDecode /Length %d >>" % (
        size_key,
        entries,
        entries,
        len(data),
    )
    out += b"\nstream\n" + data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def post(client, data: bytes):
    return client.post(
        reverse("records:record-verify"),
        {"file": SimpleUploadedFile("record.pdf", data, content_type="application/pdf")},
    )


def page_of(response) -> str:
    return " ".join(response.content.decode().split())


def timed_post(client, data):
    before = rss_kb()
    started = time.monotonic()
    response = post(client, data)
    seconds = time.monotonic() - started
    grown_mb = (rss_kb() - before) / 1024
    return response, seconds, grown_mb


def test_the_crafted_pdf_is_about_20_kb_and_declares_millions_of_entries():
    data = crafted_pdf()
    assert 15_000 < len(data) < 25_000
    assert pdfcheck.declared_objects(data) == 3_000_000


def test_a_crafted_pdf_declaring_millions_of_entries_is_answered_at_once(cast, login):
    data = crafted_pdf()
    client = login(cast.head)
    response, seconds, grown_mb = timed_post(client, data)

    page = page_of(response)
    assert response.status_code == 200
    assert seconds < 2, f"took {seconds:.2f} s"
    assert grown_mb < 20, f"the server process grew by {grown_mb:.1f} MB"
    assert f"{NOT_CHECKED}: it declares 3,000,000 objects" in page
    assert "Intact:" not in page
    event = AuditEvent.objects.get(action="record.verified")
    assert event.details["outcome"] == "not checked"
    assert event.details["checked"] == "refused unread"


def test_a_crafted_pdf_that_spells_its_names_with_escapes_is_still_screened(cast, login):
    data = crafted_pdf(size_key=b"/Si#7Ae")
    response, seconds, _ = timed_post(login(cast.dsl), data)
    assert seconds < 2
    assert f"{NOT_CHECKED}: it declares 3,000,000 objects" in page_of(response)


def test_what_passes_the_screen_is_parsed_in_a_child_and_stopped_at_its_cpu_limit(cast, login, monkeypatch):
    # As if the screen had missed it: the child process parses it, and runs out of time.
    monkeypatch.setattr(pdfcheck, "MAX_DECLARED_OBJECTS", 10**9)
    monkeypatch.setattr(pdfcheck, "CPU_SECONDS", 1)
    response, seconds, grown_mb = timed_post(login(cast.auditor), crafted_pdf())

    page = page_of(response)
    assert f"{NOT_CHECKED}: reading it needed more time or memory than any record&#x27;s PDF does." in page
    assert "Intact:" not in page
    assert seconds < pdfcheck.WALL_SECONDS
    assert grown_mb < 20, f"the server process grew by {grown_mb:.1f} MB"
    event = AuditEvent.objects.get(action="record.verified")
    assert (event.details["outcome"], event.details["checked"]) == ("not checked", "refused")


def test_the_child_is_stopped_at_its_memory_limit(cast, login, monkeypatch):
    monkeypatch.setattr(pdfcheck, "MAX_DECLARED_OBJECTS", 10**9)
    monkeypatch.setattr(pdfcheck, "MEMORY_BYTES", 16 * 1024 * 1024)
    response, seconds, grown_mb = timed_post(login(cast.org_admin), crafted_pdf())

    assert NOT_CHECKED in page_of(response)
    assert seconds < pdfcheck.WALL_SECONDS
    assert grown_mb < 20


def test_a_child_past_its_wall_clock_limit_is_killed(cast, login, monkeypatch):
    monkeypatch.setattr(pdfcheck, "MAX_DECLARED_OBJECTS", 10**9)
    monkeypatch.setattr(pdfcheck, "WALL_SECONDS", 0.5)  # not even time to start
    response, seconds, _ = timed_post(login(cast.head), crafted_pdf())
    assert NOT_CHECKED in page_of(response)
    assert seconds < 2


def test_a_stored_copy_is_recognised_by_its_hash_without_parsing(cast, login, monkeypatch):
    record = signed_record(cast)
    data = store_record_pdf(record.id).read_bytes()

    def no_parsing(*args, **kwargs):
        raise AssertionError("a stored copy needs no parsing")

    monkeypatch.setattr(pdfcheck, "check_in_child", no_parsing)
    monkeypatch.setattr(pdfcheck, "screen", no_parsing)
    page = page_of(post(login(cast.head), data))
    assert "Intact: a signed record of Cast Trust" in page
    assert str(record.code) in page and "Matches" in page and "Same file" in page
    assert AuditEvent.objects.get(action="record.verified").details["checked"] == "stored copy"


def test_a_stored_copy_of_another_organisation_is_not_recognised(cast, login):
    record = signed_record(cast)
    data = store_record_pdf(record.id).read_bytes()
    page = page_of(post(login(cast.outsider), data))
    assert "Not confirmed: not a record of Other Trust" in page
    assert AuditEvent.objects.get(action="record.verified").details["checked"] == "child process"


def test_a_genuine_copy_not_byte_for_byte_stored_is_checked_in_the_child(cast, login):
    record = signed_record(cast)
    data = store_record_pdf(record.id).read_bytes()
    page = page_of(post(login(cast.head), data + b"\n% appended\n"))
    assert "Not intact" in page and "Intact:" not in page
    event = AuditEvent.objects.get(action="record.verified")
    assert event.details["checked"] == "child process"
    assert event.details["signature"] is False


def test_an_upload_over_the_limit_is_cut_off_with_a_message_beside_the_field(cast, login, monkeypatch):
    from records.views.pdf import VerifyForm

    monkeypatch.setattr(VerifyForm, "MAX_BYTES", 4096)
    response = post(login(cast.auditor), b"%PDF-1.7\n" + b"0" * 100_000)
    page = page_of(response)
    assert response.status_code == 200
    assert 'id="id_file"' in page and "is-invalid" in page
    assert "The file is larger than 20 MB: a record&#x27;s PDF is far smaller." in page
    assert "This field is required" not in page
    assert not AuditEvent.objects.filter(action="record.verified").exists()


def test_the_verify_form_still_needs_the_csrf_token(cast):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.head.user)
    response = post(client, crafted_pdf())
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="record.verified").exists()


@pytest.mark.parametrize(
    ("text", "declared"),
    [
        (b"<< /Type /XRef /Size 12 /Index [0 5 10 2] >>", 12),
        (b"<< /Type /XRef /Size 12 /Index [0 5 2000000 2] >>", 2_000_002),
        (b"<< /Type /ObjStm /N 500000 /First 10 >>", 500_000),
        (b"<< /Si#7ae +7000000 >>", 7_000_000),
        (b"xref\n0 4000000\n0000000000 65535 f \n", 4_000_000),
        (b"xref\n0 3\n0000000000 65535 f \n", 3),
    ],
)
def test_the_screen_reads_every_way_of_declaring_objects(text, declared):
    assert pdfcheck.declared_objects(b"%PDF-1.7\n" + text) == declared
