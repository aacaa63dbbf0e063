"""The default academic calendar for England (supervision/school_calendar.py) and its closure days."""

from datetime import date, timedelta

import pytest
from dateutil.easter import easter
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent
from supervision import services
from supervision.models import AcademicYear, ClosureDay, HalfTerm, Term
from supervision.school_calendar import (
    academic_year_name,
    bank_holidays_england,
    default_half_terms,
    school_days,
    school_weeks,
)


def dates(start_year):
    return [(h.term, h.half, h.starts, h.ends) for h in default_half_terms(start_year)]


def test_the_default_for_2025_26_by_hand():
    # Christmas Day is a Thursday, Easter Sunday 5 April 2026 (mid-April: the week before and the week
    # after), the spring bank holiday Monday 25 May.
    assert dates(2025) == [
        (Term.AUTUMN, 1, date(2025, 9, 3), date(2025, 10, 24)),  # Wed 3 Sep to Fri 24 Oct
        (Term.AUTUMN, 2, date(2025, 11, 3), date(2025, 12, 19)),  # Mon 3 Nov to Fri 19 Dec
        (Term.SPRING, 1, date(2026, 1, 5), date(2026, 2, 13)),  # Mon 5 Jan to Fri 13 Feb
        (Term.SPRING, 2, date(2026, 2, 23), date(2026, 3, 27)),  # Mon 23 Feb to Fri 27 Mar
        (Term.SUMMER, 1, date(2026, 4, 13), date(2026, 5, 22)),  # Mon 13 Apr to Fri 22 May
        (Term.SUMMER, 2, date(2026, 6, 1), date(2026, 7, 22)),  # Mon 1 Jun to Wed 22 Jul
    ]


def test_the_default_for_2026_27_by_hand():
    # Christmas Day is a Friday; Easter Sunday is early (28 March 2027), so the Easter holidays are the
    # two weeks after it and Spring 2 ends on Thursday 25 March, the day before Good Friday.
    assert dates(2026) == [
        (Term.AUTUMN, 1, date(2026, 9, 2), date(2026, 10, 23)),  # Wed 2 Sep to Fri 23 Oct
        (Term.AUTUMN, 2, date(2026, 11, 2), date(2026, 12, 18)),  # Mon 2 Nov to Fri 18 Dec
        (Term.SPRING, 1, date(2027, 1, 4), date(2027, 2, 12)),  # Mon 4 Jan to Fri 12 Feb
        (Term.SPRING, 2, date(2027, 2, 22), date(2027, 3, 25)),  # Mon 22 Feb to Thu 25 Mar
        (Term.SUMMER, 1, date(2027, 4, 12), date(2027, 5, 28)),  # Mon 12 Apr to Fri 28 May
        (Term.SUMMER, 2, date(2027, 6, 7), date(2027, 7, 22)),  # Mon 7 Jun to Thu 22 Jul
    ]


def test_a_late_easter_and_a_new_year_bank_holiday():
    # Easter Sunday 20 April 2025 is late: the holidays are the two weeks before it, and Summer 1 starts
    # on Tuesday 22 April after Easter Monday, as most local authorities published.
    halves = default_half_terms(2024)
    assert (halves[3].ends, halves[4].starts) == (date(2025, 4, 4), date(2025, 4, 22))
    # New Year's Day 2028 is a Saturday: its bank holiday is Monday 3 January, so Spring 1 starts on the 4th.
    assert default_half_terms(2027)[2].starts == date(2028, 1, 4)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weeks_off(before, after) -> int:
    """Whole weeks of holiday between two half terms."""
    return (monday_of(after.starts) - monday_of(before.ends)).days // 7 - 1


@pytest.mark.parametrize("start_year", [2024, 2025, 2026, 2027])
def test_the_default_follows_the_published_pattern_for_england(start_year):
    autumn1, autumn2, spring1, spring2, summer1, summer2 = default_half_terms(start_year)
    y2 = start_year + 1
    bank = bank_holidays_england([start_year, y2])
    # October half term: the last week of October.
    october = autumn1.ends + timedelta(days=3)
    assert october.month == 10 and (october + timedelta(days=7)).month == 11 and weeks_off(autumn1, autumn2) == 1
    # Christmas: two weeks, Christmas Day and New Year's Day inside.
    assert (
        autumn2.ends < date(start_year, 12, 25) and spring1.starts > date(y2, 1, 1) and weeks_off(autumn2, spring1) == 2
    )
    # February half term: the middle of February (the week of the third Monday).
    february = spring1.ends + timedelta(days=3)
    assert february.month == 2 and 15 <= february.day <= 21 and weeks_off(spring1, spring2) == 1
    # Easter: two weeks, including Good Friday or Easter Monday.
    assert weeks_off(spring2, summer1) == 2
    good_friday, easter_monday = easter(y2) - timedelta(days=2), easter(y2) + timedelta(days=1)
    assert spring2.ends < good_friday < summer1.starts or spring2.ends < easter_monday < summer1.starts
    # Whitsun: the last week of May, the spring bank holiday's week.
    spring_bank_holiday = next(d for d, name in bank.items() if name == "Spring Bank Holiday" and d.year == y2)
    assert summer1.ends < spring_bank_holiday < summer2.starts and weeks_off(summer1, summer2) == 1
    assert (summer1.ends + timedelta(days=3)).month == 5
    # The year ends in the third week of July.
    assert date(y2, 7, 16) <= summer2.ends <= date(y2, 7, 22)


