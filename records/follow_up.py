"""Safeguarding follow-up by heads and DSLs: what they may reach, and resolving a confidentiality flag.

They act on the flags and safeguarding decisions of the settings they lead (DESIGN section 6), never
on a record's narrative. A flag about a record in which they were themselves supervised is not theirs
to see or resolve: another leader of the setting handles it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import StaffMember
from accounts.queries import InArray
from supervision.access import leads_settings
from supervision.dashboard.scope import object_url
from supervision.models import Notification, NotificationKind
from supervision.notify import notify

from .access import leads_setting
from .models import ConfidentialityFlag, Record, RecordStatus, SafeguardingDecision

# A head or DSL reminds a key person at most once in this time (a second press says when it went).
REMIND_AGAIN_AFTER = timedelta(days=1)


def _in_led_settings(qs, staff: StaffMember):
    scope = leads_settings(staff)
    qs = qs.filter(organisation_id=staff.organisation_id)
    if scope is None:
        return qs.none()
    if scope == "organisation":
        return qs
    return qs.filter(setting_id__in=scope)


def flags_led_by(staff: StaffMember):
    """Flags (open or resolved) of the settings the person leads, except those about themselves."""
    return _in_led_settings(ConfidentialityFlag.objects.all(), staff).exclude(record__session__attendees=staff)


def decisions_led_by(staff: StaffMember):
    """Safeguarding decisions of the settings the person leads."""
    return _in_led_settings(SafeguardingDecision.objects.all(), staff)


def decisions_awaiting_led_by(staff: StaffMember):
    """Decisions of the settings the person leads that wait for their key person to confirm them on the
    child's file (`awaiting_confirmation`). For a lead of the whole organisation, with no setting to start
    from, the decisions are also looked up from the organisation's unconfirmed ones by key (`InArray`):
    a few hundred in any organisation, where PostgreSQL otherwise hashed all 72,000 signed records of a
    12,000-staff trust to join 666 decisions to them (22 ms, 6.5 ms this way; issue 14). The same rows."""
    decisions = decisions_led_by(staff).awaiting_confirmation()
    if leads_settings(staff) == "organisation":
        unconfirmed = SafeguardingDecision.objects.filter(
            organisation_id=staff.organisation_id, confirmed_at__isnull=True
        ).values("id")
        decisions = decisions.filter(InArray("id", unconfirmed))
    return decisions


def safeguarding_url(*, decision: SafeguardingDecision | None = None, flag: ConfidentialityFlag | None = None) -> str:
    """The safeguarding page at a decision's or a flag's row, for links in emails and notifications."""
    return reverse("records:safeguarding") + safeguarding_at(decision=decision, flag=flag)


def safeguarding_at(*, decision: SafeguardingDecision | None = None, flag: ConfidentialityFlag | None = None) -> str:
    """What follows the safeguarding page's address to reach a decision's or a flag's row: the query names
    the item, so the page shows the page of its list that holds it (a trust-wide lead's list runs to many
    pages), and the fragment scrolls to its row."""
    name, item = ("decision", decision) if decision is not None else ("flag", flag)
    return f"?{name}={item.code}#{name}-{item.code}"


def record_url_for(staff: StaffMember, record: Record) -> str:
    """The record's address for a person who may open it (`get_record_for_user`: its supervisor, or a
    head or DSL of its setting), else "" (the page then shows the decision without a link). No query:
    `record.session` is loaded and the person's roles are prefetched; the URL name reversed once
    (`object_url`), for a page of many."""
    if record.supervisor_id == staff.id or leads_setting(staff, record.session.setting_id):
        return object_url("records:record-detail", record.code)
    return ""


def reminders_since(decisions, since: datetime) -> dict[str, datetime]:
    """When each decision's key person was last reminded to confirm it (by the sweep or by a head or DSL)
    after `since`, by decision code. One query, whatever the number of decisions."""
    people = {str(d.code): d.key_person_id for d in decisions}
    if not people:
        return {}
    last: dict[str, datetime] = {}
    rows = Notification.objects.filter(
        # By recipient first: the ledger's index on (recipient, ...) serves it.
        recipient_id__in=set(people.values()), kind=NotificationKind.DECISION_UNCONFIRMED, object_type="decision",
        object_code__in=list(people), created_at__gt=since,
    ).values_list("object_code", "recipient_id", "created_at")  # fmt: skip
    for code, recipient_id, created_at in rows:
        if people.get(code) == recipient_id and (code not in last or created_at > last[code]):
            last[code] = created_at
    return last


def waiting_since_signed(decisions, today) -> None:
    """Set `signed_on` and `days_waiting` on each decision (its record loaded): how long it has waited,
    counted from the day its record was signed, in Europe/London, as every page shows it."""
    for decision in decisions:
        decision.signed_on = timezone.localtime(decision.record.locked_at).date()
        decision.days_waiting = (today - decision.signed_on).days


@transaction.atomic
def flag_resolve(*, actor: StaffMember, flag: ConfidentialityFlag, resolution: str, request=None) -> None:
    """A head or DSL of the session's setting says what was done about the flag; it leaves the open list."""
    flag = ConfidentialityFlag.objects.select_for_update().select_related("record").get(pk=flag.pk)
    if not flags_led_by(actor).filter(pk=flag.pk).exists():
        raise PermissionDenied("The head or DSL of the setting resolves its flags.")
    if flag.resolved_at:
        raise ValidationError("This flag is already resolved.")
    resolution = resolution.strip()
    if not resolution:
        raise ValidationError({"resolution": "Say what was done."})
    flag.resolved_at = timezone.now()
    flag.resolved_by = actor
    flag.resolution = resolution
    flag.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    audit_event(
        action="record.flag_resolved",
        actor=actor.user,
        obj=flag.record,
        request=request,
        details={"flag": str(flag.code), "kind": flag.kind},
    )


