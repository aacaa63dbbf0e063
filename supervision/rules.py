"""Who is due for supervision, and how often: the policy rules of DESIGN section 8.

Pure functions over a contract, its overrides and the person: the planner, the calendar pages,
the reminders and the dashboard all ask here, so each rule lives in one place.
"""

import math
from datetime import date, timedelta

from accounts.models import EmploymentType, Frequency, StaffMember

# Most frequent first: a "raise" never lowers.
FREQUENCY_RANK = {
    Frequency.WEEKLY: 5,
    Frequency.FORTNIGHTLY: 4,
    Frequency.MONTHLY: 3,
    Frequency.HALF_TERMLY: 2,
    Frequency.TERMLY: 1,
}

# New-to-post and early-career staff are seen at least monthly (seeds 000 and 001: "more often").
NEW_TO_POST_FREQUENCY = Frequency.MONTHLY

# Agency and temporary staff are supervised like permanent staff once in post more than 5 weeks (seed 002).
AGENCY_QUALIFYING_PERIOD = timedelta(weeks=5)


def more_frequent(a: str, b: str) -> str:
    return a if FREQUENCY_RANK[a] >= FREQUENCY_RANK[b] else b


def effective_frequency(contract, on: date, overrides=None) -> str:
    """The frequency in force on a day: the agreement's, raised by a running override or new-to-post.

    `overrides` may be passed in (already fetched) to avoid a query per contract.
    """
    frequency = contract.frequency
    for override in overrides if overrides is not None else contract.overrides.all():
        if override.starts <= on <= override.ends:
            frequency = more_frequent(frequency, override.frequency)
    if contract.supervisee.new_to_post:
        frequency = more_frequent(frequency, NEW_TO_POST_FREQUENCY)
    return frequency


def frequency_wording(contract, on: date, overrides=None) -> str:
    """The frequency in force, in the words every page uses: "Monthly while new to post (agreement:
    half-termly)", "Weekly until Fri 5 Dec 2025 (agreement: half-termly)", or just "Half-termly"."""
    overrides = list(overrides if overrides is not None else contract.overrides.all())
    frequency = effective_frequency(contract, on, overrides)
    label = Frequency(frequency).label
    if frequency == contract.frequency:
        return label
    agreed = Frequency(contract.frequency).label.lower()
    running = [o for o in overrides if o.starts <= on <= o.ends and o.frequency == frequency]
    if running:
        until = max(o.ends for o in running)
        return f"{label} until {until:%a %-d %b %Y} (agreement: {agreed})"
    return f"{label} while new to post (agreement: {agreed})"


def first_due_date(staff: StaffMember) -> date:
    """The first day supervision is owed: the start date, or 5 weeks after it for agency/temporary staff."""
    if staff.employment_type == EmploymentType.AGENCY:
        return staff.start_date + AGENCY_QUALIFYING_PERIOD
    return staff.start_date


def supervisable_window(staff: StaffMember, starts: date, ends: date) -> tuple[date, date] | None:
    """The part of [starts, ends] in which the person is owed supervision, or None.

    Part-time staff are not pro rata: the window is the same; only the days they work differ.
    Leavers are never scheduled after their leaving date.
    """
    first = max(starts, first_due_date(staff))
    last = min(ends, staff.leaving_date) if staff.leaving_date else ends
    if first > last:
        return None
    return first, last


def sessions_needed(frequency: str, school_weeks: int, *, first_half_of_term: bool) -> int:
    """How many sessions a frequency asks for in a half term of `school_weeks` weeks."""
    if school_weeks <= 0:
        return 0
    if frequency == Frequency.WEEKLY:
        return school_weeks
    if frequency == Frequency.FORTNIGHTLY:
        return math.ceil(school_weeks / 2)
    if frequency == Frequency.MONTHLY:
        return max(1, round(school_weeks / 4.33))
    if frequency == Frequency.HALF_TERMLY:
        return 1
    # Termly: one a term, booked in the first half; the second half only catches up.
    return 1 if first_half_of_term else 0


def why_not_due(staff: StaffMember, starts: date, ends: date) -> str | None:
    """A plain reason why the person is owed no supervision in the period, or None when they are."""
    if staff.leaving_date and staff.leaving_date < starts:
        return f"left on {staff.leaving_date:%a %-d %b %Y}"
    if staff.start_date > ends:
        return f"starts on {staff.start_date:%a %-d %b %Y}"
    if staff.employment_type == EmploymentType.AGENCY and first_due_date(staff) > ends:
        return (
            f"not due until {first_due_date(staff):%a %-d %b %Y}: agency or temporary staff are supervised after "
            "5 weeks in post"
        )
    return None
