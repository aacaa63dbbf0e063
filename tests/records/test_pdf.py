"""The signed PDF for the staff file: its content, its digital signature, the fetcher that keeps the
renderer away from files and the network, the download view and /records/verify/."""

import gc
import hashlib
import socket
import subprocess
import threading
from datetime import date, timedelta
from io import BytesIO, StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from accounts.models import AuditEvent
from records import services
from records.models import FlagKind, Record, RecordStatus
from records.pdf import BundledFilesOnly, RefusedURL, html_to_pdf, pdf_filename, store_record_pdf
from records.signing import trusted_certificate, write_self_signed
from supervision.services import group_create, session_book
from tests.factories import PASSWORD
from tests.supervision.helpers import at, signed_contract

SESSION_DAY = date(2025, 11, 3)  # a Monday
DISCUSSION = {
    "Health and Welfare": "Back after a week off; feeling rested.\nWorkload is manageable.",
    "Practice Progress": "Phonics groups observed: strong pace and questioning.",
    "Children and Families": "Worries about attendance of one child; see the decision below.",
    "Professional Development": "Wants the Level 3 safeguarding course this term.",
    "Specific Areas of Additional Responsibility": "Leads the Year 2 reading champions.",
    "Any Other Business": "None.",
}
ACTIONS = ("Book the Level 3 safeguarding course", "Share the phonics observation with the team")
CHILD = "CP-2025-0142"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def write_record(cast) -> Record:
    """A 1:1 record with every kind of content, submitted but not signed."""
    contract = signed_contract(cast.supervisee, cast.supervisor)
    session = session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(SESSION_DAY, 14), minutes=30, check=False, send=False
    )
    record = services.record_start(actor=cast.supervisor, session=session)
    for section in record.sections.select_related("template_section"):
        services.section_save(
            actor=cast.supervisor, section=section, discussion=DISCUSSION[section.template_section.title]
        )
    first = record.sections.order_by("template_section__order").first()
    for description in ACTIONS:
        services.action_add(
            actor=cast.supervisor, record=record, description=description, owner=cast.supervisee,
            due_date=SESSION_DAY + timedelta(days=21), section=first,
        )  # fmt: skip
    services.decision_add(
        actor=cast.supervisor, record=record, child_reference=CHILD, key_person=cast.supervisee,
        decision="Refer the attendance pattern to the DSL.",
    )  # fmt: skip
    # flag_raise queues the DSL's notice on commit; the test transaction never commits, so it is not sent.
    services.flag_raise(actor=cast.supervisor, record=record, kind=FlagKind.PERFORMANCE_RISK, note="See the DSL.")
    services.record_set_review(actor=cast.supervisor, record=record, previous_notes_agreed=True)
    services.record_submit(actor=cast.supervisor, record=record)
    return record


def sign(cast, record) -> Record:
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED
    return record


@pytest.fixture
def record(cast) -> Record:
    """Signed and locked; its PDF not yet made."""
    return sign(cast, write_record(cast))


@pytest.fixture
def stored(record):
    """The signed record with its PDF stored: (record, pdf bytes)."""
    path = store_record_pdf(record.id)
    record.refresh_from_db()
    return record, path.read_bytes()


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def validate(data: bytes):
    reader = PdfFileReader(BytesIO(data))
    (signature,) = reader.embedded_regular_signatures
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[trusted_certificate()]))


def flip_byte_in_signed_range(data: bytes) -> bytes:
    """One byte changed inside the first signed range, in the page content rather than the structure."""
    reader = PdfFileReader(BytesIO(data))
    (signature,) = reader.embedded_regular_signatures
    start, length = signature.byte_range[0], signature.byte_range[1]
    position = data.index(b"stream", start) + 40  # inside the first stream: the file still parses
    assert start < position < start + length
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


def post_pdf(client, data: bytes, name="record.pdf"):
    return client.post(
        reverse("records:record-verify"), {"file": SimpleUploadedFile(name, data, content_type="application/pdf")}
    )


