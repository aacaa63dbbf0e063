from django.utils.functional import SimpleLazyObject

from .models import Role


def navigation(request):
    """The navigation each person sees, built from their roles (no query: roles are prefetched), and the bell."""
    staff = getattr(request, "staff", None)
    if staff is None:
        return {"nav_items": []}
    items = []
    if (
        staff.has_role(Role.HEAD, Role.DSL)
        or staff.role_scope(Role.ORG_ADMIN) == "organisation"
        or (staff.role_scope(Role.AUDITOR) == "organisation")
    ):
        items.append(("supervision:dashboard", "Dashboard", "bi-speedometer2"))
    items += [
        ("supervision:calendar", "Calendar", "bi-calendar3"),
        ("records:record-list", "Records", "bi-journal-text"),
        ("records:action-list", "Actions", "bi-check2-square"),
        ("supervision:contract-list", "Agreements", "bi-file-earmark-text"),
    ]
    more = [
        ("supervision:note-list", "Informal notes", "bi-chat-square-text"),
        ("supervision:group-list", "Groups", "bi-people"),
    ]
    if staff.has_role(Role.HEAD, Role.DSL):
        more.append(("records:safeguarding", "Safeguarding follow-up", "bi-shield-exclamation"))
    if staff.has_role(Role.ORG_ADMIN):
        more.append(("accounts:staff-list", "Staff", "bi-person-lines-fill"))
        more.append(("supervision:terms", "Term dates", "bi-calendar-range"))
        more.append(("records:template-list", "Record forms", "bi-journal-richtext"))
        more.append(("accounts:setting-list", "Settings", "bi-building"))
    if staff.role_scope(Role.ORG_ADMIN) == "organisation":
        more.append(("accounts:organisation-settings", "Organisation", "bi-gear"))
    if staff.has_role(Role.ORG_ADMIN, Role.AUDITOR, Role.HEAD, Role.DSL):
        # Heads and DSLs approve auditors' access to their settings.
        more.append(("records:grant-list", "Auditor access", "bi-key"))
    if staff.has_role(Role.ORG_ADMIN, Role.AUDITOR):
        more.append(("accounts:audit-list", "Audit trail", "bi-list-check"))
        more.append(("records:export-list", "Exports", "bi-box-arrow-down"))
    return {"nav_items": items, "nav_more": more, "current_staff": staff, "unread_notifications": _unread_count(staff)}


def _unread_count(staff):
    """The bell's badge: one COUNT query, run only when a template shows it (so HTMX partials without
    the bell cost nothing) and at most once per render."""
    from supervision.models import Notification

    return SimpleLazyObject(lambda: Notification.objects.filter(recipient=staff, read_at__isnull=True).count())
