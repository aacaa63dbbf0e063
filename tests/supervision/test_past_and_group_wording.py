"""A booking in the past records a held session and invites nobody; groups are spoken to as groups (issue 17, 6)."""

from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import AuditEvent
from records import services as record_services
from records.pdf import record_pdf_context
from supervision import services
from supervision.models import Session, SessionStatus

from .helpers import at, signed_contract

pytestmark = pytest.mark.django_db

NOW = "2025-11-12 12:00 +0000"  # a Wednesday


def _notes(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _group(cast):
    return services.group_create(
        actor=cast.head, name="Team around a child", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, cast.supervisor, cast.head], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip


@time_machine.travel(NOW, tick=False)
def test_a_session_booked_in_the_past_is_recorded_as_held_and_invites_nobody(
    cast, login, django_capture_on_commit_callbacks
):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    client = login(cast.supervisor)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            f"/calendar/book/?contract={contract.code}", {"date": "2025-11-10", "time": "10:00", "minutes": 30}
        )
    assert response.status_code == 302
    session = Session.objects.get()
    assert session.status == SessionStatus.HELD
    assert callbacks == [] and mail.outbox == []
    assert _notes(response) == [
        "Recorded as held on Mon 10 Nov 2025, 10:00; no invitation sent, as the session is in the past."
    ]
    event = AuditEvent.objects.get(action="session.booked")
    assert event.details["recorded_as_held"] is True
    # The notes of a held session can be written straight away.
    assert client.get(f"/sessions/{session.code}/").context["can_start_record"] is True


@time_machine.travel(NOW, tick=False)
def test_a_future_booking_still_invites_both(cast, login, django_capture_on_commit_callbacks):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(cast.supervisor).post(
            f"/calendar/book/?contract={contract.code}", {"date": "2025-11-17", "time": "10:00", "minutes": 30}
        )
    assert Session.objects.get().status == SessionStatus.SCHEDULED
    assert _notes(response) == ["Booked. Both of you have a calendar invitation by email."]
    assert sorted(m.to[0] for m in mail.outbox) == [cast.supervisee.user.email, cast.supervisor.user.email]


@time_machine.travel(NOW, tick=False)
def test_a_group_booking_is_worded_for_the_group(cast, login, django_capture_on_commit_callbacks):
    group = _group(cast)
    client = login(cast.dsl)
    form = client.get(f"/calendar/book/?group={group.code}").content.decode()
    assert "Each member and you get a calendar invitation" in form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/calendar/book/?group={group.code}", {"date": "2025-11-17", "time": "14:00", "minutes": 45}
        )
    assert response.status_code == 302
    assert _notes(response) == ["Booked. Each of you has a calendar invitation by email."]
    assert "Both of you" not in " ".join(_notes(response))
    assert len(mail.outbox) == 4


@time_machine.travel(NOW, tick=False)
def test_service_callers_booking_in_the_past_send_no_invitation(cast, django_capture_on_commit_callbacks):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        session = services.session_book(
            actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 3), 10), minutes=30,
            check=False,
        )  # fmt: skip
    assert callbacks == [] and mail.outbox == []
    # Without past_as_held the caller (the demo, an import of history) marks it itself.
    assert session.status == SessionStatus.SCHEDULED


def test_a_group_record_is_worded_for_its_participants(cast, login):
    group = _group(cast)
    day = timezone.localdate() - timedelta(days=2)
    session = services.session_book(
        actor=cast.dsl, group=group, starts_at=at(day, 14), minutes=45, check=False, send=False
    )
    record = record_services.record_start(actor=cast.dsl, session=session)
    for section in record.sections.all():
        record_services.section_save(actor=cast.dsl, section=section, discussion="What the group talked about.")
    record_services.record_submit(actor=cast.dsl, record=record)
    record_services.record_set_feedback(actor=cast.supervisee, record=record, feedback="Useful to hear the others.")
    page = login(cast.dsl).get(f"/records/{record.code}/").content.decode()
    assert "With the participants to read and sign." in page
    assert "With the supervisee to read and sign." not in page
    assert "The participants' feedback" in page and "Supervisee's feedback" not in page
    assert "Awaiting the participants" in page and "Awaiting the supervisee" not in page
    # The PDF's HTML (rendered to PDF by WeasyPrint in records/pdf.py) speaks of the participants too.
    html = render_to_string("records/pdf/record.html", record_pdf_context(record))
    assert "The participants' feedback" in html and "The supervisee's feedback" not in html


@time_machine.travel(NOW, tick=False)
def test_a_rebooking_for_a_past_time_says_no_invitation_went(cast, login, django_capture_on_commit_callbacks):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    cancelled = services.session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 10), 10), minutes=30, check=False,
        send=False,
    )  # fmt: skip
    services.session_cancel(actor=cast.supervisor, session=cancelled, reason="Ill")
    with django_capture_on_commit_callbacks(execute=True):
        response = login(cast.supervisor).post(f"/sessions/{cancelled.code}/rebook/", {"starts_at": "2025-11-11T10:00"})
    assert mail.outbox == []
    assert _notes(response) == [
        "Rebooked for Tue 11 Nov 2025, 10:00, which has passed: no invitation sent. "
        "Mark it held or missed from its page."
    ]
