"""The dashboard's coverage worked out in SQL (issue 14) agrees with the rules of supervision/rules.py.

`reference_owed` is the dashboard's earlier Python, which asked `rules.py` about each agreement in turn
(school weeks net of each setting's closures, overrides, agency, new-to-post and termly rules).
Hypothesis builds varied trusts (agreements starting, ending and replaced mid-term, leavers, agency and
new-to-post staff, overrides, closures of one setting or all, staff in two settings or none, 1:1 and
group sessions in every state near the half term's edges) and the SQL must give the same rows, the same
sessions, the same counts per setting and the same overdue list, in the same order.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import EmploymentType, Frequency, StaffMember
from records.builtin import ensure_builtin_templates
from records.models import Record, RecordStatus
from supervision import services
from supervision.dashboard import Dashboard, coverage, summary
from supervision.dashboard.coverage import weekdays_between
from supervision.models import (
    BUSY_STATUSES,
    ClosureDay,
    Contract,
    CoverageState,
    FrequencyOverride,
    HalfTerm,
    Session,
    SessionKind,
    SessionStatus,
    SupervisionGroup,
)
from supervision.rules import effective_frequency, sessions_needed, supervisable_window, why_not_due
from supervision.school_calendar import school_days, school_weeks
from supervision.slots import LONDON
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 1, 20)  # Spring 1: autumn 1 (a first half) and autumn 2 (a second) have ended


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-01-20 09:00 +0000", tick=False):
        yield


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=LONDON)


def reference_owed(dash: Dashboard, half_term: HalfTerm) -> dict[int, dict]:
    """The agreements owed supervision in the half term by the rules of rules.py, asked one agreement
    at a time: {contract id: {held, signed, booked, last_held, settings}}."""
    range_end = _midnight(half_term.ends + timedelta(days=1))
    contracts = list(
        dash._contracts()
        .filter(start_date__lte=half_term.ends, supervisee_signed_at__lt=range_end, supervisor_signed_at__lt=range_end)
        .select_related("supervisee", "previous")
    )
    overrides = defaultdict(list)
    for o in FrequencyOverride.objects.filter(contract__organisation_id=dash.organisation_id):
        overrides[o.contract_id].append(o)
    settings_of = defaultdict(list)
    for staff_id, setting_id in StaffMember.settings.through.objects.values_list("staffmember_id", "setting_id"):
        settings_of[staff_id].append(setting_id)
    closed_everywhere, closed_in = set(), defaultdict(set)
    for setting_id, day in ClosureDay.objects.filter(organisation_id=dash.organisation_id).values_list(
        "setting_id", "date"
    ):
        (closed_in[setting_id] if setting_id else closed_everywhere).add(day)
    sessions = list(
        Session.objects.filter(organisation_id=dash.organisation_id)
        .prefetch_related("attendees")
        .select_related("record")
    )

    def record_status(s):
        return s.record.status if hasattr(s, "record") else None

    def mine(c, s):
        if c.kind == SessionKind.GROUP:
            return s.kind == SessionKind.GROUP and c.supervisee in s.attendees.all()
        return s.contract_id is not None and s.contract_id in (c.id, c.previous_id)

    def active(c):
        return (
            c.start_date <= half_term.ends
            and (c.end_date is None or c.end_date >= half_term.starts)
            and c.supervisee_signed_at < range_end
            and c.supervisor_signed_at < range_end
        )

    successor_of = {c.previous_id: c for c in contracts if c.previous_id}
    result = {}
    for c in contracts:
        successor = successor_of.get(c.id)
        if not active(c) or (successor is not None and active(successor)):
            continue
        supervisee = c.supervisee
        if why_not_due(supervisee, half_term.starts, half_term.ends):
            continue
        window = supervisable_window(supervisee, half_term.starts, half_term.ends)
        if window is None:
            continue
        chain_start = c.previous.start_date if c.previous_id else c.start_date
        first_day = max(window[0], chain_start)
        last_day = min(window[1], c.end_date) if c.end_date else window[1]
        if first_day > last_day:
            continue
        setting_ids = sorted(settings_of[c.supervisee_id])
        closed = closed_everywhere.union(*(closed_in[i] for i in setting_ids))
        weeks = len(school_weeks(school_days(first_day, last_day, closed)))
        frequency = effective_frequency(c, first_day, overrides[c.id])
        if not sessions_needed(frequency, weeks, first_half_of_term=half_term.half == 1):
            continue
        own = [s for s in sessions if mine(c, s)]
        if c.kind != SessionKind.GROUP:
            inside_kinds = [s for s in own if s.kind == SessionKind.ONE_TO_ONE]
        else:
            inside_kinds = own
        inside = [
            s
            for s in inside_kinds
            if s.status in BUSY_STATUSES and half_term.starts <= s.starts_at.astimezone(LONDON).date() <= half_term.ends
        ]
        held = [s for s in inside if s.status == SessionStatus.HELD]
        ever_held = [s.starts_at for s in own if s.status == SessionStatus.HELD]
        after = [t for t in ever_held if t >= range_end]
        result[c.id] = {
            "held": len(held),
            "signed": any(record_status(s) == RecordStatus.SIGNED for s in held),
            "booked": bool(inside),
            "last_held": max(ever_held) if ever_held else None,
            "caught_up": min(after) if after else None,
            "settings": setting_ids,
            "name": supervisee.full_name,
        }
    return result


def reference_overdue(reference: dict, half_term: HalfTerm) -> list[int]:
    if half_term.ends < TODAY:
        late = [i for i, r in reference.items() if not r["held"]]
    else:
        late = [i for i, r in reference.items() if not r["booked"]]
    return sorted(
        late,
        key=lambda i: (
            reference[i]["last_held"] is not None,
            reference[i]["last_held"] or _midnight(half_term.starts),
            reference[i]["name"],
            i,
        ),
    )


# --- Varied trusts --------------------------------------------------------------------------------

# Dates near the edges of autumn 1 (Wed 3 Sep to Fri 24 Oct 2025) and autumn 2 (Mon 3 Nov to Fri 19 Dec),
# where the rules differ, and some anywhere.
EDGES = [
    date(2025, 7, 20),
    date(2025, 7, 30),
    date(2025, 9, 1),
    date(2025, 9, 3),
    date(2025, 9, 5),
    date(2025, 9, 6),
    date(2025, 10, 3),
    date(2025, 10, 17),
    date(2025, 10, 20),
    date(2025, 10, 23),
    date(2025, 10, 24),
    date(2025, 10, 25),
    date(2025, 10, 27),
    date(2025, 10, 31),
    date(2025, 11, 2),
    date(2025, 11, 3),
    date(2025, 11, 4),
    date(2025, 11, 14),
    date(2025, 12, 15),
    date(2025, 12, 18),
    date(2025, 12, 19),
    date(2025, 12, 20),
    date(2026, 1, 5),
]
a_date = st.one_of(st.sampled_from(EDGES), st.dates(date(2025, 7, 1), date(2026, 1, 31)))
maybe_date = st.one_of(st.none(), a_date)
a_moment = st.builds(
    lambda day, hour: _midnight(day) + timedelta(hours=hour),
    a_date,
    st.sampled_from([0, 9, 16, 23]),
)

person_spec = st.fixed_dictionaries(
    {
        "employment": st.sampled_from([EmploymentType.PERMANENT, EmploymentType.AGENCY]),
        "start": a_date,
        "leaving": maybe_date,
        "new_to_post": st.booleans(),
        "settings": st.sampled_from([(0,), (1,), (0, 1), ()]),
        "kind": st.sampled_from([SessionKind.ONE_TO_ONE, SessionKind.ONE_TO_ONE, SessionKind.GROUP]),
        "frequency": st.sampled_from(list(Frequency.values)),
        "contract_start": a_date,
        "contract_end": maybe_date,
        "signed": st.one_of(st.none(), a_moment),
        "replaced_on": maybe_date,  # a successor agreement from this day
        "override": st.one_of(
            st.none(), st.tuples(st.sampled_from(list(Frequency.values)), a_date, st.integers(0, 60))
        ),
        "sessions": st.lists(
            st.tuples(
                a_moment,
                st.sampled_from(list(SessionStatus.values)),
                st.sampled_from([None, RecordStatus.DRAFT, RecordStatus.SIGNED]),
                st.booleans(),  # of the successor agreement
            ),
            max_size=3,
        ),
    }
)
closure_spec = st.tuples(st.sampled_from([None, 0, 1]), a_date, st.integers(1, 10))


def group_session(group, moment, status) -> Session:
    """A half-hour session of the group, in its setting, led by its supervisor, with nobody in it yet."""
    return Session.objects.create(
        organisation=group.organisation,
        setting=group.setting,
        kind=SessionKind.GROUP,
        group=group,
        supervisor=group.supervisor,
        starts_at=moment,
        ends_at=moment + timedelta(minutes=30),
        status=status,
        cancelled_at=moment if status == SessionStatus.CANCELLED else None,
    )


def build(cast, people, closures, group_sessions):
    org = cast.organisation
    settings = [cast.primary, cast.secondary]
    version = ensure_builtin_templates(org)["kcc-1-1"].current_version()
    group = SupervisionGroup.objects.create(
        organisation=org, setting=cast.secondary, name="Group", supervisor=cast.supervisor
    )
    members = []
    for n, p in enumerate(people):
        staff = StaffFactory(
            organisation=org,
            user__full_name=f"Person {n % 3}",  # some share a name: ordered by id then
            employment_type=p["employment"],
            start_date=p["start"],
            leaving_date=max(p["leaving"], p["start"]) if p["leaving"] else None,
            new_to_post=p["new_to_post"],
            settings=[settings[i] for i in p["settings"]],
        )
        signed = p["signed"]
        end = p["contract_end"]
        if p["replaced_on"] is not None:
            end = min(end or p["replaced_on"], p["replaced_on"])  # the first ends as the next starts
        end = max(end, p["contract_start"]) if end else None
        contract = Contract.objects.create(
            organisation=org,
            supervisee=staff,
            supervisor=cast.supervisor,
            kind=p["kind"],
            frequency=p["frequency"],
            start_date=p["contract_start"],
            review_date=date(2026, 9, 1),
            end_date=end,
            supervisee_signed_at=signed,
            supervisor_signed_at=signed,
        )
        contracts = [contract]
        if p["replaced_on"] is not None:
            contracts.append(
                Contract.objects.create(
                    organisation=org,
                    supervisee=staff,
                    supervisor=cast.supervisor2,
                    kind=p["kind"],
                    frequency=Frequency.HALF_TERMLY,
                    start_date=max(p["replaced_on"], p["contract_start"]),
                    review_date=date(2026, 9, 1),
                    previous=contract,
                    supervisee_signed_at=_midnight(p["replaced_on"]),
                    supervisor_signed_at=_midnight(p["replaced_on"]),
                )
            )
        if p["override"] is not None:
            frequency, starts, days = p["override"]
            FrequencyOverride.objects.create(
                contract=contract, frequency=frequency, reason="x", starts=starts, ends=starts + timedelta(days=days)
            )
        if p["kind"] == SessionKind.GROUP:
            members.append(staff)
        for moment, status, record_status, of_successor in p["sessions"]:
            c = contracts[-1] if of_successor else contracts[0]
            kind = SessionKind.GROUP if p["kind"] == SessionKind.GROUP else SessionKind.ONE_TO_ONE
            session = Session.objects.create(
                organisation=org,
                setting=settings[0],
                kind=kind,
                contract=None if kind == SessionKind.GROUP else c,
                group=group if kind == SessionKind.GROUP else None,
                supervisor=c.supervisor,
                starts_at=moment,
                ends_at=moment + timedelta(minutes=30),
                status=status,
                cancelled_at=moment if status == SessionStatus.CANCELLED else None,
            )
            session.attendees.add(staff)
            if record_status:
                Record.objects.create(
                    organisation=org,
                    session=session,
                    template_version=version,
                    supervisor=session.supervisor,
                    status=record_status,
                    locked_at=moment if record_status == RecordStatus.SIGNED else None,
                    content_hash="0" * 64,
                )
    for moment, status, record_status, take in group_sessions:
        session = group_session(group, moment, status)
        session.attendees.add(*members[:take])
        if record_status:
            Record.objects.create(
                organisation=org,
                session=session,
                template_version=version,
                supervisor=cast.supervisor,
                status=record_status,
                locked_at=moment if record_status == RecordStatus.SIGNED else None,
                content_hash="0" * 64,
            )
    for setting, first, days in closures:
        for n in range(days):
            ClosureDay.objects.get_or_create(
                organisation=org,
                setting=None if setting is None else settings[setting],
                date=first + timedelta(days=n),
            )


class _Rollback(Exception):
    pass


def _board(viewer, half_term, settings, whole):
    return Dashboard(viewer=viewer, half_term=half_term, settings=settings, whole_organisation=whole, today=TODAY)


def check_counts(dash, reference, half_term, shown):
    counts = dash.coverage_counts(half_term)
    assert counts["owed"] == len(reference)
    assert counts["covered"] == sum(r["signed"] for r in reference.values())
    assert counts["held"] == sum(bool(r["held"]) for r in reference.values())
    point = dash.coverage_history()[-1]
    # Ended: the overdue count is the chart's owed less held, the same as the list's length.
    assert dash.overdue_count(half_term) == len(reference_overdue(reference, half_term))
    for s in shown:
        owed_here = [r for r in reference.values() if s.id in r["settings"]]
        assert point["by_setting"][s.id] == [sum(r["signed"] for r in owed_here), len(owed_here)]


def _cells(row) -> tuple:
    return (row.contract.id, row.held, row.signed, row.booked, row.last_held, row.setting_ids)


def _paged(listing, size: int) -> list:
    """Every row of a listing read a page of `size` at a time: the first page counts the list with its rows,
    the others read a page of a list already counted."""
    rows, number = [], 1
    while True:
        page = listing.page(number, size)
        rows += page.object_list
        if not page.has_next():
            return rows
        number += 1


def check_pages(dash, half_term, rows, overdue_ids, reference):
    """The coverage and overdue lists a page at a time, and the home's first names of each, as a page reads
    them (through the summary's own rows first when read from it for the whole organisation:
    `Listing._read_keyed`): the rows of the whole list, in its order, with its counts."""
    dash = _board(dash.viewer, half_term, dash.settings, dash.setting_ids is None)
    coverage = dash.listing("coverage")
    assert [_cells(r) for r in _paged(coverage, 2)] == [_cells(r) for r in rows]
    assert coverage.count == len(rows)
    assert coverage.also_counts == {"covered": sum(bool(r.signed) for r in rows)}
    overdue = dash.overdue_listing(half_term)
    assert [r.contract.id for r in _paged(overdue, 2)] == overdue_ids
    shown, total, _ = (
        _board(dash.viewer, half_term, dash.settings, dash.setting_ids is None)
        .overdue_listing(half_term)
        .head_counted(3)
    )
    assert ([r.contract.id for r in shown], total) == (overdue_ids[:3], len(overdue_ids))
    if half_term.ends < TODAY:
        # The home's: those still to chase (not caught up since) first, each part in the list's order.
        caught_up = {i: reference[i]["caught_up"] for i in overdue_ids}
        still = sorted(overdue_ids, key=lambda i: (0,) if caught_up[i] is None else (1, caught_up[i]))
        listing = dash.still_first_listing(half_term)
        assert [(r.contract.id, r.caught_up) for r in _paged(listing, 2)] == [(i, caught_up[i]) for i in still]
        listing = _board(dash.viewer, half_term, dash.settings, dash.setting_ids is None).still_first_listing(half_term)
        shown, total, counts = listing.head_counted(3, also={"still": Q(caught_up__isnull=True)})
        assert [r.contract.id for r in shown] == still[:3]
        assert [r.caught_up for r in shown] == [reference[i]["caught_up"] for i in still[:3]]
        assert (total, counts) == (len(still), {"still": sum(reference[i]["caught_up"] is None for i in still)})


def check(cast):
    half_terms = HalfTerm.objects.filter(organisation=cast.organisation, starts__year=2025).select_related(
        "academic_year"
    )
    for half_term in half_terms:
        for viewer, shown, whole in [
            (cast.org_admin, [cast.primary, cast.secondary], True),
            (cast.head, [cast.primary], False),
            # A scope of both settings (an auditor's grant): someone in both counts once, and someone in
            # neither not at all, from the summary as from the data.
            (cast.org_admin, [cast.primary, cast.secondary], False),
        ]:
            dash = _board(viewer, half_term, shown, whole)
            reference = reference_owed(dash, half_term)
            rows = dash.coverage()
            assert [r.contract.id for r in rows] == sorted(reference, key=lambda i: (reference[i]["name"], i))
            for r in rows:
                want = reference[r.contract.id]
                got = {
                    "held": r.held,
                    "signed": r.signed,
                    "booked": r.booked,
                    "last_held": r.last_held,
                    "settings": r.setting_ids,
                }
                assert got == {k: want[k] for k in got}, (half_term, r.contract)
            check_counts(dash, reference, half_term, shown)
            # The CSV's rows (on PostgreSQL read with shared sets of sessions) say what the page's rows say.
            values = dash.coverage_values()
            assert [
                (v["supervisee_id"], v["held"], bool(v["signed"]), bool(v["booked"]), v["last_held"]) for v in values
            ] == [(r.contract.supervisee_id, r.held, r.signed, r.booked, r.last_held) for r in rows], half_term
            # The CSV's overdue figure, from its own rows.
            assert dash.overdue_count_of(values) == len(reference_overdue(reference, half_term))
            overdue = dash.overdue(half_term)
            assert [r.contract.id for r in overdue] == reference_overdue(reference, half_term)
            for r in overdue:
                assert r.caught_up == reference[r.contract.id]["caught_up"]
            check_pages(dash, half_term, rows, reference_overdue(reference, half_term), reference)
            if summary.enabled():
                # The same counts from the summary of the ended half terms (PostgreSQL), as the beat task
                # writes it: every ended half term of the chart is then read from it.
                summary.refresh(today=TODAY)
                dash = _board(viewer, half_term, shown, whole)
                assert {h.id for h in dash.history if h.ends < TODAY} <= summary.fresh(h.id for h in dash.history)
                check_counts(dash, reference, half_term, shown)
                # Its agreements owed, and the CSV's flags, read from the summary: the same rows and values.
                assert [_cells(r) for r in dash.coverage()] == [_cells(r) for r in rows]
                assert dash.coverage_values() == values
                # An ended half term's overdue list read from its summary: the same rows, order and catching up.
                overdue = dash.overdue(half_term)
                assert dash._summarised(half_term) == (half_term.ends < TODAY)
                assert [r.contract.id for r in overdue] == reference_overdue(reference, half_term)
                for r in overdue:
                    assert r.caught_up == reference[r.contract.id]["caught_up"]
                check_pages(dash, half_term, rows, reference_overdue(reference, half_term), reference)
                CoverageState.objects.update(fresh=False)
    # The running half term: its "not booked" count from the chart's counts is the list's own count.
    running = HalfTerm.objects.get(organisation=cast.organisation, starts__lte=TODAY, ends__gte=TODAY)
    for viewer, shown, whole in [
        (cast.org_admin, [cast.primary, cast.secondary], True),
        (cast.head, [cast.primary], False),
    ]:
        dash = _board(viewer, running, shown, whole)
        dash.coverage_history()
        assert dash.overdue_count() == dash._overdue_qs().count()
        assert dash.overdue_count_of(dash.coverage_values()) == dash._overdue_qs().count()
        if summary.enabled():
            # The running half term read from its summary: the same counts, rows and CSV values, and the same
            # overdue list in its order.
            def seen(dash):
                return (
                    dash.coverage_counts(running),
                    dash.coverage_history()[-1],
                    [r.contract.id for r in dash.overdue(running)],
                    [_cells(r) for r in dash.coverage()],
                    dash.coverage_values(),
                )

            live = seen(dash)
            live_rows = dash.coverage()
            check_pages(dash, running, live_rows, live[2], {})
            summary.refresh(today=TODAY)
            dash = _board(viewer, running, shown, whole)
            assert dash._summarised(running)
            assert seen(dash) == live
            check_pages(dash, running, live_rows, live[2], {})
            assert dash.overdue_count() == len(live[2])
            CoverageState.objects.update(fresh=False)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    people=st.lists(person_spec, min_size=1, max_size=5),
    closures=st.lists(closure_spec, max_size=3),
    group_sessions=st.lists(
        st.tuples(
            a_moment,
            st.sampled_from(list(SessionStatus.values)),
            st.sampled_from([None, RecordStatus.SIGNED]),
            st.integers(0, 3),
        ),
        max_size=2,
    ),
)
@pytest.mark.parametrize("cut_up_to", [coverage.SCOPE_CUTS_SETS, 0], ids=["cut-sets", "whole-sets"])
def test_coverage_in_sql_agrees_with_the_rules_on_varied_trusts(
    cast, people, closures, group_sessions, cut_up_to, monkeypatch
):
    # "whole-sets": the head's one setting takes the path of a scope too wide to cut the overdue list's
    # session sets to its people (an auditor's ten settings), which must find the same rows.
    monkeypatch.setattr(coverage, "SCOPE_CUTS_SETS", cut_up_to)
    services.ensure_calendar(cast.organisation, TODAY)
    try:
        with transaction.atomic():
            build(cast, people, closures, group_sessions)
            check(cast)
            raise _Rollback
    except _Rollback:
        pass


@settings(max_examples=300, deadline=None)
@given(first=st.dates(date(2000, 1, 3), date(2040, 1, 1)), length=st.integers(-3, 40))
def test_weekdays_between_counts_mondays_to_fridays(first, length):
    last = first + timedelta(days=length)
    assert weekdays_between(first, last) == len(school_days(first, last, set()))


@pytest.mark.parametrize(
    "first,last",
    [
        (date(2025, 9, 3), date(2025, 10, 24)),
        (date(2025, 12, 20), date(2025, 12, 21)),  # a weekend: none
        (date(2025, 12, 19), date(2025, 12, 19)),  # a Friday
        (date(2025, 12, 22), date(2025, 12, 19)),  # the wrong way round: none
        (date(2024, 2, 26), date(2024, 3, 4)),  # over a leap day
    ],
)
def test_weekdays_between_in_the_database(cast, first, last):
    from django.db.models import Value

    from supervision.dashboard.coverage import WeekdaysBetween

    found = Contract.objects.annotate(n=WeekdaysBetween(Value(first), Value(last))).values("n")[:1]
    services.ensure_calendar(cast.organisation, TODAY)
    staff = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
    Contract.objects.create(
        organisation=cast.organisation,
        supervisee=staff,
        supervisor=cast.supervisor,
        start_date=first,
        review_date=date(2026, 9, 1),
    )
    assert max(0, found.get()["n"]) == weekdays_between(first, last)


def test_a_window_closed_on_every_weekday_owes_nothing_and_termly_needs_a_raise(cast):
    """The edges the SQL handles by conditions of its own, each checked against the rules: a short
    window that a setting's closures cover (and a person in two settings, whose closures add up), and
    termly agreements in a second half (an override running on the first day owed, or new to post)."""
    services.ensure_calendar(cast.organisation, TODAY)
    autumn2 = HalfTerm.objects.select_related("academic_year").get(
        organisation=cast.organisation, term="autumn", half=2, starts__year=2025
    )
    for n in range(5):  # the primary closes for the last week of Autumn 2 (Mon 15 to Fri 19 Dec)
        ClosureDay.objects.create(organisation=cast.organisation, setting=cast.primary, date=date(2025, 12, 15 + n))

    def someone(name, settings, **kwargs):
        staff = StaffFactory(
            organisation=cast.organisation,
            user__full_name=name,
            settings=settings,
            start_date=date(2025, 11, 10),
            **kwargs,
        )
        return Contract.objects.create(
            organisation=cast.organisation,
            supervisee=staff,
            supervisor=cast.supervisor,
            start_date=date(2025, 9, 1),
            review_date=date(2026, 9, 1),
            supervisee_signed_at=_midnight(date(2025, 9, 1)),
            supervisor_signed_at=_midnight(date(2025, 9, 1)),
        )

    # Agency staff starting Mon 10 Nov are first due Mon 15 Dec: the primary's closed week.
    agency = {"employment_type": EmploymentType.AGENCY}
    someone("Closed Primary", [cast.primary], **agency)
    open_secondary = someone("Open Secondary", [cast.secondary], **agency)
    someone("Both Settings", [cast.primary, cast.secondary], **agency)

    def termly(name, **kwargs):
        staff = StaffFactory(organisation=cast.organisation, user__full_name=name, settings=[cast.primary], **kwargs)
        return Contract.objects.create(
            organisation=cast.organisation,
            supervisee=staff,
            supervisor=cast.supervisor,
            start_date=date(2025, 9, 1),
            review_date=date(2026, 9, 1),
            supervisee_signed_at=_midnight(date(2025, 9, 1)),
            supervisor_signed_at=_midnight(date(2025, 9, 1)),
            frequency=Frequency.TERMLY,
        )

    termly("Termly Plain")
    raised = termly("Termly Raised")
    FrequencyOverride.objects.create(
        contract=raised, frequency=Frequency.MONTHLY, reason="x", starts=date(2025, 10, 1), ends=date(2025, 11, 3)
    )
    late = termly("Termly Raised Later")  # the override starts after the first day owed
    FrequencyOverride.objects.create(
        contract=late, frequency=Frequency.WEEKLY, reason="x", starts=date(2025, 11, 4), ends=date(2025, 12, 1)
    )
    new_to_post = termly("Termly New", new_to_post=True)

    dash = _board(cast.org_admin, autumn2, [cast.primary, cast.secondary], True)
    owed = [r.contract for r in dash.coverage()]
    assert owed == [open_secondary, new_to_post, raised]
    assert sorted(reference_owed(dash, autumn2)) == sorted(c.id for c in owed)


def test_the_chart_counts_group_agreements_and_successors_as_covered(cast):
    """The chart's counts build each half term's sets of sessions once and test them for several
    columns: a group agreement is covered by its supervisee's signed group session (the set of
    attendees, not of agreements), and a successor by the signed session of the agreement it replaced."""
    services.ensure_calendar(cast.organisation, TODAY)

    def person(kind, settings, sessions=(), replaced_on=None):
        return {
            "employment": EmploymentType.PERMANENT,
            "start": date(2024, 9, 1),
            "leaving": None,
            "new_to_post": False,
            "settings": settings,
            "kind": kind,
            "frequency": Frequency.HALF_TERMLY,
            "contract_start": date(2025, 9, 1),
            "contract_end": None,
            "signed": _midnight(date(2025, 9, 1)),
            "replaced_on": replaced_on,
            "override": None,
            "sessions": list(sessions),
        }

    held_signed = (SessionStatus.HELD, RecordStatus.SIGNED)
    people = [
        person(SessionKind.GROUP, (1,)),
        # Replaced on Mon 17 Nov; its own signed session on Wed 12 Nov covers its successor's half term.
        person(
            SessionKind.ONE_TO_ONE,
            (0,),
            [(_midnight(date(2025, 11, 12)) + timedelta(hours=9), *held_signed, False)],
            replaced_on=date(2025, 11, 17),
        ),
        person(SessionKind.ONE_TO_ONE, (0,)),  # owed and not covered
    ]
    build(cast, people, [], [(_midnight(date(2025, 11, 13)) + timedelta(hours=9), *held_signed, 1)])
    check(cast)
    autumn2 = HalfTerm.objects.select_related("academic_year").get(
        organisation=cast.organisation, term="autumn", half=2, starts__year=2025
    )
    dash = _board(cast.org_admin, autumn2, [cast.primary, cast.secondary], True)
    assert dash.coverage_counts(autumn2)["owed"] == 3
    assert dash.coverage_counts(autumn2)["covered"] == 2
    point = dash.coverage_history()[-1]
    assert point["by_setting"][cast.secondary.id] == [1, 1]
    assert point["by_setting"][cast.primary.id] == [1, 2]


def test_a_group_session_with_nobody_in_it_hides_no_group_agreement_from_the_overdue_list(cast):
    """Found by the comparison above: a group session in the half term with no attendee put a null in
    the set of people with a session, and `exclude()` of "is in that set" then dropped every group
    agreement not in it from the overdue (not booked) list, though the chart's counts had it."""
    services.ensure_calendar(cast.organisation, TODAY)
    running = HalfTerm.objects.get(organisation=cast.organisation, starts__lte=TODAY, ends__gte=TODAY)
    autumn2 = HalfTerm.objects.get(organisation=cast.organisation, term="autumn", half=2, starts__year=2025)
    staff = StaffFactory(organisation=cast.organisation, settings=[cast.primary], start_date=date(2024, 9, 1))
    contract = Contract.objects.create(
        organisation=cast.organisation,
        supervisee=staff,
        supervisor=cast.supervisor,
        kind=SessionKind.GROUP,
        start_date=date(2025, 9, 1),
        review_date=date(2026, 9, 1),
        supervisee_signed_at=_midnight(date(2025, 9, 1)),
        supervisor_signed_at=_midnight(date(2025, 9, 1)),
    )
    group = SupervisionGroup.objects.create(
        organisation=cast.organisation, setting=cast.primary, name="Empty", supervisor=cast.supervisor
    )
    for day, status in [(date(2026, 1, 16), SessionStatus.SCHEDULED), (date(2025, 11, 12), SessionStatus.HELD)]:
        group_session(group, _midnight(day) + timedelta(hours=9), status)  # nobody in it
    for half_term in (running, autumn2):  # not booked while it runs; none held once it has ended
        dash = _board(cast.org_admin, half_term, [cast.primary, cast.secondary], True)
        assert [r.contract for r in dash.overdue(half_term)] == [contract]
        assert dash.overdue_count(half_term) == 1
        dash.coverage_history()
        assert dash.overdue_count(half_term) == 1
