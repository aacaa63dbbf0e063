from .models import Role


def navigation(request):
    """The navigation each person sees, built from their roles (no query: roles are prefetched)."""
    staff = getattr(request, "staff", None)
    if staff is None:
        return {"nav_items": []}
    items = [
        ("supervision:calendar", "Calendar", "bi-calendar3"),
        ("records:record-list", "Records", "bi-journal-text"),
        ("records:action-list", "Actions", "bi-check2-square"),
        ("supervision:contract-list", "Agreements", "bi-file-earmark-text"),
        ("supervision:note-list", "Notes", "bi-chat-square-text"),
        ("supervision:group-list", "Groups", "bi-people"),
    ]
    if staff.has_role(Role.HEAD, Role.DSL):
        items.append(("records:safeguarding", "Safeguarding", "bi-shield-exclamation"))
    if staff.has_role(Role.ORG_ADMIN):
        items.append(("accounts:staff-list", "Staff", "bi-person-lines-fill"))
        items.append(("supervision:terms", "Term dates", "bi-calendar-range"))
        items.append(("records:template-list", "Record forms", "bi-journal-richtext"))
    return {"nav_items": items, "current_staff": staff}