@dataclass(frozen=True)
class Reminder:
    """What pressing "Remind" did: `sent` now, or not, because one went at `at` (within a day)."""

    sent: bool
    at: datetime


def _day(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%a} {local.day} {local:%b %Y}"


@transaction.atomic
def decision_remind(*, actor: StaffMember, decision: SafeguardingDecision, request=None) -> Reminder:
    """A head or DSL of the setting asks the key person to confirm a decision is on the child's file: a
    notification and its email (always emailed, as every safeguarding reminder), at most once a day.

    The decision's row is locked while the ledger is read, so two presses at once send one reminder."""
    decision = (
        SafeguardingDecision.objects.select_for_update(of=("self",))
        .select_related("key_person__user", "record__session__setting")
        .get(pk=decision.pk)
    )
    if not decisions_led_by(actor).filter(pk=decision.pk).exists():
        raise PermissionDenied("The head or DSL of the setting reminds its key people.")
    if decision.confirmed_at:
        raise ValidationError("This decision is already confirmed as on the child's file.")
    record, key_person = decision.record, decision.key_person
    if record.status != RecordStatus.SIGNED:
        raise ValidationError("The key person is told once the record is signed: it is not signed yet.")
    today = timezone.localdate()
    if not key_person.user.is_active or (key_person.leaving_date and key_person.leaving_date < today):
        raise ValidationError(
            f"{key_person.full_name} can no longer sign in to Supervision: ask another member of staff to put "
            "the decision on the child's file."
        )
    now = timezone.now()
    last = reminders_since([decision], now - REMIND_AGAIN_AFTER).get(str(decision.code))
    if last is not None:
        return Reminder(sent=False, at=last)
    setting = record.session.setting
    notify(
        recipient=key_person,
        kind=NotificationKind.DECISION_UNCONFIRMED,
        object_type="decision",
        object_code=decision.code,
        # One period per press: the sweep's own reminder (period "1") and its escalation are unaffected.
        period=f"asked {now:%Y%m%dT%H%M%S%f}",
        # The title is the email's subject: never the child reference (issue 13).
        title=f"Please confirm a safeguarding decision is on the child's file ({setting.name})",
        body=(
            f"{actor.full_name} asks you to confirm a safeguarding decision. A signed supervision record of "
            f"{_day(record.session.starts_at)} at {setting.name} names you as the key person for a decision "
            f"about {decision.child_reference}, and it is not yet confirmed as recorded on the child's file. "
            "Record it in your child-protection system, then confirm it here with the date and the system's "
            "reference."
        ),
        url=reverse("records:decision-confirm", kwargs={"code": decision.code}),
    )
    audit_event(
        action="record.decision_reminded",
        actor=actor.user,
        obj=record,
        request=request,
        details={"decision": str(decision.code), "key_person": str(key_person.code)},
    )
    return Reminder(sent=True, at=now)
