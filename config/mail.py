"""The one way email leaves the product: every message, whoever builds it (reminders and escalations,
invitations, calendar invites, password resets, Django's own), is marked as sent by a machine and
handed to the delivery backend that EMAIL_URL chose (`EMAIL_DELIVERY_BACKEND`).

A message from the default address to people of one organisation that has an email sender name (its
settings page) goes out under that name: `"Riverside Learning Trust" <supervision@...>`.

`Auto-Submitted: auto-generated` (RFC 3834) tells mail servers and out-of-office responders not to
answer; `X-Auto-Response-Suppress: All` tells Exchange and Outlook the same.
"""

from email.headerregistry import Address
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend

from accounts.models import StaffMember

AUTOMATED_HEADERS = {
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
}


def mark_automated(message) -> None:
    for name, value in AUTOMATED_HEADERS.items():
        if not any(existing.lower() == name.lower() for existing in message.extra_headers):
            message.extra_headers[name] = value


def apply_sender_names(messages) -> None:
    """Give each message from the default address the sender name of its recipients' organisation, when
    they all belong to one that has set it. One query for the whole batch."""
    default = settings.DEFAULT_FROM_EMAIL
    mine = [m for m in messages if m.from_email == default]
    addresses = {a.lower() for m in mine for a in m.recipients()}
    if not addresses:
        return
    names = dict(
        StaffMember.objects.filter(user__email__in=addresses)
        .exclude(organisation__email_sender_name="")
        .values_list("user__email", "organisation__email_sender_name")
    )
    sender = parseaddr(default)[1]
    for message in mine:
        found = {names.get(a.lower()) for a in message.recipients()}
        if len(found) == 1 and None not in found:
            message.from_email = str(Address(display_name=found.pop(), addr_spec=sender))


class AutomatedEmailBackend(BaseEmailBackend):
    """Adds AUTOMATED_HEADERS to each message, then sends it with the delivery backend."""

    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently)
        self.delivery = get_connection(settings.EMAIL_DELIVERY_BACKEND, fail_silently=fail_silently, **kwargs)

    def open(self):
        return self.delivery.open()

    def close(self):
        return self.delivery.close()

    def send_messages(self, email_messages):
        email_messages = list(email_messages)
        apply_sender_names(email_messages)
        for message in email_messages:
            mark_automated(message)
        return self.delivery.send_messages(email_messages)
