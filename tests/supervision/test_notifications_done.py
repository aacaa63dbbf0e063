"""Issue 16, fault 7: a notification is marked read once the task it is about is done through the product
(signing the record, marking the action done, confirming the decision, signing the agreement, booking
the overdue session, adding to the agenda). Signature reminders come from the real sweep; the others are
entered as the sweep enters them (same kind, object and recipient); every task is done through its view."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from records import services as records
from supervision import services as supervision
from supervision.models import Notification, NotificationKind
from supervision.notify import notify
from tests.factories import PASSWORD
from tests.records.helpers import written_record
from tests.supervision.helpers import at

from .test_reminders import calendar, moment, nov, submitted_record, sweep_at  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
Kind = NotificationKind


def unread(kind, person) -> int:
    return Notification.objects.filter(kind=kind, recipient=person, read_at__isnull=True).count()


def remind(person, kind, object_type, obj):
    return notify(
        recipient=person, kind=kind, object_type=object_type, object_code=obj.code, period="1", title="To do",
        body="Please do it.", url="/",
    )  # fmt: skip


def test_signing_marks_the_signature_reminder_read(cast, calendar, sweep_at, login):  # noqa: F811
    record = submitted_record(cast, nov(10))
    sweep_at(nov(12))
    assert unread(Kind.SIGNATURE_PENDING, cast.supervisee) == 1
    client = login(cast.supervisee)
    with time_machine.travel(moment(nov(13), 12), tick=False):
        # Refused (not ticked): the reminder stays.
        client.post(reverse("records:record-sign", args=[record.code]), {"password": PASSWORD})
        assert unread(Kind.SIGNATURE_PENDING, cast.supervisee) == 1
        response = client.post(
            reverse("records:record-sign", args=[record.code]), {"agree": "on", "password": PASSWORD}
        )
    assert response.status_code == 302
    assert unread(Kind.SIGNATURE_PENDING, cast.supervisee) == 0


def test_the_lock_answers_every_reminder_and_escalation_about_the_record(cast, calendar, sweep_at):  # noqa: F811
    record = submitted_record(cast, nov(10))
    for day in (12, 17, 18, 19, 20, 21):
        sweep_at(nov(day))
    assert Notification.objects.filter(kind=Kind.SIGNATURE_ESCALATION, read_at__isnull=True).exists()
    with time_machine.travel(moment(nov(21), 12), tick=False):
        records.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
        records.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    assert not Notification.objects.filter(object_code=str(record.code), read_at__isnull=True).exists()


def test_marking_an_action_done_marks_its_reminders_read(cast, login):
    record = written_record(cast)
    action = records.action_add(
        actor=cast.supervisor, record=record, section=None, description="Read the policy", owner=cast.supervisee,
        due_date=timezone.localdate() + timedelta(days=1),
    )  # fmt: skip
    remind(cast.supervisee, Kind.ACTION_DUE, "action", action)
    other = remind(cast.supervisee, Kind.SESSION_REMINDER, "session", record.session)
    login(cast.supervisee).post(reverse("records:action-done", args=[action.code]), {"note": "Read it"})
    assert unread(Kind.ACTION_DUE, cast.supervisee) == 0
    other.refresh_from_db()
    assert other.read_at is None  # only what the task answers


def test_confirming_a_decision_marks_the_reminder_and_the_escalation_read(cast, login):
    record = written_record(cast)
    decision = records.decision_add(
        actor=cast.supervisor, record=record, child_reference="C-1", decision="Refer", key_person=cast.supervisee
    )
    remind(cast.supervisee, Kind.DECISION_UNCONFIRMED, "decision", decision)
    remind(cast.dsl, Kind.DECISION_ESCALATION, "decision", decision)
    response = login(cast.supervisee).post(
        reverse("records:decision-confirm", args=[decision.code]),
        {"recorded_on": timezone.localdate().isoformat(), "external_reference": "CP-9"},
    )
    assert response.status_code == 302
    assert unread(Kind.DECISION_UNCONFIRMED, cast.supervisee) == 0 and unread(Kind.DECISION_ESCALATION, cast.dsl) == 0


def test_signing_an_agreement_marks_the_request_read_for_the_signer_only(cast, login):
    contract = supervision.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=timezone.localdate()
    )
    supervision.contract_request_signatures(contract=contract)
    response = login(cast.supervisee).post(
        reverse("supervision:contract-sign", args=[contract.code]), {"agree": "on", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert unread(Kind.CONTRACT_TO_SIGN, cast.supervisee) == 0
    assert unread(Kind.CONTRACT_TO_SIGN, cast.supervisor) == 1


def test_booking_answers_supervision_overdue_and_adding_to_the_agenda_answers_the_prompt(cast, login):
    record = written_record(cast)
    contract = record.session.contract
    remind(cast.supervisor, Kind.SESSION_OVERDUE, "contract", contract)
    remind(cast.head, Kind.SESSION_OVERDUE_ESCALATION, "contract", contract)
    day = timezone.localdate() + timedelta(days=7)
    session = supervision.session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(day, 10), minutes=30, check=False, send=False
    )
    assert (
        unread(Kind.SESSION_OVERDUE, cast.supervisor) == 0 and unread(Kind.SESSION_OVERDUE_ESCALATION, cast.head) == 0
    )
    remind(cast.supervisee, Kind.AGENDA_PROMPT, "session", session)
    login(cast.supervisee).post(reverse("supervision:agenda-add", args=[session.code]), {"text": "My workload"})
    assert session.agenda_items.exists()
    assert unread(Kind.AGENDA_PROMPT, cast.supervisee) == 0
