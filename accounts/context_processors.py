from .models import Role


def navigation(request):
    """The navigation each person sees, built from their roles (no query: roles are prefetched)."""
    staff = getattr(request, "staff", None)
    if staff is None:
        return {"nav_items": []}
    items = [("home", "Home", "bi-house")]
    if staff.has_role(Role.ORG_ADMIN):
        items.append(("accounts:staff-list", "Staff", "bi-people"))
        items.append(("accounts:staff-import", "Import staff", "bi-upload"))
    return {"nav_items": items, "current_staff": staff}
