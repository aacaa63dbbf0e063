"""Reminders and follow-ups (DESIGN section 7): each kind at its boundaries, the 07:00 school-day rule,
preferences, delivery exactly once into the outbox, and the sweep's cost.

The organisation has the default calendar for 2025/26: Autumn 1 ends Fri 24 Oct 2025, the October
half term follows, and Autumn 2 runs from Mon 3 Nov to Fri 19 Dec. Each test sweeps the way beat
would, on the days it names, with queued deliveries run (Celery is eager in tests).
"""

import importlib
from datetime import date, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import Role
from config import beat
from records import services as records
from records.models import RecordStatus
from supervision import delivery, reminders
from supervision import services as supervision
from supervision.models import (
    ALWAYS_EMAILED,
    ClosureDay,
    Notification,
    NotificationKind,
    NotificationPreference,
    OutboxEmail,
    SessionStatus,
)
from supervision.slots import LONDON
from tests.factories import PASSWORD, StaffFactory
from tests.records.helpers import written_record
from tests.supervision.helpers import at, signed_contract

pytestmark = pytest.mark.django_db

Kind = NotificationKind


def moment(day: date, hour: int = 7, minute: int = 30) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


def nov(day: int) -> date:
    return date(2025, 11, day)


@pytest.fixture
def calendar(cast):
    supervision.calendar_generate_default(organisation=cast.organisation, start_year=2025)


