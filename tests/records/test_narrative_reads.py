"""Every read of a record's notes is in the audit trail, the people in the session's too (issue 11,
finding 10a; DESIGN.md section 6): one insert per read, none for the HTMX writes on the record page."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from records import services
from records.pdf import store_record_pdf
from supervision import services as supervision_services
from tests.factories import PASSWORD, StaffFactory
from tests.supervision.helpers import at

from .helpers import signed_record, written_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel("2025-11-12 09:00 +0000", tick=False):
        yield


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def views_by(person):
    return AuditEvent.objects.filter(action="record.viewed", actor=person.user)


def read(client, record, **headers):
    response = client.get(reverse("records:record-detail", args=[record.code]), **headers)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("person, capacity", [("supervisee", "supervisee"), ("supervisor", "supervisor")])
def test_each_read_by_the_people_in_the_session_is_logged(cast, login, person, capacity):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    reader = getattr(cast, person)
    client = login(reader)
    assert "Discussion 0" in read(client, record).content.decode()
    event = views_by(reader).get()
    assert event.object_type == "record" and event.object_code == str(record.code)
    assert event.organisation == cast.organisation and event.details == {"capacity": capacity}
    read(client, record)
    assert views_by(reader).count() == 2


def test_a_read_sent_as_htmx_is_logged_all_the_same(cast, login):
    record = signed_record(cast)
    read(login(cast.supervisee), record, HTTP_HX_REQUEST="true")
    assert views_by(cast.supervisee).count() == 1


def test_group_members_reading_the_group_record_are_logged(cast, login):
    other = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
    group = supervision_services.group_create(
        actor=cast.head, name="Team", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, other], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    session = supervision_services.session_book(
        actor=cast.dsl, group=group, starts_at=at(date(2025, 11, 11), 14), minutes=45, check=False, send=False
    )
    record = services.record_start(actor=cast.dsl, session=session)
    for person in (cast.supervisee, other, cast.dsl):
        read(login(person), record)
        assert views_by(person).count() == 1


def test_a_head_seeing_the_metadata_only_is_not_a_read(cast, login):
    record = signed_record(cast)
    read(login(cast.head), record)
    assert not AuditEvent.objects.filter(action="record.viewed").exists()


def test_autosaves_and_the_review_tick_box_do_not_log_reads(cast, login):
    record = written_record(cast)
    client = login(cast.supervisor)
    section = record.sections.first()
    url = reverse("records:section-save", args=[record.code, section.id])
    for text in ("First thoughts", "First thoughts, then more", "First thoughts, then more and more"):
        response = client.post(url, {"discussion": text}, HTTP_HX_REQUEST="true", follow=True)
        assert response.status_code == 200 and "Saved at" in response.content.decode()
    # The tick box answers in place; an XHR follows redirects, so a redirect here would be a read.
    review = reverse("records:record-review", args=[record.code])
    response = client.post(review, {"previous_notes_agreed": "on"}, HTTP_HX_REQUEST="true", follow=True)
    assert response.status_code == 200 and not response.redirect_chain
    assert "Saved at" in response.content.decode()
    record.refresh_from_db()
    assert record.previous_notes_agreed
    assert not AuditEvent.objects.filter(action="record.viewed").exists()
    # Without HTMX the page comes back after the save: that is a read, and it is logged.
    client.post(review, {}, follow=True)
    assert views_by(cast.supervisor).count() == 1


def test_the_review_tick_box_says_why_it_was_not_saved(cast, login):
    record = signed_record(cast)
    response = login(cast.supervisor).post(
        reverse("records:record-review", args=[record.code]), {"previous_notes_agreed": "on"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert not AuditEvent.objects.filter(action="record.viewed").exists()


def test_logging_a_read_costs_one_insert_whatever_the_record_holds(cast, login, monkeypatch):
    record = written_record(cast)
    client = login(cast.supervisor)

    def count():
        with CaptureQueriesContext(connection) as queries:
            read(client, record)
        return [q["sql"] for q in queries.captured_queries]

    few = count()
    for n in range(4):
        services.action_add(
            actor=cast.supervisor, record=record, description=f"Action {n}", owner=cast.supervisee,
            due_date=timezone.localdate() + timedelta(days=14),
        )  # fmt: skip
    many = count()
    assert len(many) == len(few)
    monkeypatch.setattr("records.views.records.record_viewed", lambda **kwargs: None)
    unlogged = count()
    # The read costs one audit event and nothing that depends on the record: its insert, and moving the
    # organisation's hash chain (issue 13: the chain's head is locked, then moved).
    assert len(few) - len(unlogged) == 3
    assert sum("INSERT" in sql and "auditevent" in sql for sql in few) == 1
    assert sum(sql.startswith("SELECT") and "auditchainhead" in sql for sql in few) == 1  # FOR UPDATE where it can
    assert sum(sql.startswith("UPDATE") and "auditchainhead" in sql for sql in few) == 1


@pytest.mark.parametrize("person", ["supervisee", "supervisor"])
def test_downloading_the_pdf_is_logged_for_the_people_in_the_session(cast, login, person):
    record = signed_record(cast)
    store_record_pdf(record.id)
    reader = getattr(cast, person)
    response = login(reader).get(reverse("records:record-pdf", args=[record.code]))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="record.pdf_downloaded", actor=reader.user)
    assert event.object_code == str(record.code) and event.details["capacity"] == person


def test_signing_then_reading_logs_the_read_once(cast, login):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    client = login(cast.supervisee)
    response = client.post(
        reverse("records:record-sign", args=[record.code]), {"agree": "on", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert views_by(cast.supervisee).count() == 1


def test_a_read_names_the_session_by_its_own_supervisor_when_the_session_was_reassigned(cast, login):
    """The event of a read names the session as its title reads: with the record's supervisor (shared with
    the session, not joined twice), or, for a session reassigned after its record was written, with the
    session's own supervisor."""
    from supervision.models import Session

    record = written_record(cast)
    client = login(cast.supervisor)
    read(client, record)
    assert f"with {cast.supervisor.full_name}" in views_by(cast.supervisor).get().object_repr
    Session.objects.filter(pk=record.session_id).update(supervisor=cast.supervisor2)
    read(client, record)
    latest = views_by(cast.supervisor).order_by("-id").first()
    assert f"with {cast.supervisor2.full_name}" in latest.object_repr, latest.object_repr


def test_the_record_page_costs_the_same_queries_for_a_small_setting_and_a_large_one(cast, login):
    """The key person and owner selects are read in one query each, whatever the setting's size."""
    record = written_record(cast)
    client = login(cast.supervisor)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            page = read(client, record).content.decode()
        return len(captured), page

    few, _ = queries()
    for n in range(30):
        StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__full_name=f"Key Person {n:02d}")
    many, page = queries()
    assert many == few
    assert page.count('name="key_person"') == 1 and "Key Person 29" in page
