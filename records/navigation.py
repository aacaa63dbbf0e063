"""Each person's navigation bar, from their roles, and the bell's count of unread notifications.

Reads across apps (accounts' roles, supervision's notifications, records' auditor grants), so it lives in
records, the app that may import the others. A person's daily pages are top-level: an auditor's grants,
exports and audit trail, an organisation admin's staff and term dates, a DSL's safeguarding follow-up.
"""

from django.utils.functional import SimpleLazyObject

from accounts.models import Role
from supervision.models import Notification

from .access import live_grants_for


def navigation(request):
    """The links each person sees, and the bell. No query from roles (they are prefetched); one EXISTS for an
    auditor, whose dashboard and audit trail open only while a grant is live."""
    staff = getattr(request, "staff", None)
    if staff is None:
        return {"nav_items": []}
    is_auditor = staff.has_role(Role.AUDITOR)
    live_grant = is_auditor and live_grants_for(staff).exists()
    org_wide_admin = staff.role_scope(Role.ORG_ADMIN) == "organisation"
    is_admin = staff.has_role(Role.ORG_ADMIN)
    items, more = [], []
    if staff.has_role(Role.HEAD, Role.DSL) or org_wide_admin or live_grant:
        items.append(("supervision:dashboard", "Dashboard", "bi-speedometer2"))
    items += [
        ("supervision:calendar", "Calendar", "bi-calendar3"),
        ("records:record-list", "Records", "bi-journal-text"),
        ("records:action-list", "Actions", "bi-check2-square"),
        ("supervision:contract-list", "Agreements", "bi-file-earmark-text"),
    ]
    if staff.has_role(Role.DSL):
        items.append(("records:safeguarding", "Safeguarding follow-up", "bi-shield-exclamation"))
    elif staff.has_role(Role.HEAD):
        more.append(("records:safeguarding", "Safeguarding follow-up", "bi-shield-exclamation"))
    if is_admin:
        items.append(("accounts:staff-list", "Staff", "bi-person-lines-fill"))
        items.append(("supervision:terms", "Term dates", "bi-calendar-range"))
    # An auditor's work is their grants: each top-level; an admin's are under "More".
    audit_links = [
        ("records:grant-list", "Auditor access", "bi-key"),
        ("records:export-list", "Exports", "bi-box-arrow-down"),
    ]
    if is_admin or live_grant:
        audit_links.append(("accounts:audit-list", "Audit trail", "bi-list-check"))
    more += [
        ("supervision:note-list", "Informal notes", "bi-chat-square-text"),
        ("supervision:group-list", "Groups", "bi-people"),
    ]
    if is_admin:
        more.append(("records:template-list", "Record forms", "bi-journal-richtext"))
        more.append(("accounts:setting-list", "Settings", "bi-building"))
    if org_wide_admin:
        more.append(("accounts:organisation-settings", "Organisation", "bi-gear"))
    if is_auditor and not is_admin:
        items += audit_links
    elif is_admin:
        more += audit_links
    elif staff.has_role(Role.HEAD, Role.DSL):
        # Heads and DSLs approve auditors' access to their settings.
        more.append(audit_links[0])
    return {"nav_items": items, "nav_more": more, "current_staff": staff, "unread_notifications": _unread_count(staff)}


def _unread_count(staff):
    """The bell's badge: one COUNT query, run only when a template shows it (so HTMX partials without
    the bell cost nothing) and at most once per render."""
    return SimpleLazyObject(lambda: Notification.objects.filter(recipient=staff, read_at__isnull=True).count())
