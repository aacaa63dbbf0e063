"""The scheduling rules of DESIGN section 8, one test each (and their boundaries)."""

from datetime import date

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.models import EmploymentType, Frequency, WorkingDay
from supervision import rules, services
from supervision.models import HalfTerm, SessionStatus
from supervision.school_calendar import school_days, school_weeks

from .helpers import at, next_weekday, signed_contract

pytestmark = pytest.mark.django_db


def test_default_is_one_thirty_minute_session_per_half_term(cast):
    """Seeds 000 and 002: one 30-minute session per half term unless agreed otherwise."""
    contract = signed_contract(cast.supervisee, cast.supervisor)
    assert contract.frequency == Frequency.HALF_TERMLY
    assert contract.session_minutes == 30
    assert rules.effective_frequency(contract, date(2025, 10, 1)) == Frequency.HALF_TERMLY
    for weeks in (5, 6, 7, 8):
        assert rules.sessions_needed(Frequency.HALF_TERMLY, weeks, first_half_of_term=True) == 1


def test_other_frequencies_ask_for_more_sessions():
    assert rules.sessions_needed(Frequency.WEEKLY, 6, first_half_of_term=True) == 6
    assert rules.sessions_needed(Frequency.FORTNIGHTLY, 7, first_half_of_term=True) == 4
    assert rules.sessions_needed(Frequency.MONTHLY, 7, first_half_of_term=True) == 2
    assert rules.sessions_needed(Frequency.TERMLY, 7, first_half_of_term=True) == 1
    assert rules.sessions_needed(Frequency.TERMLY, 7, first_half_of_term=False) == 0
    assert rules.sessions_needed(Frequency.WEEKLY, 0, first_half_of_term=True) == 0


def test_part_time_staff_are_not_pro_rata(cast):
    """Seed 002: part-time staff follow the same frequency as full-time, on the days they work."""
    WorkingDay.objects.filter(staff=cast.supervisee, weekday__in=[2, 3, 4]).delete()  # Mon and Tue only
    full_time = signed_contract(cast.supervisee2, cast.supervisor2)
    part_time = signed_contract(cast.supervisee, cast.supervisor)
    day = date(2025, 11, 5)
    assert rules.effective_frequency(part_time, day) == rules.effective_frequency(full_time, day)
    assert rules.supervisable_window(cast.supervisee, date(2025, 11, 3), date(2025, 12, 19)) == (
        date(2025, 11, 3),
        date(2025, 12, 19),
    )
    # Only the days change: a Wednesday does not suit, a Tuesday does.
    wednesday, tuesday = next_weekday(day, 2), next_weekday(day, 1)
    problems = services.check_time(
        supervisor=cast.supervisor, attendees=[cast.supervisee], setting=cast.primary,
        starts_at=at(wednesday, 10), minutes=30,
    )  # fmt: skip
    assert any("does not work on Wednesdays" in p for p in problems)
    assert services.check_time(
        supervisor=cast.supervisor, attendees=[cast.supervisee], setting=cast.primary,
        starts_at=at(tuesday, 10), minutes=30,
    ) == []  # fmt: skip


def test_agency_staff_are_due_after_five_weeks_in_post(cast):
    """Seed 002: agency and temporary staff in post more than 5 weeks are supervised like permanent staff."""
    person = cast.supervisee
    person.employment_type = EmploymentType.AGENCY
    person.start_date = date(2025, 9, 1)
    assert rules.first_due_date(person) == date(2025, 10, 6)
    # The day before five weeks: not yet owed; on the day and after: owed.
    assert rules.why_not_due(person, date(2025, 9, 1), date(2025, 10, 5)) is not None
    assert rules.why_not_due(person, date(2025, 9, 1), date(2025, 10, 6)) is None
    assert rules.supervisable_window(person, date(2025, 9, 3), date(2025, 10, 24)) == (
        date(2025, 10, 6),
        date(2025, 10, 24),
    )
    person.employment_type = EmploymentType.PERMANENT
    assert rules.first_due_date(person) == date(2025, 9, 1)


def test_overrides_raise_the_frequency_then_lapse(cast):
    """Seeds 000 and 001: more frequent for complex child-protection work, for a period, ending by itself."""
    contract = signed_contract(cast.supervisee, cast.supervisor)
    services.override_add(
        actor=cast.supervisor, contract=contract, frequency=Frequency.FORTNIGHTLY,
        reason="Complex child-protection case", starts=date(2025, 11, 3), ends=date(2025, 12, 19),
    )  # fmt: skip
    assert rules.effective_frequency(contract, date(2025, 11, 2)) == Frequency.HALF_TERMLY  # the day before
    assert rules.effective_frequency(contract, date(2025, 11, 3)) == Frequency.FORTNIGHTLY  # on the day
    assert rules.effective_frequency(contract, date(2025, 12, 19)) == Frequency.FORTNIGHTLY  # last day
    assert rules.effective_frequency(contract, date(2025, 12, 20)) == Frequency.HALF_TERMLY  # lapsed


