"""Issue 11 (finding 10, part): a signed record keeps the names it was signed with. Renaming a person
afterwards changes neither what the record and its PDF say nor the content hash; the name now is shown
beside the name as signed, on the record page and in the PDF."""

import subprocess
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pyhanko.pdf_utils.reader import PdfFileReader

from records import services
from records.models import RecordStatus
from records.pdf import store_record_pdf
from tests.accounts.helpers import edit_form_data
from tests.factories import PASSWORD

from .helpers import written_record


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def rename(cast, login, staff, name):
    """The organisation admin renames someone on their staff page (a marriage, a corrected spelling)."""
    url = reverse("accounts:staff-edit", kwargs={"code": staff.code})
    response = login(cast.org_admin).post(url, edit_form_data(staff, full_name=name))
    assert response.status_code == 302, response.content.decode()[:2000]
    staff.user.refresh_from_db()
    assert staff.full_name == name


def submitted(cast):
    """Sam's record of Sid's session, with an action for Sid and a decision Sid records: submitted."""
    record = written_record(cast)
    services.action_add(
        actor=cast.supervisor, record=record, description="Book the course", owner=cast.supervisee,
        due_date=record.session.starts_at.date(),
    )  # fmt: skip
    services.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-1", key_person=cast.supervisee,
        decision="Log the concern.",
    )  # fmt: skip
    services.record_submit(actor=cast.supervisor, record=record)
    return record


def signed(cast):
    record = submitted(cast)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED
    return record


def pdf_text(data: bytes) -> str:
    text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    return " ".join(text.split())


def claimed_hash(data: bytes) -> str:
    info = PdfFileReader(BytesIO(data), strict=False).trailer_view["/Info"].get_object()
    return str(info["/contentsha256"])


def test_renaming_people_after_signing_changes_neither_the_record_nor_its_hash(cast, login):
    record = signed(cast)
    signed_hash = record.content_hash
    rename(cast, login, cast.supervisee, "Sid Married-Name")
    rename(cast, login, cast.supervisor, "Sam Renamed")
    record.refresh_from_db()

    content = services.record_content(record)
    assert content["supervisor"]["name"] == "Sam Supervisor"
    assert [p["name"] for p in content["supervisees"]] == ["Sid Supervisee"]
    assert content["actions"][0]["owner"] == "Sid Supervisee"
    assert content["decisions"][0]["key_person"] == "Sid Supervisee"
    assert services.content_hash(record) == signed_hash


def test_the_pdf_made_after_a_rename_reads_as_signed_shows_the_name_now_and_verifies(cast, login):
    record = signed(cast)
    rename(cast, login, cast.supervisee, "Sid Married-Name")
    record.refresh_from_db()
    data = store_record_pdf(record.id).read_bytes()
    text = pdf_text(data)
    assert "Sid Supervisee (now Sid Married-Name)" in text
    assert "has changed since it was signed" not in text
    assert claimed_hash(data) == record.content_hash
    page = login(cast.auditor).post(
        reverse("records:record-verify"),
        {"file": SimpleUploadedFile("record.pdf", data, content_type="application/pdf")},
    )
    assert "Intact: a signed record of Cast Trust" in " ".join(page.content.decode().split())


def test_the_record_page_shows_the_names_as_signed_with_the_name_now_beside_them(cast, login):
    record = signed(cast)
    rename(cast, login, cast.supervisee, "Sid Married-Name")
    page = " ".join(login(cast.supervisee).get(reverse("records:record-detail", kwargs={"code": record.code}))
                    .content.decode().split())  # fmt: skip
    assert 'Sid Supervisee <span class="text-body-secondary small">(now Sid Married-Name)</span>' in page
    # The signature block names the signer as they signed.
    assert page.count("(now Sid Married-Name)") >= 3  # heading, action owner, key person, signature


def test_a_rename_between_two_signatures_does_not_split_what_they_signed(cast, login):
    record = submitted(cast)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    rename(cast, login, cast.supervisee, "Sid Married-Name")
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    hashes = {s.content_hash for s in record.signatures.all()}
    assert hashes == {record.content_hash}
    names = {s.capacity: s.signer_name for s in record.signatures.all()}
    # Each signature keeps the signer's own name at the moment they signed.
    assert names == {"supervisee": "Sid Supervisee", "supervisor": "Sam Supervisor"}


def test_a_change_after_a_signature_takes_the_names_of_the_next_signature(cast, login):
    record = submitted(cast)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    rename(cast, login, cast.supervisee, "Sid Married-Name")
    services.record_reopen(actor=cast.supervisor, record=record)
    record.refresh_from_db()
    assert record.names_as_signed == {}
    assert services.record_content(record)["supervisees"][0]["name"] == "Sid Married-Name"
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert services.record_content(record)["supervisees"][0]["name"] == "Sid Married-Name"
    assert services.content_hash(record) == record.content_hash


def test_an_addendum_keeps_its_authors_name(cast, login):
    record = signed(cast)
    addendum = services.addendum_add(actor=cast.supervisee, record=record, text="The course is booked.")
    rename(cast, login, cast.supervisee, "Sid Married-Name")
    addendum.refresh_from_db()
    assert addendum.author_name == "Sid Supervisee"
    assert services.addendum_hash(addendum) == addendum.content_hash
