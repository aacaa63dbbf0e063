"""Email a notification: into the outbox exactly once, then handed to the email backend.

`deliver(notification_id)` (the `supervision.deliver_notification` task, queued on commit by `notify()`;
a sweep's go a hundred to a `deliver_notifications` task) decides, in one transaction that locks the
notification's row, whether the person gets an email: not when they switched that kind off
(`NotificationPreference`), except safeguarding (`ALWAYS_EMAILED`), and not when their sign-in is no
longer active; either way the notification stays in their notification centre. If they do, it renders the
email and writes the `OutboxEmail` and `emailed_at` together. After commit it hands the email to Django's
email backend and sets `delivered_at`.

What is guaranteed, and what is not:
- The ledger and the outbox are exactly once: one `Notification` per key and at most one
  `OutboxEmail` per notification (both unique in the database), decided under the row lock, so a
  task that runs twice, or two workers at once, write nothing twice.
- The hand-over to SMTP is at least once, and a repeat is possible in one window only: the backend
  accepted the message and the process died before `delivered_at` was committed. `relay_outbox()`
  then sends it again. The hand-over holds the outbox row's lock (PostgreSQL `FOR UPDATE SKIP
  LOCKED`; on SQLite the database's write lock), so the relay and a late hand-over never send the same
  row at the same time. Each email's Message-ID is its notification's code, so the rare repeat
  carries the same Message-ID, which many mail servers and clients use to drop duplicates.
- Lost messages are found again: a worker killed before `deliver` committed leaves a notification
  with neither outbox nor `email_skipped`; Redis gives the unacknowledged message back after the
  visibility timeout, and `requeue_undelivered()` queues it again after 5 minutes whatever the broker.
"""

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.emails import render_subject

from .models import ALWAYS_EMAILED, Notification, NotificationKind, NotificationPreference, OutboxEmail

logger = logging.getLogger(__name__)

# The hand-over right after commit normally takes a second; the relay leaves younger rows to it.
RELAY_AFTER = timedelta(minutes=1)
# A notification with no outbox row and no decision after this long lost its task message.
REQUEUE_AFTER = timedelta(minutes=5)
# The relay stops retrying an email after this many failed hand-overs (about four hours of retries).
MAX_ATTEMPTS = 50
# Rows handled per run of the relay or the requeue; the next run takes the rest.
BATCH = 500

BUTTONS = {
    NotificationKind.AGENDA_PROMPT: "Add to the agenda",
    NotificationKind.SESSION_REMINDER: "Open the session",
    NotificationKind.SIGNATURE_PENDING: "Read and sign the record",
    NotificationKind.SIGNATURE_ESCALATION: "See the session",
    NotificationKind.SESSION_OVERDUE: "Book a session",
    NotificationKind.SESSION_OVERDUE_ESCALATION: "See the agreement",
    NotificationKind.ACTION_DUE: "See your actions",
    NotificationKind.ACTION_OVERDUE: "See your actions",
    NotificationKind.DECISION_UNCONFIRMED: "Read the decision and confirm",
    NotificationKind.DECISION_ESCALATION: "See safeguarding follow-up",
    NotificationKind.CONTRACT_REVIEW_DUE: "See the agreement",
    NotificationKind.CONTRACT_REVIEW_OVERDUE: "See the agreement",
    NotificationKind.RETENTION_REPORT: "See the details",
    NotificationKind.SUBJECT_ACCESS_EXPORT: "See the export",
    NotificationKind.AUDIT_CHAIN_BROKEN: "Open the audit trail",
}


def _wants_email(notification: Notification) -> bool:
    user = notification.recipient.user
    if not user.is_active or not user.email:
        return False
    if notification.kind in ALWAYS_EMAILED:
        return True
    return not NotificationPreference.objects.filter(
        staff_id=notification.recipient_id, kind=notification.kind, email=False
    ).exists()


def render(notification: Notification) -> dict[str, str]:
    """Subject, text and HTML of a notification's email: templates/emails/notification_*."""
    context = {
        "notification": notification,
        "recipient": notification.recipient,
        "organisation": notification.organisation,
        "link": settings.SITE_URL + notification.url,
        "button": BUTTONS.get(notification.kind, "Open Supervision"),
        "always_emailed": notification.kind in ALWAYS_EMAILED,
        "preferences_link": settings.SITE_URL + reverse("supervision:notification-preferences"),
        "site_url": settings.SITE_URL,
    }
    return {
        "subject": render_subject("emails/notification_subject.txt", context),
        "text": render_to_string("emails/notification_body.txt", context),
        "html": render_to_string("emails/notification_body.html", context),
    }


