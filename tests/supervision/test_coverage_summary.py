"""The summary of ended half terms' coverage (supervision/dashboard/summary.py, issue 14).

The chart reads an ended half term from the summary only while it is fresh, and any write that could
change the half term's coverage marks it stale in the database, through a bulk update as much as through a
view: then the chart works it out from the data again, so a page never shows coverage older than the data.
That the summary's counts are the rules' counts is checked on varied trusts by test_dashboard_sql.py.
"""

import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.models import EmploymentType, StaffMember
from records.builtin import ensure_builtin_templates
from records.models import Record, RecordStatus
from supervision import services
from supervision.dashboard import Dashboard, summary
from supervision.models import (
    ClosureDay,
    Contract,
    CoverageState,
    FrequencyOverride,
    HalfTerm,
    Session,
    SessionKind,
    SessionStatus,
    SettingCoverage,
)
from supervision.slots import LONDON
from supervision.tasks import refresh_coverage
from tests.factories import StaffFactory
from tests.supervision.helpers import SUMMARY_ON_POSTGRESQL

pytestmark = SUMMARY_ON_POSTGRESQL

TODAY = date(2026, 1, 20)  # Spring 1 2026 runs; autumn 1 and 2 of 2025 have ended


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-01-20 09:00 +0000", tick=False):
        yield


def _at(day, hour=9):
    return datetime.combine(day, time(hour), tzinfo=LONDON)


@dataclass
class Trust:
    cast: object
    autumn1: HalfTerm
    autumn2: HalfTerm
    running: HalfTerm
    staff: StaffMember
    contract: Contract
    session: Session
    record: Record

    def chart(self, settings=None, whole=True) -> dict:
        """The whole organisation's counts for autumn 2, as the chart reads them."""
        cast = self.cast
        shown = settings or [cast.primary, cast.secondary]
        dash = Dashboard(viewer=cast.org_admin, half_term=self.running, settings=shown, whole_organisation=whole)
        points = {p["half_term"].id: p for p in dash.coverage_history()}
        return {"overall": points[self.autumn2.id]["overall"], "by_setting": points[self.autumn2.id]["by_setting"]}


def _session(cast, contract, moment, status=SessionStatus.HELD, kind=SessionKind.ONE_TO_ONE) -> Session:
    session = Session.objects.create(
        organisation=cast.organisation,
        setting=cast.primary,
        kind=kind,
        contract=contract if kind == SessionKind.ONE_TO_ONE else None,
        supervisor=cast.supervisor,
        starts_at=moment,
        ends_at=moment + timedelta(minutes=30),
        status=status,
    )
    session.attendees.add(contract.supervisee)
    return session


@pytest.fixture
def trust(cast) -> Trust:
    """One person supervised since September: a session held on Wed 12 Nov 2025 (autumn 2) whose record is
    still a draft. Summarised: autumn 1 and 2 are fresh, and autumn 2 has one owed, held, not covered."""
    t = _build(cast)
    summary.refresh(today=TODAY)
    assert {t.autumn1.id, t.autumn2.id} <= _fresh()
    return t


def _build(cast) -> Trust:
    services.ensure_calendar(cast.organisation, TODAY)
    half_terms = HalfTerm.objects.filter(organisation=cast.organisation)
    staff = StaffFactory(organisation=cast.organisation, settings=[cast.primary], start_date=date(2024, 9, 1))
    contract = Contract.objects.create(
        organisation=cast.organisation,
        supervisee=staff,
        supervisor=cast.supervisor,
        start_date=date(2025, 9, 1),
        review_date=date(2026, 9, 1),
        supervisee_signed_at=_at(date(2025, 9, 1)),
        supervisor_signed_at=_at(date(2025, 9, 1)),
    )
    session = _session(cast, contract, _at(date(2025, 11, 12)))
    record = Record.objects.create(
        organisation=cast.organisation,
        session=session,
        template_version=ensure_builtin_templates(cast.organisation)["kcc-1-1"].current_version(),
        supervisor=cast.supervisor,
        content_hash="0" * 64,
    )
    return Trust(
        cast=cast,
        autumn1=half_terms.get(term="autumn", half=1, starts__year=2025),
        autumn2=half_terms.get(term="autumn", half=2, starts__year=2025),
        running=half_terms.get(starts__lte=TODAY, ends__gte=TODAY),
        staff=staff,
        contract=contract,
        session=session,
        record=record,
    )


def _fresh() -> set[int]:
    return set(CoverageState.objects.filter(fresh=True).values_list("half_term_id", flat=True))


def test_the_chart_reads_a_fresh_half_term_from_the_summary(trust):
    with CaptureQueriesContext(connection) as queries:
        chart = trust.chart()
    assert chart["overall"] == (0, 1)  # covered, owed
    assert chart["by_setting"][trust.cast.primary.id] == [0, 1]
    assert any("supervision_settingcoverage" in q["sql"] for q in queries.captured_queries)
    # The summary is what is read: a number written into it shows (only a test writes it).
    SettingCoverage.objects.filter(half_term=trust.autumn2, setting__isnull=True).update(owed=7)
    assert trust.chart()["overall"] == (0, 7)


