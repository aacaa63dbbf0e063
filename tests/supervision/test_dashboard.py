"""The compliance dashboard (issue 6): each figure on a constructed dataset with its boundaries, who
sees what, the lists behind the figures, the compliance CSV, and a query count that does not grow."""

import csv
import io
import re
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent, EmploymentType, Frequency, Setting, StaffMember, User
from records.builtin import ensure_builtin_templates
from records.models import (
    Action,
    ActionStatus,
    ConfidentialityFlag,
    FlagKind,
    Record,
    RecordSection,
    RecordStatus,
    SafeguardingDecision,
    Signature,
    SignatureCapacity,
)
from supervision import services
from supervision.dashboard import FIGURES, Dashboard, auditor_windows, dashboard_scope
from supervision.models import Contract, HalfTerm, Session, SessionKind, SessionStatus, SupervisionGroup
from supervision.slots import LONDON
from tests.factories import StaffFactory
from tests.records.helpers import live_grant

from .helpers import at

pytestmark = pytest.mark.django_db

TODAY = date(2025, 11, 20)  # a Thursday in Autumn 2 (Mon 3 Nov to Fri 19 Dec 2025)
AUTUMN1_ENDS = date(2025, 10, 24)
SEPT = datetime(2025, 9, 1, 9, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2025-11-20 09:00 +0000", tick=False):
        yield


@pytest.fixture
def terms(cast):
    services.ensure_calendar(cast.organisation, TODAY)
    half_terms = HalfTerm.objects.filter(organisation=cast.organisation).select_related("academic_year")
    return SimpleNamespace(
        autumn1=half_terms.get(term="autumn", half=1, starts__year=2025),
        autumn2=half_terms.get(term="autumn", half=2, starts__year=2025),
        spring1=half_terms.get(term="spring", half=1, starts__year=2026),
    )


# --- Builders: straight to the database, so each boundary is exactly what the test says -------------


def agreement(supervisee, supervisor, *, start=date(2025, 9, 1), signed=SEPT, review=None, end=None, **kwargs):
    return Contract.objects.create(
        organisation=supervisee.organisation,
        supervisee=supervisee,
        supervisor=supervisor,
        start_date=start,
        review_date=review or date(2026, 9, 1),
        end_date=end,
        supervisee_signed_at=signed,
        supervisor_signed_at=signed,
        **kwargs,
    )


def session(contract, day, status=SessionStatus.HELD, *, hour=10, setting=None, **kwargs):
    if status == SessionStatus.CANCELLED:
        kwargs.setdefault("cancelled_at", at(day, hour) - timedelta(days=1))
    s = Session.objects.create(
        organisation=contract.organisation,
        setting=setting or contract.supervisee.settings.first(),
        kind=SessionKind.ONE_TO_ONE,
        contract=contract,
        supervisor=contract.supervisor,
        starts_at=at(day, hour),
        ends_at=at(day, hour) + timedelta(minutes=30),
        status=status,
        **kwargs,
    )
    s.attendees.add(contract.supervisee)
    return s


def group_session(group, day, attendees, status=SessionStatus.HELD, *, hour=15):
    s = Session.objects.create(
        organisation=group.organisation,
        setting=group.setting,
        kind=SessionKind.GROUP,
        group=group,
        supervisor=group.supervisor,
        starts_at=at(day, hour),
        ends_at=at(day, hour + 1),
        status=status,
    )
    s.attendees.set(attendees)
    return s


def record(session, status=RecordStatus.SIGNED, *, submitted=None, locked=None):
    version = ensure_builtin_templates(session.organisation)["kcc-1-1"].current_version()
    signed = status == RecordStatus.SIGNED
    return Record.objects.create(
        organisation=session.organisation,
        session=session,
        template_version=version,
        supervisor=session.supervisor,
        status=status,
        submitted_at=submitted or (session.ends_at if status != RecordStatus.DRAFT else None),
        locked_at=locked or (session.ends_at if signed else None),
        content_hash="0" * 64 if signed else "",
    )


def board(viewer, half_term, setting=None) -> Dashboard:
    """The dashboard as the view builds it for this person."""
    scope = dashboard_scope(viewer)
    settings = Setting.objects.filter(organisation=viewer.organisation)
    if scope != "organisation":
        # An auditor's settings are those of their live grants.
        settings = settings.filter(id__in=set(scope or ()) | {i for ids, _, _ in auditor_windows(viewer) for i in ids})
    return Dashboard(
        viewer=viewer,
        half_term=half_term,
        settings=[setting] if setting else list(settings),
        whole_organisation=scope == "organisation" and setting is None,
        today=TODAY,
    )


def names(rows, attribute="contract"):
    return sorted(getattr(r, attribute).supervisee.full_name for r in rows)


def person(cast, name, setting=None, **kwargs):
    return StaffFactory(
        organisation=cast.organisation, user__full_name=name, settings=[setting or cast.primary], **kwargs
    )


# --- Coverage --------------------------------------------------------------------------------------


def test_coverage_counts_a_held_session_inside_the_half_term_with_a_signed_record(cast, terms):
    a2 = terms.autumn2
    covered = agreement(cast.supervisee, cast.supervisor)
    record(session(covered, date(2025, 11, 5)))
    unsigned = agreement(person(cast, "Una Unsigned"), cast.supervisor)
    record(session(unsigned, date(2025, 11, 6)), RecordStatus.AWAITING_SUPERVISOR)
    before = agreement(person(cast, "Bea Before"), cast.supervisor)
    record(session(before, a2.starts - timedelta(days=3)))  # signed, but in the holiday before
    after = agreement(person(cast, "Al After"), cast.supervisor)
    record(session(after, a2.ends + timedelta(days=3)))  # signed, but after the half term
    booked = agreement(person(cast, "Bob Booked"), cast.supervisor)
    session(booked, date(2025, 12, 1), SessionStatus.SCHEDULED)
    last_day = agreement(person(cast, "Lou Lastday"), cast.supervisor)
    record(session(last_day, a2.ends, hour=15))

    rows = board(cast.org_admin, a2).coverage()
    by_name = {r.contract.supervisee.full_name: r for r in rows}
    assert sorted(by_name) == sorted(
        ["Sid Supervisee", "Una Unsigned", "Bea Before", "Al After", "Bob Booked", "Lou Lastday"]
    )
    assert {n for n, r in by_name.items() if r.signed} == {"Sid Supervisee", "Lou Lastday"}
    assert by_name["Una Unsigned"].held == 1 and not by_name["Una Unsigned"].signed
    assert by_name["Bob Booked"].held == 0 and by_name["Bob Booked"].booked
    tile = board(cast.org_admin, a2).tile("coverage", rows)
    assert tile.number == "33%" and "2 of 6" in tile.label


def test_a_list_reads_its_two_names_with_the_agreement_and_builds_no_person(cast, terms):
    """A coverage or overdue row's names are columns of its agreement's query (issue 14): neither
    person is built, and reading the names asks nothing more; a name changed shows as it is now."""
    covered = agreement(cast.supervisee, cast.supervisor)
    record(session(covered, date(2025, 11, 5)))
    agreement(person(cast, "Nora Notbooked"), cast.supervisor)
    User.objects.filter(pk=cast.supervisor.user_id).update(full_name="Sue Renamed")
    dash = board(cast.org_admin, terms.autumn2)
    rows = dash.coverage() + dash.overdue()
    with CaptureQueriesContext(connection) as queries:
        shown = sorted((r.supervisee_name, r.supervisor_name) for r in rows)
    assert len(queries) == 0
    assert shown == [
        ("Nora Notbooked", "Sue Renamed"),
        ("Nora Notbooked", "Sue Renamed"),
        ("Sid Supervisee", "Sue Renamed"),
    ]
    assert not any(Contract.supervisee.is_cached(r.contract) or Contract.supervisor.is_cached(r.contract) for r in rows)


def test_coverage_counts_agreements_active_during_the_half_term_and_owed_supervision(cast, terms):
    a2 = terms.autumn2
    end_of_a2 = datetime.combine(a2.ends, datetime.min.time(), tzinfo=LONDON)
    agreement(person(cast, "In Time"), cast.supervisor, signed=end_of_a2 + timedelta(hours=23))  # 23:00 last day
    agreement(person(cast, "Too Late"), cast.supervisor, signed=end_of_a2 + timedelta(days=1))
    half_signed = agreement(person(cast, "Half Signed"), cast.supervisor)
    Contract.objects.filter(pk=half_signed.pk).update(supervisor_signed_at=None)
    agreement(person(cast, "Ended Before"), cast.supervisor, end=a2.starts - timedelta(days=1))
    agreement(person(cast, "Ended During"), cast.supervisor, end=a2.starts + timedelta(days=3))
    agreement(person(cast, "Starts After"), cast.supervisor, start=a2.ends + timedelta(days=1))
    agreement(person(cast, "Left Before", leaving_date=a2.starts - timedelta(days=1)), cast.supervisor)
    new_agency = person(cast, "New Agency", employment_type=EmploymentType.AGENCY, start_date=date(2025, 11, 1))
    agreement(new_agency, cast.supervisor, start=date(2025, 11, 1))  # owed from 6 Dec: inside Autumn 2
    late_agency = person(cast, "Late Agency", employment_type=EmploymentType.AGENCY, start_date=date(2025, 11, 17))
    agreement(late_agency, cast.supervisor, start=date(2025, 11, 17))  # owed from 22 Dec: after it
    agreement(person(cast, "Termly Tess"), cast.supervisor, frequency=Frequency.TERMLY)

    owed = names(board(cast.org_admin, a2).coverage())
    assert owed == ["Ended During", "In Time", "New Agency"]
    # Termly agreements are owed in the first half of a term.
    assert "Termly Tess" in names(board(cast.org_admin, terms.autumn1).coverage())


def test_a_replaced_agreement_gives_way_to_its_successor_which_counts_both_sessions(cast, terms):
    a2 = terms.autumn2
    old = agreement(cast.supervisee, cast.supervisor, end=date(2025, 11, 10))
    record(session(old, date(2025, 11, 4)))
    new = agreement(cast.supervisee, cast.head, start=date(2025, 11, 11), previous=old)

    rows = board(cast.org_admin, a2).coverage()
    assert [r.contract for r in rows] == [new]
    assert rows[0].held == 1 and rows[0].signed
    assert rows[0].last_held == at(date(2025, 11, 4), 10)
    # In Autumn 1 the new agreement did not exist: the old one stands for itself.
    assert [r.contract for r in board(cast.org_admin, terms.autumn1).coverage()] == [old]


def test_a_group_agreement_is_covered_by_a_held_and_signed_group_session(cast, terms):
    group = SupervisionGroup.objects.create(
        organisation=cast.organisation,
        setting=cast.primary,
        name="EYFS team",
        supervisor=cast.supervisor,
        confidentiality_boundaries="What is said here stays here.",
    )
    other = person(cast, "Gus Group")
    group.members.set([cast.supervisee, other])
    agreement(cast.supervisee, cast.supervisor, kind=SessionKind.GROUP)
    agreement(other, cast.supervisor, kind=SessionKind.GROUP)
    held = group_session(group, date(2025, 11, 12), [cast.supervisee])  # Gus was away
    record(held)

    rows = {r.contract.supervisee.full_name: r for r in board(cast.org_admin, terms.autumn2).coverage()}
    assert rows["Sid Supervisee"].signed and rows["Sid Supervisee"].last_held == held.starts_at
    assert not rows["Gus Group"].signed and rows["Gus Group"].held == 0


# --- Overdue ---------------------------------------------------------------------------------------


def test_overdue_after_the_half_term_counts_days_since_it_ended(cast, terms):
    a1 = terms.autumn1
    agreement(cast.supervisee, cast.supervisor)  # nothing at all
    never_marked = agreement(person(cast, "Nina Notmarked"), cast.supervisor)
    session(never_marked, date(2025, 10, 1), SessionStatus.SCHEDULED)  # booked, never marked held
    missed = agreement(person(cast, "Mo Missed"), cast.supervisor)
    session(missed, date(2025, 10, 2), SessionStatus.MISSED)
    session(missed, date(2025, 6, 2))  # held last summer: supervised longer ago than never-marked's
    held = agreement(person(cast, "Hal Held"), cast.supervisor)
    session(held, date(2025, 10, 3))  # held, record not even started: not overdue

    rows = board(cast.org_admin, a1).overdue()
    assert [r.contract.supervisee.full_name for r in rows] == ["Nina Notmarked", "Sid Supervisee", "Mo Missed"]
    assert {r.days_overdue for r in rows} == {(TODAY - AUTUMN1_ENDS).days} == {27}
    assert rows[0].overdue_label == "27 days"


def test_overdue_during_the_half_term_is_what_is_not_booked_before_its_end(cast, terms):
    a2 = terms.autumn2
    agreement(cast.supervisee, cast.supervisor)
    booked = agreement(person(cast, "Bob Booked"), cast.supervisor)
    session(booked, a2.ends, SessionStatus.SCHEDULED)  # the last day still counts
    too_late = agreement(person(cast, "Tim Toolate"), cast.supervisor)
    session(too_late, a2.ends + timedelta(days=3), SessionStatus.SCHEDULED)
    cancelled = agreement(person(cast, "Cas Cancelled"), cast.supervisor)
    session(cancelled, date(2025, 11, 25), SessionStatus.CANCELLED)

    rows = board(cast.org_admin, a2).overdue()
    assert names(rows) == ["Cas Cancelled", "Sid Supervisee", "Tim Toolate"]
    assert {r.days_overdue for r in rows} == {0}
    assert {r.overdue_label for r in rows} == {"Not booked"}
    assert board(cast.org_admin, a2).tile("overdue", rows).label == "not booked yet"


# --- Records awaiting signature ---------------------------------------------------------------------


def test_records_awaiting_signature_with_the_days_each_has_waited(cast, terms, login):
    contract = agreement(cast.supervisee, cast.supervisor)
    for_supervisee = record(
        session(contract, date(2025, 11, 10)),
        RecordStatus.AWAITING_SUPERVISEE,
        submitted=at(date(2025, 11, 15), 16),
    )
    for_supervisor = record(
        session(contract, date(2025, 11, 3)),
        RecordStatus.AWAITING_SUPERVISOR,
        submitted=at(date(2025, 11, 4), 9),
    )
    Signature.objects.create(
        record=for_supervisor,
        signer=cast.supervisee,
        capacity=SignatureCapacity.SUPERVISEE,
        signed_at=at(date(2025, 11, 18), 12),
        content_hash="1" * 64,
        revision=1,
    )
    record(session(contract, date(2025, 11, 4)))  # signed
    record(session(contract, date(2025, 11, 6)), RecordStatus.DRAFT)  # not submitted

    rows = board(cast.head, terms.autumn2).awaiting_signature()
    assert [(r.record, r.waiting_for, r.since, r.days) for r in rows] == [
        (for_supervisee, "the supervisee", date(2025, 11, 15), 5),
        (for_supervisor, "the supervisor", date(2025, 11, 18), 2),
    ]
    # The list page reads the page's records and waiting times first, then their rows: the same rows, in
    # the same order, with the names they show.
    page = login(cast.head).get("/dashboard/awaiting-signature/").content.decode()
    assert page.index("The supervisee") < page.index("Sat 15 Nov 2025") < page.index("The supervisor")
    assert page.index("The supervisor") < page.index("Tue 18 Nov 2025")
    assert cast.supervisee.full_name in page and cast.supervisor.full_name in page and cast.primary.name in page
    assert page.count("<tr>") == 3  # the header and the two rows


def test_records_awaiting_a_signature_are_found_by_the_setting_they_keep(cast, terms, login):
    """Records awaiting a signature are found by the setting each keeps from its session (issue 14), for a
    scope of one setting and of several alike: the same rows, count and order as their sessions' settings
    give, none of a setting outside the scope, and a record follows its session when that moves."""
    third, fourth = (Setting.objects.create(organisation=cast.organisation, name=n) for n in ("Cast Third", "Cast Far"))
    contract = agreement(cast.supervisee, cast.supervisor)
    waiting = {
        where.name: record(
            session(contract, date(2025, 11, day), setting=where),
            RecordStatus.AWAITING_SUPERVISEE,
            submitted=at(date(2025, 11, day), 16),
        )
        for day, where in ((3, cast.primary), (4, cast.secondary), (5, third), (6, fourth))
    }
    record(session(contract, date(2025, 11, 7), setting=third))  # signed
    assert all(r.setting_id == r.session.setting_id for r in waiting.values())

    def rows_and_count(*settings):
        dash = Dashboard(
            viewer=cast.org_admin, half_term=terms.autumn2, settings=list(settings), whole_organisation=False,
            today=TODAY,
        )  # fmt: skip
        return [r.record for r in dash.awaiting_signature()], dash.count("awaiting-signature")

    wide = rows_and_count(cast.primary, cast.secondary, third)
    assert wide == ([waiting["Cast Primary"], waiting["Cast Secondary"], waiting["Cast Third"]], 3)
    assert rows_and_count(third) == ([waiting["Cast Third"]], 1)

    moved = waiting["Cast Far"].session
    moved.setting = third
    moved.save()
    assert rows_and_count(third) == ([waiting["Cast Third"], waiting["Cast Far"]], 2)
    assert rows_and_count(fourth) == ([], 0)


def test_actions_decisions_and_flags_keep_their_records_setting_and_move_with_its_session(cast, terms):
    """An action, a safeguarding decision and a confidentiality flag keep their record's setting, which is
    its session's (issue 14): a setting's overdue actions, decisions awaiting the child's file and open
    flags are read by it, and each follows its session to another setting with its record."""
    rec = record(session(agreement(cast.supervisee, cast.supervisor), date(2025, 11, 3), setting=cast.primary))
    late = Action.objects.create(
        organisation=cast.organisation, record=rec, description="x", owner=cast.supervisee,
        due_date=TODAY - timedelta(days=3),
    )  # fmt: skip
    waiting = SafeguardingDecision.objects.create(
        organisation=cast.organisation, record=rec, child_reference="CP-0042", decision="Refer to early help",
        key_person=cast.dsl,
    )  # fmt: skip
    flag = ConfidentialityFlag.objects.create(
        organisation=cast.organisation, record=rec, kind=FlagKind.HARM, raised_by=cast.supervisor
    )
    kept = (rec, late, waiting, flag)
    assert {k.setting_id for k in kept} == {cast.primary.id}

    def found(setting):
        dash = board(cast.org_admin, terms.autumn2, setting)
        return (
            [r.action_id for r in dash.overdue_actions()],
            [r.decision.id for r in dash.safeguarding_decisions()],
            [(r.kind, r.setting) for r in dash.escalations()],
        )

    assert found(cast.primary) == ([late.id], [waiting.id], [(FlagKind.HARM.label, "Cast Primary")])
    assert found(cast.secondary) == ([], [], [])
    moved = Session.objects.get(pk=rec.session_id)  # read afresh, as a view would
    moved.setting = cast.secondary
    moved.save()
    for k in kept:
        k.refresh_from_db()
    assert {k.setting_id for k in kept} == {cast.secondary.id}
    assert found(cast.primary) == ([], [], [])
    assert found(cast.secondary) == ([late.id], [waiting.id], [(FlagKind.HARM.label, "Cast Secondary")])
    # Saved without its setting, or with the same one: nothing else is written.
    with CaptureQueriesContext(connection) as queries:
        moved.save(update_fields=["venue"])
        moved.save()
    assert len(queries) == 2


def test_records_and_what_they_hold_made_in_bulk_keep_their_sessions_settings(cast):
    """`bulk_create` fills in the setting a record, action, decision or flag keeps, as `save` does: from
    the session or record already loaded, else from one query of their settings."""
    contract = agreement(cast.supervisee, cast.supervisor)
    first, second = (
        session(contract, date(2025, 11, d), setting=where) for d, where in ((3, cast.primary), (4, cast.secondary))
    )
    version = ensure_builtin_templates(cast.organisation)["kcc-1-1"].current_version()

    def made(**relation):
        return Record(organisation=cast.organisation, template_version=version, supervisor=cast.supervisor, **relation)

    with CaptureQueriesContext(connection) as queries:
        loaded, by_id = Record.objects.bulk_create([made(session=first), made(session_id=second.id)])
    assert [r.setting_id for r in (loaded, by_id)] == [cast.primary.id, cast.secondary.id]
    assert sum("supervision_session" in q["sql"] for q in queries) == 1  # the settings of the one not loaded

    def action(**relation):
        return Action(
            organisation=cast.organisation, description="x", owner=cast.supervisee, due_date=TODAY, **relation
        )

    actions = Action.objects.bulk_create([action(record=loaded), action(record_id=by_id.id)])
    assert [a.setting_id for a in actions] == [cast.primary.id, cast.secondary.id]
    assert set(Action.objects.values_list("setting_id", flat=True)) == {cast.primary.id, cast.secondary.id}
    decisions = SafeguardingDecision.objects.bulk_create(
        SafeguardingDecision(
            organisation=cast.organisation, child_reference="CP", decision="x", key_person=cast.dsl, **r
        )
        for r in ({"record": loaded}, {"record_id": by_id.id})
    )
    flags = ConfidentialityFlag.objects.bulk_create(
        ConfidentialityFlag(organisation=cast.organisation, kind=FlagKind.HARM, raised_by=cast.supervisor, **r)
        for r in ({"record": loaded}, {"record_id": by_id.id})
    )
    assert [k.setting_id for k in (*decisions, *flags)] == [cast.primary.id, cast.secondary.id] * 2


def test_a_record_or_action_read_without_its_setting_is_saved_without_reading_it(cast):
    """The kept setting is filled in only when a row is first saved: one read with `only()` and saved
    again makes no query for its setting."""
    rec = record(session(agreement(cast.supervisee, cast.supervisor), date(2025, 11, 3)), RecordStatus.DRAFT)
    act = Action.objects.create(
        organisation=cast.organisation, record=rec, description="x", owner=cast.supervisee, due_date=TODAY
    )
    partial_record = Record.objects.only("id", "status").get(pk=rec.pk)
    partial_action = Action.objects.only("id", "status").get(pk=act.pk)
    with CaptureQueriesContext(connection) as queries:
        partial_record.save(update_fields=["status"])
        partial_action.save(update_fields=["status"])
    assert len(queries) == 2  # the two updates
    assert Record.objects.get(pk=rec.pk).setting_id == Action.objects.get(pk=act.pk).setting_id == rec.setting_id


# --- Agreements: missing, unsigned, review due and overdue ------------------------------------------


def test_agreements_missing_lists_current_staff_without_a_running_agreement(cast, terms):
    agreement(cast.supervisee, cast.supervisor)
    ended = person(cast, "Ed Ended")
    agreement(ended, cast.supervisor, end=date(2025, 11, 19))
    ending = person(cast, "Ella Ending")
    agreement(ending, cast.supervisor, end=TODAY)  # ends today: still running
    person(cast, "Lee Leaver", leaving_date=date(2025, 11, 19))
    person(cast, "Leo Leavingtoday", leaving_date=TODAY)
    person(cast, "Nat Notyet", start_date=date(2025, 11, 21))
    person(cast, "Sec Secondary", setting=cast.secondary)

    head = {r.staff.full_name for r in board(cast.head, terms.autumn2).agreements_missing()}
    # The cast's primary people have no agreements: the head, DSL, supervisor, auditor and admin.
    cast_primary = {"Hana Head", "Dev Dsl", "Sam Supervisor", "Aud Auditor", "Ada Admin"}
    assert head == cast_primary | {"Ed Ended", "Leo Leavingtoday"}
    org = {r.staff.full_name for r in board(cast.org_admin, terms.autumn2).agreements_missing()}
    assert org == head | {"Sue Supervisor", "Sal Supervisee", "Sec Secondary"}


def test_agreements_unsigned_and_reviews_due_within_30_days_or_overdue(cast, terms):
    unsigned = agreement(person(cast, "Una Unsigned"), cast.supervisor, signed=None)
    half = agreement(person(cast, "Hal Half"), cast.supervisor)
    Contract.objects.filter(pk=half.pk).update(supervisor_signed_at=None)
    due_30 = agreement(person(cast, "Dee Thirty"), cast.supervisor, review=TODAY + timedelta(days=30))
    agreement(person(cast, "Dan Thirtyone"), cast.supervisor, review=TODAY + timedelta(days=31))
    due_today = agreement(person(cast, "Tod Today"), cast.supervisor, review=TODAY)
    overdue = agreement(person(cast, "Ollie Overdue"), cast.supervisor, review=TODAY - timedelta(days=1))
    agreement(person(cast, "Una Reviewless"), cast.supervisor, signed=None, review=TODAY - timedelta(days=5))
    agreement(person(cast, "Old Ended"), cast.supervisor, review=TODAY - timedelta(days=90), end=date(2025, 10, 1))

    b = board(cast.head, terms.autumn2)
    assert {r.contract.supervisee.full_name for r in b.agreements_unsigned()} == {
        "Una Unsigned",
        "Hal Half",
        "Una Reviewless",
    }
    assert {r.waiting_for for r in b.agreements_unsigned() if r.contract.pk == half.pk} == {"the supervisor"}
    assert [r.contract for r in b.agreements_unsigned()][0] == unsigned
    assert [r.contract for r in b.review_due()] == [due_today, due_30]
    assert [r.contract for r in b.review_overdue()] == [overdue]
    # The tiles, counted together in one query on a board that has read no rows, agree with the lists.
    for viewer in (cast.head, cast.org_admin):
        fresh, listed = board(viewer, terms.autumn2), board(viewer, terms.autumn2)
        for slug, rows in [
            ("agreements-unsigned", listed.agreements_unsigned()),
            ("review-due", listed.review_due()),
            ("review-overdue", listed.review_overdue()),
        ]:
            assert fresh.tile_for(slug).number == str(len(rows)), (viewer, slug)


# --- Actions, safeguarding decisions, flags -------------------------------------------------------


def test_overdue_actions_are_open_and_past_their_due_date(cast, terms):
    contract = agreement(cast.supervisee, cast.supervisor)
    rec = record(session(contract, date(2025, 10, 1)))

    def action(due, status=ActionStatus.OPEN, description="Read the policy"):
        return Action.objects.create(
            organisation=cast.organisation,
            record=rec,
            description=description,
            owner=cast.supervisee,
            due_date=due,
            status=status,
        )

    yesterday = action(TODAY - timedelta(days=1))
    long_ago = action(TODAY - timedelta(days=20))
    action(TODAY)  # due today: not overdue yet
    action(TODAY - timedelta(days=5), ActionStatus.DONE)
    action(TODAY - timedelta(days=5), ActionStatus.DROPPED)
    other = record(session(agreement(cast.supervisee2, cast.supervisor2), date(2025, 10, 2)))
    Action.objects.create(
        organisation=cast.organisation,
        record=other,
        description="x",
        owner=cast.supervisee2,
        due_date=date(2025, 11, 1),
    )

    rows = board(cast.head, terms.autumn2).overdue_actions()
    assert [(r.action_id, r.days_overdue) for r in rows] == [(long_ago.id, 20), (yesterday.id, 1)]
    assert len(board(cast.org_admin, terms.autumn2).overdue_actions()) == 3


def test_the_overdue_actions_list_shows_each_row_from_one_query_whatever_its_length(cast, terms, login):
    """The list reads only the values its rows show (`OVERDUE_ACTION_ROW_VALUES`, the names by key after):
    every cell is there, for a one-to-one and a group session, and the queries do not grow with the rows."""
    group = SupervisionGroup.objects.create(
        organisation=cast.organisation, setting=cast.primary, name="EYFS team", supervisor=cast.supervisor
    )
    group.members.set([cast.supervisee])
    in_group = group_session(group, date(2025, 10, 8), [cast.supervisee])
    one_to_one = record(session(agreement(cast.supervisee, cast.supervisor), date(2025, 10, 1)))
    group_record = record(in_group)

    def overdue(rec, days):
        Action.objects.create(
            organisation=cast.organisation,
            record=rec,
            description="Secret wording",
            owner=cast.supervisee,
            due_date=TODAY - timedelta(days=days),
        )

    client = login(cast.head)
    overdue(one_to_one, 3)
    few = _queries(client, "/dashboard/overdue-actions/")
    overdue(group_record, 5)
    overdue(one_to_one, 9)
    assert _queries(client, "/dashboard/overdue-actions/") == few
    page = client.get("/dashboard/overdue-actions/").content.decode()
    assert page.count("<tr>") == 4  # the header and three rows, most overdue first
    for text in ("9 days", "5 days", "3 days", "Group: EYFS team", cast.supervisee.full_name,
                 cast.supervisor.full_name, cast.primary.name, "Wed 1 Oct 2025", "Wed 8 Oct 2025"):  # fmt: skip
        assert text in page, text
    assert page.index("9 days") < page.index("5 days") < page.index("3 days")
    assert "Secret wording" not in page


def test_safeguarding_decisions_of_signed_records_not_yet_confirmed(cast, terms):
    contract = agreement(cast.supervisee, cast.supervisor)
    signed = record(session(contract, date(2025, 11, 3)), locked=at(date(2025, 11, 14), 17))
    draft = record(session(contract, date(2025, 11, 10)), RecordStatus.AWAITING_SUPERVISEE)

    def decision(rec, **kwargs):
        return SafeguardingDecision.objects.create(
            organisation=cast.organisation,
            record=rec,
            child_reference="CP-0042",
            decision="Refer to early help",
            key_person=cast.dsl,
            **kwargs,
        )

    waiting = decision(signed)
    decision(signed, confirmed_at=timezone.now(), recorded_on=TODAY)
    decision(draft)

    rows = board(cast.head, terms.autumn2).safeguarding_decisions()
    assert [(r.decision, r.signed_on, r.days) for r in rows] == [(waiting, date(2025, 11, 14), 6)]
    assert rows[0].url == "/records/safeguarding/"
    # The organisation admin sees that it waits, without the way in to the decision.
    assert board(cast.org_admin, terms.autumn2).safeguarding_decisions()[0].url is None


def test_open_escalations_show_the_kind_and_setting_only(cast, terms):
    contract = agreement(cast.supervisee, cast.supervisor)
    rec = record(session(contract, date(2025, 11, 3)))
    ConfidentialityFlag.objects.create(
        organisation=cast.organisation,
        record=rec,
        kind=FlagKind.HARM,
        note="Mentioned a crisis",
        raised_by=cast.supervisor,
    )
    ConfidentialityFlag.objects.create(
        organisation=cast.organisation,
        record=rec,
        kind=FlagKind.DISCIPLINE,
        raised_by=cast.supervisor,
        resolved_at=timezone.now(),
        resolution="Dealt with",
    )
    about_the_dsl = record(session(agreement(cast.dsl, cast.head), date(2025, 11, 4)))
    ConfidentialityFlag.objects.create(
        organisation=cast.organisation, record=about_the_dsl, kind=FlagKind.DISREPUTE, raised_by=cast.head
    )

    rows = board(cast.head, terms.autumn2).escalations()
    assert {(r.kind, r.setting) for r in rows} == {
        (FlagKind.HARM.label, "Cast Primary"),
        (FlagKind.DISREPUTE.label, "Cast Primary"),
    }
    # A flag about the DSL's own supervision is not the DSL's to see.
    assert [r.kind for r in board(cast.dsl, terms.autumn2).escalations()] == [FlagKind.HARM.label]
    assert set(vars(rows[0])) == {"kind", "setting", "url"}


# --- Cancellations ----------------------------------------------------------------------------------


def test_cancellations_in_the_half_term_and_how_quickly_they_were_rebooked(cast, terms, login):
    contract = agreement(cast.supervisee, cast.supervisor)
    cancelled_at = at(date(2025, 11, 5), 9)

    def cancel(day, rebooked_after=None):
        s = session(contract, day, SessionStatus.CANCELLED, cancelled_at=cancelled_at, cancelled_by=cast.supervisor)
        if rebooked_after is not None:
            again = session(contract, day + timedelta(days=7), SessionStatus.SCHEDULED, rebooked_from=s)
            Session.objects.filter(pk=again.pk).update(created_at=cancelled_at + rebooked_after)
        return s

    cancel(date(2025, 11, 6), timedelta(hours=6))
    cancel(date(2025, 11, 7), timedelta(hours=30))
    cancel(date(2025, 11, 10), timedelta(hours=2))
    not_rebooked = cancel(date(2025, 11, 11))
    cancel(date(2025, 10, 20), timedelta(hours=100))  # Autumn 1

    b = board(cast.head, terms.autumn2)
    rows = b.cancellations()
    assert len(rows) == 4
    assert sorted(r.hours for r in rows if r.hours is not None) == [2, 6, 30]
    assert [r.session for r in rows if r.rebooked is None] == [not_rebooked]
    from supervision.dashboard import cancellation_summary

    summary = cancellation_summary(rows)
    assert summary == {"cancelled": 4, "rebooked": 3, "not_rebooked": 1, "median_hours": 6, "longest_hours": 30}
    assert b.tile("cancellations", rows).label == "cancelled; rebooked in 6 hours (median)"

    # The list's cells: when it was booked for and cancelled, by whom, when it was rebooked for, how long.
    page = " ".join(
        login(cast.head).get(f"/dashboard/cancellations/?half_term={terms.autumn2.code}").content.decode().split()
    )
    assert f'">Thu 6 Nov 2025, 10:00</a></td> <td>{cast.supervisee.full_name}</td>' in page
    assert (
        f'<td>Wed 5 Nov 2025, 09:00<div class="small text-body-secondary">by {cast.supervisor.full_name}</div></td>'
        in page
    )
    assert '">Thu 13 Nov 2025, 10:00</a></td> <td>6.0 hours</td>' in page
    assert '<span class="badge text-bg-warning">Not rebooked</span></td> <td>—</td>' in page
    assert page.count(" hours</td>") == 3 and "Mon 20 Oct 2025" not in page


# --- Caseloads, supervisors without supervision ---------------------------------------------------


def test_caseloads_and_supervisors_without_supervision_of_their_own(cast, terms):
    agreement(cast.supervisee, cast.supervisor)
    agreement(person(cast, "Pat Second"), cast.supervisor, signed=None)
    agreement(person(cast, "Ex Ended"), cast.supervisor, end=date(2025, 10, 1))
    agreement(cast.dsl, cast.head)
    agreement(cast.supervisor, cast.head)  # the supervisor is supervised; the head is not
    agreement(cast.supervisee2, cast.supervisor2)

    b = board(cast.head, terms.autumn2)
    rows = b.caseloads()
    assert [(r.supervisor.full_name, r.agreements, r.unsigned) for r in rows] == [
        ("Hana Head", 2, 0),
        ("Sam Supervisor", 2, 1),
    ]
    assert [r.supervisor.full_name for r in b.unsupervised_supervisors()] == ["Hana Head"]
    assert b.tile("caseloads", rows).number == "2"
    assert {r.supervisor.full_name for r in board(cast.org_admin, terms.autumn2).unsupervised_supervisors()} == {
        "Hana Head",
        "Sue Supervisor",
    }
    # The two tiles and the largest caseload, counted together in one query on a board that has read no
    # rows, agree with the lists (and the tile's label with the list's length).
    for viewer in (cast.head, cast.org_admin):
        fresh, listed = board(viewer, terms.autumn2), board(viewer, terms.autumn2)
        caseloads, unsupervised = listed.caseloads(), listed.unsupervised_supervisors()
        fresh._contracts()  # the scope's people, read once a board (a head's; none for the trust admin)
        with CaptureQueriesContext(connection) as queries:
            assert fresh.tile_for("unsupervised-supervisors").number == str(len(unsupervised)), viewer
            tile = fresh.tile_for("caseloads")
        assert len(queries) == 1, viewer
        assert tile.number == str(caseloads[0].agreements), viewer
        assert tile.label == f"largest caseload ({len(caseloads)} supervisors)", viewer


def test_the_largest_caseload_is_counted_in_scope_without_building_the_list(cast, terms):
    """The tile and the CSV count the largest caseload in one GROUP BY: current agreements only (signed
    or not), in the settings shown; the same number as the caseloads list's first row."""
    for n in range(3):
        agreement(person(cast, f"Primary {n}"), cast.supervisor, signed=None if n == 0 else SEPT)
    agreement(person(cast, "Ex Ended"), cast.supervisor, end=date(2025, 10, 1))
    for n in range(4):
        agreement(person(cast, f"Secondary {n}", setting=cast.secondary), cast.supervisor2)

    head, admin = board(cast.head, terms.autumn2), board(cast.org_admin, terms.autumn2)
    assert head.largest_caseload() == head.caseloads()[0].agreements == 3
    assert admin.largest_caseload() == admin.caseloads()[0].agreements == 4
    assert admin.tile_for("caseloads").number == "4"
    assert board(cast.head, terms.autumn2).tile_for("caseloads").number == "3"
    Contract.objects.all().delete()
    assert board(cast.org_admin, terms.autumn2).largest_caseload() == 0


# --- The three functions --------------------------------------------------------------------------


def test_balance_counts_written_sections_by_function_over_the_academic_year(cast, terms):
    contract = agreement(cast.supervisee, cast.supervisor)
    contract2 = agreement(cast.supervisee2, cast.supervisor2)

    def write(rec, texts):
        sections = list(rec.template_version.sections.order_by("order"))
        for section, text in zip(sections, texts, strict=False):
            RecordSection.objects.create(record=rec, template_section=section, discussion=text)
        return {s.function for s in sections}

    this_year = record(session(contract, date(2025, 11, 3)))
    write(this_year, ["Well", "Progress", "Children", "   ", "", "Other"])
    write(record(session(contract2, date(2025, 10, 1))), ["A", "B"])
    write(record(session(contract, date(2025, 6, 2))), ["Last year", "Last year"])

    expected = {}
    for s in this_year.template_version.sections.order_by("order")[:6]:
        if s.order in (1, 2, 3, 6):
            expected[s.function] = expected.get(s.function, 0) + 1
    b = board(cast.org_admin, terms.autumn2)
    by_setting = {r.name: r.counts for r in b.balance_by_setting()}
    assert by_setting["Cast Primary"] == expected
    assert sum(by_setting["Cast Secondary"].values()) == 2
    by_supervisor = {r.name: r.total for r in b.balance_by_supervisor()}
    assert by_supervisor == {"Sam Supervisor": 4, "Sue Supervisor": 2}
    assert [r.name for r in board(cast.head, terms.autumn2).balance_by_supervisor()] == ["Sam Supervisor"]
    # Settings chosen (their sessions of the year read first): the same counts as the whole organisation's.
    head = {r.name: r.counts for r in board(cast.head, terms.autumn2).balance_by_setting()}
    assert head == {"Cast Primary": expected}
    both = Dashboard(
        viewer=cast.org_admin, half_term=terms.autumn2, settings=[cast.primary, cast.secondary],
        whole_organisation=False, today=TODAY,
    )  # fmt: skip
    assert {r.name: r.counts for r in both.balance_by_setting()} == by_setting
    assert {r.name: r.total for r in both.balance_by_supervisor()} == by_supervisor

    # "Written" is kept by the database with the text: a section emptied or filled in counts at once.
    emptied = RecordSection.objects.get(record=this_year, discussion="Well")
    emptied.discussion = "   "
    emptied.save()
    filled = RecordSection.objects.get(record=this_year, discussion="")
    filled.discussion = "Now written"
    filled.save()
    totals = {r.name: r.total for r in board(cast.org_admin, terms.autumn2).balance_by_supervisor()}
    assert totals == {"Sam Supervisor": 4, "Sue Supervisor": 2}
    assert RecordSection.objects.filter(record=this_year, written=True).count() == 4
    assert not RecordSection.objects.get(pk=emptied.pk).written and RecordSection.objects.get(pk=filled.pk).written


# --- Who sees what --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["supervisor", "supervisee", "supervisor2"])
def test_people_without_an_oversight_role_get_403(cast, terms, login, who):
    client = login(getattr(cast, who))
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/dashboard/overdue/").status_code == 403
    assert client.get("/exports/compliance.csv").status_code == 403


def test_a_setting_admin_who_is_not_head_or_dsl_gets_403(cast, terms, login):
    admin = person(cast, "Set Admin", roles=[("org_admin", cast.primary)])
    assert login(admin).get("/dashboard/").status_code == 403


def test_anonymous_visitors_sign_in_first(client, cast, terms):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_head_of_the_primary_sees_primary_agreements_only_and_the_org_admin_all(cast, terms, login):
    agreement(cast.supervisee, cast.supervisor)
    agreement(cast.supervisee2, cast.supervisor2)

    head = login(cast.head).get("/dashboard/coverage/").content.decode()
    assert "Sid Supervisee" in head and "Sal Supervisee" not in head
    assert 'name="setting"' not in head  # one setting: no filter

    live_grant(cast)  # the auditor sees what a live grant covers: here both settings
    for who in ("org_admin", "auditor"):
        page = login(getattr(cast, who)).get("/dashboard/coverage/").content.decode()
        assert "Sid Supervisee" in page and "Sal Supervisee" in page
        assert 'name="setting"' in page  # several settings: a filter

    secondary = login(cast.org_admin).get(f"/dashboard/coverage/?setting={cast.secondary.code}").content.decode()
    assert "Sal Supervisee" in secondary and "Sid Supervisee" not in secondary
    # The head cannot widen the view to a setting they do not lead: the page stays on theirs.
    widened = login(cast.head).get(f"/dashboard/coverage/?setting={cast.secondary.code}").content.decode()
    assert "Sid Supervisee" in widened and "Sal Supervisee" not in widened


def test_links_go_only_where_the_viewer_may_open(cast, terms, login):
    contract = agreement(cast.supervisee, cast.supervisor)
    s = session(contract, date(2025, 11, 5))
    record(s, RecordStatus.AWAITING_SUPERVISEE)

    head = login(cast.head).get("/dashboard/awaiting-signature/").content.decode()
    assert f"/sessions/{s.code}/" in head and f"/records/{s.record.code}/" not in head
    assert f"/contracts/{contract.code}/" in login(cast.head).get("/dashboard/coverage/").content.decode()
    # Auditors read the figures but not agreements or sessions (their grants cover records).
    live_grant(cast)
    auditor = login(cast.auditor).get("/dashboard/awaiting-signature/").content.decode()
    assert "Sid Supervisee" in auditor and f"/sessions/{s.code}/" not in auditor
    assert f"/contracts/{contract.code}/" not in login(cast.auditor).get("/dashboard/coverage/").content.decode()


def test_an_overdue_action_links_its_session_only_for_those_who_may_open_it(cast, terms, login):
    """The overdue actions' rows, read as values (issue 14), link the session as `Session.visible_to` does:
    for the heads and DSLs of its setting, not for an organisation admin or an auditor."""
    s = session(agreement(cast.supervisee, cast.supervisor), date(2025, 10, 1))
    Action.objects.create(
        organisation=cast.organisation,
        record=record(s),
        description="Secret wording",
        owner=cast.supervisee,
        due_date=TODAY - timedelta(days=3),
    )
    live_grant(cast)
    for person, links in ((cast.head, True), (cast.dsl, True), (cast.org_admin, False), (cast.auditor, False)):
        page = login(person).get("/dashboard/overdue-actions/").content.decode()
        assert "3 days" in page and cast.supervisee.full_name in page, person
        assert (f"/sessions/{s.code}/" in page) is links, person


def test_the_last_held_date_opens_its_record_for_the_people_in_it_and_the_settings_leaders(cast, terms, login):
    """From the overdue list a DSL reaches the last record (its metadata; the notes need a reason)."""
    contract = agreement(cast.supervisee, cast.supervisor)
    held = session(contract, date(2025, 6, 2))  # last summer; nothing in Autumn 1
    record(held)
    no_record = agreement(person(cast, "Nora Norecord"), cast.supervisor)
    session(no_record, date(2025, 6, 3))
    url = f"/records/{held.record.code}/"

    for viewer in (cast.dsl, cast.head):
        row = next(r for r in board(viewer, terms.autumn1).overdue() if r.contract == contract)
        assert row.last_record_url == url, viewer
    # The organisation admin and the auditor (with a live grant) never open a record from here.
    live_grant(cast)
    for viewer in (cast.org_admin, cast.auditor):
        row = next(r for r in board(viewer, terms.autumn1).overdue() if r.contract == contract)
        assert row.last_record_url is None
    rows = board(cast.dsl, terms.autumn1).overdue()
    assert next(r for r in rows if r.contract == no_record).last_record_url is None

    page = login(cast.dsl).get(f"/dashboard/overdue/?half_term={terms.autumn1.code}").content.decode()
    assert f'href="{url}"' in page and "the record of Sid Supervisee" in page
    assert (
        f'href="{url}"'
        not in login(cast.org_admin).get(f"/dashboard/overdue/?half_term={terms.autumn1.code}").content.decode()
    )
    # The DSL's link opens the metadata, with the way to give a reason.
    opened = login(cast.dsl).get(url).content.decode()
    assert "Read the notes" in opened and f"/records/{held.record.code}/access/" in opened


def test_no_page_shows_what_was_said_in_supervision(cast, terms, login):
    contract = agreement(cast.supervisee, cast.supervisor)
    rec = record(session(contract, date(2025, 11, 3)))
    section = rec.template_version.sections.first()
    RecordSection.objects.create(record=rec, template_section=section, discussion="SECRET-DISCUSSION")
    Action.objects.create(
        organisation=cast.organisation,
        record=rec,
        description="SECRET-ACTION",
        owner=cast.supervisee,
        due_date=date(2025, 11, 1),
    )
    SafeguardingDecision.objects.create(
        organisation=cast.organisation,
        record=rec,
        child_reference="SECRET-CHILD",
        decision="SECRET-DECISION",
        key_person=cast.dsl,
    )
    ConfidentialityFlag.objects.create(
        organisation=cast.organisation, record=rec, kind=FlagKind.HARM, note="SECRET-NOTE", raised_by=cast.supervisor
    )
    client = login(cast.head)
    pages = [client.get("/dashboard/").content.decode()]
    pages += [client.get(f"/dashboard/{slug}/").content.decode() for slug in FIGURES]
    pages.append(b"".join(client.get("/exports/compliance.csv").streaming_content).decode("utf-8-sig"))
    for page in pages:
        assert "SECRET" not in page


# --- The pages ----------------------------------------------------------------------------------


def _tile_numbers(html):
    """{figure slug: the number on its tile} from the dashboard page."""
    return dict(re.findall(r'href="/dashboard/([a-z-]+)/\?[^"]*">\s*<span class="stat-number">([^<]+)</span>', html))


def test_every_tile_links_to_its_list_and_the_list_has_as_many_rows(cast, terms, login):
    contract = agreement(cast.supervisee, cast.supervisor, review=TODAY + timedelta(days=10))
    rec = record(session(contract, date(2025, 11, 3)), RecordStatus.AWAITING_SUPERVISEE)
    Action.objects.create(
        organisation=cast.organisation, record=rec, description="x", owner=cast.supervisee, due_date=date(2025, 11, 1)
    )
    agreement(person(cast, "Una Unsigned"), cast.supervisor, signed=None)
    session(agreement(person(cast, "Cas Cancelled"), cast.supervisor), date(2025, 11, 12), SessionStatus.CANCELLED)

    client = login(cast.head)
    html = client.get("/dashboard/").content.decode()
    tiles = _tile_numbers(html)
    assert set(tiles) == set(FIGURES) - {"balance"}
    code = terms.autumn2.code
    for slug, number in tiles.items():
        assert f'href="/dashboard/{slug}/?half_term={code}"' in html
        response = client.get(f"/dashboard/{slug}/?half_term={code}")
        assert response.status_code == 200
        assert response.context["tile"].number == number, slug
        rows = len(response.context["rows"])
        if slug == "coverage":
            assert number == f"{round(100 * sum(r.signed for r in response.context['rows']) / rows)}%"
        elif slug == "caseloads":
            assert int(number) == max(r.agreements for r in response.context["rows"])
        else:
            assert int(number) == rows, slug
            body = response.content.decode()
            assert body.count("<tr>") - body.count("<thead") == rows or rows == 0, slug


def test_the_dashboard_defaults_to_the_current_half_term_and_offers_those_started(cast, terms, login):
    response = login(cast.org_admin).get("/dashboard/")
    assert response.context["half_term"] == terms.autumn2
    choices = [value for value, _ in response.context["choice"].form.fields["half_term"].choices]
    assert str(terms.autumn1.code) in choices and str(terms.spring1.code) not in choices
    past = login(cast.org_admin).get(f"/dashboard/?half_term={terms.autumn1.code}")
    assert past.context["half_term"] == terms.autumn1
    nonsense = login(cast.org_admin).get("/dashboard/?half_term=not-a-code")
    assert nonsense.context["half_term"] == terms.autumn2


def test_in_the_holidays_the_default_is_the_half_term_just_ended(cast, terms, login):
    with time_machine.travel("2025-12-27 10:00 +0000", tick=False):
        assert login(cast.head).get("/dashboard/").context["half_term"] == terms.autumn2


def test_charts_draw_from_json_with_no_inline_script_and_a_table_each(cast, terms, login):
    rec = record(session(agreement(cast.supervisee, cast.supervisor), date(2025, 10, 1)))
    RecordSection.objects.create(record=rec, template_section=rec.template_version.sections.first(), discussion="x")
    html = login(cast.org_admin).get("/dashboard/").content.decode()
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "/static/vendor/chart.js/chart.umd.js" in html and "/static/js/charts.js" in html
    for data in ("coverage-data", "balance-settings-data", "balance-supervisors-data"):
        assert f'id="{data}"' in html
    assert html.count("<caption>") >= 3
    assert "Autumn 2 2025/26 is under way. Of 1 agreement owed supervision: 0 held with a signed record" in html
    # Other pages do not load Chart.js.
    assert "chart.umd.js" not in login(cast.org_admin).get("/dashboard/overdue/").content.decode()


def test_with_many_settings_the_balance_is_on_its_own_page(cast, terms, login, monkeypatch):
    """A trust's dashboard does not read a year of sections on every visit: above MAX_SETTING_BARS
    settings the balance section links to the balance list, which has every setting's and supervisor's."""
    from supervision.views import dashboard as views

    rec = record(session(agreement(cast.supervisee, cast.supervisor), date(2025, 10, 1)))
    RecordSection.objects.create(record=rec, template_section=rec.template_version.sections.first(), discussion="x")
    monkeypatch.setattr(views, "MAX_SETTING_BARS", 1)
    client = login(cast.org_admin)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/dashboard/").content.decode()
    assert not any("records_recordsection" in q["sql"] for q in queries.captured_queries)
    assert 'id="balance-settings-data"' not in html and 'id="balance-elsewhere"' in html
    assert "With 2 settings" in html and 'href="/dashboard/balance/?' in html
    balance = client.get("/dashboard/balance/").content.decode()
    assert "Cast Primary" in balance and "Sam Supervisor" in balance
    # One setting chosen: its own balance is on the dashboard again.
    html = client.get("/dashboard/", {"setting": cast.primary.code}).content.decode()
    assert 'id="balance-settings-data"' in html and 'id="balance-elsewhere"' not in html


def test_with_many_people_the_balance_is_on_its_own_page_however_few_settings(cast, terms, login, monkeypatch):
    """The balance reads every section their records had written this year, so above MAX_BALANCE_PEOPLE
    people in the settings in scope (an auditor over ten settings of a large trust) the dashboard links to
    the balance list instead, counting the people rather than the sections; at or below it, as before."""
    from supervision.views import dashboard as views

    rec = record(session(agreement(cast.supervisee, cast.supervisor), date(2025, 10, 1)))
    RecordSection.objects.create(record=rec, template_section=rec.template_version.sections.first(), discussion="x")
    people = StaffMember.objects.filter(settings=cast.primary).count()
    client = login(cast.head)  # the primary's head: one setting
    monkeypatch.setattr(views, "MAX_BALANCE_PEOPLE", people - 1)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/dashboard/").content.decode()
    assert not any("records_recordsection" in q["sql"] for q in queries.captured_queries)
    assert 'id="balance-settings-data"' not in html and 'id="balance-elsewhere"' in html
    assert f"With {people} people in this setting, " in html and "choose a setting" not in html
    assert "Cast Primary" in client.get("/dashboard/balance/").content.decode()
    # The organisation admin's two settings, over the limit together: both are counted once each person.
    both = StaffMember.objects.filter(settings__in=[cast.primary, cast.secondary]).distinct().count()
    monkeypatch.setattr(views, "MAX_BALANCE_PEOPLE", both - 1)
    html = login(cast.org_admin).get("/dashboard/").content.decode()
    assert f"With {both} people in these 2 settings, " in html and "or choose a setting above" in html
    # At the limit, the head's balance is on the dashboard.
    monkeypatch.setattr(views, "MAX_BALANCE_PEOPLE", people)
    html = login(cast.head).get("/dashboard/").content.decode()
    assert 'id="balance-settings-data"' in html and 'id="balance-elsewhere"' not in html


def test_an_unknown_figure_is_404_and_posting_is_405(cast, terms, login):
    client = login(cast.head)
    assert client.get("/dashboard/nonsense/").status_code == 404
    assert client.post("/dashboard/").status_code == 405
    assert client.post("/exports/compliance.csv").status_code == 405


# --- The compliance CSV ------------------------------------------------------------------------------


def test_the_compliance_csv_has_the_figures_then_one_row_per_agreement_and_is_logged(cast, terms, login):
    covered = agreement(cast.supervisee, cast.supervisor)
    record(session(covered, date(2025, 11, 5)))
    agreement(person(cast, "=Eve Formula"), cast.supervisor)
    agreement(cast.supervisee2, cast.supervisor2)

    client = login(cast.head)
    response = client.get(f"/exports/compliance.csv?half_term={terms.autumn2.code}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="compliance-2025-26-autumn-2.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["figure", "value"]
    figures = dict(r for r in rows[1 : rows.index([])])
    assert figures["Settings"] == "Cast Primary"
    assert figures["Coverage: agreements owed supervision"] == "2"
    assert figures["Coverage (%)"] == "50"
    assert figures["Not booked"] == "1"
    header = rows.index([]) + 1
    assert rows[header] == [
        "supervisee",
        "supervisor",
        "setting",
        "status",
        "last held session",
        "held this half term",
        "record signed",
    ]
    assert rows[header + 1 :] == [
        ["'=Eve Formula", "Sam Supervisor", "Cast Primary", "active", "", "0", "no"],
        ["Sid Supervisee", "Sam Supervisor", "Cast Primary", "active", "Wed 5 Nov 2025", "1", "yes"],
    ]

    client.get("/exports/compliance.csv")
    events = AuditEvent.objects.filter(action="export.compliance_csv")
    assert events.count() == 2
    event = events.first()
    assert event.actor == cast.head.user and event.organisation == cast.organisation
    assert event.details["half_term"] == str(terms.autumn2.code)


# --- Cost: the same number of queries for 20 and for 500 staff ------------------------------------------


def _populate(cast, terms, start, stop):
    """Staff number `start` to `stop` in the primary and secondary, each with an agreement, sessions in
    both half terms, records in every state, actions, decisions, flags and cancellations. bulk_create
    throughout: 500 people in a few seconds."""
    org = cast.organisation
    version = ensure_builtin_templates(org)["kcc-1-1"].current_version()
    sections = list(version.sections.all())
    users = User.objects.bulk_create(
        User(email=f"bulk{i}@cast.example", full_name=f"Bulk Person {i:04d}", password="!") for i in range(start, stop)
    )
    staff = StaffMember.objects.bulk_create(
        StaffMember(user=u, organisation=org, start_date=date(2020, 9, 1), job_title="Teacher") for u in users
    )
    setting_of = {s.id: (cast.primary if i % 2 else cast.secondary) for i, s in enumerate(staff, start)}
    StaffMember.settings.through.objects.bulk_create(
        StaffMember.settings.through(staffmember_id=s.id, setting_id=setting_of[s.id].id) for s in staff
    )
    supervisors = [cast.supervisor, cast.supervisor2, cast.head]
    contracts = Contract.objects.bulk_create(
        Contract(
            organisation=org,
            supervisee=s,
            supervisor=supervisors[i % 3],
            start_date=date(2025, 9, 1),
            review_date=TODAY + timedelta(days=i % 60),
            supervisee_signed_at=SEPT if i % 7 else None,
            supervisor_signed_at=SEPT,
        )
        for i, s in enumerate(staff, start)
    )
    sessions = []
    for i, c in enumerate(contracts, start):
        setting = setting_of[c.supervisee_id]
        for day, status in [
            (date(2025, 10, 1 + i % 20), SessionStatus.HELD if i % 5 else SessionStatus.MISSED),
            (date(2025, 11, 3 + i % 10), SessionStatus.HELD if i % 2 else SessionStatus.CANCELLED),
        ]:
            sessions.append(
                Session(
                    organisation=org,
                    setting=setting,
                    kind=SessionKind.ONE_TO_ONE,
                    contract=c,
                    supervisor=c.supervisor,
                    starts_at=at(day, 10),
                    ends_at=at(day, 10) + timedelta(minutes=30),
                    status=status,
                    cancelled_at=at(day, 8) if status == SessionStatus.CANCELLED else None,
                )
            )
    sessions = Session.objects.bulk_create(sessions)
    rebooked = Session.objects.bulk_create(
        Session(
            organisation=org,
            setting=s.setting,
            kind=SessionKind.ONE_TO_ONE,
            contract=s.contract,
            supervisor=s.supervisor,
            starts_at=s.starts_at + timedelta(days=7),
            ends_at=s.ends_at + timedelta(days=7),
            rebooked_from=s,
            created_at=s.cancelled_at + timedelta(hours=i % 40),
        )
        for i, s in enumerate(sessions)
        if s.status == SessionStatus.CANCELLED and i % 3
    )
    Session.attendees.through.objects.bulk_create(
        Session.attendees.through(session_id=s.id, staffmember_id=s.contract.supervisee_id) for s in sessions + rebooked
    )
    states = [
        RecordStatus.SIGNED,
        RecordStatus.SIGNED,
        RecordStatus.AWAITING_SUPERVISEE,
        RecordStatus.AWAITING_SUPERVISOR,
    ]
    records = Record.objects.bulk_create(
        Record(
            organisation=org,
            session=s,
            template_version=version,
            supervisor=s.supervisor,
            status=states[i % 4],
            submitted_at=s.ends_at,
            locked_at=s.ends_at if states[i % 4] == RecordStatus.SIGNED else None,
            content_hash="0" * 64 if states[i % 4] == RecordStatus.SIGNED else "",
        )
        for i, s in enumerate(sessions)
        if s.status == SessionStatus.HELD
    )
    RecordSection.objects.bulk_create(
        RecordSection(record=r, template_section=t, discussion="x" if (i + j) % 3 else "")
        for i, r in enumerate(records)
        for j, t in enumerate(sections)
    )
    Signature.objects.bulk_create(
        Signature(
            record=r,
            signer=r.session.contract.supervisee,
            capacity=SignatureCapacity.SUPERVISEE,
            signed_at=r.submitted_at + timedelta(hours=3),
            content_hash="1" * 64,
            revision=1,
        )
        for r in records
        if r.status == RecordStatus.AWAITING_SUPERVISOR
    )
    Action.objects.bulk_create(
        Action(
            organisation=org,
            record=r,
            description="x",
            owner=r.session.contract.supervisee,
            due_date=TODAY - timedelta(days=i % 9 - 3),
        )
        for i, r in enumerate(records)
    )
    signed = [r for r in records if r.status == RecordStatus.SIGNED]
    SafeguardingDecision.objects.bulk_create(
        SafeguardingDecision(organisation=org, record=r, child_reference="CP", decision="x", key_person=cast.dsl)
        for r in signed[::4]
    )
    ConfidentialityFlag.objects.bulk_create(
        ConfidentialityFlag(organisation=org, record=r, kind=FlagKind.HARM, raised_by=r.supervisor)
        for r in signed[1::5]
    )


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("balance_people", [10_000, 0], ids=["balance shown", "balance elsewhere"])
@pytest.mark.parametrize("who", ["org_admin", "head"])
def test_the_dashboard_costs_the_same_queries_for_20_and_500_staff(
    cast, terms, login, who, balance_people, monkeypatch
):
    # The balance is on the dashboard up to MAX_BALANCE_PEOPLE people in scope, and on its own page above:
    # each way, the same queries at both sizes (at the default, 500, the two sizes straddle the switch).
    from supervision.views import dashboard as views

    monkeypatch.setattr(views, "MAX_BALANCE_PEOPLE", balance_people)
    client = login(getattr(cast, who))
    pages = [
        "/dashboard/",
        f"/dashboard/?half_term={terms.autumn1.code}",
        "/dashboard/coverage/",
        "/exports/compliance.csv",
    ]
    _populate(cast, terms, 0, 20)
    few = {page: _queries(client, page) for page in pages}
    _populate(cast, terms, 20, 500)
    assert StaffMember.objects.filter(organisation=cast.organisation).count() > 500
    many = {page: _queries(client, page) for page in pages}
    assert many == few
    response = client.get("/dashboard/")
    owed = response.context["half_term_tiles"][0][1].label
    assert re.search(r"of (2[0-9]{2}|[3-5][0-9]{2}) agreements", owed), owed
    print(f"\n{who}: queries {few}")


def test_each_list_costs_the_same_queries_for_20_and_500_staff(cast, terms, login):
    client = login(cast.org_admin)
    _populate(cast, terms, 0, 20)
    few = {figure: _queries(client, f"/dashboard/{figure}/") for figure in FIGURES}
    _populate(cast, terms, 20, 500)
    assert {figure: _queries(client, f"/dashboard/{figure}/") for figure in FIGURES} == few


def test_the_contract_builder_matches_the_services_own_signed_agreement(cast, terms):
    """Guard: the builders above make agreements the product itself would count (signed by both)."""
    from tests.supervision.helpers import signed_contract

    built = signed_contract(cast.supervisee, cast.supervisor, start=date(2025, 9, 1))
    assert [r.contract for r in board(cast.org_admin, terms.autumn2).coverage()] == [built]


@pytest.mark.parametrize("who", ["org_admin", "head"])
def test_the_coverage_and_overdue_lists_count_with_their_page_as_the_dashboard_counts(cast, terms, login, who):
    """Issue 14: a list page counts its rows, and the coverage tile's covered ones, as window functions of the
    page's own query, rather than asking the chart's count of the half term (`count_owed`, a query as costly
    as the rows) or counting the overdue list again; the figures are the dashboard's, for the running half
    term and an ended one, on a page in range and past the end."""
    from unittest import mock

    from supervision.dashboard import board as board_module

    client = login(getattr(cast, who))
    _populate(cast, terms, 0, 30)
    for half_term in (terms.autumn2, terms.autumn1):
        query = f"?half_term={half_term.code}"
        tiles = dict(client.get(f"/dashboard/{query}").context["half_term_tiles"])
        with mock.patch.object(board_module, "count_owed", wraps=board_module.count_owed) as chart_count:
            coverage = client.get(f"/dashboard/coverage/{query}").context
            overdue = client.get(f"/dashboard/overdue/{query}").context
        assert not chart_count.called
        assert coverage["tile"] == tiles["coverage"] and overdue["tile"] == tiles["overdue"]
        assert coverage["count"] == len(coverage["rows"]) > 0 and overdue["count"] == len(overdue["rows"])
        # Past the end the page reads no rows, and the list is counted on its own: the same figures.
        past = client.get(f"/dashboard/coverage/{query}&page=99").context
        assert past["tile"] == tiles["coverage"] and past["page"].number == 1
