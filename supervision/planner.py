"""The half-term planner: a proposed time for every session the agreements of a half term still need.

How it places sessions:
- For each agreement, the sessions still needed: what its frequency asks for in the school weeks of
  the supervisee's supervisable window, less the sessions already scheduled or held.
- The candidate days: school days of the window (not closure days) that both people work and that
  hold a time inside the setting's day and both people's hours.
- The most constrained agreements (fewest candidate days) are placed first.
- With n sessions, the window's school weeks are cut into n segments and the k-th session goes in
  the k-th segment; within a segment the day chosen is in the week where the supervisor has the
  fewest sessions (existing and proposed), then the supervisor's quietest day, then the quietest week
  and day across the plan, then the earliest free time.
- Every proposal is booked into the `Availability` at once, so later proposals cannot clash with it.

Everything is loaded up front in a fixed number of queries (about a dozen, whatever the number of
agreements); the search itself runs in memory.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import Frequency, Organisation, Setting, StaffMember, Weekday
from accounts.queries import OneOf

from . import services
from .models import BUSY_STATUSES, Contract, FrequencyOverride, HalfTerm, Session, SessionKind
from .rules import effective_frequency, frequency_wording, sessions_needed, supervisable_window, why_not_due
from .school_calendar import school_days, school_weeks
from .slots import LONDON, MANY_PEOPLE, Availability

ALREADY_BOOKED = "already has the sessions this half term needs"
NOT_SIGNED = "the agreement is not signed by both yet"
NO_FREE_TIME = "no free time left on the days they both work"


@dataclass
class Proposal:
    contract: Contract
    starts_at: datetime
    ends_at: datetime


@dataclass
class Unplaced:
    contract: Contract
    reason: str
    # For `already_booked`: the sessions that already cover the half term.
    sessions: list[datetime] = field(default_factory=list)


@dataclass
class Plan:
    half_term: HalfTerm
    proposals: list[Proposal] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    already_booked: list[Unplaced] = field(default_factory=list)

    @property
    def is_empty(self):
        return not (self.proposals or self.unplaced or self.already_booked)


@dataclass
class _Need:
    """One agreement's work: how many sessions, on which days, in which weeks."""

    contract: Contract
    setting: Setting
    count: int
    days: list[date]  # school days in the window when both work and their hours meet
    weeks: list[list[date]]  # the window's school weeks still open to this agreement, for spreading


