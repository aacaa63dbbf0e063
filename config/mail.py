"""The one way email leaves the product: every message, whoever builds it (reminders and escalations,
invitations, calendar invites, password resets, Django's own), is marked as sent by a machine and
handed to the delivery backend that EMAIL_URL chose (`EMAIL_DELIVERY_BACKEND`).

`Auto-Submitted: auto-generated` (RFC 3834) tells mail servers and out-of-office responders not to
answer; `X-Auto-Response-Suppress: All` tells Exchange and Outlook the same.
"""

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend

AUTOMATED_HEADERS = {
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
}


def mark_automated(message) -> None:
    for name, value in AUTOMATED_HEADERS.items():
        if not any(existing.lower() == name.lower() for existing in message.extra_headers):
            message.extra_headers[name] = value


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
        for message in email_messages:
            mark_automated(message)
        return self.delivery.send_messages(email_messages)