@pytest.fixture
def sweep_at(django_capture_on_commit_callbacks):
    """sweep_at(day, hour, minute): one sweep at that London time, its emails delivered."""

    def _sweep(day: date, hour: int = 7, minute: int = 30) -> int:
        with (
            time_machine.travel(moment(day, hour, minute), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return reminders.sweep()

    return _sweep


def sent(kind) -> list[tuple[str, str]]:
    """(recipient, period) of every notification of a kind, sorted."""
    return sorted(Notification.objects.filter(kind=kind).values_list("recipient__user__full_name", "period"))


def book(contract, day: date, hour: int = 10, booked_on: date | None = None):
    with time_machine.travel(moment(booked_on or nov(3), 9), tick=False):
        return supervision.session_book(
            actor=contract.supervisor, contract=contract, starts_at=at(day, hour), minutes=30, check=False, send=False
        )


def submitted_record(cast, day: date, **kwargs):
    """A record of a session held on `day` at 10:00, submitted to the supervisee at 15:00 that day."""
    with time_machine.travel(moment(day, 15), tick=False):
        record = written_record(cast, days_ago=0, **kwargs)
        records.record_submit(actor=record.supervisor, record=record)
    record.refresh_from_db()
    return record


def written_record_on(cast, day: date, **kwargs):
    with time_machine.travel(moment(day, 15), tick=False):
        return written_record(cast, days_ago=0, **kwargs)


def sign_now(record, when: datetime):
    with time_machine.travel(when, tick=False):
        records.record_submit(actor=record.supervisor, record=record)
        for attendee in record.session.attendees.all():
            records.record_sign(actor=attendee, record=record, password=PASSWORD)
        records.record_sign(actor=record.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED
    return record


@pytest.fixture
def contract(cast, calendar):
    return signed_contract(cast.supervisee, cast.supervisor, start=date(2025, 9, 1))


# --- 1. Agenda prompt -------------------------------------------------------------------------------


def test_agenda_prompt_goes_to_the_supervisee_seven_days_before(cast, contract, sweep_at):
    book(contract, nov(19))
    sweep_at(nov(11))
    assert sent(Kind.AGENDA_PROMPT) == []
    sweep_at(nov(12))
    assert sent(Kind.AGENDA_PROMPT) == [("Sid Supervisee", "2025-11-19")]
    sweep_at(nov(13))
    sweep_at(nov(13), 7, 45)
    assert sent(Kind.AGENDA_PROMPT) == [("Sid Supervisee", "2025-11-19")]
    notification = Notification.objects.get(kind=Kind.AGENDA_PROMPT)
    assert notification.url == f"/sessions/{contract.sessions.get().code}/"
    assert "Wed 19 Nov 2025 at 10:00" in notification.body and "agenda" in notification.body


def test_a_moved_session_gets_a_new_agenda_prompt(cast, contract, sweep_at):
    session = book(contract, nov(19))
    sweep_at(nov(12))
    with time_machine.travel(moment(nov(12), 12), tick=False):
        supervision.session_reschedule(actor=cast.supervisor, session=session, starts_at=at(nov(20), 11))
    sweep_at(nov(13))
    assert sent(Kind.AGENDA_PROMPT) == [("Sid Supervisee", "2025-11-19"), ("Sid Supervisee", "2025-11-20")]


def test_a_cancelled_session_prompts_nobody(cast, contract, sweep_at):
    session = book(contract, nov(19))
    with time_machine.travel(moment(nov(11), 12), tick=False):
        supervision.session_cancel(actor=cast.supervisor, session=session, reason="Ofsted visit")
    sweep_at(nov(12))
    assert sent(Kind.AGENDA_PROMPT) == []


# --- 2. Session reminder ----------------------------------------------------------------------------


def test_session_reminder_goes_to_both_the_day_before(cast, contract, sweep_at):
    book(contract, nov(13))
    sweep_at(nov(11))
    assert sent(Kind.SESSION_REMINDER) == []
    sweep_at(nov(12))
    both = [("Sam Supervisor", "2025-11-13"), ("Sid Supervisee", "2025-11-13")]
    assert sent(Kind.SESSION_REMINDER) == both
    sweep_at(nov(13))
    assert sent(Kind.SESSION_REMINDER) == both


def test_a_monday_session_is_reminded_on_the_friday(cast, contract, sweep_at):
    book(contract, nov(17))
    sweep_at(nov(13))
    assert sent(Kind.SESSION_REMINDER) == []
    sweep_at(nov(14))
    assert sent(Kind.SESSION_REMINDER) == [("Sam Supervisor", "2025-11-17"), ("Sid Supervisee", "2025-11-17")]


# --- The 07:00 and school-day rule ----------------------------------------------------------------


def test_nothing_non_urgent_before_seven(cast, contract, sweep_at):
    book(contract, nov(13))
    sweep_at(nov(12), 6, 59)
    assert not Notification.objects.exists()
    sweep_at(nov(12), 7, 0)
    assert len(sent(Kind.SESSION_REMINDER)) == 2


def test_nothing_non_urgent_on_a_saturday_or_a_sunday(cast, contract, sweep_at):
    book(contract, nov(17))
    sweep_at(nov(15), 12)
    sweep_at(nov(16), 12)
    assert not Notification.objects.exists()


def test_nothing_non_urgent_on_a_closure_day(cast, contract, sweep_at):
    ClosureDay.objects.create(organisation=cast.organisation, date=nov(12), name="INSET")
    book(contract, nov(14))
    sweep_at(nov(12))
    assert not Notification.objects.exists()
    sweep_at(nov(13))
    assert len(sent(Kind.SESSION_REMINDER)) == 2


def test_nothing_non_urgent_in_the_holidays(cast, contract, sweep_at):
    book(contract, nov(4))
    sweep_at(date(2025, 10, 29))  # a Wednesday of the October half term
    assert not Notification.objects.exists()


def test_safeguarding_goes_at_three_on_a_sunday_and_nothing_else_does(cast, contract, sweep_at):
    record = written_record_on(cast, nov(13))
    records.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer", key_person=cast.supervisee
    )
    record = sign_now(record, moment(nov(13), 16))
    book(contract, nov(17))
    sweep_at(nov(16), 3, 0)
    assert sent(Kind.DECISION_UNCONFIRMED) == [("Sid Supervisee", "1")]
    assert set(Notification.objects.values_list("kind", flat=True)) == {Kind.DECISION_UNCONFIRMED}
    assert len(mail.outbox) == 1


# --- 3 and 4. Signatures ----------------------------------------------------------------------------


def test_signature_pending_reminds_the_supervisee_then_the_supervisor(cast, calendar, sweep_at):
    record = submitted_record(cast, nov(10))
    sweep_at(nov(11))
    assert sent(Kind.SIGNATURE_PENDING) == []
    sweep_at(nov(12))
    revision = str(record.revision)
    assert sent(Kind.SIGNATURE_PENDING) == [("Sid Supervisee", revision)]
    sweep_at(nov(13))
    assert sent(Kind.SIGNATURE_PENDING) == [("Sid Supervisee", revision)]
    notification = Notification.objects.get(kind=Kind.SIGNATURE_PENDING)
    assert notification.url == f"/records/{record.code}/"
    # The supervisee signs on Thursday: the supervisor is reminded two days later, on a school day.
    with time_machine.travel(moment(nov(13), 12), tick=False):
        records.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    sweep_at(nov(14))
    assert sent(Kind.SIGNATURE_PENDING) == [("Sid Supervisee", revision)]
    sweep_at(nov(17))
    assert sent(Kind.SIGNATURE_PENDING) == [("Sam Supervisor", revision), ("Sid Supervisee", revision)]


def test_a_resubmitted_record_starts_again(cast, calendar, sweep_at):
    record = submitted_record(cast, nov(10))
    first = str(record.revision)
    sweep_at(nov(12))
    with time_machine.travel(moment(nov(12), 12), tick=False):
        records.record_comment(actor=cast.supervisee, record=record, text="Not what I said", disagree=True)
        record.refresh_from_db()
        records.record_submit(actor=cast.supervisor, record=record)
    record.refresh_from_db()
    sweep_at(nov(13))
    assert len(sent(Kind.SIGNATURE_PENDING)) == 1
    sweep_at(nov(14))
    assert str(record.revision) != first
    assert sent(Kind.SIGNATURE_PENDING) == sorted([("Sid Supervisee", first), ("Sid Supervisee", str(record.revision))])


def test_signature_escalation_goes_to_the_head_and_dsl_after_seven_days(cast, calendar, sweep_at):
    record = submitted_record(cast, nov(10))
    sweep_at(nov(12))
    sweep_at(nov(14))
    assert sent(Kind.SIGNATURE_ESCALATION) == []
    sweep_at(nov(17))
    revision = str(record.revision)
    assert sent(Kind.SIGNATURE_ESCALATION) == [("Dev Dsl", revision), ("Hana Head", revision)]
    sweep_at(nov(18))
    assert len(sent(Kind.SIGNATURE_ESCALATION)) == 2
    escalation = Notification.objects.filter(kind=Kind.SIGNATURE_ESCALATION).first()
    assert escalation.url == f"/sessions/{record.session.code}/"
    assert "Sid Supervisee" in escalation.body and "since Mon 10 Nov 2025" in escalation.body


def test_the_people_in_the_session_are_never_sent_the_escalation(cast, calendar, sweep_at):
    # The supervisee is also a DSL of the setting; the supervisor is a head there.
    from accounts.models import RoleAssignment

    RoleAssignment.objects.create(staff=cast.supervisee, role=Role.DSL, setting=cast.primary)
    RoleAssignment.objects.create(staff=cast.supervisor, role=Role.HEAD, setting=None)
    submitted_record(cast, nov(3))
    sweep_at(nov(5))
    sweep_at(nov(10))
    assert [name for name, _ in sent(Kind.SIGNATURE_ESCALATION)] == ["Dev Dsl", "Hana Head"]


def test_after_a_holiday_the_escalation_waits_for_its_reminder(cast, calendar, sweep_at):
    # Submitted on the last Thursday of Autumn 1: both dates fall in the October half term.
    submitted_record(cast, date(2025, 10, 23))
    sweep_at(nov(3))
    assert len(sent(Kind.SIGNATURE_PENDING)) == 1
    assert sent(Kind.SIGNATURE_ESCALATION) == []
    sweep_at(nov(7))
    assert sent(Kind.SIGNATURE_ESCALATION) == []
    sweep_at(nov(10))
    assert len(sent(Kind.SIGNATURE_ESCALATION)) == 2


# --- 5 and 6. Overdue sessions ----------------------------------------------------------------------


def test_an_overdue_session_reminds_the_supervisor_then_escalates(cast, contract, sweep_at):
    sweep_at(date(2025, 10, 24))  # the last day of Autumn 1
    assert sent(Kind.SESSION_OVERDUE) == []
    sweep_at(nov(3))  # the first school day after it ended
    autumn1 = contract.organisation.half_terms.get(starts=date(2025, 9, 3))
    assert sent(Kind.SESSION_OVERDUE) == [("Sam Supervisor", str(autumn1.code))]
    overdue = Notification.objects.get(kind=Kind.SESSION_OVERDUE)
    assert overdue.url == f"/calendar/book/?contract={contract.code}"
    assert "was due 1 session of supervision in Autumn 1 2025/26" in overdue.body
    sweep_at(nov(4))
    assert len(sent(Kind.SESSION_OVERDUE)) == 1
    assert sent(Kind.SESSION_OVERDUE_ESCALATION) == []
    sweep_at(nov(7))
    assert sent(Kind.SESSION_OVERDUE_ESCALATION) == []
    sweep_at(nov(10))
    assert sent(Kind.SESSION_OVERDUE_ESCALATION) == [("Dev Dsl", str(autumn1.code)), ("Hana Head", str(autumn1.code))]
    sweep_at(nov(11))
    assert len(sent(Kind.SESSION_OVERDUE_ESCALATION)) == 2


def test_the_overdue_agreements_are_found_once_a_sweep(cast, contract, sweep_at):
    """Rules 5 and 6 both need them: one sweep finds them once, the next sweep afresh."""
    found = mock.Mock(wraps=reminders._find_overdue_agreements)
    with mock.patch.object(reminders, "_find_overdue_agreements", found):
        sweep_at(nov(10))  # the reminder (rule 5) and, a week on, the escalation's check (rule 6)
        assert found.call_count == 1
        sweep_at(nov(11))
        assert found.call_count == 2
    assert len(sent(Kind.SESSION_OVERDUE)) == 1


def test_the_records_awaiting_signatures_are_read_once_a_sweep(cast, contract, sweep_at):
    """Rules 3 and 4 both need them: one read a sweep."""
    found = mock.Mock(wraps=reminders._find_records_awaiting_signatures)
    with mock.patch.object(reminders, "_find_records_awaiting_signatures", found):
        sweep_at(nov(10))
        assert found.call_count == 1


def test_a_session_held_in_the_half_term_is_not_overdue(cast, contract, sweep_at):
    session = book(contract, date(2025, 10, 8), booked_on=date(2025, 9, 15))
    with time_machine.travel(moment(date(2025, 10, 8), 12), tick=False):
        supervision.session_mark(actor=cast.supervisor, session=session, status=SessionStatus.HELD)
    sweep_at(nov(3))
    sweep_at(nov(10))
    assert sent(Kind.SESSION_OVERDUE) == [] and sent(Kind.SESSION_OVERDUE_ESCALATION) == []


def test_an_overdue_session_made_good_is_not_escalated(cast, contract, sweep_at):
    sweep_at(nov(3))
    session = book(contract, nov(5))
    with time_machine.travel(moment(nov(5), 12), tick=False):
        supervision.session_mark(actor=cast.supervisor, session=session, status=SessionStatus.HELD)
    sweep_at(nov(10))
    assert len(sent(Kind.SESSION_OVERDUE)) == 1
    assert sent(Kind.SESSION_OVERDUE_ESCALATION) == []


def test_who_is_owed_what_in_the_half_term(cast, calendar, sweep_at):
    from accounts.models import EmploymentType

    # Agency staff are owed supervision after 5 weeks in post: from 5 Nov, after Autumn 1 ended.
    cast.supervisee.employment_type, cast.supervisee.start_date = EmploymentType.AGENCY, date(2025, 10, 1)
    cast.supervisee.save()
    signed_contract(cast.supervisee, cast.supervisor, start=date(2025, 10, 1))
    # Termly: judged at the end of the term, not of its first half.
    signed_contract(cast.supervisee2, cast.supervisor2, start=date(2025, 9, 1), frequency="termly")
    # Monthly over the 8 weeks of Autumn 1 asks for 2 sessions; 1 was held.
    monthly = signed_contract(cast.dsl, cast.head, start=date(2025, 9, 1), frequency="monthly")
    held = book(monthly, date(2025, 10, 8), booked_on=date(2025, 9, 15))
    with time_machine.travel(moment(date(2025, 10, 8), 12), tick=False):
        supervision.session_mark(actor=cast.head, session=held, status=SessionStatus.HELD)
    sweep_at(nov(3))
    assert [name for name, _ in sent(Kind.SESSION_OVERDUE)] == ["Hana Head"]
    body = Notification.objects.get(kind=Kind.SESSION_OVERDUE).body
    assert "Dev Dsl was due 2 sessions of supervision in Autumn 1 2025/26" in body and "only 1 was held" in body


# --- 7 and 8. Actions -------------------------------------------------------------------------------


@pytest.fixture
def action(cast, calendar):
    with time_machine.travel(moment(nov(3), 15), tick=False):
        record = written_record(cast, days_ago=0)
        return records.action_add(
            actor=cast.supervisor, record=record, description="Read the EYFS update", owner=cast.supervisee,
            due_date=nov(13),
        )  # fmt: skip


def test_action_due_tomorrow_reminds_its_owner(action, sweep_at):
    sweep_at(nov(11))
    assert sent(Kind.ACTION_DUE) == []
    sweep_at(nov(12))
    assert sent(Kind.ACTION_DUE) == [("Sid Supervisee", "2025-11-13")]
    sweep_at(nov(13))
    assert sent(Kind.ACTION_DUE) == [("Sid Supervisee", "2025-11-13")]
    notification = Notification.objects.get(kind=Kind.ACTION_DUE)
    assert notification.url == f"/actions/#action-{action.code}"  # the exact action (issue 16)
    assert "EYFS" not in notification.body  # what was agreed stays in the record


def test_action_overdue_reminds_its_owner_once(action, sweep_at):
    sweep_at(nov(13))
    assert sent(Kind.ACTION_OVERDUE) == []
    sweep_at(nov(14))
    assert sent(Kind.ACTION_OVERDUE) == [("Sid Supervisee", "2025-11-13")]
    sweep_at(nov(17))
    assert sent(Kind.ACTION_OVERDUE) == [("Sid Supervisee", "2025-11-13")]


def test_a_done_action_is_not_chased(cast, action, sweep_at):
    with time_machine.travel(moment(nov(10), 12), tick=False):
        records.action_mark_done(actor=cast.supervisee, action=action, note="Read it")
    sweep_at(nov(12))
    sweep_at(nov(14))
    assert sent(Kind.ACTION_DUE) == [] and sent(Kind.ACTION_OVERDUE) == []


# --- 9 and 10. Safeguarding decisions (urgent) ------------------------------------------------------


@pytest.fixture
def decision(cast, calendar):
    record = written_record_on(cast, nov(10))
    made = records.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer to early help",
        key_person=cast.supervisee,
    )  # fmt: skip
    sign_now(record, moment(nov(10), 16, 0))
    return made


def test_an_unconfirmed_decision_reminds_the_key_person_48_hours_after_signing(decision, sweep_at):
    sweep_at(nov(11), 16)
    sweep_at(nov(12), 15, 59)
    assert sent(Kind.DECISION_UNCONFIRMED) == []
    sweep_at(nov(12), 16, 0)
    assert sent(Kind.DECISION_UNCONFIRMED) == [("Sid Supervisee", "1")]
    sweep_at(nov(13), 3, 0)
    assert sent(Kind.DECISION_UNCONFIRMED) == [("Sid Supervisee", "1")]
    notification = Notification.objects.get(kind=Kind.DECISION_UNCONFIRMED)
    assert notification.url == f"/records/decisions/{decision.code}/confirm/"
    assert "Refer to early help" not in notification.body


def test_an_unconfirmed_decision_escalates_to_the_dsl_and_head_after_four_days(cast, decision, sweep_at):
    sweep_at(nov(12), 16, 0)
    sweep_at(nov(14), 15, 59)
    assert sent(Kind.DECISION_ESCALATION) == []
    sweep_at(nov(14), 16, 0)
    assert sent(Kind.DECISION_ESCALATION) == [("Dev Dsl", "1"), ("Hana Head", "1")]
    sweep_at(nov(15), 2)
    assert len(sent(Kind.DECISION_ESCALATION)) == 2


def test_a_confirmed_decision_is_not_chased(cast, decision, sweep_at):
    with time_machine.travel(moment(nov(11), 12), tick=False):
        records.decision_confirm(
            actor=cast.supervisee, decision=decision, recorded_on=nov(11), external_reference="MASH-1"
        )
    sweep_at(nov(15), 12)
    assert sent(Kind.DECISION_UNCONFIRMED) == [] and sent(Kind.DECISION_ESCALATION) == []


def test_decisions_on_unsigned_records_do_not_count_yet(cast, calendar, sweep_at):
    record = written_record_on(cast, nov(3))
    records.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-1", decision="Refer", key_person=cast.supervisee
    )
    sweep_at(nov(12), 12)
    assert sent(Kind.DECISION_UNCONFIRMED) == []