def _fmt(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _local_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def _settings_of(person: StaffMember) -> list[Setting]:
    """The person's settings: as `_load_contracts` attached them, or as prefetched."""
    return person.setting_list if hasattr(person, "setting_list") else list(person.settings.all())


def _overrides_of(contract: Contract) -> list:
    return contract.override_list if hasattr(contract, "override_list") else list(contract.overrides.all())


def session_setting(contract: Contract) -> Setting | None:
    """The setting the session belongs to, chosen as `services.session_people` does (prefetched settings)."""
    for person in (contract.supervisee, contract.supervisor):
        # An open setting before a closed one, as `services.session_people` chooses.
        settings = sorted(_settings_of(person), key=lambda s: (s.closed_on is not None, s.name))
        if settings:
            return settings[0]
    return None


def not_ended_before(contracts, half_term: HalfTerm):
    """The agreements among `contracts` that a plan of the half term reads: those not ended before it starts."""
    return contracts.filter(Q(end_date__isnull=True) | Q(end_date__gte=half_term.starts))


def _load_contracts(organisation: Organisation, contracts, half_term: HalfTerm) -> list[Contract]:
    """The current agreements among `contracts`, with everything the planner reads: five queries.

    Each person is loaded once however many agreements they are in (a supervisor of twenty is one object,
    not twenty), with their settings from the organisation's few; at a trust's size building model objects
    is most of the cost.
    """
    chosen = not_ended_before(contracts.filter(organisation=organisation), half_term)
    loaded = list(
        # The wording (four long texts an agreement) is not the planner's business: a trust's worth is megabytes.
        chosen.defer(
            "purpose", "supervisor_responsibilities", "supervisee_responsibilities", "confidentiality_terms"
        ).order_by("supervisee__user__full_name", "id")
    )
    if not loaded:
        return []
    ids = chosen.order_by().values("pk")
    people_ids = chosen.order_by().values("supervisee_id").union(chosen.order_by().values("supervisor_id"))
    if len(loaded) <= MANY_PEOPLE:
        # A plan's few hundred ids as values: an index probe each, where the subqueries' estimates chose to
        # scan every staff row and every setting link of the organisation.
        ids = [c.id for c in loaded]
        people_ids = list({c.supervisee_id for c in loaded} | {c.supervisor_id for c in loaded})
    people = {p.id: p for p in StaffMember.objects.filter(_among("pk", people_ids)).select_related("user")}
    settings = {s.id: s for s in Setting.objects.filter(organisation=organisation)}
    for person in people.values():
        person.setting_list = []
    links = StaffMember.settings.through.objects.filter(_among("staffmember_id", people_ids))
    for staff_id, setting_id in links.values_list("staffmember_id", "setting_id"):
        people[staff_id].setting_list.append(settings[setting_id])
    overrides = defaultdict(list)
    for override in FrequencyOverride.objects.filter(_among("contract_id", ids)):
        overrides[override.contract_id].append(override)
    supervisee, supervisor = Contract._meta.get_field("supervisee"), Contract._meta.get_field("supervisor")
    for contract in loaded:
        supervisee.set_cached_value(contract, people[contract.supervisee_id])
        supervisor.set_cached_value(contract, people[contract.supervisor_id])
        # As plain lists: Django builds a queryset per object for a prefetch into a related manager.
        contract.override_list = overrides[contract.id]
    return loaded


def _among(column: str, ids):
    """Rows whose `column` is one of `ids`: a list as one array parameter (`OneOf`), where a parameter an
    id was a few hundred prepared one at a time for a caseload's plan (issue 14); a queryset as a subquery."""
    return OneOf(column, ids) if isinstance(ids, list) else Q(**{f"{column}__in": ids})


def _first_half(half_term: HalfTerm) -> HalfTerm | None:
    if half_term.half == 1:
        return None
    return HalfTerm.objects.filter(academic_year_id=half_term.academic_year_id, term=half_term.term, half=1).first()


def _existing_sessions(contracts: list[Contract], first: date, last: date) -> dict[int, list[datetime]]:
    """Start times of sessions scheduled or held between two days, by agreement (one query).

    A session under the agreement this one replaced (a change of supervisor) counts for both.
    """
    ids = {c.id for c in contracts}
    successor = {c.previous_id: c.id for c in contracts if c.previous_id}
    wanted = ids | set(successor)
    found: dict[int, list[datetime]] = defaultdict(list)
    sessions = Session.objects.filter(
        status__in=BUSY_STATUSES,
        starts_at__gte=datetime.combine(first, datetime.min.time(), tzinfo=LONDON),
        starts_at__lt=datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=LONDON),
    )
    if len(wanted) > MANY_PEOPLE and contracts:
        # A trust's plan: the organisation's sessions of the period, kept for these agreements, rather than
        # twenty thousand ids as parameters.
        sessions = sessions.filter(organisation_id=contracts[0].organisation_id)
    else:
        sessions = sessions.filter(OneOf("contract_id", wanted))
    for contract_id, starts_at in sessions.order_by().values_list("contract_id", "starts_at"):
        if contract_id not in wanted:
            continue
        found[contract_id].append(starts_at)
        if contract_id in successor:
            found[successor[contract_id]].append(starts_at)
    return found


def _closed_days(availability: Availability, contract: Contract, setting: Setting) -> set[date]:
    """Closure days of the session's setting and of the supervisor's settings (an INSET day there too)."""
    closed = set(availability.closed_everywhere) | availability.closed_in.get(setting.id, set())
    for s in _settings_of(contract.supervisor):
        closed |= availability.closed_in.get(s.id, set())
    return closed


