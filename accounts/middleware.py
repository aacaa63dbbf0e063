from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.db.models import Prefetch
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone

from .audit import audit_event
from .models import RoleAssignment, StaffMember
from .second_factor import has_second_factor, second_factor_required, second_factor_shown


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


class SecondFactorMiddleware:
    """Holds people to the second-factor rule on every request (after `StaffMiddleware`).

    - A session that has not shown a second factor (ours, or a trusted provider's), of a person who has one,
      ends: the sign-in page asks for the code. (A session from before the person enrolled, or one made
      without the sign-in page.)
    - A person whose role needs a second factor and who has none reaches only the pages that set one up,
      and signing out: enrolment cannot be skipped.

    Costs one query per request for a session that has not shown a second factor; none otherwise.
    """

    ENROLMENT_PAGES = {
        "security",
        "security-authenticator",
        "security-passkey-add",
        "passkey-register-begin",
        "passkey-register-complete",
        "security-passkey-added",
        "logout",
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        staff = request.staff
        if staff is None or second_factor_shown(request):
            return self.get_response(request)
        if has_second_factor(request.user):
            audit_event(action="auth.signed_out_unverified", actor=request.user, request=request)
            logout(request)
            request.staff = None
            return redirect_to_login(request.get_full_path())
        if second_factor_required(staff):
            match = resolve_or_none(request.path_info)
            if match is None or match.namespace != "accounts" or match.url_name not in self.ENROLMENT_PAGES:
                return redirect("accounts:security")
        return self.get_response(request)


def resolve_or_none(path):
    try:
        return resolve(path)
    except Resolver404:
        return None
