"""The running half term's coverage, summarised and kept up to date (supervision/dashboard/summary.py).

The triggers go by the database's clock, so these tests run on the half term running on the database's
today (Python's clock is moved to it). A session, an attendance or a record there names its people rather
than marking the half term stale; the next read works their agreements out again (`summary.catch_up`). The
summary, after any mix of such writes, must be exactly what summarising the data afresh gives, and the
dashboard must read from it what it works out live.
"""

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import StaffMember
from records.builtin import ensure_builtin_templates
from records.models import Record, RecordStatus
from supervision import services
from supervision.dashboard import Dashboard, summary
from supervision.models import (
    AgreementCoverage,
    Contract,
    CoverageState,
    CoverageTouched,
    HalfTerm,
    Session,
    SessionKind,
    SessionStatus,
    SettingCoverage,
    SupervisionGroup,
)
from supervision.slots import LONDON
from tests.factories import StaffFactory
from tests.supervision.helpers import SUMMARY_ON_POSTGRESQL

pytestmark = SUMMARY_ON_POSTGRESQL


def _database_today() -> date:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_DATE")
        return cursor.fetchone()[0]


def _at(day, hour=10):
    return datetime.combine(day, time(hour), tzinfo=LONDON)


@dataclass
class Running:
    cast: object
    today: date
    half_term: HalfTerm
    contracts: list  # 1:1: the first replaced by the second mid-half-term; a third; a group agreement
    people: list
    group: SupervisionGroup
    version: object
    sessions: list = field(default_factory=list)

    def day(self, offset: int) -> date:
        return self.half_term.starts + timedelta(days=offset)

    def span(self) -> int:
        return (self.half_term.ends - self.half_term.starts).days


def _running_half_term(organisation, today) -> HalfTerm:
    """The half term running on `today`, lengthened to three weeks past it when today falls in a holiday
    or its last days (the later half terms moved on as far): a half term ending by tomorrow is marked
    stale by a session, as an ended one is, rather than named."""
    half_term = HalfTerm.objects.filter(organisation=organisation, starts__lte=today).order_by("-starts").first()
    wanted = today + timedelta(days=21)
    if half_term.ends < wanted:
        shift = timedelta(days=(wanted - half_term.ends).days + 14)
        for later in HalfTerm.objects.filter(organisation=organisation, starts__gt=half_term.starts).order_by(
            "-starts"
        ):
            HalfTerm.objects.filter(pk=later.pk).update(starts=later.starts + shift, ends=later.ends + shift)
        HalfTerm.objects.filter(pk=half_term.pk).update(ends=wanted)
        half_term.refresh_from_db()
    return half_term


@pytest.fixture
def running(cast):
    today = _database_today()
    with time_machine.travel(_at(today, 12), tick=False):
        org = cast.organisation
        services.ensure_calendar(org, today)
        half_term = _running_half_term(org, today)
        middle = half_term.starts + (half_term.ends - half_term.starts) / 2
        people = [
            StaffFactory(organisation=org, user__full_name=f"Person {n}", settings=[s], start_date=date(2020, 9, 1))
            for n, s in enumerate([cast.primary, cast.primary, cast.secondary, cast.secondary])
        ]
        signed = _at(date(2020, 9, 1))

        def agreement(person, start=date(2020, 9, 1), **fields):
            return Contract.objects.create(
                organisation=org,
                supervisee=person,
                supervisor=cast.supervisor,
                start_date=start,
                review_date=today + timedelta(days=300),
                supervisee_signed_at=signed,
                supervisor_signed_at=signed,
                **fields,
            )

        first = agreement(people[0], end_date=middle)
        renewal = agreement(people[0], start=middle, previous=first)
        contracts = [first, renewal, agreement(people[1]), agreement(people[2], kind=SessionKind.GROUP)]
        group = SupervisionGroup.objects.create(
            organisation=org, setting=cast.secondary, name="Group", supervisor=cast.supervisor
        )
        summary.refresh(today=today)
        assert half_term.id in summary.fresh([half_term.id])
        yield Running(
            cast=cast,
            today=today,
            half_term=half_term,
            contracts=contracts,
            people=people,
            group=group,
            version=ensure_builtin_templates(org)["kcc-1-1"].current_version(),
        )