def _window(contract: Contract, half_term: HalfTerm) -> tuple[date, date] | None:
    """The days of the half term in which this agreement may have sessions."""
    window = supervisable_window(contract.supervisee, half_term.starts, half_term.ends)
    if window is None:
        return None
    first = max(window[0], contract.start_date)
    last = window[1]
    for limit in (contract.end_date, contract.supervisor.leaving_date):
        if limit:
            last = min(last, limit)
    return (first, last) if first <= last else None


def _not_due_reason(contract: Contract, half_term: HalfTerm) -> str | None:
    """Why an agreement has no place in the half term, in words, or None."""
    if contract.kind != SessionKind.ONE_TO_ONE:
        return "group agreements are booked as group sessions from the calendar"
    if not contract.is_signed:
        return NOT_SIGNED
    if contract.start_date > half_term.ends:
        return f"the agreement starts on {_fmt(contract.start_date)}, after this half term"
    supervisee, supervisor = contract.supervisee, contract.supervisor
    if supervisee.leaving_date and supervisee.leaving_date < half_term.starts:
        return f"leaves before the half term starts (leaving date {_fmt(supervisee.leaving_date)})"
    reason = why_not_due(supervisee, half_term.starts, half_term.ends)
    if reason:
        return reason
    if supervisor.leaving_date and supervisor.leaving_date < max(half_term.starts, contract.start_date):
        return (
            f"the supervisor, {supervisor.full_name}, leaves on {_fmt(supervisor.leaving_date)}: agree a new supervisor"
        )
    if _window(contract, half_term) is None:
        return "no days of this half term fall inside the agreement"
    return None


def frequency_words(contract: Contract, half_term: HalfTerm) -> str:
    """The frequency the plan works to for the agreement, in the words the caseload and agreements use
    ("Monthly while new to post (agreement: half-termly)"): the one in force when the half term starts."""
    return frequency_wording(contract, half_term.starts, _overrides_of(contract))


def _days_display(availability: Availability, person: StaffMember) -> str:
    days = sorted(availability.working.get(person.id, {}))
    return ", ".join(Weekday(d).label for d in days) or "no days recorded"


class _Mondays(dict):
    """The Monday of each day's week, each worked out once a plan (thousands of agreements share a few
    dozen school days)."""

    def __missing__(self, day: date) -> date:
        monday = self[day] = _monday(day)
        return monday


class _SchoolDays:
    """What a whole plan asks again and again, each worked out once: the closures of a setting and a
    supervisor's settings; the school days of a window with a set of closures (agreements of one setting
    share their closures, and most share the half term's window: about 24,000 agreements, a few hundred
    distinct answers); those days that fall on given weekdays; and whether given hours leave room for a
    session (hours depend on the weekday and the people's hours only)."""

    def __init__(self):
        self._found: dict[tuple, object] = {}
        self.monday = _Mondays()

    def __call__(self, first: date, last: date, closed) -> list[date]:
        key = (first, last, frozenset(closed))
        if key not in self._found:
            self._found[key] = school_days(first, last, closed)
        return self._found[key]

    def weeks(self, first: date, last: date, closed) -> list[list[date]]:
        key = ("weeks", first, last, frozenset(closed))
        if key not in self._found:
            self._found[key] = school_weeks(self(first, last, closed))
        return self._found[key]

    def closed(self, availability: Availability, contract: Contract, setting: Setting) -> frozenset[date]:
        key = ("closed", setting.id, *sorted(s.id for s in _settings_of(contract.supervisor)))
        if key not in self._found:
            self._found[key] = frozenset(_closed_days(availability, contract, setting))
        return self._found[key]

    def on_weekdays(self, first: date, last: date, closed, weekdays: frozenset[int]) -> list[date]:
        key = ("on", first, last, frozenset(closed), weekdays)
        if key not in self._found:
            self._found[key] = [d for d in self(first, last, closed) if d.weekday() in weekdays]
        return self._found[key]

    def has_time(self, availability: Availability, day: date, setting: Setting, people, minutes: int) -> bool:
        hours = tuple(availability.working.get(p.id, {}).get(day.weekday()) for p in people)
        key = ("time", day.weekday(), setting.day_starts, setting.day_ends, minutes, *hours)
        if key not in self._found:
            self._found[key] = _has_time(availability, day, setting, people, minutes)
        return self._found[key]


