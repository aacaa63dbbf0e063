"""A record's status as a badge: one function for the record's own pages (`{% status_badge record %}`) and
for a list's rows, which pass the status and whether the session is a group's (no record loaded)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import RecordStatus

register = template.Library()

_CLASSES = {RecordStatus.SIGNED: "text-bg-success", RecordStatus.DRAFT: "text-bg-secondary"}


def status_badge_html(status: str, group: bool) -> SafeString:
    """A group's record awaits every participant, not "the supervisee"."""
    label = "Awaiting the participants" if status == RecordStatus.AWAITING_SUPERVISEE and group else None
    return format_html(
        '<span class="badge {}">{}</span>',
        _CLASSES.get(status, "text-bg-warning"),
        label or RecordStatus(status).label,
    )


@register.simple_tag
def status_badge(record) -> SafeString:
    return status_badge_html(record.status, bool(record.session.group_id))
