"""The people the records forms offer, as named person searches (accounts/pickers.py)."""

from django.core.exceptions import PermissionDenied

from accounts.models import StaffMember
from accounts.pickers import Picker, register


def subject_access_people(admin: StaffMember):
    """Whom an organisation admin may answer a subject access request for: the staff they manage."""
    if not admin.is_org_admin:
        raise PermissionDenied("Your role does not start this export.")
    return StaffMember.objects.manageable_by(admin).select_related("user").order_by("user__full_name")


def subject_label(staff: StaffMember) -> str:
    return f"{staff.full_name} ({staff.email})" + (" · left" if staff.is_leaver() else "")


register(
    Picker("subject-access", field="subject", people=subject_access_people, to_field_name="code", label=subject_label)
)