# --- 11 and 12. Agreement reviews -------------------------------------------------------------------


def test_review_due_thirty_days_before_then_overdue(cast, calendar, sweep_at):
    agreement = signed_contract(cast.supervisee, cast.supervisor, start=date(2024, 12, 13))
    assert agreement.review_date == date(2025, 12, 12)
    sweep_at(nov(11))
    assert sent(Kind.CONTRACT_REVIEW_DUE) == []
    sweep_at(nov(12))
    both = [("Sam Supervisor", "2025-12-12"), ("Sid Supervisee", "2025-12-12")]
    assert sent(Kind.CONTRACT_REVIEW_DUE) == both
    sweep_at(nov(13))
    assert sent(Kind.CONTRACT_REVIEW_DUE) == both
    assert Notification.objects.filter(kind=Kind.CONTRACT_REVIEW_DUE).first().url == f"/contracts/{agreement.code}/"
    sweep_at(date(2025, 12, 12))
    assert sent(Kind.CONTRACT_REVIEW_OVERDUE) == []
    sweep_at(date(2025, 12, 15))
    assert sent(Kind.CONTRACT_REVIEW_OVERDUE) == both
    sweep_at(date(2025, 12, 16))
    assert sent(Kind.CONTRACT_REVIEW_OVERDUE) == both