def test_an_override_cannot_lower_the_frequency(cast):
    contract = signed_contract(cast.supervisee, cast.supervisor, frequency=Frequency.MONTHLY)
    with pytest.raises(ValidationError):
        services.override_add(
            actor=cast.supervisor, contract=contract, frequency=Frequency.TERMLY, reason="Less",
            starts=date(2025, 11, 3), ends=date(2025, 12, 19),
        )  # fmt: skip


def test_new_to_post_staff_are_supervised_more_often(cast):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    contract.supervisee.new_to_post = True
    assert rules.effective_frequency(contract, date(2025, 11, 3)) == Frequency.MONTHLY


def test_leavers_are_not_scheduled_after_leaving(cast):
    person = cast.supervisee
    person.leaving_date = date(2025, 11, 14)
    person.save()
    assert rules.supervisable_window(person, date(2025, 11, 3), date(2025, 12, 19)) == (
        date(2025, 11, 3),
        date(2025, 11, 14),
    )
    assert rules.why_not_due(person, date(2026, 1, 5), date(2026, 2, 13)) is not None
    contract = signed_contract(person, cast.supervisor)
    with pytest.raises(ValidationError) as error:
        services.session_book(
            actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 17), 10), minutes=30
        )
    assert "leaves on" in str(error.value)
    # The leaving day itself is still bookable.
    services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 14), 10), minutes=30)


@time_machine.travel("2025-11-03 08:00 +0000")
def test_cancelled_sessions_are_rebooked_near_the_original_time(cast):
    """Seeds 000 and 002: rebook as near as possible to the original time, meeting every constraint."""
    services.ensure_calendar(cast.organisation)
    contract = signed_contract(cast.supervisee, cast.supervisor)
    original = services.session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 5), 10), minutes=30
    )
    # The supervisor is busy right after the original time; the supervisee does not work on Thursdays.
    other = signed_contract(cast.supervisee2, cast.supervisor, start=date(2025, 9, 1))
    services.session_book(actor=cast.supervisor, contract=other, starts_at=at(date(2025, 11, 5), 10, 30), minutes=30,
                          check=False)  # fmt: skip
    WorkingDay.objects.filter(staff=cast.supervisee, weekday=3).delete()
    services.session_cancel(actor=cast.supervisor, session=original, reason="Ofsted visit")
    offers = services.rebook_offers(original)
    assert len(offers) == 3
    assert offers[0] == at(date(2025, 11, 5), 11)  # the same day, after the clash
    assert offers[1].date() == date(2025, 11, 7)  # Thursday skipped: the supervisee does not work
    assert all(o > original.starts_at for o in offers)
    assert offers == sorted(offers)
    rebooked = services.session_book(
        actor=cast.supervisor, contract=contract, starts_at=offers[0], minutes=30, rebooked_from=original
    )
    assert rebooked.rebooked_from == original
    original.refresh_from_db()
    assert original.status == SessionStatus.CANCELLED and original.cancel_reason == "Ofsted visit"


def test_closure_days_and_holidays_are_never_used(cast):
    services.calendar_generate_default(organisation=cast.organisation, start_year=2025)
    contract = signed_contract(cast.supervisee, cast.supervisor)
    bank_holiday = date(2026, 5, 4)  # May Day, inside Summer 1
    half_term_week = date(2025, 10, 29)
    for day in (bank_holiday, half_term_week):
        with pytest.raises(ValidationError):
            services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(day, 10), minutes=30)
    summer1 = HalfTerm.objects.get(organisation=cast.organisation, term="summer", half=1)
    days = school_days(summer1.starts, summer1.ends, {bank_holiday})
    assert bank_holiday not in days and len(school_weeks(days)) == 6


def test_a_session_cannot_clash_for_either_person(cast):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    day = next_weekday(date(2025, 11, 3), 0)
    services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(day, 10), minutes=30)
    with pytest.raises(ValidationError) as error:
        services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(day, 10, 15), minutes=30)
    assert "already has a session then" in str(error.value)
    # Back to back is fine.
    services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(day, 10, 30), minutes=30)


def test_outside_the_settings_day_is_refused(cast):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    day = next_weekday(date(2025, 11, 3), 1)
    with pytest.raises(ValidationError) as error:
        services.session_book(actor=cast.supervisor, contract=contract, starts_at=at(day, 16, 15), minutes=30)
    assert "outside Cast Primary's day" in str(error.value)
