"""iCalendar for sessions: the invite emailed to both people, and each person's private feed.

A session is the same VEVENT everywhere: its UID (`<code>@supervision`) never changes and its
SEQUENCE rises with every change sent out, so a calendar app updates the event it already holds
rather than adding a second one, and ignores anything older than what it has.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone
from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress

from accounts.models import StaffMember

from .dashboard.scope import object_url
from .models import Session, SessionStatus

LONDON = ZoneInfo("Europe/London")
PRODID = "-//Supervision//EN"
METHODS = ("REQUEST", "CANCEL")
# The feed carries every session to come and those of the last six weeks (about a half term), as calendar
# apps expect of a subscription; older sessions are in the product's calendar and records (issue 14).
FEED_HISTORY = timedelta(weeks=6)
# RFC 5545 folds content lines longer than 75 octets: an ASCII line without escapes is cut every 74
# characters, as icalendar's fold cuts it.
FOLD_AT = 74


def session_uid(session: Session) -> str:
    return f"{session.code}@supervision"


def session_url(session: Session) -> str:
    """The session's page, the URL name reversed once (`object_url`): a feed has hundreds of sessions."""
    return settings.SITE_URL + object_url("supervision:session-detail", session.code)


def london_vtimezone() -> Timezone:
    """Europe/London as yearly rules: BST from 01:00 on the last Sunday of March, GMT from 02:00 on the
    last Sunday of October.

    Not icalendar's `add_missing_timezones()`: it lists every change as an RDATE, and Outlook misreads
    RDATE time zones (summer events an hour out). Yearly RRULEs are what Outlook and Google write.
    """
    daylight = TimezoneDaylight()
    daylight.add("TZNAME", "BST")
    daylight.add("TZOFFSETFROM", timedelta(0))
    daylight.add("TZOFFSETTO", timedelta(hours=1))
    daylight.add("DTSTART", datetime(1970, 3, 29, 1, 0))
    daylight.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": 3, "BYDAY": "-1SU"})
    standard = TimezoneStandard()
    standard.add("TZNAME", "GMT")
    standard.add("TZOFFSETFROM", timedelta(hours=1))
    standard.add("TZOFFSETTO", timedelta(0))
    standard.add("DTSTART", datetime(1970, 10, 25, 2, 0))
    standard.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": 10, "BYDAY": "-1SU"})
    vtimezone = Timezone()
    vtimezone.add("TZID", "Europe/London")
    vtimezone.add("X-LIC-LOCATION", "Europe/London")
    vtimezone.add_component(daylight)
    vtimezone.add_component(standard)
    return vtimezone


def _calendar(method: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    if method:
        calendar.add("METHOD", method)
    calendar.add_component(london_vtimezone())
    return calendar


def _address(staff: StaffMember, **params) -> vCalAddress:
    return vCalAddress.new(staff.user.email, cn=staff.user.full_name, **params)


def _event(session: Session, *, cancelled: bool) -> Event:
    """The session as a VEVENT. Needs supervisor.user, the title's relations and attendees.user loaded."""
    url = session_url(session)
    description = f"Cancelled. Details: {url}" if cancelled else f"Agenda and details: {url}"
    event = Event.new(
        uid=session_uid(session),
        sequence=session.sequence,
        start=session.starts_at.astimezone(LONDON),
        end=session.ends_at.astimezone(LONDON),
        summary=session.title,
        location=session.venue or None,
        description=description,
        url=url,
        organizer=_address(session.supervisor),
        attendees=[
            _address(person, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp=False)
            for person in session.attendees.all()
        ],
        status="CANCELLED" if cancelled else "CONFIRMED",
    )
    event.add("LAST-MODIFIED", session.updated_at)
    return event


def session_invite(session: Session, method: str) -> bytes:
    """A METHOD:REQUEST invite (booked or moved) or a METHOD:CANCEL for one session."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    calendar = _calendar(method)
    cancelled = method == "CANCEL" or session.status == SessionStatus.CANCELLED
    calendar.add_component(_event(session, cancelled=cancelled))
    return calendar.to_ical()


# The columns `_event` reads of a session and its people.
PERSON_FIELDS = ("user__email", "user__full_name")
FEED_FIELDS = (
    "code", "sequence", "starts_at", "ends_at", "venue", "status", "kind", "updated_at", "group__name",
    *(f"supervisor__{f}" for f in PERSON_FIELDS), "contract__supervisee__user__full_name",
)  # fmt: skip


def feed_sessions(staff: StaffMember):
    """Every session the person leads or attends from FEED_HISTORY ago, and every one to come: two
    queries, however many."""
    return (
        Session.objects.involving(staff)
        .filter(starts_at__gte=timezone.now() - FEED_HISTORY)
        .select_related("supervisor__user", "contract__supervisee__user", "group")
        # What an event shows: not every column of the agreement and of three people (a supervisor of
        # 700 sessions: 88 in the feed, each with its agreement's wording; issue 14).
        .only(*FEED_FIELDS)
        .prefetch_related(
            Prefetch("attendees", queryset=StaffMember.objects.select_related("user").only(*PERSON_FIELDS))
        )
        .order_by("starts_at")
    )


def person_feed(staff: StaffMember) -> bytes:
    """The person's private subscription feed (no METHOD: it publishes, it does not invite)."""
    calendar = _calendar()
    name = f"Supervision – {staff.user.full_name}"
    calendar.add("X-WR-CALNAME", name)
    calendar.add("NAME", name)
    calendar.add("X-WR-TIMEZONE", "Europe/London")
    # Hints for how often to poll; Outlook and Google poll on their own schedule whatever we say.
    calendar.add("REFRESH-INTERVAL", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", "PT1H")
    for session in feed_sessions(staff):
        cancelled = session.status == SessionStatus.CANCELLED
        calendar.add_component(_event(session, cancelled=cancelled))
    return to_ical(calendar)


def to_ical(component) -> bytes:
    """`component.to_ical()`, byte for byte, with the common lines folded here: icalendar folds a line a
    character at a time, which was a third of a feed's time (a feed has a few thousand lines)."""
    lines = []
    for line in component.content_lines():
        if not line:
            continue
        if line.isascii() and "\\" not in line and "^" not in line:
            # No multi-byte character, and no escape that icalendar keeps whole across a fold.
            lines.append("\r\n ".join(line[i : i + FOLD_AT] for i in range(0, len(line), FOLD_AT)).encode())
        else:
            lines.append(line.to_ical())
    return b"\r\n".join(lines) + b"\r\n"