# --- People who cannot be told --------------------------------------------------------------------


def test_leavers_and_inactive_people_are_not_reminded(cast, contract, sweep_at):
    cast.supervisor.user.is_active = False
    cast.supervisor.user.save()
    book(contract, nov(13))
    sweep_at(nov(12))
    assert sent(Kind.SESSION_REMINDER) == [("Sid Supervisee", "2025-11-13")]


def test_nothing_crosses_organisations(cast, contract, sweep_at):
    outsider_contract = signed_contract(cast.outsider_staff, cast.outsider, start=date(2025, 9, 1))
    book(outsider_contract, nov(13))
    book(contract, nov(13), hour=11)
    sweep_at(nov(12))
    for notification in Notification.objects.select_related("recipient"):
        assert notification.organisation_id == notification.recipient.organisation_id
    # The other organisation has no calendar: any weekday is a school day there.
    assert ("Olga Other", "2025-11-13") in sent(Kind.SESSION_REMINDER)


# --- Preferences and delivery -----------------------------------------------------------------------


def test_email_switched_off_still_records_the_notification(cast, contract, sweep_at):
    NotificationPreference.objects.create(staff=cast.supervisee, kind=Kind.AGENDA_PROMPT, email=False)
    book(contract, nov(19))
    sweep_at(nov(12))
    notification = Notification.objects.get(kind=Kind.AGENDA_PROMPT)
    assert notification.email_skipped and notification.emailed_at is None
    assert not OutboxEmail.objects.filter(notification=notification).exists()
    assert not [m for m in mail.outbox if "agenda" in m.subject.lower()]


