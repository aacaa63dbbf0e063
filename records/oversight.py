"""Oversight of records by people outside the session (DESIGN.md section 6).

Reasoned access: a head or DSL of the session's setting states why they need the notes; the reason
opens them to that person for `ACCESS_PERIOD`, goes in the audit trail and is shown to the people in
the session. Auditor grants: an organisation admin asks for signed records of some settings and dates
to be opened to an auditor until an expiry; the grant opens nothing until a second person approves it
(a head or DSL of every setting it covers, or another organisation admin who manages them: DESIGN.md
section 6, "Separation of duties"). django-guardian holds the per-object permission on the grant, given
on approval.
"""

from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts.audit import audit_event
from accounts.models import AuditEvent, Role, Setting, StaffMember

from .access import GRANT_PERMISSION, PARTICIPANT, leads_setting
from .models import AuditorGrant, Record, RecordAccess

ACCESS_PERIOD = timedelta(hours=2)
REASON_MIN_LENGTH = 10


def _role_label(staff: StaffMember, setting_id) -> str:
    """ "Head", "Designated safeguarding lead" or both: the roles that let the person oversee the setting."""
    labels = [
        Role(role).label
        for role in (Role.HEAD, Role.DSL)
        if (scope := staff.role_scope(role)) == "organisation" or (scope and setting_id in scope)
    ]
    return " and ".join(labels) or "Head or DSL"


# --- Reasoned access -----------------------------------------------------------------------------------


@transaction.atomic
def record_access_grant(*, viewer: StaffMember, record: Record, reason: str, request=None) -> RecordAccess:
    """Open the record's notes to a head or DSL of its setting for two hours, for the reason given."""
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            {"reason": f"Say why you need to read this record, in at least {REASON_MIN_LENGTH} characters."}
        )
    setting_id = record.session.setting_id
    in_session = record.supervisor_id == viewer.id or record.session.attendees.filter(pk=viewer.pk).exists()
    if record.organisation_id != viewer.organisation_id or in_session or not leads_setting(viewer, setting_id):
        raise PermissionDenied("Only a head or DSL of the setting, outside the session, gives a reason to read.")
    now = timezone.now()
    access = RecordAccess.objects.create(
        record=record, viewer=viewer, capacity="reasoned", reason=reason, granted_at=now, expires_at=now + ACCESS_PERIOD
    )
    audit_event(
        action="record.reasoned_access",
        actor=viewer.user,
        obj=record,
        request=request,
        details={
            "reason": reason,
            "role": _role_label(viewer, setting_id),
            "expires_at": access.expires_at.isoformat(),
        },
    )
    return access


def record_viewed(*, viewer: StaffMember, record: Record, capacity: str, request=None) -> AuditEvent | None:
    """Log a view of the notes: every reader, the people in the session too (DESIGN.md section 6). One
    insert, no other query. `record` comes from `get_record_for_user`, which annotates the reason
    (reader) or the grant (auditor). Nothing is logged for an overseer, who sees no notes."""
    if capacity in PARTICIPANT:
        return audit_event(
            action="record.viewed", actor=viewer.user, obj=record, request=request, details={"capacity": capacity}
        )
    if capacity == "reader":
        return audit_event(
            action="record.viewed", actor=viewer.user, obj=record, request=request,
            details={"capacity": capacity, "reason": record.access_reason},
        )  # fmt: skip
    if capacity == "auditor":
        return audit_event(
            action="record.viewed_by_auditor", actor=viewer.user, obj=record, request=request,
            details={"capacity": capacity, "grant": str(record.grant_code), "purpose": record.grant_purpose},
        )  # fmt: skip
    return None


def readings_of(record: Record) -> list[dict]:
    """Who outside the session read the notes, and why: every reason given and every auditor's view or
    download, newest first. For the people in the session. Three queries."""
    rows = [
        {
            "person": access.viewer.full_name,
            "role": _role_label(access.viewer, record.session.setting_id),
            "when": access.granted_at,
            "reason": access.reason,
            "what": "read the notes",
        }
        for access in record.accesses.select_related("viewer__user").prefetch_related("viewer__role_assignments")
    ]
    events = AuditEvent.objects.filter(object_type="record", object_code=str(record.code)).filter(
        Q(action="record.viewed_by_auditor") | Q(action="record.pdf_downloaded", details__capacity="auditor")
    )
    rows += [
        {
            "person": event.actor_name,
            "role": "Auditor",
            "when": event.created_at,
            "reason": event.details.get("purpose") or "Audit",
            "what": "downloaded the signed PDF" if event.action == "record.pdf_downloaded" else "read the notes",
        }
        for event in events.order_by("-created_at")
    ]
    return sorted(rows, key=lambda row: row["when"], reverse=True)


# --- Auditor grants ------------------------------------------------------------------------------------


def _admin_setting_ids(admin: StaffMember):
    """ "organisation", or the ids of the settings the organisation admin manages."""
    scope = admin.role_scope(Role.ORG_ADMIN)
    if scope is None:
        raise PermissionDenied("Organisation admins grant auditors access.")
    return scope


def can_manage_grant(admin: StaffMember, grant: AuditorGrant) -> bool:
    """An organisation-wide admin manages every grant; a setting admin those within their settings."""
    scope = admin.role_scope(Role.ORG_ADMIN)
    if scope is None or grant.organisation_id != admin.organisation_id:
        return False
    return scope == "organisation" or {s.id for s in grant.settings.all()} <= set(scope)