# --- The PDF -------------------------------------------------------------------------------------


def test_the_pdf_holds_the_whole_record(cast, stored):
    record, data = stored
    text = pdf_text(data)
    for expected in (
        "CONFIDENTIAL",
        "Cast Trust",
        "Cast Primary",
        cast.supervisee.full_name,
        cast.supervisor.full_name,
        "Supervisor",
        "Supervisee",
        "Mon 3 Nov 2025, 14:00 to 14:30",
        "1-1 Supervision Record, version 1",
        *DISCUSSION,
        "Phonics groups observed",
        *ACTIONS,
        CHILD,
        "Refer the attendance pattern to the DSL.",
        "Performance or capability putting children's safety at risk",
        "Agreed by both",
        record.content_hash,
        "Page 1 of",
    ):
        assert expected in " ".join(text.split()), expected
    # Every page is marked and numbered.
    pages = text.split("\f")[:-1]
    assert len(pages) >= 2
    assert all("CONFIDENTIAL" in page and f"of {len(pages)}" in page for page in pages)


def test_the_pdf_is_signed_over_the_whole_file_and_names_its_record(stored):
    record, data = stored
    status = validate(data)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.docmdp_ok
    info = PdfFileReader(BytesIO(data)).trailer_view["/Info"]
    assert str(info["/supervisionrecord"]) == str(record.code)
    assert str(info["/contentsha256"]) == record.content_hash


def test_storing_the_pdf_records_its_hash_and_can_run_again(cast, record, private_root):
    first = store_record_pdf(record.id)
    second = store_record_pdf(record.id)
    record.refresh_from_db()
    assert first == second == private_root / record.pdf_path
    assert record.pdf_path == f"records/{cast.organisation.code}/{record.code}.pdf"
    assert record.pdf_sha256 == hashlib.sha256(second.read_bytes()).hexdigest()
    assert record.pdf_generated_at is not None
    assert [p.name for p in second.parent.iterdir()] == [second.name]  # no temporary file left behind
    # The second run found the PDF stored: it rendered and stored nothing (tests/records/test_pdf_once.py).
    assert AuditEvent.objects.filter(action="record.pdf_stored", object_code=str(record.code)).count() == 1
    # The event names the session as the audit trail words it: who was supervised, and by whom.
    event = AuditEvent.objects.get(action="record.pdf_stored", object_code=str(record.code))
    assert record.session.contract_id and event.object_repr == f"Record of {record.session}"
    assert record.session.contract.supervisee.full_name in event.object_repr
    key = private_root / "signing" / "key.pem"
    assert key.stat().st_mode & 0o777 == 0o600


def test_the_cycle_collector_is_held_off_while_the_pdf_is_made_and_on_again_after(record, monkeypatch):
    from records import pdf

    during = []
    real_render = pdf.render_record_pdf_bytes
    monkeypatch.setattr(
        pdf, "render_record_pdf_bytes", lambda *a, **kw: during.append(gc.isenabled()) or real_render(*a, **kw)
    )
    assert gc.isenabled()
    assert store_record_pdf(record.id) is not None
    assert during == [False]
    assert gc.isenabled()


