"""The dashboard's largest queries are built once a thread for the same inputs (`dashboard.built`, issue
14): what is kept is how to ask, so a page after a change shows the change; each scope has its own; a
value the build reads from the database is part of the key; and a kept query asks exactly what a fresh
build asks, however often its clones were read."""

import threading
from datetime import date

import pytest
import time_machine
from django.db import connection
from django.db.models import Q

from records.models import RecordStatus
from supervision.dashboard.built import BUILT, BuiltQueries
from supervision.dashboard.lists import Listing
from supervision.models import ClosureDay, SessionStatus

from . import test_dashboard
from .test_dashboard import TODAY, agreement, board, person, record, session

pytestmark = pytest.mark.django_db

terms = test_dashboard.terms  # the calendar of Autumn 2025, as the dashboard's tests make it


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2025-11-20 09:00 +0000", tick=False):
        yield


@pytest.fixture(autouse=True)
def _nothing_kept():
    BUILT.clear()
    yield
    BUILT.clear()


def _page(client, path):
    return " ".join(client.get(path).content.decode().split())


def test_a_page_after_a_change_shows_the_change_from_the_kept_query(cast, terms, login):
    agreement(cast.supervisee, cast.supervisor)
    client = login(cast.head)
    assert "Sid Supervisee" in _page(client, "/dashboard/overdue/")
    assert "Sid Supervisee" in _page(client, "/dashboard/coverage/")
    built = BUILT.builds

    # Booked: no longer "not booked" in the running half term; the coverage list says booked.
    booked = session(cast.supervisee.contracts_as_supervisee.get(), date(2025, 12, 1), SessionStatus.SCHEDULED)
    assert "Sid Supervisee" not in _page(client, "/dashboard/overdue/")
    assert "(booked)" in _page(client, "/dashboard/coverage/")
    # Held and signed: covered.
    booked.status = SessionStatus.HELD
    booked.save()
    record(booked)
    assert "Covered" in _page(client, "/dashboard/coverage/")
    # A new person's agreement owed supervision: on both lists at once.
    agreement(person(cast, "Nat Newcomer"), cast.supervisor)
    assert "Nat Newcomer" in _page(client, "/dashboard/overdue/")
    assert "Nat Newcomer" in _page(client, "/dashboard/coverage/")
    # Every page after the first two asked through the queries kept then.
    assert BUILT.builds == built


def test_each_scope_has_its_own_query_and_sees_only_its_own_people(cast, terms, login):
    agreement(cast.supervisee, cast.supervisor)
    agreement(cast.supervisee2, cast.supervisor2)
    # The organisation admin first (every setting), then the head of the primary: never the admin's rows.
    whole = _page(login(cast.org_admin), "/dashboard/coverage/")
    assert "Sid Supervisee" in whole and "Sal Supervisee" in whole
    head = _page(login(cast.head), "/dashboard/coverage/")
    assert "Sid Supervisee" in head and "Sal Supervisee" not in head
    overdue = _page(login(cast.head), "/dashboard/overdue/")
    assert "Sid Supervisee" in overdue and "Sal Supervisee" not in overdue
    # The admin's chosen setting is a scope of its own too.
    secondary = _page(login(cast.org_admin), f"/dashboard/coverage/?setting={cast.secondary.code}")
    assert "Sal Supervisee" in secondary and "Sid Supervisee" not in secondary


def test_closure_days_read_from_the_database_are_part_of_the_key(cast, terms):
    # Starts on Thu 18 Dec: two school days left in Autumn 2, unless both are closure days.
    late = agreement(person(cast, "Lee Late"), cast.supervisor, start=date(2025, 12, 18))
    assert "Lee Late" in {r.supervisee_name for r in board(cast.org_admin, terms.autumn2).overdue()}
    built = BUILT.builds
    for day in (date(2025, 12, 18), date(2025, 12, 19)):
        ClosureDay.objects.create(organisation=cast.organisation, date=day, name="INSET")
    rows = board(cast.org_admin, terms.autumn2).overdue()
    assert late.id not in {r.contract.id for r in rows}
    assert BUILT.builds == built + 1  # built again for the new key, not read from the old


@pytest.mark.parametrize("who", ["head", "org_admin"])
def test_a_kept_query_asks_what_a_fresh_build_asks_however_often_it_was_read(cast, terms, who):
    contract = agreement(cast.supervisee, cast.supervisor)
    record(session(contract, date(2025, 10, 1)), RecordStatus.SIGNED)
    viewer = getattr(cast, who)

    def sql(make):
        query = make().query
        return str(query)

    for half_term in (terms.autumn1, terms.autumn2):
        BUILT.clear()
        fresh = {
            "overdue": sql(lambda h=half_term: board(viewer, h)._overdue_qs()),
            "coverage": sql(lambda h=half_term: board(viewer, h)._coverage_qs()),
        }
        for _ in range(3):
            dash = board(viewer, half_term)
            # Read each kept query's clones as the pages do: a page counted with its rows, a count, the rows.
            dash.overdue_listing(half_term).page("1", 2)
            dash.listing("coverage").page("1", 2)
            assert dash.overdue_listing(half_term).count >= 0
            list(dash._coverage_qs())
            again = board(viewer, half_term)
            assert sql(again._overdue_qs) == fresh["overdue"]
            assert sql(again._coverage_qs) == fresh["coverage"]


