"""Dates as the product writes them, `Mon 3 Nov 2025` and `Mon 3 Nov 2025, 14:30`, for every template.

`{{ value|day }}`, `{{ value|day_time }}` and `{{ value|day_time_seconds }}` print what Django's
`date` filter prints with "D j M Y", "D j M Y, H:i" and "D j M Y, H:i:s", from one `strftime` rather
than Django's format parser: a list of 200 rows with a date or two each spent about 5 ms of its page
formatting them (issue 14). Like `date`, a moment is shown in the current time zone
(`expects_localtime`) and anything that is not a date prints nothing. A built-in library (`TEMPLATES`
in config/settings.py), so no template needs to load it.

English day and month names come from `strftime` in the C locale, which Python keeps unless a program
calls `setlocale`; this product never does, and its one language is British English.
"""

from datetime import date, datetime

from django import template
from django.utils import timezone

register = template.Library()


def _local(value):
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def day(value) -> str:
    """`Mon 3 Nov 2025`; a moment in local time."""
    if not isinstance(value, date):
        return ""
    return f"{_local(value):%a %-d %b %Y}"


def day_and_time(value) -> str:
    """`Mon 3 Nov 2025, 14:30` in local time; a bare date has no time, so only its day (where
    `date:"D j M Y, H:i"` fails the page)."""
    if not isinstance(value, date):
        return ""
    if not isinstance(value, datetime):
        return day(value)
    return f"{_local(value):%a %-d %b %Y, %H:%M}"


def day_time_seconds(value) -> str:
    """`Mon 3 Nov 2025, 14:30:05` in local time, for the audit trail: `date:"D j M Y, H:i:s"`."""
    if not isinstance(value, datetime):
        return day(value)
    return f"{_local(value):%a %-d %b %Y, %H:%M:%S}"


# The template engine has already moved an aware moment to the current time zone (`expects_localtime`).
register.filter("day", day, expects_localtime=True)
register.filter("day_time", day_and_time, expects_localtime=True)
register.filter("day_time_seconds", day_time_seconds, expects_localtime=True)
