"""Every change to people, roles and organisations goes through here, and writes its audit event."""

from dataclasses import dataclass, field
from datetime import date, time

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .audit import audit_event
from .models import Organisation, Role, RoleAssignment, Setting, StaffMember, User, WorkingDay


@dataclass
class StaffData:
    """What the form or the import says about one person."""

    full_name: str
    email: str
    job_title: str
    employment_type: str
    start_date: date
    settings: list[Setting]
    working_days: dict[int, tuple[time | None, time | None]]
    new_to_post: bool = False
    leaving_date: date | None = None
    supervisor: StaffMember | None = None
    roles: list[tuple[str, Setting | None]] = field(default_factory=list)


def _snapshot(staff: StaffMember) -> dict:
    """A comparable picture of a person, for change detection and the audit trail."""
    return {
        "full_name": staff.user.full_name,
        "email": staff.user.email,
        "job_title": staff.job_title,
        "employment_type": staff.employment_type,
        "start_date": staff.start_date.isoformat() if staff.start_date else None,
        "leaving_date": staff.leaving_date.isoformat() if staff.leaving_date else None,
        "new_to_post": staff.new_to_post,
        "supervisor": staff.supervisor.user.email if staff.supervisor_id else None,
        "settings": sorted(s.name for s in staff.settings.all()),
        "working_days": {
            str(d.weekday): [d.starts.isoformat() if d.starts else None, d.ends.isoformat() if d.ends else None]
            for d in staff.working_days.all()
        },
    }


def _changes(before: dict, after: dict) -> dict:
    return {key: [before.get(key), after[key]] for key in after if before.get(key) != after[key]}


def _write_working_days(staff: StaffMember, days: dict[int, tuple[time | None, time | None]]) -> None:
    current = {d.weekday: d for d in staff.working_days.all()}
    for weekday, row in current.items():
        if weekday not in days:
            row.delete()
    for weekday, (starts, ends) in days.items():
        row = current.get(weekday)
        if row is None:
            WorkingDay.objects.create(staff=staff, weekday=weekday, starts=starts, ends=ends)
        elif (row.starts, row.ends) != (starts, ends):
            row.starts, row.ends = starts, ends
            row.save(update_fields=["starts", "ends"])


@transaction.atomic
def staff_create(*, actor: User, organisation: Organisation, data: StaffData, request=None) -> StaffMember:
    check_separation_of_duties(actor=actor, staff=None, roles=data.roles)
    user = User.objects.create_user(email=data.email, full_name=data.full_name)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    staff = StaffMember.objects.create(
        user=user,
        organisation=organisation,
        job_title=data.job_title,
        employment_type=data.employment_type,
        start_date=data.start_date,
        leaving_date=data.leaving_date,
        new_to_post=data.new_to_post,
        supervisor=data.supervisor,
    )
    staff.settings.set(data.settings)
    _write_working_days(staff, data.working_days)
    for role, setting in data.roles:
        RoleAssignment.objects.get_or_create(staff=staff, role=role, setting=setting)
    audit_event(
        action="staff.created",
        actor=actor,
        obj=staff,
        request=request,
        details={"after": _snapshot(staff), "roles": [_role_label(r, s) for r, s in data.roles]},
    )
    return staff