def test_the_cycle_collector_is_on_again_when_the_render_fails(record, monkeypatch):
    from records import pdf

    def fail(*args, **kwargs):
        raise RefusedURL("refused")

    monkeypatch.setattr(pdf, "render_record_pdf_bytes", fail)
    with pytest.raises(RefusedURL):
        store_record_pdf(record.id)
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off(record):
    gc.disable()
    try:
        store_record_pdf(record.id)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_group_record_says_so_and_shows_its_boundaries(cast):
    boundaries = "What is said stays in the room, except safeguarding concerns."
    group = group_create(
        actor=cast.supervisor, name="Reading team", setting=cast.primary, supervisor=cast.supervisor,
        members=[cast.supervisee, cast.dsl], confidentiality_boundaries=boundaries,
    )  # fmt: skip
    session = session_book(
        actor=cast.supervisor, group=group, starts_at=at(SESSION_DAY, 15), minutes=60, check=False, send=False
    )
    record = services.record_start(actor=cast.supervisor, session=session)
    section = record.sections.order_by("template_section__order").first()
    services.section_save(actor=cast.supervisor, section=section, discussion="Why we met: the reading data.")
    services.record_submit(actor=cast.supervisor, record=record)
    for person in (cast.supervisee, cast.dsl, cast.supervisor):
        services.record_sign(actor=person, record=record, password=PASSWORD)
    record.refresh_from_db()
    text = " ".join(pdf_text(store_record_pdf(record.id).read_bytes()).split())
    assert "Group supervision: Reading team" in text
    assert "This was a group supervision session." in text
    assert boundaries in text
    assert text.count("Group participant") == 4  # two in the people table, two in the signatures
    assert cast.dsl.full_name in text and cast.supervisee.full_name in text
    assert pdf_filename(record) == "supervision-record-2025-11-03-reading-team.pdf"


def signed_group_record(cast, members, hour) -> Record:
    """A group record everyone signed before names were kept (`names_as_signed` empty), so its PDF reads
    each person's name as it is now."""
    group = group_create(
        actor=cast.supervisor, name=f"Team {len(members)}", setting=cast.primary, supervisor=cast.supervisor,
        members=members, confidentiality_boundaries="What is said stays in the room.",
    )  # fmt: skip
    session = session_book(
        actor=cast.supervisor, group=group, starts_at=at(SESSION_DAY, hour), minutes=60, check=False, send=False
    )
    record = services.record_start(actor=cast.supervisor, session=session)
    section = record.sections.order_by("template_section__order").first()
    services.section_save(actor=cast.supervisor, section=section, discussion="Why we met: the reading data.")
    services.record_submit(actor=cast.supervisor, record=record)
    for person in (*members, cast.supervisor):
        services.record_sign(actor=person, record=record, password=PASSWORD)
    Record.objects.filter(pk=record.pk).update(names_as_signed={})
    return record


def test_the_pdf_makes_as_many_queries_for_a_group_of_four_as_for_a_group_of_two(cast):
    """Two sizes: the people's names come with them in one query (they were a query a person, twice)."""
    counts = []
    for members, hour in (
        ([cast.supervisee, cast.dsl], 10),
        ([cast.supervisee, cast.dsl, cast.head, cast.org_admin], 12),
    ):
        record = signed_group_record(cast, members, hour)
        with CaptureQueriesContext(connection) as queries:
            path = store_record_pdf(record.id)
        text = " ".join(pdf_text(path.read_bytes()).split())
        assert all(person.full_name in text for person in members)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_an_addendum_goes_into_a_new_copy_and_the_earlier_copy_still_checks_out(cast, stored, login):
    record, first = stored
    addendum = services.addendum_add(actor=cast.supervisor, record=record, text="The course is booked for 12 January.")
    services.addendum_sign(actor=cast.supervisor, addendum=addendum, password=PASSWORD)
    services.addendum_sign(actor=cast.supervisee, addendum=addendum, password=PASSWORD)
    second = store_record_pdf(record.id).read_bytes()
    text = " ".join(pdf_text(second).split())
    assert "Addendum 1, by Sam Supervisor" in text
    assert "The course is booked for 12 January." in text
    # The head of the record's setting may know which record it is (an auditor needs a live grant).
    page = " ".join(post_pdf(login(cast.head), first).content.decode().split())
    assert "Intact: a signed record of Cast Trust" in page
    assert "Earlier copy" in page


