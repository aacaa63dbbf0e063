"""Who may reach what. Strangers get 404; a person without the role gets 403.

Views call these helpers first; the helpers fetch through the querysets that carry the
organisation boundary, so a code from another organisation is simply not found.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Role, StaffMember


def staff_required(view):
    """Signed in, and a member of an organisation."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.staff is None or not request.user.is_active:
            raise PermissionDenied("Your account is not linked to an organisation.")
        return view(request, *args, **kwargs)

    return wrapper


def role_required(*roles):
    def decorator(view):
        @wraps(view)
        @staff_required
        def wrapper(request, *args, **kwargs):
            if not request.staff.has_role(*roles):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


org_admin_required = role_required(Role.ORG_ADMIN)


def get_staff_for_admin(admin: StaffMember, code) -> StaffMember:
    """A staff member the organisation admin may manage, or 404."""
    return get_object_or_404(
        StaffMember.objects.manageable_by(admin).select_related("user", "organisation", "supervisor__user"),
        code=code,
    )


def admin_settings(admin: StaffMember):
    """The settings an organisation admin manages."""
    scope = admin.role_scope(Role.ORG_ADMIN)
    qs = admin.organisation.settings.all()
    if scope is None:
        return qs.none()
    if scope == "organisation":
        return qs
    return qs.filter(id__in=scope)