def _book(r: Running, contract: Contract, day: date, status=SessionStatus.SCHEDULED) -> Session:
    session = Session.objects.create(
        organisation=r.cast.organisation,
        setting=r.cast.primary,
        kind=SessionKind.ONE_TO_ONE,
        contract=contract,
        supervisor=contract.supervisor,
        starts_at=_at(day),
        ends_at=_at(day, 11),
        status=status,
        cancelled_at=_at(day) if status == SessionStatus.CANCELLED else None,
    )
    session.attendees.add(contract.supervisee)
    r.sessions.append(session)
    return session


def _group_session(r: Running, day: date, status=SessionStatus.SCHEDULED) -> Session:
    session = Session.objects.create(
        organisation=r.cast.organisation,
        setting=r.cast.secondary,
        kind=SessionKind.GROUP,
        group=r.group,
        supervisor=r.cast.supervisor,
        starts_at=_at(day),
        ends_at=_at(day, 11),
        status=status,
        cancelled_at=_at(day) if status == SessionStatus.CANCELLED else None,
    )
    r.sessions.append(session)
    return session


def _record(r: Running, session: Session, status) -> None:
    """The session's record set to `status` by a bulk write (no model method, no signal), or deleted."""
    existing = Record.objects.filter(session=session)
    locked = _at(r.today) if status == RecordStatus.SIGNED else None
    if status is None:
        existing.delete()
    elif existing.exists():
        existing.update(status=status, locked_at=locked)
    else:
        Record.objects.create(
            organisation=r.cast.organisation,
            session=session,
            template_version=r.version,
            supervisor=session.supervisor,
            status=status,
            locked_at=locked,
            content_hash="0" * 64,
        )


def _kept(half_term) -> tuple:
    """The summary as stored: every agreement's flags, and the counts of the organisation and each setting."""
    rows = AgreementCoverage.objects.filter(half_term=half_term).order_by("contract_id")
    counts = SettingCoverage.objects.filter(half_term=half_term).order_by("setting_id")
    return (
        list(rows.values_list("contract_id", "held", "booked", "covered", "name", "last_held", "caught_up")),
        list(counts.values_list("setting_id", "owed", "held", "booked", "covered")),
    )


def _seen(r: Running) -> tuple:
    """What the organisation admin's and the head's dashboards show of the running half term."""
    cast, h = r.cast, r.half_term
    seen = []
    for viewer, shown, whole in [
        (cast.org_admin, [cast.primary, cast.secondary], True),
        (cast.head, [cast.primary], False),
    ]:
        dash = Dashboard(viewer=viewer, half_term=h, settings=shown, whole_organisation=whole, today=r.today)
        point = dash.coverage_history()[-1]
        seen.append(
            (
                dash.coverage_counts(h),
                point["overall"],
                point["by_setting"],
                dash.overdue_count(h),
                [row.contract.id for row in dash.overdue(h)],
            )
        )
    return tuple(seen)


def _check(r: Running, monkeypatch) -> None:
    """Caught up, the summary is what summarising afresh gives, and the dashboard reads from it what it
    works out from the data."""
    h = r.half_term
    assert h.id in summary.fresh([h.id])  # named, not marked stale: caught up here
    assert not CoverageTouched.objects.filter(half_term=h).exists()
    from_summary = _seen(r)
    with monkeypatch.context() as m:
        m.setattr(summary, "enabled", lambda: False)
        assert _seen(r) == from_summary
    # This half term and every ended one still fresh (a session's last held and "caught up" dates reach
    # back into them): caught up, each is what summarising it afresh gives.
    kept = HalfTerm.objects.filter(organisation=r.cast.organisation, coverage_state__fresh=True)
    for half_term_id in summary.fresh(kept.values_list("id", flat=True)):
        caught_up = _kept(half_term_id)
        summary.summarise(half_term_id)
        assert _kept(half_term_id) == caught_up, half_term_id
    assert h.id in summary.fresh([h.id])


