"""Who may reach agreements, sessions, groups and notes. Strangers get 404; wrong role 403."""

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404

from accounts.models import Role, StaffMember

from .models import Contract, InformalNote, Session, SupervisionGroup, _scope_settings

OVERSIGHT_ROLES = (Role.HEAD, Role.DSL, Role.ORG_ADMIN)


def oversees(staff: StaffMember, setting_ids) -> bool:
    """Head, DSL or organisation admin of one of these settings (or of the whole organisation)."""
    scope = _scope_settings(staff, *OVERSIGHT_ROLES)
    if scope == "organisation":
        return True
    return bool(scope and set(setting_ids) & scope)


def leads_settings(staff: StaffMember):
    """The settings where the person is head or DSL: None, "organisation" or a set of ids."""
    return _scope_settings(staff, Role.HEAD, Role.DSL)


def supervisees_in_reach(staff: StaffMember):
    """People for whom the person may set up agreements: all in their oversight, or their own supervisees."""
    qs = StaffMember.objects.filter(organisation_id=staff.organisation_id).current().select_related("user")
    scope = _scope_settings(staff, *OVERSIGHT_ROLES)
    if scope == "organisation":
        return qs
    if scope:
        return qs.filter(settings__in=scope).distinct()
    if staff.has_role(Role.SUPERVISOR):
        return qs.filter(supervisor=staff)
    return qs.none()


def can_set_up_agreements(staff: StaffMember) -> bool:
    return staff.has_role(Role.SUPERVISOR, *OVERSIGHT_ROLES)


def supervisors_in_organisation(staff: StaffMember):
    """Who may be chosen to supervise an agreement: the organisation's current supervisors."""
    return (
        StaffMember.objects.filter(organisation_id=staff.organisation_id, role_assignments__role=Role.SUPERVISOR)
        .current()
        .select_related("user")
        .distinct()
    )


def group_settings(staff: StaffMember):
    """The open settings where the person may set up a group: those of their supervisor or oversight roles."""
    scope = _scope_settings(staff, Role.SUPERVISOR, *OVERSIGHT_ROLES)
    settings_qs = staff.organisation.settings.open()
    return settings_qs if scope == "organisation" else settings_qs.filter(id__in=scope or ())


def group_people(staff: StaffMember, settings_qs):
    """Who may lead or join a group the person sets up: current staff of those settings."""
    return (
        StaffMember.objects.filter(organisation_id=staff.organisation_id, settings__in=settings_qs)
        .current()
        .select_related("user")
        .distinct()
    )


def get_contract_for_user(staff: StaffMember, code) -> tuple[Contract, bool]:
    """(agreement, can_manage). Managing: its supervisor, or oversight of the supervisee's setting."""
    contract = get_object_or_404(
        Contract.objects.visible_to(staff).select_related(
            "supervisee__user", "supervisor__user", "organisation", "previous"
        ),
        code=code,
    )
    setting_ids = [s.id for s in contract.supervisee.settings.all()]
    can_manage = contract.supervisor_id == staff.id or oversees(staff, setting_ids)
    return contract, can_manage


def require(condition: bool, message: str = "Your role does not allow this.") -> None:
    if not condition:
        raise PermissionDenied(message)


def get_session_for_user(staff: StaffMember, code) -> tuple[Session, str]:
    """(session, capacity): "supervisor", "attendee" or "overseer" (head/DSL: metadata only)."""
    session = get_object_or_404(
        Session.objects.visible_to(staff).select_related(
            "supervisor__user", "contract__supervisee__user", "group", "setting", "organisation", "rebooked_from"
        ),
        code=code,
    )
    if session.supervisor_id == staff.id:
        return session, "supervisor"
    if session.attendees.filter(pk=staff.pk).exists():
        return session, "attendee"
    return session, "overseer"


def groups_visible_to(staff: StaffMember):
    """Groups the person leads or belongs to, and those of settings they oversee."""
    qs = SupervisionGroup.objects.filter(organisation_id=staff.organisation_id)
    mine = Q(supervisor=staff) | Q(members=staff)
    scope = _scope_settings(staff, *OVERSIGHT_ROLES)
    if scope == "organisation":
        return qs
    if scope:
        return qs.filter(mine | Q(setting_id__in=scope)).distinct()
    return qs.filter(mine).distinct()


def get_group_for_user(staff: StaffMember, code) -> SupervisionGroup:
    return get_object_or_404(groups_visible_to(staff).select_related("supervisor__user", "setting"), code=code)


def get_note_for_user(staff: StaffMember, code) -> InformalNote:
    return get_object_or_404(InformalNote.objects.visible_to(staff), code=code)