def test_a_record_signed_late_marks_its_half_term_stale_and_the_chart_shows_it_at_once(trust):
    # A bulk update, as a data fix might be: no model method, no signal.
    Record.objects.filter(pk=trust.record.pk).update(status=RecordStatus.SIGNED, locked_at=_at(TODAY))
    assert trust.autumn2.id not in _fresh()
    assert trust.autumn1.id in _fresh()  # untouched
    assert trust.chart()["overall"] == (1, 1)  # from the data, before the task runs
    assert refresh_coverage.apply().get() == 1  # the beat task summarises it again
    assert trust.autumn2.id in _fresh()
    with CaptureQueriesContext(connection) as queries:
        assert trust.chart()["overall"] == (1, 1)
    assert any("supervision_settingcoverage" in q["sql"] for q in queries.captured_queries)
    assert refresh_coverage.apply().get() == 0  # nothing stale: nothing to do


def _closure(t, day, setting=None):
    ClosureDay.objects.create(organisation=t.cast.organisation, setting=setting, date=day)


MARK_AUTUMN2_STALE = {
    "the session cancelled": lambda t: Session.objects.filter(pk=t.session.pk).update(
        status=SessionStatus.CANCELLED, cancelled_at=_at(TODAY)
    ),
    "the session moved within the half term": lambda t: Session.objects.filter(pk=t.session.pk).update(
        starts_at=_at(date(2025, 11, 13)), ends_at=_at(date(2025, 11, 13), 10)
    ),
    "the session moved out of it": lambda t: Session.objects.filter(pk=t.session.pk).update(
        starts_at=_at(date(2026, 1, 14)), ends_at=_at(date(2026, 1, 14), 10)
    ),
    "a session added": lambda t: _session(t.cast, t.contract, _at(date(2025, 12, 1))),
    "an attendance removed": lambda t: t.session.attendees.remove(t.staff),
    "the record deleted": lambda t: Record.objects.filter(pk=t.record.pk).delete(),
    "the agreement ended back then": lambda t: Contract.objects.filter(pk=t.contract.pk).update(
        end_date=date(2025, 11, 1)
    ),
    "the agreement's start moved": lambda t: Contract.objects.filter(pk=t.contract.pk).update(
        start_date=date(2025, 12, 1)
    ),
    "a signature dated again": lambda t: Contract.objects.filter(pk=t.contract.pk).update(
        supervisee_signed_at=_at(date(2026, 1, 5))
    ),
    "the agreement made termly": lambda t: Contract.objects.filter(pk=t.contract.pk).update(frequency="termly"),
    "an agreement backdated": lambda t: Contract.objects.create(
        organisation=t.cast.organisation,
        supervisee=t.cast.supervisee,
        supervisor=t.cast.supervisor,
        start_date=date(2025, 11, 3),
        review_date=date(2026, 9, 1),
    ),
    "a leaving date back then": lambda t: StaffMember.objects.filter(pk=t.staff.pk).update(
        leaving_date=date(2025, 11, 20)
    ),
    "agency staff": lambda t: StaffMember.objects.filter(pk=t.staff.pk).update(employment_type=EmploymentType.AGENCY),
    "new to post": lambda t: StaffMember.objects.filter(pk=t.staff.pk).update(new_to_post=True),
    "a start date": lambda t: StaffMember.objects.filter(pk=t.staff.pk).update(start_date=date(2025, 10, 1)),
    "a closure day": lambda t: _closure(t, date(2025, 11, 18)),
    "a closure day moved": lambda t: (
        _closure(t, date(2026, 1, 13)),
        refresh_coverage.apply(),
        ClosureDay.objects.filter(date=date(2026, 1, 13)).update(date=date(2025, 11, 18)),
    ),
    "joining a setting closed then": lambda t: (
        _closure(t, date(2025, 11, 18), t.cast.secondary),
        refresh_coverage.apply(),
        t.staff.settings.add(t.cast.secondary),
    ),
    "leaving a setting": lambda t: t.staff.settings.remove(t.cast.primary),
    "an override": lambda t: FrequencyOverride.objects.create(
        contract=t.contract, frequency="monthly", reason="x", starts=date(2025, 11, 3), ends=date(2025, 12, 1)
    ),
    "the half term's dates": lambda t: HalfTerm.objects.filter(pk=t.autumn2.pk).update(ends=date(2025, 12, 18)),
    # The summary keeps the supervisee's name, for the overdue list's order.
    "a new name": lambda t: type(t.staff.user).objects.filter(pk=t.staff.user_id).update(full_name="Zoe Zephyr"),
}


@pytest.mark.parametrize("change", MARK_AUTUMN2_STALE)
def test_a_change_to_an_ended_half_terms_past_marks_it_stale(trust, change):
    MARK_AUTUMN2_STALE[change](trust)
    assert trust.autumn2.id not in _fresh()
    # Stale: the chart is worked out from the data, then the task brings the summary up to it.
    live = trust.chart()
    refresh_coverage.apply()
    assert trust.autumn2.id in _fresh()
    assert trust.chart() == live


