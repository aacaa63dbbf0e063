"""Whether a time suits everyone, and the nearest times that do.

`Availability` loads, in a fixed number of queries, everything that constrains a set of people over
a date range (working days and hours, settings' days, closure days, half terms, existing sessions),
so the planner and the rebooking offer can try thousands of candidate times without a query each.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from accounts.models import Setting, StaffMember, WorkingDay
from accounts.queries import OneOf

from .models import BUSY_STATUSES, ClosureDay, HalfTerm, Session

LONDON = ZoneInfo("Europe/London")
# Candidate start times step by this much inside a day.
SLOT_STEP = timedelta(minutes=15)


def local_datetime(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LONDON)


MANY_PEOPLE = 1000
# Longer than any session (the forms allow 240 minutes, on one day): sessions overlapping a range started at
# most this long before it, which lets the organisation's time index bound the scan from below.
LONGEST_SESSION = timedelta(days=1)


class Hours(NamedTuple):
    """A person's working hours on one weekday; None for the setting's day."""

    starts: time | None
    ends: time | None


@dataclass(frozen=True)
class Interval:
    starts_at: datetime
    ends_at: datetime
    session_id: int | None = None

    def overlaps(self, starts_at, ends_at):
        return self.starts_at < ends_at and self.ends_at > starts_at


class Availability:
    """Constraints for `people` between `first` and `last` (inclusive), loaded once."""

    def __init__(self, organisation, people: list[StaffMember], first: date, last: date):
        self.organisation = organisation
        self.first, self.last = first, last
        ids = {p.id for p in people}
        self.people = {p.id: p for p in people}
        # Beyond this many people (a whole trust's plan), reading the organisation's rows and keeping theirs
        # is cheaper than sending thousands of ids to the database and back.
        many = len(ids) > MANY_PEOPLE
        # Query 1: working days of everyone involved, as (starts, ends) pairs rather than model rows.
        self.working: dict[int, dict[int, Hours]] = defaultdict(dict)
        working = (
            WorkingDay.objects.filter(staff__organisation=organisation)
            if many
            else WorkingDay.objects.filter(OneOf("staff_id", ids))
        )
        for staff_id, weekday, starts, ends in working.values_list("staff_id", "weekday", "starts", "ends"):
            if staff_id in ids:
                self.working[staff_id][weekday] = Hours(starts, ends)
        # Query 2: closure days, for the whole organisation or one setting.
        self.closed_everywhere: set[date] = set()
        self.closed_in: dict[int, set[date]] = defaultdict(set)
        for closure in ClosureDay.objects.filter(organisation=organisation, date__range=(first, last)):
            if closure.setting_id:
                self.closed_in[closure.setting_id].add(closure.date)
            else:
                self.closed_everywhere.add(closure.date)
        # Query 3: half terms (term time); with no calendar, every weekday counts as term time.
        self.half_terms = list(
            HalfTerm.objects.filter(organisation=organisation, ends__gte=first, starts__lte=last).order_by("starts")
        )
        self.has_calendar = HalfTerm.objects.filter(organisation=organisation).exists()
        # Query 4: everyone's busy times in the range, once a person: the sessions they lead and those they
        # attend, as a UNION of two index scans (an OR across the attendees join reads far more).
        range_start = local_datetime(first, time(0, 0))
        range_end = local_datetime(last + timedelta(days=1), time(0, 0))
        self.busy: dict[int, list[Interval]] = defaultdict(list)
        sessions = Session.objects.filter(
            organisation=organisation, status__in=BUSY_STATUSES, starts_at__gt=range_start - LONGEST_SESSION
        ).overlapping(range_start, range_end)
        attended = Session.attendees.through.objects.filter(session__in=sessions.values("pk"))
        if not many:
            # The ids as one array parameter each (`OneOf`), not a parameter an id.
            sessions = sessions.filter(OneOf("supervisor_id", ids))
            attended = attended.filter(OneOf("staffmember_id", ids))
        led = sessions.order_by().values_list("supervisor_id", "pk", "starts_at", "ends_at")
        attended = attended.order_by().values_list(
            "staffmember_id", "session_id", "session__starts_at", "session__ends_at"
        )
        seen = set()
        for person_id, session_id, starts_at, ends_at in led.union(attended, all=True):
            if person_id in ids and (person_id, session_id) not in seen:
                seen.add((person_id, session_id))
                self.busy[person_id].append(Interval(starts_at, ends_at, session_id))

    # -- single checks ---------------------------------------------------------------------------

    def in_term(self, day: date) -> bool:
        if not self.has_calendar:
            return True
        return any(h.starts <= day <= h.ends for h in self.half_terms)

    def is_closed(self, day: date, setting: Setting) -> bool:
        return day.weekday() > 4 or day in self.closed_everywhere or day in self.closed_in.get(setting.id, ())

    def hours(self, person: StaffMember, day: date, setting: Setting) -> tuple[time, time] | None:
        """The person's hours that day (their own, or the setting's day), or None if they do not work."""
        wd = self.working.get(person.id, {}).get(day.weekday())
        if wd is None:
            return None
        return (wd.starts or setting.day_starts, wd.ends or setting.day_ends)

    def book(self, person_ids, starts_at, ends_at):
        """Mark a proposed time as taken (the planner's own proposals clash like real sessions)."""
        for pid in person_ids:
            self.busy[pid].append(Interval(starts_at, ends_at))

    def problems(
        self,
        *,
        supervisor: StaffMember,
        attendees: list[StaffMember],
        setting: Setting,
        starts_at: datetime,
        ends_at: datetime,
        ignore_session_id: int | None = None,
    ) -> list[str]:
        """Every reason the time does not suit; empty when it does."""
        local_start = starts_at.astimezone(LONDON)
        local_end = ends_at.astimezone(LONDON)
        day = local_start.date()
        reasons = []
        if local_end.date() != day:
            reasons.append("the session must start and end on the same day")
        if day.weekday() > 4:
            reasons.append("it is a weekend")
        elif self.is_closed(day, setting):
            reasons.append(f"{setting.name} is closed that day")
        elif not self.in_term(day):
            reasons.append("it is outside term time")
        if local_start.time() < setting.day_starts or local_end.time() > setting.day_ends:
            reasons.append(
                f"it is outside {setting.name}'s day ({setting.day_starts:%H:%M} to {setting.day_ends:%H:%M})"
            )
        for person in [supervisor, *attendees]:
            hours = self.hours(person, day, setting)
            if hours is None:
                reasons.append(f"{person.full_name} does not work on {local_start:%A}s")
                continue
            if local_start.time() < hours[0] or local_end.time() > hours[1]:
                reasons.append(f"{person.full_name} works {hours[0]:%H:%M} to {hours[1]:%H:%M} that day")
            if person.leaving_date and day > person.leaving_date:
                reasons.append(f"{person.full_name} leaves on {person.leaving_date:%a %-d %b %Y}")
            for interval in self.busy.get(person.id, ()):
                if interval.session_id is not None and interval.session_id == ignore_session_id:
                    continue
                if interval.overlaps(starts_at, ends_at):
                    reasons.append(f"{person.full_name} already has a session then")
                    break
        return reasons

    # -- searches --------------------------------------------------------------------------------

    def candidate_starts(self, day: date, setting: Setting, people: list[StaffMember], minutes: int):
        """Start times on `day` when everyone works, in SLOT_STEP steps, earliest first."""
        start, end = setting.day_starts, setting.day_ends
        for person in people:
            hours = self.hours(person, day, setting)
            if hours is None:
                return
            start, end = max(start, hours[0]), min(end, hours[1])
        at = local_datetime(day, start)
        last = local_datetime(day, end) - timedelta(minutes=minutes)
        while at <= last:
            yield at
            at += SLOT_STEP

    def free_slots(
        self,
        *,
        supervisor: StaffMember,
        attendees: list[StaffMember],
        setting: Setting,
        minutes: int,
        after: datetime,
        count: int,
        ignore_session_id: int | None = None,
    ) -> list[datetime]:
        """The `count` earliest start times after `after` (up to `self.last`) that suit everyone."""
        found = []
        people = [supervisor, *attendees]
        day = after.astimezone(LONDON).date()
        while day <= self.last and len(found) < count:
            for at in self.candidate_starts(day, setting, people, minutes):
                if at <= after:
                    continue
                ends_at = at + timedelta(minutes=minutes)
                if not self.problems(
                    supervisor=supervisor,
                    attendees=attendees,
                    setting=setting,
                    starts_at=at,
                    ends_at=ends_at,
                    ignore_session_id=ignore_session_id,
                ):
                    found.append(at)
                    # One offer per day reads better than three back-to-back times.
                    break
            day += timedelta(days=1)
        return found