@transaction.atomic
def staff_update(*, actor: User, staff: StaffMember, data: StaffData, request=None) -> dict:
    """Apply the data; returns the changes (empty when nothing differed, and then nothing is written)."""
    before = _snapshot(staff)
    user = staff.user
    user.full_name = data.full_name
    if data.email != user.email and user.has_signed_in:
        # The address someone signs in with changes only when they confirm it (accounts/email_change.py).
        raise ValidationError({"email": "A new address for someone who has signed in waits for them to confirm it."})
    user.email = data.email
    staff.job_title = data.job_title
    staff.employment_type = data.employment_type
    staff.start_date = data.start_date
    if data.leaving_date != staff.leaving_date:
        # A listing for deletion was worked out from the old date; the sweep lists again if due.
        staff.retention_deletes_on = None
    staff.leaving_date = data.leaving_date
    staff.new_to_post = data.new_to_post
    staff.supervisor = data.supervisor
    after_fields = {
        "full_name": data.full_name,
        "email": data.email,
        "job_title": data.job_title,
        "employment_type": data.employment_type,
        "start_date": data.start_date.isoformat(),
        "leaving_date": data.leaving_date.isoformat() if data.leaving_date else None,
        "new_to_post": data.new_to_post,
        "supervisor": data.supervisor.user.email if data.supervisor else None,
        "settings": sorted(s.name for s in data.settings),
        "working_days": {
            str(weekday): [starts.isoformat() if starts else None, ends.isoformat() if ends else None]
            for weekday, (starts, ends) in sorted(data.working_days.items())
        },
    }
    changes = _changes(before, after_fields)
    if not changes:
        return {}
    user.save(update_fields=["full_name", "email"])
    staff.save()
    staff.settings.set(data.settings)
    _write_working_days(staff, data.working_days)
    audit_event(action="staff.updated", actor=actor, obj=staff, request=request, details={"changes": changes})
    return changes


@transaction.atomic
def staff_mark_leaver(*, actor: User, staff: StaffMember, leaving_date: date, request=None) -> None:
    previous = staff.leaving_date
    staff.leaving_date = leaving_date
    if leaving_date != previous:
        # A listing for deletion was worked out from the old date; the sweep lists again if due.
        staff.retention_deletes_on = None
    staff.save(update_fields=["leaving_date", "retention_deletes_on", "updated_at"])
    audit_event(
        action="staff.leaver_marked",
        actor=actor,
        obj=staff,
        request=request,
        details={"leaving_date": leaving_date.isoformat(), "previous": previous.isoformat() if previous else None},
    )


def _role_label(role: str, setting: Setting | None) -> str:
    return f"{Role(role).label} ({setting.name if setting else 'whole organisation'})"


OWN_ROLES_MESSAGE = "You cannot change your own roles: another organisation admin changes them."
AUDITOR_AND_ADMIN_MESSAGE = (
    "Nobody is both an auditor and an organisation admin: an auditor checks what admins do. "
    "Remove one of the two roles."
)


def check_separation_of_duties(*, actor: User, staff: StaffMember | None, roles) -> None:
    """Nobody changes their own roles, and nobody holds the auditor and organisation admin roles
    together (DESIGN.md section 6, "Separation of duties"). `roles` are the person's roles afterwards,
    as role values or (role, setting) pairs."""
    actor_staff = getattr(actor, "staff", None) if actor is not None and actor.pk else None
    if staff is not None and actor_staff is not None and actor_staff.pk == staff.pk:
        raise ValidationError(OWN_ROLES_MESSAGE)
    held = {r[0] if isinstance(r, tuple) else r for r in roles}
    if Role.AUDITOR in held and Role.ORG_ADMIN in held:
        raise ValidationError(AUDITOR_AND_ADMIN_MESSAGE)


