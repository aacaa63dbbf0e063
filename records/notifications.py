"""Emails that follow a record: a confidentiality flag to the DSLs and heads of the session's setting,
and a safeguarding decision to its key person.

They say what happened and where to act, never what was said: no section text, comment or decision
wording goes into an email. Each send is written to the audit trail, which is checked first, per
(object, recipient): a task that runs twice (a retry, a worker lost after sending) sends nothing new.
The Notification ledger of DESIGN section 3 replaces these audit look-ups in a later issue.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from accounts.audit import audit_event
from accounts.emails import send_templated_email
from accounts.models import AuditEvent, Role, RoleAssignment, StaffMember

from .follow_up import safeguarding_url
from .models import ConfidentialityFlag, Record, SafeguardingDecision

logger = logging.getLogger(__name__)

FLAG_NOTIFIED = "record.flag_notified"
DECISION_NOTIFIED = "record.decision_notified"


def flag_recipients(flag: ConfidentialityFlag) -> list[StaffMember]:
    """Current heads and DSLs whose role covers the session's setting (on it, or organisation-wide),
    except the people supervised in the session."""
    session = flag.record.session
    leaders = RoleAssignment.objects.filter(role__in=[Role.HEAD, Role.DSL]).filter(
        Q(setting__isnull=True) | Q(setting_id=session.setting_id)
    )
    return list(
        StaffMember.objects.filter(organisation_id=flag.organisation_id, id__in=leaders.values("staff_id"))
        .current()
        .filter(user__is_active=True)
        .exclude(id__in=session.attendees.values("id"))
        .select_related("user")
        .order_by("user__full_name")
    )


def _already_sent(action: str, record: Record, key: str, code: str) -> set[str]:
    """Codes of the people already sent this email about this object (events of one record: few)."""
    events = AuditEvent.objects.filter(action=action, object_type="record", object_code=str(record.code))
    return {e.details.get("recipient") for e in events if e.details.get(key) == code}


def _send_once(*, lock, action: str, record: Record, key: str, code: str, person: StaffMember, email: str, context):
    """Send unless the ledger says it went; the lock on the object's row serialises concurrent runs.
    The event is written after the email: a crash in between means one repeat, never a silent miss."""
    with transaction.atomic():
        lock()
        if str(person.code) in _already_sent(action, record, key, code):
            return False
        send_templated_email(email, person.user.email, {**context, "recipient": person})
        audit_event(action=action, obj=record, details={key: code, "recipient": str(person.code)})
    return True


def _send_each(people, **kwargs) -> int:
    """One email per person; a failure for one does not stop the others, and is raised at the end."""
    sent, failure = 0, None
    for person in people:
        try:
            sent += _send_once(person=person, **kwargs)
        except Exception as error:  # re-raised below, so the task still reports it
            logger.exception("Could not email %s", person.user.email)
            failure = failure or error
    if failure is not None:
        raise failure
    return sent


def send_flag_notice(flag_id: int) -> int:
    """Tell the DSLs and heads of the setting at once that a confidentiality flag was raised.
    Returns how many emails went."""
    flag = (
        ConfidentialityFlag.objects.select_related(
            "organisation", "raised_by__user", "record__session__setting", "record__organisation"
        )
        .filter(id=flag_id)
        .first()
    )
    if flag is None:
        return 0
    context = {
        "flag": flag,
        "kind": flag.get_kind_display(),
        "setting": flag.record.session.setting,
        "organisation": flag.organisation,
        "raised_by": flag.raised_by,
        "raised_at": flag.raised_at,
        "link": settings.SITE_URL + safeguarding_url(flag=flag),
    }
    return _send_each(
        flag_recipients(flag),
        lock=lambda: ConfidentialityFlag.objects.select_for_update().filter(pk=flag.pk).first(),
        action=FLAG_NOTIFIED,
        record=flag.record,
        key="flag",
        code=str(flag.code),
        email="flag_raised",
        context=context,
    )


def send_decision_notices(record_id: int) -> int:
    """Tell each key person that a signed record holds a safeguarding decision for them to put on the
    child's file (queued when the record locks). Returns how many emails went."""
    record = Record.objects.select_related("session__setting", "supervisor__user", "organisation").filter(id=record_id)
    record = record.first()
    if record is None:
        return 0
    decisions = SafeguardingDecision.objects.filter(
        record=record, confirmed_at__isnull=True, key_person__user__is_active=True
    ).select_related("key_person__user")
    sent = 0
    for decision in decisions:
        context = {
            "decision": decision,
            "record": record,
            "session": record.session,
            "organisation": record.organisation,
            "link": settings.SITE_URL + reverse("records:decision-confirm", kwargs={"code": decision.code}),
        }
        sent += _send_each(
            [decision.key_person],
            lock=lambda d=decision: SafeguardingDecision.objects.select_for_update().filter(pk=d.pk).first(),
            action=DECISION_NOTIFIED,
            record=record,
            key="decision",
            code=str(decision.code),
            email="decision_to_record",
            context=context,
        )
    return sent
