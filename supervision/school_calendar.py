"""The default academic calendar for England, and which days are school days.

The rule for the default calendar (every date editable afterwards), checked against the pattern
local authorities publish (tests/supervision/test_school_calendar.py):
- Autumn 1: from the first Wednesday on or after 1 September to the Friday before the last Monday of
  October (October half term is the week that starts on the last Monday of October).
- Autumn 2: from the Monday after that half term to the Friday before the Christmas holidays, which
  are the two weeks from the Monday on or before Christmas Day.
- Spring 1: from the Monday after the Christmas holidays to the Friday before the third Monday of
  February (February half term is the week that starts on the third Monday of February).
- Spring 2: from the Monday after that half term to the Friday before the Easter holidays.
- The Easter holidays are two weeks, placed by the date of Easter Sunday: when it falls on or before
  3 April, the two weeks after it (Good Friday is then a bank holiday at the end of Spring 2); from 4
  to 16 April, the week before it and the week after; from 17 April, the two weeks before it (Easter
  Monday is then a bank holiday at the start of Summer 1). This keeps Spring 2 and Summer 1 between
  four and eight weeks whatever the date of Easter.
- Summer 1: from the Monday after the Easter holidays to the Friday before the last Monday of May
  (the spring bank holiday week is the half term).
- Summer 2: from the Monday after the spring bank holiday week to the last weekday on or before
  22 July.
A half term that would start or end on a bank holiday starts on the next weekday or ends on the
previous one, so its first and last days are days the school is open. Bank holidays for England come
from the `holidays` package; INSET days are entered by the admin.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import holidays
from dateutil.easter import easter

from .models import Term

MONDAY, WEDNESDAY, FRIDAY = 0, 2, 4


def _on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def _last_monday(year: int, month: int) -> date:
    next_month = date(year + month // 12, month % 12 + 1, 1)
    return _on_or_before(next_month - timedelta(days=1), MONDAY)


def _last_weekday_on_or_before(day: date) -> date:
    while day.weekday() > FRIDAY:
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True)
class HalfTermDates:
    term: str
    half: int
    starts: date
    ends: date


def academic_year_name(start_year: int) -> str:
    return f"{start_year}/{str(start_year + 1)[-2:]}"


def easter_holidays(start_year: int) -> date:
    """The Monday the two-week Easter holidays start, in the spring of `start_year + 1` (see above)."""
    sunday = easter(start_year + 1)
    if sunday <= date(start_year + 1, 4, 3):
        return sunday + timedelta(days=1)
    if sunday <= date(start_year + 1, 4, 16):
        return sunday - timedelta(days=6)
    return sunday - timedelta(days=13)


def default_half_terms(start_year: int) -> list[HalfTermDates]:
    """The six half terms of the academic year that starts in September of `start_year`."""
    y1, y2 = start_year, start_year + 1
    bank = bank_holidays_england([y1, y2])

    def half(term, number, starts, ends):
        while starts in bank:
            starts += timedelta(days=1)
        while ends in bank:
            ends -= timedelta(days=1)
        return HalfTermDates(term, number, starts, ends)

    october_break = _last_monday(y1, 10)
    christmas_break = _on_or_before(date(y1, 12, 25), MONDAY)
    february_break = _on_or_after(date(y2, 2, 1), MONDAY) + timedelta(days=14)
    easter_break = easter_holidays(start_year)
    may_break = _last_monday(y2, 5)
    friday_before = timedelta(days=3)
    return [
        half(Term.AUTUMN, 1, _on_or_after(date(y1, 9, 1), WEDNESDAY), october_break - friday_before),
        half(Term.AUTUMN, 2, october_break + timedelta(days=7), christmas_break - friday_before),
        half(Term.SPRING, 1, christmas_break + timedelta(days=14), february_break - friday_before),
        half(Term.SPRING, 2, february_break + timedelta(days=7), easter_break - friday_before),
        half(Term.SUMMER, 1, easter_break + timedelta(days=14), may_break - friday_before),
        half(Term.SUMMER, 2, may_break + timedelta(days=7), _last_weekday_on_or_before(date(y2, 7, 22))),
    ]


def bank_holidays_england(years) -> dict[date, str]:
    return dict(holidays.country_holidays("GB", subdiv="ENG", years=list(years)).items())


def school_days(starts: date, ends: date, closed: set[date]) -> list[date]:
    """Weekdays from `starts` to `ends` inclusive that are not closure days."""
    days = []
    day = starts
    while day <= ends:
        if day.weekday() <= FRIDAY and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days


def school_weeks(days: list[date]) -> list[list[date]]:
    """School days grouped by the week (Monday) they fall in."""
    weeks: dict[date, list[date]] = {}
    for day in days:
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(day)
    return [weeks[k] for k in sorted(weeks)]