STATUSES = st.sampled_from([SessionStatus.SCHEDULED, SessionStatus.HELD, SessionStatus.CANCELLED, SessionStatus.MISSED])
RECORDS = st.sampled_from([None, RecordStatus.DRAFT, RecordStatus.SIGNED])
WRITES = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 2), st.integers(-2, 80), STATUSES),
        st.tuples(st.just("group"), st.integers(-2, 80), STATUSES),
        st.tuples(st.just("status"), st.integers(0, 20), STATUSES),
        st.tuples(st.just("move"), st.integers(0, 20), st.integers(-30, 110)),
        st.tuples(st.just("record"), st.integers(0, 20), RECORDS),
        st.tuples(st.just("attend"), st.integers(0, 20), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 20)),
    ),
    min_size=1,
    max_size=12,
)


def _write(r: Running, write: tuple) -> None:
    what, *args = write
    last = r.span()
    if what == "book":
        which, offset, status = args
        _book(r, r.contracts[which], r.day(min(offset, last + 2)), status)
        return
    if what == "group":
        offset, status = args
        _group_session(r, r.day(min(offset, last + 2)), status)
        return
    if not r.sessions:
        return
    session = r.sessions[args[0] % len(r.sessions)]
    if not Session.objects.filter(pk=session.pk).exists():
        return
    if what == "status":
        cancelled = _at(r.today) if args[1] == SessionStatus.CANCELLED else None
        Session.objects.filter(pk=session.pk).update(status=args[1], cancelled_at=cancelled)
    elif what == "move":
        day = r.day(min(args[1], last + 30))
        Session.objects.filter(pk=session.pk).update(starts_at=_at(day), ends_at=_at(day, 11))
    elif what == "record":
        _record(r, session, args[1])
    elif what == "attend":
        person, add = r.people[args[1]], args[2]
        session.attendees.add(person) if add else session.attendees.remove(person)
    elif what == "delete":
        Record.objects.filter(session=session).delete()
        session.delete()


class _Rollback(Exception):
    pass


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(WRITES, min_size=1, max_size=3))
def test_the_running_half_terms_summary_follows_every_write_as_a_fresh_summary_would(running, batches, monkeypatch):
    with time_machine.travel(_at(running.today, 12), tick=False):
        try:
            with transaction.atomic():
                running.sessions = []
                for batch in batches:
                    for write in batch:
                        _write(running, write)
                    _check(running, monkeypatch)
                raise _Rollback
        except _Rollback:
            pass


def test_each_kind_of_write_shows_at_once_and_leaves_the_half_term_fresh(running, monkeypatch):
    r = running
    h = r.half_term
    with time_machine.travel(_at(r.today, 12), tick=False):
        before = _seen(r)[0][0]
        session = _book(r, r.contracts[2], r.today + timedelta(days=1))
        assert CoverageTouched.objects.filter(half_term=h, person_id=r.people[1].pk).exists()
        assert CoverageState.objects.get(half_term=h).fresh
        booked = _seen(r)[0][0]
        assert booked["booked"] == before["booked"] + 1
        Session.objects.filter(pk=session.pk).update(status=SessionStatus.HELD, starts_at=_at(r.today))
        _record(r, session, RecordStatus.SIGNED)
        signed = _seen(r)[0][0]
        assert (signed["held"], signed["covered"]) == (before["held"] + 1, before["covered"] + 1)
        # A group session counts for the group agreement of those attending it: booked, then held and
        # signed (the session and its record name everyone attending), then without them.
        group = _group_session(r, r.today, SessionStatus.SCHEDULED)
        group.attendees.add(r.people[2])
        assert _seen(r)[0][0]["booked"] == before["booked"] + 2
        Session.objects.filter(pk=group.pk).update(status=SessionStatus.HELD)
        assert _seen(r)[0][0]["held"] == before["held"] + 2
        _record(r, group, RecordStatus.SIGNED)
        assert _seen(r)[0][0]["covered"] == before["covered"] + 2
        _record(r, group, RecordStatus.DRAFT)
        assert _seen(r)[0][0]["covered"] == before["covered"] + 1
        group.attendees.remove(r.people[2])
        assert _seen(r)[0][0]["held"] == before["held"] + 1
        _check(r, monkeypatch)


