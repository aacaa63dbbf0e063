from django.db.models import Prefetch

from .models import RoleAssignment, StaffMember


def get_request_staff(user):
    """The signed-in person's staff record with organisation and roles: one query."""
    if not user.is_authenticated:
        return None
    return (
        StaffMember.objects.select_related("organisation", "user")
        .prefetch_related(Prefetch("role_assignments", queryset=RoleAssignment.objects.select_related("setting")))
        .filter(user=user)
        .first()
    )


class StaffMiddleware:
    """Sets `request.staff`: the signed-in person in their organisation, or None."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.staff = get_request_staff(request.user)
        return self.get_response(request)
