from django.contrib.auth import logout
from django.db.models import Prefetch
from django.utils import timezone

from .audit import audit_event
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
    """Sets `request.staff`: the signed-in person in their organisation, or None.

    A leaver (the day after their leaving date) who is still signed in is signed out on their next
    request: the session is flushed and the request goes on as an anonymous visitor's. Sign-in itself
    is refused by `accounts.backends.StaffBackend`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        staff = get_request_staff(request.user)
        if staff is not None and staff.is_leaver(timezone.localdate()):
            audit_event(
                action="auth.signed_out_leaver",
                actor=request.user,
                obj=staff,
                request=request,
                details={"leaving_date": staff.leaving_date.isoformat()},
            )
            logout(request)
            staff = None
        request.staff = staff
        return self.get_response(request)