def _sessions_still_needed(
    contract: Contract, half_term: HalfTerm, window, plan_first: date, closed, here, in_first_half, days_of: _SchoolDays
) -> int:
    """Sessions the frequency asks for in the window, less those already booked.

    When the half term has started, past weeks cannot be caught up: the count is capped at what the
    remaining weeks ask for, less what is booked in them.
    """
    frequency = effective_frequency(contract, half_term.starts, _overrides_of(contract))
    # Termly: one a term; the second half only needs one when the first half had none.
    first_half = half_term.half == 1 or not in_first_half
    booked = len(here) + (len(in_first_half) if frequency == Frequency.TERMLY else 0)
    weeks = len(days_of.weeks(window[0], window[1], closed))
    needed = sessions_needed(frequency, weeks, first_half_of_term=first_half) - booked
    if plan_first > window[0]:
        remaining = len(days_of.weeks(max(plan_first, window[0]), window[1], closed))
        booked_later = sum(1 for s in here if _local_date(s) >= plan_first)
        needed = min(needed, sessions_needed(frequency, remaining, first_half_of_term=first_half) - booked_later)
    return max(0, needed)


def _has_time(availability: Availability, day: date, setting: Setting, people, minutes: int) -> bool:
    """Whether everyone's hours that day leave room for the session. Hours depend on the weekday only (a
    person's working day, or the setting's day), so one day answers for every other of its weekday."""
    return next(availability.candidate_starts(day, setting, people, minutes), None) is not None