@settings(deadline=None, max_examples=30)
@given(st.integers(min_value=2020, max_value=2045))
def test_every_default_year_is_a_sensible_school_year(start_year):
    halves = default_half_terms(start_year)
    bank = set(bank_holidays_england([start_year, start_year + 1]))
    assert [(h.term, h.half) for h in halves] == [(t, n) for t in Term.values for n in (1, 2)]
    for before, after in zip(halves, halves[1:], strict=False):
        assert before.ends < after.starts, "in order, without overlapping"
    total = 0
    for h in halves:
        # Each starts and ends on a day the school is open: a weekday that is not a bank holiday.
        assert h.starts.weekday() < 5 and h.ends.weekday() < 5
        assert h.starts not in bank and h.ends not in bank
        days = school_days(h.starts, h.ends, bank)
        # Four to eight weeks. Four happens only to Spring 2 when Easter is very early (25 March 2035 and
        # 2046); the rule before this test gave three weeks then.
        assert 4 <= len(school_weeks(days)) <= 8, (h, len(school_weeks(days)))
        assert len(days) >= 19
        total += len(days)
    # About the 190 days a year pupils are in school (INSET days are outside the default half terms).
    assert 189 <= total <= 196
    assert date(start_year, 9, 1) <= halves[0].starts <= date(start_year, 9, 7)


def test_generating_adds_bank_holidays_as_closure_days(cast):
    year = services.calendar_generate_default(organisation=cast.organisation, start_year=2025)
    assert year.name == "2025/26" and (year.starts, year.ends) == (date(2025, 9, 3), date(2026, 7, 22))
    summer1 = HalfTerm.objects.get(academic_year=year, term=Term.SUMMER, half=1)
    may_day = ClosureDay.objects.get(organisation=cast.organisation, date=date(2026, 5, 4))
    assert summer1.starts <= may_day.date <= summer1.ends
    assert (may_day.kind, may_day.name, may_day.setting) == (ClosureDay.Kind.BANK_HOLIDAY, "May Day", None)
    inside = {d for d in bank_holidays_england([2025, 2026]) if year.starts <= d <= year.ends}
    assert set(ClosureDay.objects.filter(organisation=cast.organisation).values_list("date", flat=True)) == inside
    # Another organisation's calendar is its own.
    assert not ClosureDay.objects.filter(organisation=cast.other_organisation).exists()


def test_generating_twice_changes_nothing(cast):
    def snapshot():
        return (
            list(AcademicYear.objects.values_list("name", "starts", "ends")),
            list(HalfTerm.objects.values_list("term", "half", "starts", "ends")),
            list(ClosureDay.objects.values_list("date", "kind")),
        )

    services.calendar_generate_default(organisation=cast.organisation, start_year=2026)
    before = snapshot()
    assert services.calendar_generate_default(organisation=cast.organisation, start_year=2026) is None
    services.ensure_calendar(cast.organisation, today=date(2026, 8, 1))  # 2026/27 exists; adds 2027/28
    services.ensure_calendar(cast.organisation, today=date(2026, 11, 22))
    after = snapshot()
    assert [name for name, *_ in after[0]] == ["2026/27", "2027/28"]
    assert [row for row in after[1] if row[2] < date(2027, 8, 1)] == before[1]
    assert AuditEvent.objects.filter(action="calendar.year_generated").count() == 2


def test_school_days_leave_out_weekends_and_closure_days():
    # Summer 1 of 2025/26: six weeks, May Day on Monday 4 May.
    starts, ends = date(2026, 4, 13), date(2026, 5, 22)
    every_weekday = school_days(starts, ends, set())
    assert len(every_weekday) == 30 and all(d.weekday() < 5 for d in every_weekday)
    with_closures = school_days(starts, ends, {date(2026, 5, 4), date(2026, 4, 13), date(2026, 4, 18)})
    assert len(with_closures) == 28  # Saturday 18 April was not a school day anyway
    assert date(2026, 5, 4) not in with_closures and with_closures[0] == date(2026, 4, 14)
    weeks = school_weeks(with_closures)
    assert len(weeks) == 6 and len(weeks[0]) == 4 and len(weeks[3]) == 4


def test_academic_year_names():
    assert [academic_year_name(y) for y in (2025, 2099)] == ["2025/26", "2099/00"]
