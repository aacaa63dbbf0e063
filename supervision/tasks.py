"""Celery adapters for supervision: they take ids and load what is current when they run.

Queued by `services.py` with `transaction.on_commit`. Acknowledgement after the task has run
(`CELERY_TASK_ACKS_LATE`) is set for every task in settings, so a worker lost mid-task means a rerun.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Prefetch
from django.template.loader import render_to_string

from accounts.emails import render_subject
from accounts.models import StaffMember

from . import ical
from .models import Session, SessionStatus

logger = logging.getLogger(__name__)


def _invite_kind(session: Session, method: str) -> str:
    if method == "CANCEL":
        return "cancelled"
    return "moved" if session.sequence > 0 else "booked"


# SMTP errors are OSErrors: retry those with backoff (a rerun resends, which is harmless, see below).
@shared_task(name="supervision.send_session_invites", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_session_invites(session_id: int, method: str) -> int:
    """Email the session's invite (METHOD:REQUEST) or cancellation (METHOD:CANCEL) to the supervisor
    and each attendee, with the .ics attached. Returns how many emails went.

    Safe to run twice, or late: it sends the session as it is now, not as it was when queued. Calendar
    apps keep one event per UID and apply an update only when its SEQUENCE is not older than theirs,
    so a repeat is at worst a second email, never a second or stale event. A REQUEST that finds the
    session no longer scheduled sends nothing: the change that followed queued its own task.
    """
    session = (
        Session.objects.select_related(
            "organisation", "supervisor__user", "contract__supervisee__user", "group", "cancelled_by__user"
        )
        .prefetch_related(Prefetch("attendees", queryset=StaffMember.objects.select_related("user")))
        .filter(id=session_id)
        .first()
    )
    if session is None:
        return 0
    current = {SessionStatus.SCHEDULED: "REQUEST", SessionStatus.CANCELLED: "CANCEL"}.get(session.status)
    if method != current:
        return 0
    ics = ical.session_invite(session, method).decode()
    attendees = list(session.attendees.all())
    recipients = [p for p in [session.supervisor, *attendees] if p.user.is_active]
    context = {
        "session": session,
        "kind": _invite_kind(session, method),
        "starts": session.starts_at.astimezone(ical.LONDON),
        "ends": session.ends_at.astimezone(ical.LONDON),
        "attendee_names": ", ".join(p.full_name for p in attendees),
        "link": ical.session_url(session),
    }
    messages = []
    for person in recipients:
        person_context = {**context, "recipient": person}
        subject = render_subject("emails/session_invite_subject.txt", person_context)
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("emails/session_invite_body.txt", person_context),
            to=[person.user.email],
        )
        message.attach_alternative(render_to_string("emails/session_invite_body.html", person_context), "text/html")
        # Django adds "charset=utf-8" to text/* attachments.
        message.attach("invite.ics", ics, f"text/calendar; method={method}")
        messages.append(message)
    with get_connection() as connection:
        return connection.send_messages(messages) or 0


@shared_task(name="supervision.deliver_notification")
def deliver_notification(notification_id: int) -> None:
    """Email one notification (unless the person switched that kind off). Safe to run twice."""
    from .delivery import deliver

    deliver(notification_id)


@shared_task(name="supervision.deliver_notifications")
def deliver_notifications(notification_ids: list[int]) -> None:
    """Email a batch of notifications, each as `deliver_notification` does, in its own transaction: how a
    sweep queues thousands (one message per `DELIVERY_BATCH`, not one each). One that fails is logged and
    left to `requeue_undelivered`; the rest go on. Safe to run twice."""
    from .delivery import deliver

    for notification_id in notification_ids:
        try:
            deliver(notification_id)
        except Exception:
            logger.exception("Delivering notification %s failed; it will be queued again.", notification_id)


# Reminders: beat runs these (migration 0003_install_schedule). Each is safe to run twice, or two at
# once: the ledger's unique key and the outbox's row lock decide, not the scheduler.


@shared_task(name="supervision.sweep_reminders")
def sweep_reminders() -> int:
    """Record every reminder due now and queue its email. Returns how many were new."""
    from .reminders import sweep

    return sweep()


@shared_task(name="supervision.relay_outbox")
def relay_outbox(min_age_seconds: int | None = None) -> int:
    """Hand over outbox emails a worker did not (lost, or SMTP failed). Returns how many went."""
    from . import delivery

    if min_age_seconds is None:
        return delivery.relay_outbox()
    return delivery.relay_outbox(timedelta(seconds=min_age_seconds))


@shared_task(name="supervision.requeue_undelivered")
def requeue_undelivered(min_age_seconds: int | None = None) -> int:
    """Queue delivery again for notifications whose task message was lost. Returns how many."""
    from . import delivery

    if min_age_seconds is None:
        return delivery.requeue_undelivered()
    return delivery.requeue_undelivered(timedelta(seconds=min_age_seconds))


@shared_task(name="supervision.check_audit_trail")
def check_audit_trail() -> int:
    """The daily check of the audit trail (03:40, installed by migration): see `audit_watch`."""
    from .audit_watch import check_audit_trail as check

    return len(check())


@shared_task(name="supervision.refresh_coverage")
def refresh_coverage() -> int:
    """Every 5 minutes (installed by migration): summarise the running half term and the ended ones whose
    coverage is not fresh, for the dashboard (`dashboard.summary`). Returns how many were summarised."""
    from .dashboard import summary

    done = summary.refresh()
    if done["summarised"]:
        logger.info("Summarised the coverage of %s half terms (%s agreements owed supervision).", *done.values())
    return done["summarised"]


@shared_task(name="supervision.run_agreements")
def run_agreements(run_id: int) -> None:
    """Agreements for everyone, for a large organisation (supervision/bulk_agreements.py); safe to deliver twice."""
    from .bulk_agreements import agreements_run

    agreements_run(run_id)