def _segments(weeks: list[list[date]], n: int) -> list[list[date]]:
    """Cut the weeks into n runs of (nearly) equal length; the k-th session goes in the k-th run."""
    if len(weeks) < n:
        every_day = [d for w in weeks for d in w]
        return [every_day] * n
    return [[d for w in weeks[k * len(weeks) // n : (k + 1) * len(weeks) // n] for d in w] for k in range(n)]


class _Loads:
    """Sessions per person per week and day, and per week and day across the plan (existing and proposed)."""

    def __init__(self, availability: Availability):
        self.person_week: Counter = Counter()
        self.person_day: Counter = Counter()
        self.week: Counter = Counter()
        self.day: Counter = Counter()
        seen = set()
        for person_id, intervals in availability.busy.items():
            for interval in intervals:
                day = _local_date(interval.starts_at)
                self.person_week[person_id, _monday(day)] += 1
                self.person_day[person_id, day] += 1
                if interval.session_id not in seen:
                    seen.add(interval.session_id)
                    self.week[_monday(day)] += 1
                    self.day[day] += 1

    def add(self, person_ids, day: date):
        for person_id in person_ids:
            self.person_week[person_id, _monday(day)] += 1
            self.person_day[person_id, day] += 1
        self.week[_monday(day)] += 1
        self.day[day] += 1


def _place(availability: Availability, loads: _Loads, need: _Need, mondays: _Mondays) -> list[Proposal]:
    """Book as many of the agreement's sessions as fit, one per segment of its window.

    When a segment has no free time, any other day of the window will do rather than none.
    """
    contract, setting = need.contract, need.setting
    supervisor, supervisee = contract.supervisor, contract.supervisee
    people = [supervisor, supervisee]
    minutes = contract.session_minutes
    own_weeks: Counter = Counter()
    own_days: list[date] = []
    # Two sessions of one agreement closer than half the even spacing read as bunched: avoid when possible.
    min_gap = max(7, len(need.weeks) * 7 // need.count // 2)

    monday_of = mondays
    # Counters read with .get: a missing key would be stored by nothing but costs a __missing__ call, and
    # this runs for every candidate day of every agreement.
    person_week, person_day, week_load, day_load = loads.person_week, loads.person_day, loads.week, loads.day
    supervisor_id = supervisor.id

    def preference(day):
        monday = monday_of[day]
        return (
            own_weeks.get(monday, 0),
            bool(own_days) and any(abs((day - other).days) < min_gap for other in own_days),
            person_week.get((supervisor_id, monday), 0),
            person_day.get((supervisor_id, day), 0),
            week_load.get(monday, 0),
            day_load.get(day, 0),
            day,
        )

    def in_order(days):
        if own_days:
            return sorted(days, key=preference)
        return first_session_order(days)

    def first_session_order(days):
        """The agreement's first session (most have one a half term): with none of its own yet, the first
        two parts of `preference` are the same for every day. The days are taken a group of weeks at a time,
        by the supervisor's sessions in the week (the next part), so that usually only the quietest weeks'
        days are ranked: the first of them almost always has a free time."""
        by_week = defaultdict(list)
        for d in days:
            by_week[monday_of[d]].append(d)
        levels = defaultdict(list)
        for monday, week_days in by_week.items():
            levels[person_week.get((supervisor_id, monday), 0)].extend(week_days)
        for level in sorted(levels):
            keyed = [
                (person_day.get((supervisor_id, d), 0), week_load.get(monday_of[d], 0), day_load.get(d, 0), d)
                for d in levels[level]
            ]
            keyed.sort()
            for key in keyed:
                yield key[-1]

    def first_free(days):
        for day in in_order(days):
            for starts_at in availability.candidate_starts(day, setting, people, minutes):
                ends_at = starts_at + timedelta(minutes=minutes)
                if not availability.problems(
                    supervisor=supervisor, attendees=[supervisee], setting=setting, starts_at=starts_at, ends_at=ends_at
                ):
                    return starts_at, ends_at
        return None

    possible = set(need.days)
    placed = []
    for segment in _segments(need.weeks, need.count):
        found = first_free(possible.intersection(segment)) or first_free(possible - set(own_days))
        if found is None:
            continue
        day = found[0].date()
        availability.book([supervisor.id, supervisee.id], *found)
        loads.add([supervisor.id, supervisee.id], day)
        own_weeks[mondays[day]] += 1
        own_days.append(day)
        placed.append(Proposal(contract, *found))
    return placed


def plan_half_term(*, organisation: Organisation, half_term: HalfTerm, contracts) -> Plan:
    """Propose a time for every session the agreements in `contracts` (a queryset) need in the half term.

    Nothing is written. About a dozen queries, however many agreements.
    """
    plan = Plan(half_term=half_term)
    loaded = _load_contracts(organisation, contracts, half_term)
    today = timezone.localdate()
    # Sessions are proposed from tomorrow: today's diaries are already made.
    plan_first = max(half_term.starts, today + timedelta(days=1))
    first_half = _first_half(half_term)
    existing = _existing_sessions(loaded, first_half.starts if first_half else half_term.starts, half_term.ends)
    days_of = _SchoolDays()
    people = {p.id: p for c in loaded for p in (c.supervisee, c.supervisor)}
    availability = Availability(organisation, list(people.values()), half_term.starts, half_term.ends)

    successors = {c.previous_id: c for c in loaded if c.previous_id}
    needs = []
    for contract in loaded:
        reason = _not_due_reason(contract, half_term)
        if contract.id in successors and contract.end_date:
            # A change of supervisor during the half term: the agreement that follows plans the sessions.
            following = successors[contract.id]
            reason = (
                f"ends on {_fmt(contract.end_date)}: sessions are planned under the agreement with "
                f"{following.supervisor.full_name} that follows it"
            )
        if reason is None and plan_first > half_term.ends:
            reason = "this half term is over"
        if reason:
            plan.unplaced.append(Unplaced(contract, reason))
            continue
        setting = session_setting(contract)
        if setting is None:
            plan.unplaced.append(Unplaced(contract, "neither person belongs to a setting"))
            continue
        window = _window(contract, half_term)
        closed = days_of.closed(availability, contract, setting)
        booked = [s for s in existing.get(contract.id, ()) if _local_date(s) >= half_term.starts]
        in_first_half = [s for s in existing.get(contract.id, ()) if _local_date(s) < half_term.starts]
        count = _sessions_still_needed(
            contract, half_term, window, plan_first, closed, booked, in_first_half, days_of=days_of
        )
        if count == 0:
            frequency_booked = booked or in_first_half
            if frequency_booked:
                plan.already_booked.append(Unplaced(contract, ALREADY_BOOKED, sorted(frequency_booked)))
            else:
                plan.unplaced.append(Unplaced(contract, "no school days left in this half term for this agreement"))
            continue
        reason, need = _candidate_days(
            availability, contract, setting, window, plan_first, closed, booked, count, days_of=days_of
        )
        if reason:
            plan.unplaced.append(Unplaced(contract, reason))
        else:
            needs.append(need)

    loads = _Loads(availability)
    # The most constrained first: they have the fewest days to choose from.
    needs.sort(key=lambda n: (len(n.days), -n.count, n.contract.supervisee.full_name, n.contract.id))
    for need in needs:
        placed = _place(availability, loads, need, days_of.monday)
        plan.proposals.extend(placed)
        missing = need.count - len(placed)
        if missing == need.count:
            plan.unplaced.append(Unplaced(need.contract, NO_FREE_TIME))
        elif missing:
            plan.unplaced.append(
                Unplaced(need.contract, f"{missing} of {need.count} sessions could not be placed: {NO_FREE_TIME}")
            )
    plan.proposals.sort(key=lambda p: (p.starts_at, p.contract.supervisor.full_name))
    plan.unplaced.sort(key=lambda u: u.contract.supervisee.full_name)
    return plan


def _candidate_days(availability, contract, setting, window, plan_first, closed, booked, count, days_of: _SchoolDays):
    """(reason, None) when no day can work, else (None, _Need)."""
    supervisee, supervisor = contract.supervisee, contract.supervisor
    first, last = max(window[0], plan_first), window[1]
    if first > last:
        return "no school days left in this half term for this agreement", None
    if not availability.working.get(supervisee.id):
        return f"{supervisee.full_name} has no working days recorded", None
    if not availability.working.get(supervisor.id):
        return f"the supervisor, {supervisor.full_name}, has no working days recorded", None
    common = set(availability.working[supervisee.id]) & set(availability.working[supervisor.id])
    if not common:
        return (
            f"no working day in common with the supervisor: {supervisee.full_name} works "
            f"{_days_display(availability, supervisee)}; {supervisor.full_name} works "
            f"{_days_display(availability, supervisor)}"
        ), None
    both_work = days_of.on_weekdays(first, last, closed, frozenset(common))
    if not both_work:
        days = ", ".join(Weekday(d).label for d in sorted(common))
        return f"no school day between {_fmt(first)} and {_fmt(last)} falls on a day they both work ({days})", None
    people = [supervisor, supervisee]
    minutes = contract.session_minutes
    # One check a weekday, not one a school day (hours depend on the weekday only).
    first_of = {}
    for d in both_work:
        if len(first_of) == len(common):
            break
        first_of.setdefault(d.weekday(), d)
    fits = frozenset(w for w, d in first_of.items() if days_of.has_time(availability, d, setting, people, minutes))
    days = both_work if len(fits) == len(first_of) else days_of.on_weekdays(first, last, closed, fits)
    if not days:
        return f"their hours do not overlap for a {minutes}-minute session on the days they both work", None
    weeks = days_of.weeks(first, last, closed)
    # Weeks that already hold one of its sessions are left to the others, when enough remain.
    booked_weeks = {_monday(_local_date(s)) for s in booked}
    free_weeks = [w for w in weeks if days_of.monday[w[0]] not in booked_weeks] if booked_weeks else weeks
    if len(free_weeks) >= count:
        weeks = free_weeks
    return None, _Need(contract=contract, setting=setting, count=count, days=days, weeks=weeks)


# --- Confirming ---------------------------------------------------------------------------------


def _row_problems(availability: Availability, half_term: HalfTerm, contract: Contract, starts_at, ends_at):
    """Every reason one row cannot be booked: the slot checks, and the planner's own rules."""
    setting = session_setting(contract)
    day = _local_date(starts_at)
    if contract.organisation_id != availability.organisation.id:
        return ["this agreement is not in your organisation"]
    if not contract.is_signed:
        return [NOT_SIGNED]
    if contract.end_date and contract.end_date < day:
        return [f"the agreement ended on {_fmt(contract.end_date)}"]
    if setting is None:
        return ["neither person belongs to a setting"]
    reasons = []
    if not half_term.starts <= day <= half_term.ends:
        reasons.append(f"it is outside {half_term.label} ({_fmt(half_term.starts)} to {_fmt(half_term.ends)})")
    elif starts_at <= timezone.now():
        reasons.append("it is in the past")
    window = _window(contract, half_term)
    if window and not window[0] <= day <= window[1]:
        reasons.append(f"{contract.supervisee.full_name} can be supervised from {_fmt(window[0])} to {_fmt(window[1])}")
    supervisor_closed = any(day in availability.closed_in.get(s.id, ()) for s in _settings_of(contract.supervisor))
    if supervisor_closed and not availability.is_closed(day, setting):
        reasons.append(f"{contract.supervisor.full_name}'s setting is closed that day")
    reasons += availability.problems(
        supervisor=contract.supervisor,
        attendees=[contract.supervisee],
        setting=setting,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    return reasons


@dataclass
class _Room:
    """How many more sessions an agreement may have this half term, and those already booked."""

    left: int | None  # None: the agreement has no days in the half term (its row says why)
    booked: list[datetime]


def _room_left(availability: Availability, half_term: HalfTerm, contracts: list[Contract]) -> dict[int, _Room]:
    """Re-plan each agreement against the sessions booked now, as `plan_half_term` counts them (one query)."""
    plan_first = max(half_term.starts, timezone.localdate() + timedelta(days=1))
    first_half = _first_half(half_term)
    existing = _existing_sessions(contracts, first_half.starts if first_half else half_term.starts, half_term.ends)
    room = {}
    days_of = _SchoolDays()
    for contract in contracts:
        setting = session_setting(contract)
        window = _window(contract, half_term)
        booked = sorted(s for s in existing.get(contract.id, ()) if _local_date(s) >= half_term.starts)
        if setting is None or window is None:
            room[contract.id] = _Room(None, booked)
            continue
        in_first_half = [s for s in existing.get(contract.id, ()) if _local_date(s) < half_term.starts]
        closed = days_of.closed(availability, contract, setting)
        left = _sessions_still_needed(
            contract, half_term, window, plan_first, closed, booked, in_first_half, days_of=days_of
        )
        room[contract.id] = _Room(left, booked or sorted(in_first_half))
    return room


def _over_frequency(room: dict[int, _Room], contract: Contract) -> list[str]:
    """Why one more session of this agreement is refused (an empty list when there is room); counts it."""
    entry = room[contract.id]
    if entry.left is None:
        return []
    if entry.left > 0:
        entry.left -= 1
        return []
    if entry.booked:
        when = "; ".join(f"{_fmt(_local_date(s))} at {s.astimezone(LONDON):%H:%M}" for s in entry.booked)
        return [f"{contract.supervisee.full_name} {ALREADY_BOOKED} (booked: {when})"]
    return [f"{contract.supervisee.full_name} needs no more sessions this half term than the rows above"]


@dataclass
class PlanCheck:
    """What booking the rows would do, for the page that asks before booking."""

    sessions: int
    invitations: int
    # Each supervisor with the number of sessions booked into their diary, by name.
    supervisors: list[tuple[StaffMember, int]]


def _invitations(contract: Contract, starts_at: datetime) -> int:
    """The emails booking one row sends, as `tasks.send_session_invites` sends them: one to each active
    person, none for a time already begun (`services.session_book` sends nothing for the past)."""
    if starts_at <= timezone.now():
        return 0
    return sum(1 for person in (contract.supervisor, contract.supervisee) if person.user.is_active)


def _checked_rows(*, organisation: Organisation, half_term: HalfTerm, rows: list, lock: bool) -> dict[int, Contract]:
    """The rows' agreements by id, once every row passes; else ValidationError keyed by row index."""
    if not rows:
        raise ValidationError("Choose at least one session to book.")
    contract_ids = [row.contract.pk for row in rows]
    contracts = {
        c.id: c
        for c in Contract.objects.filter(pk__in=contract_ids)
        .select_related("supervisee__user", "supervisor__user", "organisation")
        .prefetch_related("overrides", "supervisee__settings", "supervisor__settings")
    }
    person_ids = sorted({pid for c in contracts.values() for pid in (c.supervisee_id, c.supervisor_id)})
    people = StaffMember.objects.filter(pk__in=person_ids).select_related("user")
    if lock:
        # Lock the people involved so two planners confirming at once cannot both take the same time, nor
        # both book the same agreement: every session of an agreement has its two people, so the sessions
        # read below (after the lock) include whatever a confirmation that went first has just booked.
        people = people.select_for_update()
    availability = Availability(organisation, list(people), half_term.starts, half_term.ends)
    room = _room_left(availability, half_term, list(contracts.values()))
    errors = {}
    for index, row in enumerate(rows):
        contract = contracts[row.contract.pk]
        ends_at = row.starts_at + timedelta(minutes=contract.session_minutes)
        problems = _row_problems(availability, half_term, contract, row.starts_at, ends_at)
        problems += _over_frequency(room, contract)
        if problems:
            errors[str(index)] = [p[0].upper() + p[1:] + "." for p in problems]
        else:
            availability.book([contract.supervisor_id, contract.supervisee_id], row.starts_at, ends_at)
    if errors:
        raise ValidationError(errors)
    return contracts


def check_plan(*, organisation: Organisation, half_term: HalfTerm, rows) -> PlanCheck:
    """What `confirm_plan` would book and send for these rows, with the same checks and the same
    ValidationError; nothing is written or locked (the confirmation checks again under its lock)."""
    rows = list(rows)
    contracts = _checked_rows(organisation=organisation, half_term=half_term, rows=rows, lock=False)
    per_supervisor: Counter = Counter()
    supervisors = {}
    invitations = 0
    for row in rows:
        contract = contracts[row.contract.pk]
        per_supervisor[contract.supervisor_id] += 1
        supervisors[contract.supervisor_id] = contract.supervisor
        invitations += _invitations(contract, row.starts_at)
    ordered = sorted(supervisors.values(), key=lambda s: (s.full_name, s.id))
    return PlanCheck(
        sessions=len(rows), invitations=invitations, supervisors=[(s, per_supervisor[s.id]) for s in ordered]
    )


@transaction.atomic
def confirm_plan(*, actor: StaffMember, organisation: Organisation, half_term: HalfTerm, rows) -> list[Session]:
    """Book every row (each with `contract`, `starts_at`, `ends_at`) or none of them.

    Each row is checked against a fresh view of everyone's time and against the rows before it, and
    each agreement is re-planned against the sessions booked now: one whose half term is already met
    (by another planner's confirmation, say) is not booked again.
    Raises ValidationError keyed by row index ("0", "1"...) with that row's problems.
    """
    rows = list(rows)
    contracts = _checked_rows(organisation=organisation, half_term=half_term, rows=rows, lock=True)
    sessions = [
        services.session_book(
            actor=actor,
            starts_at=row.starts_at,
            minutes=contracts[row.contract.pk].session_minutes,
            contract=contracts[row.contract.pk],
            check=False,
            send=True,
        )
        for row in rows
    ]
    audit_event(
        action="planner.confirmed",
        actor=actor.user,
        organisation=organisation,
        details={"count": len(sessions), "half_term": str(half_term), "half_term_code": str(half_term.code)},
    )
    return sessions