def test_safeguarding_escalations_are_emailed_whatever_the_preference(cast, decision, sweep_at):
    for kind in (Kind.DECISION_UNCONFIRMED, Kind.DECISION_ESCALATION):
        NotificationPreference.objects.create(staff=cast.supervisee, kind=kind, email=False)
        NotificationPreference.objects.create(staff=cast.head, kind=kind, email=False)
    sweep_at(nov(12), 16, 0)
    sweep_at(nov(14), 16, 0)
    assert not Notification.objects.filter(email_skipped=True).exists()
    safeguarding = [m.to[0] for m in mail.outbox if "safeguarding decision" in m.subject.lower()]
    assert sorted(safeguarding) == ["dsl@cast.example", "head@cast.example", "supervisee@cast.example"]
    assert OutboxEmail.objects.filter(notification__kind__in=ALWAYS_EMAILED).count() == 3


def test_the_email_looks_like_the_product_and_links_to_the_thing_to_do(cast, contract, sweep_at, settings):
    session = book(contract, nov(13))
    sweep_at(nov(12))
    email = next(m for m in mail.outbox if m.to == ["supervisee@cast.example"] and "agenda" not in m.subject.lower())
    link = f"{settings.SITE_URL}/sessions/{session.code}/"
    assert email.subject == "Supervision on Thu 13 Nov at 10:00"
    assert "Dear Sid Supervisee" in email.body and link in email.body
    html = email.alternatives[0][0]
    assert f'href="{link}"' in html and "Open the session" in html and "#1d4e89" in html
    assert "/notifications/preferences/" in html
    assert email.extra_headers["Message-ID"].startswith("<")
    outbox = OutboxEmail.objects.get(to="supervisee@cast.example", subject=email.subject)
    assert outbox.delivered_at and outbox.attempts == 1
    assert email.extra_headers["Message-ID"] == f"<{outbox.notification.code}@127.0.0.1>"