def deliver(notification_id: int) -> str:
    """Decide and write the notification's email once, then hand it over after commit. Safe to run twice.

    Returns what happened: "gone", "skipped" (no email for this person), "queued" (the outbox row
    waits for its hand-over, now written or left by an earlier run) or "done" (nothing left to do).
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("recipient__user", "organisation")
            .filter(id=notification_id)
            .first()
        )
        if notification is None:
            return "gone"
        outbox = OutboxEmail.objects.filter(notification=notification).first()
        if outbox is None:
            if notification.email_skipped or notification.emailed_at:
                return "done"
            if not _wants_email(notification):
                notification.email_skipped = True
                notification.save(update_fields=["email_skipped"])
                return "skipped"
            outbox = OutboxEmail.objects.create(notification=notification, to=notification.recipient.user.email,
                                                **render(notification))  # fmt: skip
            notification.emailed_at = timezone.now()
            notification.save(update_fields=["emailed_at"])
        if outbox.delivered_at:
            return "done"
        outbox_id = outbox.id
        transaction.on_commit(lambda: hand_over(outbox_id))
    return "queued"


def _message(outbox: OutboxEmail, connection=None) -> EmailMultiAlternatives:
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    message = EmailMultiAlternatives(
        subject=outbox.subject,
        body=outbox.text,
        to=[outbox.to],
        connection=connection,
        # The same Message-ID on a repeat lets mail servers and clients drop the duplicate.
        headers={"Message-ID": f"<{outbox.notification.code}@{domain}>"},
    )
    message.attach_alternative(outbox.html, "text/html")
    return message


def hand_over(outbox_id: int, connection=None) -> bool:
    """Hand one outbox email to the email backend unless it went already. True when it went now.

    The row stays locked while the backend takes the email, so no other process sends it meanwhile;
    a failure is counted in `attempts` and left for the relay.
    """
    with transaction.atomic():
        outbox = (
            OutboxEmail.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notification")
            .filter(id=outbox_id, delivered_at__isnull=True)
            .first()
        )
        if outbox is None:
            return False
        outbox.attempts += 1
        try:
            _message(outbox, connection).send()
        except OSError:  # smtplib's errors are OSErrors
            logger.exception("Could not hand over email %s (attempt %s)", outbox_id, outbox.attempts)
            outbox.save(update_fields=["attempts"])
            return False
        outbox.delivered_at = timezone.now()
        outbox.save(update_fields=["attempts", "delivered_at"])
    return True


def relay_outbox(min_age: timedelta = RELAY_AFTER) -> int:
    """(Re)send outbox emails not yet delivered and older than `min_age`. Returns how many went.

    Catches what a hand-over missed: a worker lost between commit and hand-over, an SMTP failure.
    """
    cutoff = timezone.now() - min_age
    ids = list(
        OutboxEmail.objects.filter(delivered_at__isnull=True, created_at__lt=cutoff, attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:BATCH]
    )
    if not ids:
        return 0
    sent = 0
    with get_connection() as connection:  # one SMTP connection for the batch
        for outbox_id in ids:
            sent += hand_over(outbox_id, connection=connection)
    if sent:
        logger.info("Outbox relay sent %d emails", sent)
    return sent


def requeue_undelivered(min_age: timedelta = REQUEUE_AFTER) -> int:
    """Queue `deliver` again for notifications older than `min_age` with no email decision yet.

    Their task message was lost (a broker without acknowledgements, a publish that failed after
    commit). `deliver` is idempotent, so queueing one that is merely slow costs a no-op.
    """
    from .notify import DELIVERY_BATCH, _chunks
    from .tasks import deliver_notifications

    cutoff = timezone.now() - min_age
    ids = list(
        Notification.objects.filter(emailed_at__isnull=True, email_skipped=False, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:BATCH]
    )
    for chunk in _chunks(ids, DELIVERY_BATCH):
        deliver_notifications.delay(chunk)
    if ids:
        logger.warning("Requeued %d notifications whose delivery was lost", len(ids))
    return len(ids)