def test_a_configured_certificate_with_a_passphrase_signs_the_pdf(settings, tmp_path, record):
    folder = tmp_path / "trust"
    write_self_signed(folder, common_name="Cast Trust record signing", organisation="Cast Trust")
    key = serialization.load_pem_private_key((folder / "key.pem").read_bytes(), password=None)
    (folder / "encrypted.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    settings.RECORDS_SIGNING_CERT = str(folder / "certificate.pem")
    settings.RECORDS_SIGNING_KEY = str(folder / "encrypted.pem")
    settings.RECORDS_SIGNING_KEY_PASSPHRASE = "open sesame"
    status = validate(store_record_pdf(record.id).read_bytes())
    assert status.bottom_line
    assert status.signing_cert.subject.native["common_name"] == "Cast Trust record signing"
    assert not (settings.PRIVATE_ROOT / "signing").exists()  # no development pair was made

    settings.RECORDS_SIGNING_KEY_PASSPHRASE = "wrong"
    record.refresh_from_db()
    (settings.PRIVATE_ROOT / record.pdf_path).unlink()  # a stored PDF is never signed again: lose it first
    with pytest.raises(ImproperlyConfigured):
        store_record_pdf(record.id)


def test_the_command_makes_a_certificate_once(tmp_path):
    call_command("make_signing_certificate", name="Cast Trust", directory=tmp_path / "signing", stdout=StringIO())
    assert (tmp_path / "signing" / "key.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(CommandError):
        call_command("make_signing_certificate", name="Cast Trust", directory=tmp_path / "signing", stdout=StringIO())


def test_a_record_that_is_not_signed_gets_no_pdf(cast):
    record = write_record(cast)
    assert store_record_pdf(record.id) is None
    record.refresh_from_db()
    assert record.pdf_path == ""


# --- The fetcher ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "https://example.org/font.ttf",
        "ftp://example.org/x",
        "data:text/plain,hello",
        "bundle:../config/settings.py",
        "bundle:fonts/../../config/settings.py",
        "bundle:/etc/passwd",
        "bundle:fonts/missing.ttf",
        "/static/fonts/DejaVuSans.ttf",
    ],
)
def test_the_fetcher_refuses_everything_but_bundled_files(url):
    fetcher = BundledFilesOnly()
    with pytest.raises(RefusedURL):
        fetcher(url)
    assert fetcher.refused == [url] and fetcher.fetched == []


def test_the_fetcher_serves_the_bundled_font():
    response = BundledFilesOnly()("bundle:fonts/DejaVuSans.ttf")
    assert response.read(4) == b"\x00\x01\x00\x00"


def test_rendering_never_reaches_a_file_or_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the renderer opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    fetcher = BundledFilesOnly()
    html = """<html><head>
      <link rel="stylesheet" href="http://169.254.169.254/latest/meta-data/">
      <style>@import url("file:///etc/hostname"); @font-face { font-family: X; src: url("file:///etc/passwd"); }
      body { font-family: X; background: url("https://example.org/pixel.png"); }</style>
      </head><body><p>Hello</p><img src="file:///etc/passwd"><img src="http://169.254.169.254/"></body></html>"""
    with pytest.raises(RefusedURL):
        html_to_pdf(html, fetcher)
    assert fetcher.fetched == []
    assert set(fetcher.refused) >= {
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "http://169.254.169.254/",
    }


def test_the_record_pdf_loads_only_bundled_fonts(record, monkeypatch):
    from records import pdf

    fetchers = []
    monkeypatch.setattr(
        pdf, "BundledFilesOnly", lambda **kwargs: fetchers.append(BundledFilesOnly(**kwargs)) or fetchers[-1]
    )
    monkeypatch.setattr(pdf, "_parsed", threading.local())  # the stylesheet parsed afresh, fonts and all
    pdf.render_record_pdf_bytes(record)
    # One fetcher for the stylesheet (parsed once a thread, with its fonts), one for the document.
    assert len(fetchers) == 2
    assert [f.refused for f in fetchers] == [[], []]
    assert {url for f in fetchers for url in f.fetched} == {
        "bundle:fonts/DejaVuSans.ttf",
        "bundle:fonts/DejaVuSans-Bold.ttf",
        "bundle:fonts/DejaVuSansMono.ttf",
    }


