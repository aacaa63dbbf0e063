"""Issue 16, the dashboard's friction: the running half term shows held, booked and not booked, and an
ended half term's overdue list says when each person caught up rather than counting days for ever."""

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import time_machine

from records.models import RecordStatus
from supervision import services
from supervision.dashboard import Dashboard
from supervision.models import HalfTerm, SessionStatus

from .test_dashboard import agreement, board, person, record, session

pytestmark = pytest.mark.django_db

TODAY = date(2025, 11, 20)  # Autumn 2 runs (Mon 3 Nov to Fri 19 Dec 2025); Autumn 1 ended Fri 24 Oct


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
    )


def test_the_running_half_term_shows_held_booked_and_not_booked(cast, terms, login):
    signed = agreement(cast.supervisee, cast.supervisor)
    record(session(signed, date(2025, 11, 5)))
    unsigned = agreement(person(cast, "Una Unsigned"), cast.supervisor)
    record(session(unsigned, date(2025, 11, 6)), RecordStatus.AWAITING_SUPERVISOR)
    booked = agreement(person(cast, "Bob Booked"), cast.supervisor)
    session(booked, date(2025, 12, 1), SessionStatus.SCHEDULED)
    agreement(person(cast, "Nat Nothing"), cast.supervisor)
    cancelled = agreement(person(cast, "Cas Cancelled"), cast.supervisor)
    session(cancelled, date(2025, 11, 25), SessionStatus.CANCELLED)

    response = login(cast.head).get("/dashboard/")
    assert response.context["progress"] == {"owed": 5, "held": 2, "booked": 1, "not_booked": 2}
    text = " ".join(response.content.decode().split())
    assert "of 5 agreements owed supervision: <strong>2</strong> held, <strong>1</strong> booked," in text
    assert "<strong>2</strong> not booked</a>" in text
    # The same figures as the tiles: 1 of 5 held and signed, 2 not booked yet.
    tiles = dict(response.context["half_term_tiles"])
    assert "1 of 5" in tiles["coverage"].label and tiles["overdue"].number == "2"


def test_an_ended_half_term_shows_no_progress_line(cast, terms, login):
    agreement(cast.supervisee, cast.supervisor)
    response = login(cast.head).get(f"/dashboard/?half_term={terms.autumn1.code}")
    assert response.context["progress"] is None
    assert "half-term-progress" not in response.content.decode()


def test_last_half_terms_overdue_list_says_when_each_caught_up(cast, terms, login):
    late = agreement(cast.supervisee, cast.supervisor)
    session(late, date(2025, 10, 1), SessionStatus.MISSED)
    session(late, date(2025, 11, 4))  # Tue 4 Nov: caught up after Autumn 1 ended
    last = record(session(late, date(2025, 11, 18)))
    agreement(person(cast, "Nat Never"), cast.supervisor)
    booked_only = agreement(person(cast, "Bob Booked"), cast.supervisor)
    session(booked_only, date(2025, 12, 1), SessionStatus.SCHEDULED)  # booked, not held yet

    rows = {r.contract.supervisee.full_name: r for r in board(cast.org_admin, terms.autumn1).overdue()}
    assert rows["Sid Supervisee"].overdue_label == "Caught up on Tue 4 Nov 2025"
    assert rows["Nat Never"].overdue_label == "27 days"
    assert rows["Bob Booked"].overdue_label == "27 days"
    # Still overdue in Autumn 1's figures: catching up later does not change what happened then.
    assert len(rows) == 3

    client = login(cast.head)
    page = client.get(f"/dashboard/overdue/?half_term={terms.autumn1.code}").content.decode()
    assert "Caught up on Tue 4 Nov 2025" in page and "27 days" in page
    dashboard = client.get(f"/dashboard/?half_term={terms.autumn1.code}").content.decode()
    assert "Caught up on Tue 4 Nov 2025" in dashboard
    # Each row's cells: the badge's tone, and the last held day linked to its record (or "Never").
    for html in (page, dashboard):
        assert '<span class="badge text-bg-success">Caught up on Tue 4 Nov 2025</span>' in html
        assert html.count('<span class="badge text-bg-danger">27 days</span>') == 2
        assert (
            f'<a href="/records/{last.code}/">Tue 18 Nov 2025'
            '<span class="visually-hidden">: the record of Sid Supervisee\'s last session</span></a>'
        ) in html
        assert '<span class="text-body-secondary">Never</span>' in html


def test_while_a_half_term_runs_the_overdue_rows_are_not_booked_not_caught_up(cast, terms):
    agreement(cast.supervisee, cast.supervisor)
    rows = board(cast.org_admin, terms.autumn2).overdue()
    assert [r.overdue_label for r in rows] == ["Not booked"] and rows[0].caught_up is None


def test_progress_counts_do_not_grow_with_the_rows(cast, terms):
    """The progress line is counted in the database: the same queries for 1 and for 30 agreements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries():
        dash = Dashboard(
            viewer=cast.org_admin,
            half_term=terms.autumn2,
            settings=[cast.primary, cast.secondary],
            whole_organisation=True,
            today=TODAY,
        )
        with CaptureQueriesContext(connection) as captured:
            dash.progress()
        return len(captured)

    agreement(cast.supervisee, cast.supervisor)
    few = queries()
    for n in range(30):
        c = agreement(person(cast, f"Many {n:02d}"), cast.supervisor)
        if n % 2:
            session(c, date(2025, 11, 3) + timedelta(days=n % 14))
    assert queries() == few