@transaction.atomic
def auditor_grant_create(
    *,
    actor: StaffMember,
    auditor: StaffMember,
    settings: list[Setting],
    covers_from: date,
    covers_until: date,
    expires_at: datetime,
    purpose: str,
    request=None,
) -> AuditorGrant:
    """Give an auditor read-only access to signed records of these settings and dates until `expires_at`."""
    scope = _admin_setting_ids(actor)
    settings = list(settings)
    errors = {}
    if auditor.pk == actor.pk:
        errors["auditor"] = "You cannot give yourself access: another organisation admin gives it."
    elif auditor.organisation_id != actor.organisation_id or not auditor.has_role(Role.AUDITOR):
        errors["auditor"] = "Choose a member of staff who holds the auditor role."
    elif auditor.has_role(Role.ORG_ADMIN):
        errors["auditor"] = "An organisation admin cannot be given auditor access."
    if not settings:
        errors["settings"] = "Choose at least one setting."
    elif any(
        s.organisation_id != actor.organisation_id or (scope != "organisation" and s.id not in scope) for s in settings
    ):
        errors["settings"] = "Choose settings you manage."
    if covers_from and covers_until and covers_until < covers_from:
        errors["covers_until"] = "The last day covered cannot be before the first."
    if expires_at <= timezone.now():
        errors["expires_at"] = "The access must end in the future."
    if not (purpose or "").strip():
        errors["purpose"] = "Say what the audit is for: the people whose records are read see it."
    if errors:
        raise ValidationError(errors)
    grant = AuditorGrant.objects.create(
        organisation_id=actor.organisation_id,
        auditor=auditor,
        covers_from=covers_from,
        covers_until=covers_until,
        expires_at=expires_at,
        purpose=purpose.strip(),
        granted_by=actor,
    )
    grant.settings.set(settings)
    # No permission yet: it is given when a second person approves (`auditor_grant_approve`).
    audit_event(
        action="auditor_grant.created",
        actor=actor.user,
        obj=grant,
        request=request,
        details={
            "auditor": str(auditor.code),
            "settings": sorted(s.name for s in settings),
            "covers_from": covers_from.isoformat(),
            "covers_until": covers_until.isoformat(),
            "expires_at": expires_at.isoformat(),
            "purpose": grant.purpose,
            "state": "pending",
        },
    )
    return grant


def can_approve_grant(staff: StaffMember, grant: AuditorGrant, now=None) -> bool:
    """A second person: neither the admin who asked for the grant nor the auditor, and either a head or
    DSL of every setting the grant covers or an organisation admin who manages them all. Settings are
    prefetched by callers that list grants."""
    if grant.organisation_id != staff.organisation_id or staff.pk in (grant.granted_by_id, grant.auditor_id):
        return False
    if grant.state(now) != "pending" or staff.has_role(Role.AUDITOR):
        return False
    setting_ids = {s.id for s in grant.settings.all()}
    return all(leads_setting(staff, setting_id) for setting_id in setting_ids) or can_manage_grant(staff, grant)


@transaction.atomic
def auditor_grant_approve(*, actor: StaffMember, grant: AuditorGrant, request=None) -> AuditorGrant:
    """The second person approves a pending grant: from now until it expires the auditor reads the signed
    records it covers."""
    grant = (
        AuditorGrant.objects.select_for_update()
        .select_related("auditor__user")
        .prefetch_related("settings")
        .get(pk=grant.pk)
    )
    now = timezone.now()
    if grant.state(now) != "pending":
        raise ValidationError(f"This grant is {grant.state(now)}: only a grant awaiting approval is approved.")
    if not can_approve_grant(actor, grant, now):
        raise PermissionDenied(
            "A second person approves a grant: a head or DSL of every setting it covers, or another "
            "organisation admin, never the admin who asked for it or the auditor."
        )
    if not grant.auditor.has_role(Role.AUDITOR) or grant.auditor.has_role(Role.ORG_ADMIN):
        raise ValidationError("The person no longer holds the auditor role alone: this grant cannot start.")
    grant.approved_by = actor
    grant.approved_at = now
    grant.save(update_fields=["approved_by", "approved_at"])
    assign_perm(GRANT_PERMISSION, grant.auditor.user, grant)
    audit_event(
        action="auditor_grant.approved",
        actor=actor.user,
        obj=grant,
        request=request,
        details={
            "auditor": str(grant.auditor.code),
            "granted_by": str(grant.granted_by.code) if grant.granted_by_id else None,
            "expires_at": grant.expires_at.isoformat(),
        },
    )
    return grant


@transaction.atomic
def auditor_grant_revoke(*, actor: StaffMember, grant: AuditorGrant, request=None) -> AuditorGrant:
    """End a grant now: the auditor loses the permission and sees nothing more of it."""
    grant = AuditorGrant.objects.select_for_update().select_related("auditor__user").get(pk=grant.pk)
    if not can_manage_grant(actor, grant):
        raise PermissionDenied("This grant covers settings you do not manage.")
    if grant.revoked_at is not None:
        raise ValidationError("This grant was already revoked.")
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    remove_perm(GRANT_PERMISSION, grant.auditor.user, grant)
    audit_event(
        action="auditor_grant.revoked",
        actor=actor.user,
        obj=grant,
        request=request,
        details={
            "auditor": str(grant.auditor.code),
            "was_live": grant.approved_at is not None and grant.expires_at > grant.revoked_at,
        },
    )
    return grant
