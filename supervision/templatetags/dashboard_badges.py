"""Badges shared by the dashboard's lists and the pages that show one agreement or decision: written once
in Python, for the templates (`{% contract_status_badge status %}`, `{% decision_waiting days %}`) and for
the lists' rows, which build a page of cells without a template each (issue 14)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

_CONTRACT_BADGES = {
    "active": ("success", "Active"),
    "awaiting signatures": ("warning", "Awaiting signatures"),
    "review due": ("info", "Review due"),
    "review overdue": ("danger", "Review overdue"),
}


@register.simple_tag
def contract_status_badge(status: str) -> SafeString:
    tone, label = _CONTRACT_BADGES.get(status, ("secondary", "Ended"))
    return format_html('<span class="badge text-bg-{}">{}</span>', tone, label)


@register.simple_tag
def decision_waiting(days: int) -> SafeString:
    """How long a safeguarding decision has waited for its key person, counted from the day its record
    was signed: one wording on every page."""
    days = days or 0
    if days > 2:
        return format_html('<span class="badge text-bg-danger">{} days</span>', days)
    if days:
        return format_html("{} day{}", days, "" if days == 1 else "s")
    return format_html("{}", "Signed today")