def test_the_chart_and_the_csv_reuse_their_sql_and_count_what_is_there_now(cast, terms, login):
    agreement(cast.supervisee, cast.supervisor)
    client = login(cast.head)
    client.get("/dashboard/")
    csv = client.get("/exports/compliance.csv")
    assert "Sid Supervisee" in b"".join(csv.streaming_content).decode()
    built = BUILT.builds
    agreement(person(cast, "Nat Newcomer"), cast.supervisor)
    page = client.get("/dashboard/")
    assert page.context["progress"]["owed"] == 2
    csv = b"".join(client.get("/exports/compliance.csv").streaming_content).decode()
    assert "Nat Newcomer" in csv
    assert BUILT.builds == built


def test_each_thread_keeps_its_own_and_the_oldest_go_first():
    kept = BuiltQueries(kept=2)
    assert kept.get("a", lambda: 1) == 1 and kept.get("a", lambda: 2) == 1
    kept.get("b", lambda: 3)
    kept.get("a", lambda: 4)  # "a" used last, so "b" is the oldest
    kept.get("c", lambda: 5)
    assert list(kept.items) == ["a", "c"] and kept.builds == 3

    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(kept.get("a", lambda: "built there")))
    thread.start()
    thread.join()
    assert elsewhere == ["built there"] and kept.get("a", lambda: 6) == 1


@pytest.mark.parametrize("who", ["head", "dsl", "org_admin"])
def test_every_figures_kept_query_asks_what_a_fresh_build_asks(cast, terms, who):
    from supervision.dashboard import FIGURES

    viewer = getattr(cast, who)
    slugs = [s for s, f in FIGURES.items() if hasattr(board(viewer, terms.autumn2), f"_{f.method}_qs")]
    assert len(slugs) >= 10

    def sql(slug):
        return str(board(viewer, terms.autumn2).listing(slug).queryset.query)

    BUILT.clear()
    fresh = {slug: sql(slug) for slug in slugs}
    for _ in range(2):
        dash = board(viewer, terms.autumn2)
        for slug in slugs:
            dash.listing(slug).page("1", 2)
        assert {slug: sql(slug) for slug in slugs} == fresh


def test_a_figure_kept_for_one_viewer_is_not_anothers(cast, terms, login):
    """The escalations leave out the viewer's own records: each viewer's query is their own."""
    head = board(cast.head, terms.autumn2).listing("escalations").queryset
    dsl = board(cast.dsl, terms.autumn2).listing("escalations").queryset
    assert str(head.query) != str(dsl.query)
    assert str(board(cast.head, terms.autumn2).listing("escalations").queryset.query) == str(head.query)


@pytest.mark.parametrize("who", ["head", "org_admin"])
def test_the_tiles_counted_together_count_what_each_list_has(cast, terms, who):
    from datetime import timedelta

    from records.models import Action, SafeguardingDecision
    from supervision.views.dashboard import TODAY_TILES

    today = date(2025, 11, 20)
    contract = agreement(cast.supervisee, cast.supervisor)
    signed = record(session(contract, date(2025, 10, 1)))
    record(session(contract, date(2025, 11, 10)), RecordStatus.AWAITING_SUPERVISEE)
    record(session(agreement(cast.supervisee2, cast.supervisor2), date(2025, 11, 11)), RecordStatus.AWAITING_SUPERVISOR)
    for days in (1, 20):
        Action.objects.create(
            organisation=cast.organisation,
            record=signed,
            description="Read the policy",
            owner=cast.supervisee,
            due_date=today - timedelta(days=days),
        )
    SafeguardingDecision.objects.create(
        organisation=cast.organisation, record=signed, child_reference="CP-1", decision="x", key_person=cast.dsl
    )
    person(cast, "Lou Leaving", leaving_date=today + timedelta(days=3), supervisor=cast.supervisor)
    agreement(person(cast, "Una Unsigned"), cast.supervisor, signed=None)
    agreement(person(cast, "Rue Review"), cast.supervisor2, review=today + timedelta(days=10))
    agreement(person(cast, "Ova Overdue"), cast.supervisor2, review=today - timedelta(days=10))

    together = board(getattr(cast, who), terms.autumn2)
    together.count_together(TODAY_TILES)
    counted = {slug: together.listing(slug).count for slug in TODAY_TILES}
    alone = board(getattr(cast, who), terms.autumn2)
    assert counted == {slug: alone.listing(slug).queryset.count() for slug in TODAY_TILES}
    assert sum(1 for n in counted.values() if n) >= 9  # not a comparison of zeros
    assert together.largest_caseload() == max(r.agreements for r in alone.caseloads())