@transaction.atomic
def staff_set_roles(
    *, actor: User, staff: StaffMember, roles: list[tuple[str, Setting | None]], manageable_settings, request=None
) -> dict:
    """Make the person's roles within the admin's reach exactly `roles`; others are left alone. Refused
    (ValidationError, nothing written) for the admin's own roles and for auditor with organisation admin."""
    reach = {s.id for s in manageable_settings}
    org_wide_admin = actor.staff.role_scope(Role.ORG_ADMIN) == "organisation"
    current = list(staff.role_assignments.select_related("setting"))
    wanted = {(role, setting.id if setting else None) for role, setting in roles}
    kept = [a.role for a in current if not (org_wide_admin or a.setting_id in reach)]
    check_separation_of_duties(actor=actor, staff=staff, roles=[role for role, _ in roles] + kept)
    added, removed = [], []
    for assignment in current:
        in_reach = org_wide_admin or assignment.setting_id in reach
        if in_reach and (assignment.role, assignment.setting_id) not in wanted:
            removed.append(_role_label(assignment.role, assignment.setting))
            assignment.delete()
    existing = {(a.role, a.setting_id) for a in current}
    for role, setting in roles:
        if (role, setting.id if setting else None) not in existing:
            RoleAssignment.objects.create(staff=staff, role=role, setting=setting)
            added.append(_role_label(role, setting))
    if added or removed:
        audit_event(
            action="staff.roles_changed",
            actor=actor,
            obj=staff,
            request=request,
            details={"added": added, "removed": removed},
        )
    return {"added": added, "removed": removed}


@transaction.atomic
def staff_add_roles(*, actor: User, staff: StaffMember, roles: list[tuple[str, Setting | None]], request=None) -> list:
    """Give the roles the person does not hold yet (an import adds roles, never removes them)."""
    held = {(a.role, a.setting_id) for a in staff.role_assignments.all()}
    if any((role, setting.id if setting else None) not in held for role, setting in roles):
        check_separation_of_duties(actor=actor, staff=staff, roles=[r for r, _ in held] + [r for r, _ in roles])
    added = [
        _role_label(role, setting)
        for role, setting in roles
        if RoleAssignment.objects.get_or_create(staff=staff, role=role, setting=setting)[1]
    ]
    if added:
        audit_event(
            action="staff.roles_changed",
            actor=actor,
            obj=staff,
            request=request,
            details={"added": added, "removed": []},
        )
    return added


def invitation_path(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("accounts:invitation", kwargs={"uidb64": uid, "token": token})


@transaction.atomic
def staff_invite(*, actor: User, staff: StaffMember, request=None) -> None:
    """Queue the invitation email (a set-password link) once the transaction commits.

    Only for someone who has never set a password: an invitation to an account in use would let whoever
    reads it set that person's password. People who forgot theirs reset it from the sign-in page."""
    from .tasks import send_invitation

    if staff.user.has_usable_password():
        raise ValidationError(
            f"{staff.full_name} has already set a password, so there is nothing to invite them to. If they have "
            "forgotten it, they can reset it from the sign-in page."
        )
    audit_event(action="staff.invited", actor=actor, obj=staff, request=request, details={"email": staff.user.email})
    staff_id = staff.id
    transaction.on_commit(lambda: send_invitation.delay(staff_id))


@transaction.atomic
def staff_set_legal_hold(*, actor: User, staff: StaffMember, hold: bool, reason: str, request=None) -> bool:
    """Set or release the legal hold that keeps a person's records past the retention period.

    Returns False when the person was already in that state (and nothing is written). The row is
    locked, so a hold set while the retention sweep runs either stops it or waits for it.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the legal hold is set or released."})
    current, deletes_on = (
        StaffMember.objects.select_for_update().values_list("legal_hold", "retention_deletes_on").get(pk=staff.pk)
    )
    if current == hold:
        staff.legal_hold = current
        return False
    staff.legal_hold, staff.retention_deletes_on = hold, deletes_on
    details = {"reason": reason, "leaving_date": staff.leaving_date.isoformat() if staff.leaving_date else None}
    if hold and deletes_on is not None:
        # The stop of a listed deletion: once the hold is released the sweep lists them again, with a
        # new grace period, so nothing is deleted without a fresh warning.
        staff.retention_deletes_on = None
        details["deletion_stopped"] = deletes_on.isoformat()
    staff.save(update_fields=["legal_hold", "retention_deletes_on", "updated_at"])
    audit_event(
        action="staff.legal_hold_set" if hold else "staff.legal_hold_released",
        actor=actor,
        obj=staff,
        request=request,
        details=details,
    )
    return True