LEAVE_ENDED_HALF_TERMS_FRESH = {
    "a session booked this half term": lambda t: _session(
        t.cast, t.contract, _at(date(2026, 1, 27)), SessionStatus.SCHEDULED
    ),
    "the agreement ended today": lambda t: Contract.objects.filter(pk=t.contract.pk).update(end_date=TODAY),
    "its review date": lambda t: Contract.objects.filter(pk=t.contract.pk).update(review_date=date(2026, 7, 1)),
    "a leaving date to come": lambda t: StaffMember.objects.filter(pk=t.staff.pk).update(
        leaving_date=date(2026, 3, 31)
    ),
    "a closure day this half term": lambda t: _closure(t, date(2026, 2, 2)),
    "the session's venue": lambda t: Session.objects.filter(pk=t.session.pk).update(venue="Room 4"),
}


@pytest.mark.parametrize("change", LEAVE_ENDED_HALF_TERMS_FRESH)
def test_a_change_of_today_leaves_the_ended_half_terms_fresh(trust, change):
    LEAVE_ENDED_HALF_TERMS_FRESH[change](trust)
    assert {trust.autumn1.id, trust.autumn2.id} <= _fresh()


def test_a_dashboard_of_several_settings_counts_each_person_once_from_the_summary(trust):
    trust.staff.settings.add(trust.cast.secondary)  # in both settings
    refresh_coverage.apply()
    assert trust.autumn2.id in _fresh()
    both = [trust.cast.primary, trust.cast.secondary]
    from_summary = trust.chart(both, whole=False)
    assert from_summary["overall"] == (0, 1)
    assert from_summary["by_setting"] == {trust.cast.primary.id: [0, 1], trust.cast.secondary.id: [0, 1]}
    assert trust.chart([trust.cast.secondary], whole=False)["overall"] == (0, 1)
    CoverageState.objects.update(fresh=False)
    assert trust.chart(both, whole=False) == from_summary
    assert trust.chart([trust.cast.secondary], whole=False)["overall"] == (0, 1)


def test_the_running_half_term_and_those_ended_in_the_last_two_years_are_summarised(trust):
    started = HalfTerm.objects.filter(
        organisation=trust.cast.organisation, starts__lte=TODAY, ends__gte=TODAY - summary.KEPT_FOR
    )
    assert _fresh() == set(started.values_list("id", flat=True))
    assert trust.running.id in _fresh()
    assert not HalfTerm.objects.filter(starts__gt=TODAY, coverage_state__fresh=True).exists()  # none to come
    # Every half term has its state row from the start, ended or not.
    assert CoverageState.objects.filter(half_term__organisation=trust.cast.organisation).count() == (
        HalfTerm.objects.filter(organisation=trust.cast.organisation).count()
    )


def test_a_write_in_a_half_term_still_to_end_leaves_its_state_alone(trust):
    """Only half terms ended by the database's tomorrow are marked (and locked): writes in the running one
    never wait on each other. The database's clock is the real one, so the half term here is years ahead."""
    services.ensure_calendar(trust.cast.organisation, date(2031, 1, 20))
    ahead = HalfTerm.objects.get(
        organisation=trust.cast.organisation, starts__lte=date(2031, 1, 20), ends__gte=date(2031, 1, 20)
    )
    CoverageState.objects.filter(half_term=ahead).update(fresh=True)  # as if it had been summarised
    _session(trust.cast, trust.contract, _at(date(2031, 1, 21)), SessionStatus.SCHEDULED)
    Contract.objects.filter(pk=trust.contract.pk).update(end_date=date(2031, 1, 22))
    assert ahead.id in _fresh()
    Contract.objects.filter(pk=trust.contract.pk).update(end_date=date(2025, 11, 1))  # an ended one: marked
    assert trust.autumn2.id not in _fresh() and ahead.id in _fresh()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_record_signed_while_the_task_summarises_leaves_the_half_term_stale(cast, monkeypatch):
    """The task has read the half term's data and not yet marked it fresh when a record of it is signed
    elsewhere: the signature's trigger waits for the task's lock, then marks the half term stale, so the
    summary that missed the signature is never read."""
    read, signed = threading.Event(), threading.Event()
    setup = _build(cast)
    CoverageState.objects.filter(half_term=setup.autumn2).update(fresh=False)
    real_bulk_create = SettingCoverage.objects.bulk_create

    def bulk_create_then_wait(objs, *args, **kwargs):
        read.set()  # the data is read (the INSERT ... SELECT ran); the state is still locked
        signed.wait(timeout=2)  # the signature, waiting on the lock, cannot finish first
        return real_bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(SettingCoverage.objects, "bulk_create", bulk_create_then_wait)
    errors = []

    def sign():
        try:
            read.wait(timeout=10)
            Record.objects.filter(pk=setup.record.pk).update(status=RecordStatus.SIGNED, locked_at=_at(TODAY))
            signed.set()
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connections.close_all()

    signer = threading.Thread(target=sign)
    signer.start()
    summary.summarise(setup.autumn2.id)
    signer.join(timeout=20)
    assert not errors and signed.is_set()
    assert setup.autumn2.id not in _fresh()
    assert setup.chart()["overall"] == (1, 1)