def test_the_tiles_are_counted_in_one_statement(cast, terms):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from supervision.views.dashboard import TODAY_TILES

    agreement(cast.supervisee, cast.supervisor)
    board(cast.head, terms.autumn2).count_together(TODAY_TILES)  # built and kept
    dash = board(cast.head, terms.autumn2)
    with CaptureQueriesContext(connection) as queries:
        dash.count_together(TODAY_TILES)
        counts = [dash.listing(slug).count for slug in TODAY_TILES]
    # One statement: the lists' own counts, the three agreement lists' and the two supervisor lists'.
    assert len(queries) == 1 and len(counts) == len(TODAY_TILES)
    assert queries[0]["sql"].count("SELECT COUNT(*) FROM (") >= 2 and "CROSS JOIN" in queries[0]["sql"]


def _described(rows) -> list:
    return [
        (r.contract.id, r.held, bool(r.signed), bool(r.booked), r.last_held, r.caught_up, r.supervisee_name,
         r.supervisor_name, r.settings)
        for r in rows
    ]  # fmt: skip


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL of a list's read is kept on PostgreSQL")
@pytest.mark.parametrize("who", ["head", "org_admin"])
def test_a_lists_kept_read_gives_what_a_fresh_read_gives_and_compiles_once(cast, terms, who, monkeypatch):
    """A list's read of a kept query (a page with its counts, the first rows with theirs) runs the SQL kept
    under the query's key and how it was read (`Listing._read`): the same rows, counts and cells as the
    queryset read afresh, for the running half term and an ended one, and no build after the first."""
    agreement(cast.supervisee, cast.supervisor)  # never held
    held = agreement(person(cast, "Hal Held"), cast.supervisor)
    record(session(held, date(2025, 10, 1)), RecordStatus.SIGNED)
    session(held, date(2025, 11, 12))
    booked = agreement(person(cast, "Bea Booked"), cast.supervisor)
    session(booked, date(2025, 9, 10))
    session(booked, date(2025, 12, 3), SessionStatus.SCHEDULED)
    agreement(cast.supervisee2, cast.supervisor2)  # the secondary school: the admin's only
    for name in ("Ann Another", "Ben Another", "Cat Another"):  # more than a page, and than the first rows
        agreement(person(cast, name), cast.supervisor)
    viewer = getattr(cast, who)

    def reads(half_term):
        dash = board(viewer, half_term)
        page = dash.overdue_listing(half_term).page("1", 2)
        second = board(viewer, half_term).overdue_listing(half_term).page("2", 2)
        coverage = dash.listing("coverage")
        covered = coverage.page("1", 2)
        if half_term.ends < TODAY:  # ended: those still to chase first, as the home lists them
            listing = board(viewer, half_term).still_first_listing(half_term)
            also = {"still": Q(caught_up__isnull=True)}
        else:
            listing, also = board(viewer, half_term).overdue_listing(half_term), {}
        first, total, counts = listing.head_counted(2, also=also)
        return (
            _described(page.object_list), page.paginator.count, _described(covered.object_list),
            covered.paginator.count, coverage.also_counts, _described(first), total, counts,
            _described(board(viewer, half_term).overdue_listing(half_term).head(3)), _described(second.object_list),
        )  # fmt: skip

    for half_term in (terms.autumn1, terms.autumn2):
        kept = reads(half_term)
        assert kept[1] == (5 if who == "org_admin" else 4)  # never held, and the secondary's for the admin
        assert len(kept[-2]) == 3 and len(kept[-1]) == 2 and not {r[0] for r in kept[-1]} & {r[0] for r in kept[0]}
        built = BUILT.builds
        assert reads(half_term) == kept
        assert BUILT.builds == built  # read again through the SQL kept the first time
        with monkeypatch.context() as patched:
            patched.setattr(Listing, "_read", lambda self, how, read: list(read()))
            assert reads(half_term) == kept


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL of a list's read is kept on PostgreSQL")
def test_a_heads_home_after_a_change_shows_it_through_the_kept_reads(cast, terms, login):
    """The home's overdue names read through kept SQL: what is kept is how to ask, so a session booked
    takes its person off the names at once, and a new agreement puts its person on."""
    contract = agreement(cast.supervisee, cast.supervisor)
    client = login(cast.head)
    assert "Sid Supervisee" in _page(client, "/")
    assert any(key[0] == "read" for key in BUILT.items)
    built = BUILT.builds
    session(contract, date(2025, 12, 1), SessionStatus.SCHEDULED)
    agreement(person(cast, "Nat Newcomer"), cast.supervisor)
    page = client.get("/").context["overdue"]
    assert [r.supervisee_name for r in page.not_booked] == ["Nat Newcomer"]
    assert BUILT.builds == built
