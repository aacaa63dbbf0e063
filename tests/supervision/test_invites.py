"""Calendar invites: emailed to both people on booking, moving and cancelling a session."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from icalendar import Calendar

from supervision import ical
from supervision.services import (
    contract_create,
    contract_sign,
    group_create,
    session_book,
    session_cancel,
    session_reschedule,
)
from supervision.tasks import send_session_invites
from tests.factories import PASSWORD

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2025, 10, 27, 8, 0, tzinfo=LONDON)  # Mon 27 Oct 2025, the day after the clocks went back
BOOKED = datetime(2025, 11, 5, 10, 0, tzinfo=LONDON)  # Wed 5 Nov 2025
MOVED = datetime(2025, 11, 6, 11, 0, tzinfo=LONDON)  # Thu 6 Nov 2025


@pytest.fixture(autouse=True)
def now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def contract(cast):
    contract = contract_create(
        actor=cast.supervisor,
        supervisee=cast.supervisee,
        supervisor=cast.supervisor,
        start_date=date(2025, 9, 1),
        venue="Room 4",
    )
    contract_sign(signer=cast.supervisee, contract=contract, password=PASSWORD)
    contract_sign(signer=cast.supervisor, contract=contract, password=PASSWORD)
    return contract


@pytest.fixture
def booked(cast, contract, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = session_book(actor=cast.supervisor, contract=contract, starts_at=BOOKED, minutes=45)
    return session


def invites(outbox):
    """{recipient email: (message, parsed calendar)} for each email with an invite."""
    found = {}
    for message in outbox:
        (attachment,) = message.attachments
        assert attachment.filename == "invite.ics"
        found[message.to[0]] = (message, Calendar.from_ical(attachment.content))
    return found


def only_event(calendar):
    (event,) = calendar.events
    return event


def test_booking_emails_an_invite_to_both(cast, booked):
    sent = invites(mail.outbox)
    assert set(sent) == {cast.supervisor.user.email, cast.supervisee.user.email}
    for message, calendar in sent.values():
        assert message.subject == "Supervision booked: Wed 5 Nov 2025, 10:00"
        assert calendar["METHOD"] == "REQUEST"
        assert calendar["PRODID"] == "-//Supervision//EN"
        assert calendar["VERSION"] == "2.0"
        event = only_event(calendar)
        assert event["UID"] == f"{booked.code}@supervision"
        assert event["SEQUENCE"] == 0
        assert event["STATUS"] == "CONFIRMED"
        assert event.start == BOOKED
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert event.start.tzinfo.utcoffset(event.start) == timedelta(0)
        assert event.end == BOOKED + timedelta(minutes=45)
        assert event["SUMMARY"] == "Supervision: Sid Supervisee with Sam Supervisor"
        assert event["LOCATION"] == "Room 4"
        assert str(event["ORGANIZER"]) == f"mailto:{cast.supervisor.user.email}"
        assert event["ORGANIZER"].params["CN"] == "Sam Supervisor"
        (attendee,) = event.attendees
        assert str(attendee) == f"mailto:{cast.supervisee.user.email}"
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["RSVP"] == "FALSE"
        page = settings.SITE_URL + reverse("supervision:session-detail", kwargs={"code": booked.code})
        assert page in event["DESCRIPTION"]
        assert page in message.body
        assert page in message.alternatives[0].content
        assert calendar.timezones[0]["TZID"] == "Europe/London"


def test_the_attachment_says_it_is_a_calendar_request(booked):
    part = next(p for p in mail.outbox[0].message().walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    assert part.get_filename() == "invite.ics"


def test_the_emails_are_british_and_personal(cast, booked):
    message = next(m for m in mail.outbox if m.to == [cast.supervisee.user.email])
    assert message.body.startswith("Dear Sid Supervisee,")
    assert "When: Wed 5 Nov 2025, 10:00 to 10:45" in message.body
    assert "Where: Room 4" in message.body
    html = message.alternatives[0].content
    assert "Wed 5 Nov 2025, 10:00 to 10:45" in html
    assert "Cast Trust" in html


def test_a_move_keeps_the_uid_and_raises_the_sequence(cast, booked, django_capture_on_commit_callbacks):
    uid = f"{booked.code}@supervision"
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        session_reschedule(actor=cast.supervisor, session=booked, starts_at=MOVED)
    sent = invites(mail.outbox)
    assert set(sent) == {cast.supervisor.user.email, cast.supervisee.user.email}
    for message, calendar in sent.values():
        assert message.subject == "Supervision moved: Thu 6 Nov 2025, 11:00"
        assert calendar["METHOD"] == "REQUEST"
        event = only_event(calendar)
        assert event["UID"] == uid
        assert event["SEQUENCE"] == 1
        assert event.start == MOVED
        assert event.end == MOVED + timedelta(minutes=45)


def test_a_cancellation_is_a_cancel_with_a_higher_sequence(cast, booked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session_reschedule(actor=cast.supervisor, session=booked, starts_at=MOVED)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        session_cancel(actor=cast.supervisee, session=booked, reason="Off sick")
    sent = invites(mail.outbox)
    assert set(sent) == {cast.supervisor.user.email, cast.supervisee.user.email}
    for message, calendar in sent.values():
        assert message.subject == "Supervision cancelled: Thu 6 Nov 2025, 11:00"
        # Issue 16: the email gives the reason to the two people the form says see it ("Both people see
        # this"); the calendar event, which calendars share with delegates, still does not.
        assert "Reason: Off sick" in message.body
        assert "Off sick" not in calendar.to_ical().decode()
        assert calendar["METHOD"] == "CANCEL"
        event = only_event(calendar)
        assert event["UID"] == f"{booked.code}@supervision"
        assert event["STATUS"] == "CANCELLED"
        assert event["SEQUENCE"] == 2
    part = next(p for p in mail.outbox[0].message().walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "CANCEL"


def test_running_the_task_again_resends_the_same_event(booked):
    first = {to: only_event(cal) for to, (_m, cal) in invites(mail.outbox).items()}
    mail.outbox.clear()
    assert send_session_invites(booked.id, "REQUEST") == 2
    again = {to: only_event(cal) for to, (_m, cal) in invites(mail.outbox).items()}
    for to, event in again.items():
        assert (event["UID"], event["SEQUENCE"]) == (first[to]["UID"], first[to]["SEQUENCE"])


def test_a_late_request_for_a_cancelled_session_sends_nothing(cast, booked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session_cancel(actor=cast.supervisor, session=booked, reason="Training day")
    mail.outbox.clear()
    assert send_session_invites(booked.id, "REQUEST") == 0
    assert send_session_invites(booked.id + 1000, "REQUEST") == 0
    assert mail.outbox == []


def test_a_group_session_invites_the_supervisor_and_every_member(cast, django_capture_on_commit_callbacks):
    group = group_create(
        actor=cast.supervisor,
        name="Pastoral team",
        setting=cast.primary,
        supervisor=cast.supervisor,
        members=[cast.supervisee, cast.dsl],
        confidentiality_boundaries="What is said in the group stays in the group.",
    )
    with django_capture_on_commit_callbacks(execute=True):
        session_book(actor=cast.supervisor, group=group, starts_at=BOOKED, minutes=60)
    sent = invites(mail.outbox)
    assert set(sent) == {p.user.email for p in (cast.supervisor, cast.supervisee, cast.dsl)}
    _message, calendar = sent[cast.dsl.user.email]
    event = only_event(calendar)
    assert event["SUMMARY"] == "Group supervision: Pastoral team"
    assert {str(a) for a in event.attendees} == {f"mailto:{p.user.email}" for p in (cast.supervisee, cast.dsl)}


@pytest.mark.parametrize(
    ("moment", "offset"),
    [
        (datetime(2026, 1, 15, 10, 0), timedelta(0)),
        (datetime(2026, 3, 29, 0, 30), timedelta(0)),  # before the clocks go forward at 01:00
        (datetime(2026, 3, 29, 2, 30), timedelta(hours=1)),
        (datetime(2026, 7, 1, 10, 0), timedelta(hours=1)),
        (datetime(2026, 10, 25, 3, 0), timedelta(0)),
    ],
)
def test_the_time_zone_sent_is_london_time(moment, offset):
    vtimezone = Calendar.from_ical(ical._calendar().to_ical()).timezones[0]
    assert vtimezone["TZID"] == "Europe/London"
    assert vtimezone.to_tz().utcoffset(moment) == offset
    assert moment.replace(tzinfo=LONDON).utcoffset() == offset
