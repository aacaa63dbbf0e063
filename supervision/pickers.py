"""The people the supervision forms offer, as named person searches (accounts/pickers.py). Each is the
function the form's view uses for its queryset, with the view's refusal: a search never finds someone the
form would not accept from this person, nor answers someone the page refuses."""

from accounts.models import Role, StaffMember
from accounts.pickers import Picker, register

from .access import (
    OVERSIGHT_ROLES,
    can_set_up_agreements,
    group_people,
    group_settings,
    require,
    supervisees_in_reach,
    supervisors_in_organisation,
)
from .models import Contract

AGREEMENTS_REFUSAL = "Supervisors, heads, DSLs and organisation admins set up agreements."
GROUPS_REFUSAL = "Supervisors and the setting's leaders set up groups."
NOTES_REFUSAL = "Supervisors record informal supervision of the people they supervise."


def agreement_supervisees(staff: StaffMember):
    require(can_set_up_agreements(staff), AGREEMENTS_REFUSAL)
    return supervisees_in_reach(staff)


def agreement_supervisors(staff: StaffMember):
    """A new agreement's supervisor, or a running agreement's new one: its supervisor may change it even
    without the supervisor role any more (`_contract_action`), and is offered the same people."""
    require(
        can_set_up_agreements(staff) or Contract.objects.filter(supervisor=staff, end_date__isnull=True).exists(),
        AGREEMENTS_REFUSAL,
    )
    return supervisors_in_organisation(staff)


def note_supervisees(staff: StaffMember):
    people = supervisees_in_reach(staff).exclude(pk=staff.pk)
    require(people.exists(), NOTES_REFUSAL)
    return people


def group_members(staff: StaffMember):
    require(staff.has_role(Role.SUPERVISOR, *OVERSIGHT_ROLES), GROUPS_REFUSAL)
    return group_people(staff, group_settings(staff))


register(Picker("agreement-supervisee", field="supervisee", people=agreement_supervisees))
register(Picker("agreement-supervisor", field="supervisor", people=agreement_supervisors))
register(Picker("note-supervisee", field="supervisee", people=note_supervisees))
register(Picker("group-supervisor", field="supervisor", people=group_members))
register(Picker("group-members", field="members", people=group_members, multiple=True))
