from .models import Role


def navigation(request):
    """The navigation each person sees, built from their roles (no query: roles are prefetched)."""
    staff = getattr(request, "staff", None)
    if staff is None:
        return {"nav_items": []}
    items = [
        ("home", "Home", "bi-house"),
        ("supervision:calendar", "Calendar", "bi-calendar3"),
        ("supervision:contract-list", "Agreements", "bi-file-earmark-text"),
        ("supervision:note-list", "Informal notes", "bi-chat-square-text"),
        ("supervision:group-list", "Groups", "bi-people"),
    ]
    if staff.has_role(Role.ORG_ADMIN):
        items.append(("accounts:staff-list", "Staff", "bi-person-lines-fill"))
        items.append(("supervision:terms", "Term dates", "bi-calendar-range"))
    return {"nav_items": items, "current_staff": staff}