# --- Download ------------------------------------------------------------------------------------


def test_the_supervisee_downloads_the_pdf(cast, stored, login):
    record, data = stored
    response = login(cast.supervisee).get(reverse("records:record-pdf", args=[record.code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="supervision-record-2025-11-03-sid-supervisee.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store, private"
    assert b"".join(response.streaming_content) == data
    assert AuditEvent.objects.filter(action="record.pdf_downloaded", actor=cast.supervisee.user).count() == 1


def test_the_supervisor_downloads_the_pdf(cast, stored, login):
    record, _ = stored
    assert login(cast.supervisor).get(reverse("records:record-pdf", args=[record.code])).status_code == 200


@pytest.mark.parametrize("person", ["head", "dsl", "auditor", "org_admin", "supervisee2", "outsider"])
def test_nobody_else_gets_the_pdf(cast, stored, login, person):
    record, _ = stored
    response = login(getattr(cast, person)).get(reverse("records:record-pdf", args=[record.code]))
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, stored):
    record, _ = stored
    response = client.get(reverse("records:record-pdf", args=[record.code]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_a_draft_has_no_pdf(cast, login):
    record = write_record(cast)
    assert login(cast.supervisee).get(reverse("records:record-pdf", args=[record.code])).status_code == 404


def test_a_pdf_still_being_prepared_sends_back_to_the_record(cast, record, login):
    response = login(cast.supervisee).get(reverse("records:record-pdf", args=[record.code]))
    assert response.status_code == 302
    assert response["Location"] == reverse("records:record-detail", args=[record.code])


def test_a_missing_file_is_made_again(cast, stored, login, private_root, django_capture_on_commit_callbacks):
    record, _ = stored
    (private_root / record.pdf_path).unlink()
    Record.objects.filter(pk=record.pk).update(pdf_queued_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        response = login(cast.supervisee).get(reverse("records:record-pdf", args=[record.code]))
    assert response.status_code == 302  # "being prepared"; Celery is eager here, so it is back already
    assert (private_root / record.pdf_path).is_file()


def test_the_pdf_view_takes_only_get(cast, stored, login):
    record, _ = stored
    assert login(cast.supervisee).post(reverse("records:record-pdf", args=[record.code])).status_code == 405


# --- Verify --------------------------------------------------------------------------------------


def test_an_untouched_pdf_is_confirmed(cast, stored, login):
    record, data = stored
    # The head of the record's setting may know which record it is (an auditor needs a live grant).
    response = post_pdf(login(cast.head), data)
    page = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert "Intact: a signed record of Cast Trust" in page
    assert str(record.code) in page
    assert "Matches" in page and "Same file" in page
    event = AuditEvent.objects.get(action="record.verified")
    assert event.details["outcome"] == "confirmed" and event.object_code == str(record.code)


def test_one_flipped_byte_is_detected(cast, stored, login):
    _, data = stored
    response = post_pdf(login(cast.head), flip_byte_in_signed_range(data))
    page = " ".join(response.content.decode().split())
    assert response.status_code == 200
    assert "Not intact" in page
    assert "Intact:" not in page
    assert AuditEvent.objects.get(action="record.verified").details["outcome"] == "not confirmed"


@pytest.mark.parametrize("where", [0.3, 0.5, 0.9, 0.999])
def test_a_flipped_byte_anywhere_is_never_reported_intact(cast, stored, login, where):
    _, data = stored
    changed = bytearray(data)
    changed[int(len(data) * where)] ^= 0x20
    page = post_pdf(login(cast.dsl), bytes(changed)).content.decode()
    assert "Intact:" not in page


def test_a_flipped_byte_in_the_signature_data_is_detected(cast, stored, login):
    """The CMS digestAlgorithms set is not covered by the signature: pyHanko still calls the signature
    intact and valid with a changed byte there, so the check also asks for a file that was stored."""
    _, data = stored
    (signature,) = PdfFileReader(BytesIO(data)).embedded_regular_signatures
    start, length, end, _ = signature.byte_range
    position = data.index(b"300D06096086480165030402010500", start + length, end) + 12  # inside the OID
    changed = bytearray(data)
    changed[position] ^= 0x01
    page = " ".join(post_pdf(login(cast.auditor), bytes(changed)).content.decode().split())
    assert "Not intact: this file has been changed" in page
    assert "Intact:" not in page


def test_something_added_after_signing_is_detected(cast, stored, login):
    _, data = stored
    page = post_pdf(login(cast.org_admin), data + b"\n% appended\n").content.decode()
    assert "Not intact" in page


def test_a_record_of_another_organisation_is_not_matched(cast, stored, login):
    _, data = stored
    page = " ".join(post_pdf(login(cast.outsider), data).content.decode().split())
    assert "Not confirmed: not a record of Other Trust" in page
    assert "Intact:" not in page


def test_a_file_that_is_not_a_pdf_is_refused(cast, login):
    response = post_pdf(login(cast.auditor), b"<html>hello</html>", name="record.pdf")
    assert "This is not a PDF file." in response.content.decode()
    assert not AuditEvent.objects.filter(action="record.verified").exists()


def test_a_file_over_the_limit_is_refused(cast, login, monkeypatch):
    from records.views.pdf import VerifyForm

    monkeypatch.setattr(VerifyForm, "MAX_BYTES", 1000)
    response = post_pdf(login(cast.auditor), b"%PDF-1.7\n" + b"0" * 1000)
    assert "The file is larger than 20 MB" in response.content.decode()


@pytest.mark.parametrize("person", ["supervisee", "supervisor"])
def test_verify_is_for_everyone_the_pdf_footer_sends_there(cast, login, person):
    # Issue 16, fault 8: the footer tells every reader to upload the PDF there, the supervisee included.
    response = login(getattr(cast, person)).get(reverse("records:record-verify"))
    assert response.status_code == 200 and 'type="file"' in response.content.decode()


def test_the_verify_page_shows_the_form(cast, login):
    response = login(cast.head).get(reverse("records:record-verify"))
    assert response.status_code == 200
    assert 'type="file"' in response.content.decode()


def test_nothing_in_the_pdf_runs_into_the_page_margins(cast):
    """Every box of every page stays inside the page's content area, where the margins carry the marking
    and page numbers: the facts table's four set widths once ran 22 mm into the right margin. A 1:1 record
    with every kind of content, and a group record, each with a long record reference and names."""
    from django.template.loader import render_to_string

    from records.pdf import laid_out, record_pdf_context, record_stylesheet

    cast.supervisor.user.full_name = "Anastasia Wolstenholme-Fitzgerald-Oyelaran"
    cast.supervisor.user.save(update_fields=["full_name"])
    records = [sign(cast, write_record(cast)), signed_group_record(cast, [cast.supervisee, cast.dsl], 16)]

    def boxes(box):
        yield box
        for child in getattr(box, "children", ()):
            yield from boxes(child)

    for record in records:
        html = render_to_string("records/pdf/record.html", record_pdf_context(record))
        document = laid_out(html, BundledFilesOnly(), stylesheet=record_stylesheet())
        assert len(document.pages) >= 1
        for number, page in enumerate(document.pages, start=1):
            area = page._page_box
            left, right = area.content_box_x(), area.content_box_x() + area.width
            for box in boxes(area.children[0]):  # the document's root box; the margin boxes are beside it
                if hasattr(box, "border_box_x"):
                    where = (record.code, number, type(box).__name__, getattr(box, "element_tag", ""))
                    assert box.border_box_x() >= left - 0.01, where
                    assert box.border_box_x() + box.border_width() <= right + 0.01, where
