"""Issue 13: every email says it was sent by a machine, so out-of-office replies do not flood back."""

from datetime import date, datetime

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMessage, send_mail
from django.urls import reverse

from accounts.tasks import send_invitation
from config.mail import AUTOMATED_HEADERS
from supervision import reminders
from supervision import services as supervision
from supervision.slots import LONDON
from tests.factories import StaffFactory
from tests.supervision.helpers import at, signed_contract

pytestmark = pytest.mark.django_db


def assert_automated(message):
    parsed = message.message()
    assert parsed["Auto-Submitted"] == "auto-generated", message.subject
    assert parsed["X-Auto-Response-Suppress"] == "All", message.subject
    assert len(parsed.get_all("Auto-Submitted")) == 1


def test_a_password_reset_email_is_marked_automatic(client, cast):
    client.post(reverse("accounts:password-reset"), {"email": cast.supervisee.user.email})
    assert len(mail.outbox) == 1
    assert_automated(mail.outbox[0])


def test_an_invitation_is_marked_automatic(cast):
    newcomer = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
    newcomer.user.set_unusable_password()
    newcomer.user.save()
    send_invitation(newcomer.id)
    assert len(mail.outbox) == 1
    assert_automated(mail.outbox[0])


def test_calendar_invites_and_reminders_are_marked_automatic(cast, django_capture_on_commit_callbacks):
    supervision.calendar_generate_default(organisation=cast.organisation, start_year=2025)
    contract = signed_contract(cast.supervisee, cast.supervisor, start=date(2025, 9, 1))
    with (
        time_machine.travel(datetime(2025, 11, 3, 9, tzinfo=LONDON), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        supervision.session_book(
            actor=contract.supervisor, contract=contract, starts_at=at(date(2025, 11, 19), 10), minutes=30, check=False
        )
    invites = list(mail.outbox)
    assert invites and all(m.attachments for m in invites)
    with (
        time_machine.travel(datetime(2025, 11, 12, 7, 30, tzinfo=LONDON), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        reminders.sweep()
    prompts = mail.outbox[len(invites) :]
    assert prompts
    for message in mail.outbox:
        assert_automated(message)


def test_any_other_email_is_marked_too_and_a_header_already_set_is_kept():
    send_mail("Plain", "Body", None, ["someone@example.org"])
    EmailMessage("Set", "Body", to=["someone@example.org"], headers={"auto-submitted": "auto-replied"}).send()
    assert_automated(mail.outbox[0])
    assert mail.outbox[1].message()["Auto-Submitted"] == "auto-replied"
    assert len(mail.outbox[1].message().get_all("Auto-Submitted")) == 1
    assert mail.outbox[1].message()["X-Auto-Response-Suppress"] == "All"


def test_the_settings_send_every_email_through_the_marking_backend():
    from config import settings as configured  # the file as written, before the tests' own overrides

    assert configured.EMAIL_BACKEND == "config.mail.AutomatedEmailBackend"
    assert configured.email_config(configured.EMAIL_URL)["EMAIL_BACKEND"] == configured.EMAIL_DELIVERY_BACKEND
    assert set(AUTOMATED_HEADERS) == {"Auto-Submitted", "X-Auto-Response-Suppress"}
