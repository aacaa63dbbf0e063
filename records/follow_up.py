"""Safeguarding follow-up by heads and DSLs: what they may reach, and resolving a confidentiality flag.

They act on the flags and safeguarding decisions of the settings they lead (DESIGN section 6), never
on a record's narrative. A flag about a record in which they were themselves supervised is not theirs
to see or resolve: another leader of the setting handles it.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import StaffMember
from supervision.access import leads_settings

from .models import ConfidentialityFlag, SafeguardingDecision


def _in_led_settings(qs, staff: StaffMember):
    scope = leads_settings(staff)
    qs = qs.filter(organisation_id=staff.organisation_id)
    if scope is None:
        return qs.none()
    if scope == "organisation":
        return qs
    return qs.filter(record__session__setting_id__in=scope)


def flags_led_by(staff: StaffMember):
    """Flags (open or resolved) of the settings the person leads, except those about themselves."""
    return _in_led_settings(ConfidentialityFlag.objects.all(), staff).exclude(record__session__attendees=staff)


def decisions_led_by(staff: StaffMember):
    """Safeguarding decisions of the settings the person leads."""
    return _in_led_settings(SafeguardingDecision.objects.all(), staff)


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
