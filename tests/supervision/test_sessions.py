"""Sessions: book, move, cancel and rebook, mark held or missed; agendas and informal notes."""

from datetime import date

import pytest
import time_machine

from supervision import services
from supervision.models import AgendaItem, InformalNote, Session, SessionStatus

from .helpers import at, signed_contract

pytestmark = pytest.mark.django_db

MONDAY = date(2025, 11, 10)


@pytest.fixture
def booked(cast):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    return services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(MONDAY, 10), minutes=30)


@time_machine.travel("2025-11-03 08:00 +0000")
def test_supervisor_books_through_the_form(cast, login):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    client = login(cast.supervisor)
    page = client.get(f"/calendar/book/?contract={contract.code}")
    assert page.status_code == 200 and "Free times that suit everyone" in page.content.decode()
    bad = client.post(
        f"/calendar/book/?contract={contract.code}", {"date": "2025-11-08", "time": "10:00", "minutes": 30}
    )
    assert bad.status_code == 200 and "It is a weekend" in bad.content.decode()
    assert not Session.objects.exists()
    good = client.post(
        f"/calendar/book/?contract={contract.code}", {"date": "2025-11-10", "time": "10:00", "minutes": 30}
    )
    assert good.status_code == 302
    assert Session.objects.get().attendees.get() == cast.supervisee
    # Only the supervisor books; the supervisee cannot.
    assert login(cast.supervisee).get(f"/calendar/book/?contract={contract.code}").status_code == 403


def test_session_page_for_each_person(cast, login, booked):
    url = f"/sessions/{booked.code}/"
    assert login(cast.supervisor).get(url).status_code == 200
    supervisee_page = login(cast.supervisee).get(url)
    assert supervisee_page.status_code == 200 and "Add an agenda item" in supervisee_page.content.decode()
    head_page = login(cast.head).get(url)
    assert head_page.status_code == 200 and "Add an agenda item" not in head_page.content.decode()
    assert login(cast.supervisee2).get(url).status_code == 404
    assert login(cast.outsider).get(url).status_code == 404


def test_supervisee_adds_an_agenda_item_with_htmx(cast, login, booked):
    client = login(cast.supervisee)
    response = client.post(f"/sessions/{booked.code}/agenda/", {"text": "Workload in Year 2"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Workload in Year 2" in response.content.decode()
    assert AgendaItem.objects.get().added_by == cast.supervisee
    empty = client.post(f"/sessions/{booked.code}/agenda/", {"text": ""}, HTTP_HX_REQUEST="true")
    assert "This field is required" in empty.content.decode()
    assert AgendaItem.objects.count() == 1
    assert login(cast.head).post(f"/sessions/{booked.code}/agenda/", {"text": "x"}).status_code == 403


def test_significant_informal_notes_come_to_the_next_agenda(cast, login, booked):
    services.note_add(
        actor=cast.supervisor, supervisee=cast.supervisee, occurred_on=date(2025, 11, 4),
        summary="Upset after a parent's complaint", significant=True,
    )  # fmt: skip
    services.note_add(
        actor=cast.supervisor, supervisee=cast.supervisee, occurred_on=date(2025, 11, 5),
        summary="Asked about the trip form", significant=False,
    )  # fmt: skip
    page = login(cast.supervisee).get(f"/sessions/{booked.code}/").content.decode()
    assert "Upset after a parent" in page
    assert "Asked about the trip form" not in page
    assert InformalNote.objects.visible_to(cast.supervisee2).count() == 0


@time_machine.travel("2025-11-03 08:00 +0000")
def test_cancel_then_rebook_through_the_pages(cast, login):
    services.ensure_calendar(cast.organisation)
    contract = signed_contract(cast.supervisee, cast.supervisor)
    session = services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(MONDAY, 10), minutes=30)
    client = login(cast.supervisor)
    assert client.post(f"/sessions/{session.code}/cancel/", {"reason": ""}).status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED  # no reason, nothing changed
    response = client.post(f"/sessions/{session.code}/cancel/", {"reason": "Illness"})
    assert response.url == f"/sessions/{session.code}/rebook/"
    offers_page = client.get(response.url).content.decode()
    assert "Book this time" in offers_page
    rebook = client.post(response.url, {"starts_at": "2025-11-10 10:30"})
    assert rebook.status_code == 302
    new = Session.objects.get(rebooked_from=session)
    assert new.status == SessionStatus.SCHEDULED
    assert client.get(f"/sessions/{session.code}/rebook/").status_code == 302  # already rebooked


def test_mark_held_only_once_started(cast, login, booked):
    client = login(cast.supervisor)
    with time_machine.travel("2025-11-09 12:00 +0000"):
        client.post(f"/sessions/{booked.code}/mark/", {"status": "held"})
        booked.refresh_from_db()
        assert booked.status == SessionStatus.SCHEDULED
    with time_machine.travel("2025-11-10 10:15 +0000"):
        client.post(f"/sessions/{booked.code}/mark/", {"status": "held"})
        booked.refresh_from_db()
        assert booked.status == SessionStatus.HELD


def test_reschedule_raises_the_sequence(cast, login, booked):
    client = login(cast.supervisor)
    response = client.post(
        f"/sessions/{booked.code}/reschedule/",
        {"date": "2025-11-11", "time": "11:00", "minutes": 30, "venue": "Library"},
    )
    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.sequence == 1 and booked.venue == "Library"
    assert login(cast.supervisee).get(f"/sessions/{booked.code}/reschedule/").status_code == 403


def test_group_sessions_record_the_groups_boundaries(cast, login):
    group = services.group_create(
        actor=cast.head, name="Team around a child", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, cast.supervisor], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    session = services.session_book(actor=cast.dsl, group=group, starts_at=at(MONDAY, 14), minutes=45)
    assert set(session.attendees.all()) == {cast.supervisee, cast.supervisor}
    page = login(cast.supervisee).get(f"/sessions/{session.code}/").content.decode()
    assert "Group supervision" in page and "Stays in the room." in page
    assert login(cast.supervisee2).get(f"/groups/{group.code}/").status_code == 404


def test_calendar_page_for_supervisor_and_supervisee(cast, login, booked):
    with time_machine.travel("2025-11-05 09:00 +0000"):
        supervisor_page = login(cast.supervisor).get("/calendar/?week=2025-11-10").content.decode()
        assert "My caseload" in supervisor_page and "Sid Supervisee" in supervisor_page
        supervisee_page = login(cast.supervisee).get("/calendar/").content.decode()
        assert "Mon 10 Nov 2025, 10:00" in supervisee_page
        assert "My caseload" not in supervisee_page


def test_caseload_query_count_does_not_grow(cast, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import StaffFactory

    def count():
        client = login(cast.supervisor)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/calendar/?week=2025-11-10").status_code == 200
        return len(ctx.captured_queries)

    signed_contract(cast.supervisee, cast.supervisor)
    small = count()
    for n in range(12):
        person = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
        contract = signed_contract(person, cast.supervisor)
        starts_at = at(MONDAY, 8 + n % 7, 30)
        services.session_book(actor=cast.supervisor, contract=contract, starts_at=starts_at, minutes=30, check=False)
    assert count() == small