def test_a_change_to_who_is_owed_marks_the_running_half_term_stale(running, monkeypatch):
    r = running
    with time_machine.travel(_at(r.today, 12), tick=False):
        Contract.objects.filter(pk=r.contracts[2].pk).update(end_date=r.half_term.starts - timedelta(days=1))
        assert not CoverageState.objects.get(half_term=r.half_term).fresh
        assert r.half_term.id not in summary.fresh([r.half_term.id])
        live = _seen(r)
        summary.refresh(today=r.today)
        assert r.half_term.id in summary.fresh([r.half_term.id])
        assert _seen(r) == live
        StaffMember.objects.filter(pk=r.people[1].pk).update(leaving_date=r.today - timedelta(days=1))
        assert not CoverageState.objects.get(half_term=r.half_term).fresh


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_session_committed_while_a_page_catches_up_is_caught_up_by_the_next(running):
    """A page takes the names, then a write in another connection books a session for someone else and
    commits before the page reads the flags: the write never waits for the page, and the name it left is
    worked out by the next page, to what summarising afresh gives."""
    r = running
    h = r.half_term
    with time_machine.travel(_at(r.today, 12), tick=False):
        _book(r, r.contracts[2], r.today + timedelta(days=2))  # named: the next read catches up
        taken, written = threading.Event(), threading.Event()
        real = summary.OwedAgreements.sessions_counted
        calls = []

        def wait_for_the_write(self, **kwargs):
            if not calls:
                taken.set()  # the names are taken; the flags are not read yet
                assert written.wait(timeout=10)
            calls.append(kwargs)
            return real(self, **kwargs)

        errors = []

        def book():
            try:
                assert taken.wait(timeout=10)
                _book(r, r.contracts[1], r.today + timedelta(days=3))  # the renewal: the first person
                written.set()
            except Exception as error:  # noqa: BLE001 (reported below)
                errors.append(error)
            finally:
                connections.close_all()

        writer = threading.Thread(target=book)
        writer.start()
        with pytest.MonkeyPatch.context() as m:
            m.setattr(summary.OwedAgreements, "sessions_counted", wait_for_the_write)
            assert h.id in summary.fresh([h.id])
        writer.join(timeout=20)
        assert not errors and written.is_set() and calls
        # The first person's name was left by the write for the next read, which catches them up.
        assert list(CoverageTouched.objects.filter(half_term=h).values_list("person_id", flat=True)) == [r.people[0].pk]
        assert h.id in summary.fresh([h.id])
        caught_up = _kept(h)
        flags = {c: (held, booked, covered) for c, held, booked, covered, *_ in caught_up[0]}
        assert flags[r.contracts[1].pk][1] and flags[r.contracts[2].pk][1]  # both booked
        summary.summarise(h.id)
        assert _kept(h) == caught_up


START = date(2020, 9, 1)


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path, secure=True).status_code == 200
    return len(queries.captured_queries)


def test_pages_read_from_the_summary_make_as_many_queries_however_many_agreements_and_names(running, client):
    """The dashboard, its overdue and coverage lists and the CSV, read from the running half term's summary:
    the same number of queries with 4 people or 14, and a catch-up after writes naming 1 person or 6 takes
    the same number more."""
    r = running
    client.force_login(r.cast.org_admin.user)
    paths = ["/dashboard/", "/dashboard/overdue/", "/dashboard/coverage/", "/exports/compliance.csv"]
    with time_machine.travel(_at(r.today, 12), tick=False):
        for p in paths:
            _queries(client, p)  # the first request of each sets up what every later one reuses
        few = [_queries(client, p) for p in paths]
        for n in range(10):
            person = StaffFactory(organisation=r.cast.organisation, settings=[r.cast.primary], start_date=START)
            contract = Contract.objects.create(
                organisation=r.cast.organisation,
                supervisee=person,
                supervisor=r.cast.supervisor,
                start_date=START,
                review_date=r.today + timedelta(days=300),
                supervisee_signed_at=_at(START),
                supervisor_signed_at=_at(START),
            )
            status = SessionStatus.HELD if n % 2 else SessionStatus.SCHEDULED
            _book(r, contract, r.today + timedelta(days=1 + n % 3), status)
        summary.refresh(today=r.today)
        assert [_queries(client, p) for p in paths] == few
        _book(r, r.contracts[2], r.today + timedelta(days=1))
        one_named = _queries(client, "/dashboard/")
        for contract in r.contracts + list(Contract.objects.filter(supervisor=r.cast.supervisor)[:3]):
            _book(r, contract, r.today + timedelta(days=2))
        assert _queries(client, "/dashboard/") == one_named > few[0]
        assert _queries(client, "/dashboard/") == few[0]  # caught up: nothing left to do
