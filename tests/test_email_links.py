"""Issue 16: every email leads to the exact item (the record to sign, the session, the action, the decision
or flag on the safeguarding page), the safeguarding escalation names the child reference to the leaders of
the setting only, and a cancellation says why."""

from datetime import date, datetime

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from accounts.models import Role
from records import services as records
from records.models import FlagKind
from supervision import reminders
from supervision import services as supervision
from supervision.slots import LONDON
from tests.factories import PASSWORD, StaffFactory
from tests.records.helpers import written_record
from tests.supervision.helpers import at, signed_contract

pytestmark = pytest.mark.django_db


def moment(day: int, hour: int = 7, minute: int = 30) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=LONDON)


@pytest.fixture
def contract(cast):
    supervision.calendar_generate_default(organisation=cast.organisation, start_year=2025)
    return signed_contract(cast.supervisee, cast.supervisor, start=date(2025, 9, 1))


@pytest.fixture
def sweep_at(django_capture_on_commit_callbacks):
    def _sweep(day: int, hour: int = 7, minute: int = 30):
        with (
            time_machine.travel(moment(day, hour, minute), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            reminders.sweep()

    return _sweep


def record_on(cast, day: int):
    with time_machine.travel(moment(day, 15), tick=False):
        return written_record(cast, days_ago=0)


def html_of(message) -> str:
    return message.alternatives[0][0]


def test_a_cancellation_email_gives_the_reason_and_who_cancelled(cast, contract, django_capture_on_commit_callbacks):
    with time_machine.travel(moment(3, 9), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            session = supervision.session_book(
                actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 19), 10), minutes=30,
                check=False,
            )  # fmt: skip
        booked = list(mail.outbox)
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            supervision.session_cancel(
                actor=cast.supervisor, session=session, reason="I'm on the Ofsted training day & can't move it"
            )
    link = f"{settings.SITE_URL}/sessions/{session.code}/"
    assert booked and not any("Reason" in m.body or "Reason" in html_of(m) for m in booked)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([cast.supervisee.user.email, cast.supervisor.user.email])
    for message in mail.outbox:
        assert message.subject.startswith("Supervision cancelled")
        assert "Reason: I'm on the Ofsted training day & can't move it" in message.body  # plain text, unescaped
        assert "Cancelled by: Sam Supervisor" in message.body and link in message.body
        html = html_of(message)
        assert "I&#x27;m on the Ofsted training day &amp; can&#x27;t move it" in html and "Sam Supervisor" in html
        assert f'href="{link}"' in html


def test_each_reminder_links_to_its_exact_item(cast, contract, sweep_at):
    # A session on Thu 13 Nov, a record awaiting the supervisee since Mon 10 Nov, an action due on Thu 13 Nov.
    with time_machine.travel(moment(3, 9), tick=False):
        session = supervision.session_book(
            actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 13), 10), minutes=30, check=False,
            send=False,
        )  # fmt: skip
    record = record_on(cast, 10)
    with time_machine.travel(moment(10, 15), tick=False):
        action = records.action_add(
            actor=cast.supervisor, record=record, description="Read the policy", owner=cast.supervisee,
            due_date=date(2025, 11, 13),
        )  # fmt: skip
        records.record_submit(actor=cast.supervisor, record=record)
    mail.outbox.clear()
    sweep_at(12)
    to_supervisee = {m.subject: m for m in mail.outbox if m.to == [cast.supervisee.user.email]}
    expected = {
        "Supervision on Thu 13 Nov at 10:00": f"/sessions/{session.code}/",
        "Please read and sign the record of your supervision on Mon 10 Nov": f"/records/{record.code}/",
        "An action from supervision is due on Thu 13 Nov": f"/actions/#action-{action.code}",
    }
    for subject, path in expected.items():
        message = to_supervisee[subject]
        link = settings.SITE_URL + path
        assert link in message.body and f'href="{link}"' in html_of(message), subject


def test_the_safeguarding_escalation_names_the_child_and_the_decision_to_the_settings_leaders_only(
    cast, contract, sweep_at
):
    other_head = StaffFactory(
        organisation=cast.organisation, user__email="head2@cast.example", settings=[cast.secondary],
        roles=[(Role.HEAD, cast.secondary)],
    )  # fmt: skip
    record = record_on(cast, 10)
    with time_machine.travel(moment(10, 15), tick=False):
        decision = records.decision_add(
            actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer to early help",
            key_person=cast.supervisee,
        )  # fmt: skip
    with time_machine.travel(moment(10, 16, 0), tick=False):
        records.record_submit(actor=cast.supervisor, record=record)
        records.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
        records.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    sweep_at(12, 16, 0)  # the key person's reminder
    mail.outbox.clear()
    sweep_at(14, 16, 0)  # four days on: the escalation
    escalations = [m for m in mail.outbox if "not on the child's file" in m.subject]
    assert sorted(m.to[0] for m in escalations) == sorted([cast.dsl.user.email, cast.head.user.email])
    # The query names the decision (the page shows the page of the list that holds it), the fragment its row.
    link = f"{settings.SITE_URL}/records/safeguarding/?decision={decision.code}#decision-{decision.code}"
    for message in escalations:
        assert "CP-0042" in message.body and "CP-0042" in html_of(message)
        assert "CP-0042" not in message.subject  # a subject shows on lock screens
        assert link in message.body and f'href="{link}"' in html_of(message)
        assert "Refer to early help" not in message.body  # the decision's wording stays in the product
    everyone_else = [m for m in mail.outbox if m.to[0] not in (cast.dsl.user.email, cast.head.user.email)]
    assert not any("CP-0042" in m.body for m in everyone_else)
    assert other_head.user.email not in [m.to[0] for m in mail.outbox]


def test_the_flag_email_links_to_the_flag(cast, django_capture_on_commit_callbacks):
    with time_machine.travel(moment(12, 9), tick=False):
        record = written_record(cast)
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            flag = records.flag_raise(actor=cast.supervisor, record=record, kind=FlagKind.HARM, note="See me")
    link = f"{settings.SITE_URL}/records/safeguarding/?flag={flag.code}#flag-{flag.code}"
    assert mail.outbox
    for message in mail.outbox:
        assert link in message.body and f'href="{link}"' in html_of(message)