def a_notification(cast):
    from supervision.notify import notify

    return notify(
        recipient=cast.supervisee, kind=Kind.ACTION_DUE, object_type="action", object_code="x", period="1",
        title="An action is due", body="Body", url="/actions/",
    )  # fmt: skip


def test_deliver_twice_writes_one_outbox_email_and_sends_one(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        notification = a_notification(cast)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            delivery.deliver(notification.id)
    assert OutboxEmail.objects.filter(notification=notification).count() == 1
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.emailed_at is not None
    assert delivery.deliver(notification.id) == "done"
    assert delivery.deliver(10**9) == "gone"


def test_the_relay_sends_what_a_lost_worker_left_and_counts_failures(cast, django_capture_on_commit_callbacks):
    with time_machine.travel(moment(nov(12), 9, 0), tick=False):
        with django_capture_on_commit_callbacks(execute=False):
            notification = a_notification(cast)
        # The worker wrote the outbox row, then died before the hand-over.
        with django_capture_on_commit_callbacks(execute=False):
            delivery.deliver(notification.id)
    outbox = OutboxEmail.objects.get()
    with time_machine.travel(moment(nov(12), 9, 0) + timedelta(seconds=30), tick=False):
        assert delivery.relay_outbox() == 0  # younger than a minute: the hand-over's
    with time_machine.travel(moment(nov(12), 9, 5), tick=False):
        with mock.patch.object(locmem.EmailBackend, "send_messages", side_effect=OSError("SMTP down")):
            assert delivery.relay_outbox() == 0
        outbox.refresh_from_db()
        assert outbox.attempts == 1 and outbox.delivered_at is None
        assert delivery.relay_outbox() == 1
        assert delivery.relay_outbox() == 0
    outbox.refresh_from_db()
    assert outbox.attempts == 2 and outbox.delivered_at is not None
    assert len(mail.outbox) == 1


def test_requeue_finds_notifications_whose_task_was_lost(cast, django_capture_on_commit_callbacks):
    # The task's message never reached a worker.
    with time_machine.travel(moment(nov(12), 9, 0), tick=False), django_capture_on_commit_callbacks(execute=False):
        a_notification(cast)
    with time_machine.travel(moment(nov(12), 9, 4), tick=False):
        assert delivery.requeue_undelivered() == 0
    with time_machine.travel(moment(nov(12), 9, 6), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery.requeue_undelivered() == 1
        assert delivery.requeue_undelivered() == 0
    assert OutboxEmail.objects.count() == 1 and len(mail.outbox) == 1


def test_a_second_sweep_and_a_concurrent_one_record_nothing_twice(cast, contract, sweep_at):
    book(contract, nov(13))
    with time_machine.travel(moment(nov(12)), tick=False):
        due = reminders.due_now()
    assert sweep_at(nov(12)) == len(due) > 0
    assert sweep_at(nov(12)) == 0
    # Items computed before the first sweep wrote them are recorded no second time.
    from supervision.notify import notify_many

    assert notify_many(item._asdict() for item in due) == 0
    assert Notification.objects.count() == len(due) == OutboxEmail.objects.count() == len(mail.outbox)


def test_a_sweep_that_loses_a_race_queues_only_the_rows_it_wrote(cast, contract, django_capture_on_commit_callbacks):
    from supervision import notify as ledger

    book(contract, nov(13))
    with time_machine.travel(moment(nov(12)), tick=False):
        due = reminders.due_now()
    assert len(due) >= 2
    taken = due[0]
    insert = ledger._insert_new

    def after_another_sweep(rows):
        # Another sweep records one of them after this one looked up the ledger, before it inserts.
        ledger.notify(**{**taken._asdict(), "title": "Recorded by the other sweep"})
        return insert(rows)

    queued = []
    with (
        mock.patch.object(ledger, "_insert_new", side_effect=after_another_sweep),
        mock.patch("supervision.tasks.deliver_notification.delay", lambda i: queued.append(i)),
        mock.patch("supervision.tasks.deliver_notifications.delay", lambda ids: queued.extend(ids)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        recorded = ledger.notify_many(item._asdict() for item in due)
    assert recorded == len(due) - 1
    assert Notification.objects.count() == len(due)
    assert Notification.objects.get(key=taken.key).title == "Recorded by the other sweep"
    # One delivery for each row this call wrote, one for the other sweep's row: never two for one.
    assert sorted(queued) == sorted(Notification.objects.values_list("id", flat=True))


# --- Cost ---------------------------------------------------------------------------------------------


def _fill(cast, start: int, stop: int):
    """Per unit, three people and one of every kind of reminder due at 07:30 on Wed 12 Nov 2025 (the
    escalations are due too, but wait for their reminders)."""
    for i in range(start, stop):
        # An agreement due for review, two sessions ahead, and a record signed on Thursday with an
        # action due tomorrow, an overdue action and a safeguarding decision.
        first = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
        agreement = signed_contract(first, cast.supervisor, start=date(2024, 12, 13))
        book(agreement, nov(13), hour=9 + i % 6)
        book(agreement, nov(18), hour=9 + i % 6)
        with time_machine.travel(moment(nov(6), 12), tick=False):
            record = written_record(cast, supervisee=first, days_ago=0)
            for description, due in (("A", nov(13)), ("B", nov(7))):
                records.action_add(actor=cast.supervisor, record=record, description=description, owner=first,
                                   due_date=due)  # fmt: skip
            records.decision_add(
                actor=cast.supervisor, record=record, child_reference=f"CP-{i}", decision="D", key_person=first
            )
        sign_now(record, moment(nov(6), 16))
        # An agreement past its review date, and a record waiting for the supervisee since Monday last week.
        second = StaffFactory(organisation=cast.organisation, settings=[cast.secondary])
        signed_contract(second, cast.supervisor2, start=date(2024, 11, 1))
        submitted_record(cast, nov(3), supervisee=second, supervisor=cast.supervisor2)
        # No session in Autumn 1.
        third = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
        signed_contract(third, cast.supervisor, start=date(2025, 9, 1))


def _sweep_queries() -> tuple[int, int]:
    with time_machine.travel(moment(nov(12)), tick=False), CaptureQueriesContext(connection) as queries:
        recorded = reminders.sweep()
    return len(queries), recorded


def _finder_queries() -> list[int]:
    with time_machine.travel(moment(nov(12)), tick=False):
        now = timezone.now()
        days = reminders.SchoolDays.load(now)
        counts = []
        for finder in reminders.FINDERS + reminders.URGENT_FINDERS:
            with CaptureQueriesContext(connection) as queries:
                assert finder(days.today, now, days) is not None
            counts.append(len(queries))
    return counts


def test_the_sweep_costs_the_same_queries_for_few_and_many(cast, calendar):
    _fill(cast, 0, 1)
    few_by_finder = _finder_queries()
    few, recorded_few = _sweep_queries()
    steady_few = _sweep_queries()
    _fill(cast, 1, 5)
    many_by_finder = _finder_queries()
    many, recorded_many = _sweep_queries()
    steady_many = _sweep_queries()
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert kinds >= {
        Kind.AGENDA_PROMPT, Kind.SESSION_REMINDER, Kind.SIGNATURE_PENDING, Kind.SESSION_OVERDUE,
        Kind.ACTION_DUE, Kind.ACTION_OVERDUE, Kind.DECISION_UNCONFIRMED,
        Kind.CONTRACT_REVIEW_DUE, Kind.CONTRACT_REVIEW_OVERDUE,
    }  # fmt: skip
    assert (recorded_few, recorded_many) == (13, 52)  # 13 and 65 due items
    assert many_by_finder == few_by_finder
    assert many == few
    assert steady_few == steady_many == (steady_few[0], 0)


# --- The schedule -------------------------------------------------------------------------------------


def test_the_schedule_is_installed_once_and_removed_on_reverse():
    migration = importlib.import_module("supervision.migrations.0003_install_schedule")
    names = ["supervision: sweep reminders", "supervision: relay outbox", "supervision: requeue undelivered"]
    beat.install(django_apps, migration.TASKS)
    beat.install(django_apps, migration.TASKS)
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__in=names).select_related("crontab", "interval")}
    assert sorted(tasks) == sorted(names)
    sweep = tasks["supervision: sweep reminders"]
    assert sweep.task == "supervision.sweep_reminders" and sweep.crontab.minute == "*/15"
    assert str(sweep.crontab.timezone) == "Europe/London"
    assert tasks["supervision: relay outbox"].interval.every == 5
    assert tasks["supervision: requeue undelivered"].interval.every == 10
    beat.remove(django_apps, migration.TASKS)
    assert not PeriodicTask.objects.filter(name__in=names).exists()
    beat.install(django_apps, migration.TASKS)
    assert PeriodicTask.objects.filter(name__in=names).count() == 3
