"""The planner opens on one's own supervisees and books only from its check page (issue 16, fault 4).

A head or DSL once booked a whole setting with one Enter: the planner opened on the setting with every
row ticked, and its button booked and sent the invitations at once.
"""

from datetime import date

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from supervision.models import Session
from tests.factories import StaffFactory

from .helpers import autumn_two_2026, plan_form, planner_agreements, signed_contract

pytestmark = pytest.mark.django_db

TODAY = "2026-10-01 09:00 +0100"


@pytest.fixture(autouse=True)
def _today(time_machine):
    time_machine.move_to(TODAY, tick=False)


@pytest.fixture
def half_term(cast):
    return autumn_two_2026(cast.organisation)


@pytest.fixture
def agreements(cast):
    """The head supervises Sam and the DSL; Sam supervises Sid (all three in the primary); Sue supervises Sal."""
    return planner_agreements(cast)


def _plan(client, half_term, caseload=None):
    params = {"half_term": half_term.code}
    if caseload:
        params["caseload"] = caseload
    response = client.get(reverse("supervision:planner"), params)
    assert response.status_code == 200
    return response


def _rows_of(response):
    """The page's proposed rows as (contract code, date, "HH:MM")."""
    return [
        (form.initial["contract"], form.initial["date"], form.initial["time"].strftime("%H:%M"))
        for form in response.context["formset"]
    ]


def _post(client, half_term, caseload, rows, *, action="check", unticked=(), checked=None):
    ticked = [i for i in range(len(rows)) if i not in unticked]
    data = plan_form(half_term, caseload, rows, action=action, ticked=ticked)
    if checked is not None:
        data["checked"] = checked
    return client.post(reverse("supervision:planner"), data)


def _supervisees(response) -> set[str]:
    return {row["contract"].supervisee.full_name for row in response.context["rows"]}


def test_a_head_opens_the_planner_on_their_own_supervisees(cast, agreements, half_term, login):
    client = login(cast.head)
    response = client.get(reverse("supervision:planner"))
    assert response.context["caseload"] == "mine"
    assert _supervisees(response) == {"Sam Supervisor", "Dev Dsl"}
    page = response.content.decode()
    assert "Sid Supervisee" not in page and "Sal Supervisee" not in page
    # A clear way to widen the plan to the setting they lead (and no further).
    assert "You are planning your own supervisees only." in page
    assert f"caseload={cast.primary.code}" in page and f"caseload={cast.secondary.code}" not in page
    widened = _plan(client, half_term, str(cast.primary.code))
    assert _supervisees(widened) == {"Sam Supervisor", "Dev Dsl", "Sid Supervisee"}


def test_a_dsl_with_no_supervisees_is_told_how_to_widen_the_plan(cast, agreements, half_term, login):
    response = login(cast.dsl).get(reverse("supervision:planner"))
    page = response.content.decode()
    assert "None of your own supervisees are due in this half term" in page
    assert "Sid Supervisee" not in page and 'type="date"' not in page
    assert f"caseload={cast.primary.code}" in page


def test_an_organisation_admin_may_widen_to_the_whole_organisation(cast, agreements, half_term, login):
    client = login(cast.org_admin)
    assert _supervisees(client.get(reverse("supervision:planner"))) == set()
    whole = client.get(reverse("supervision:planner"), {"caseload": "organisation"})
    assert whole.context["caseload_label"] == "Everyone in Cast Trust"
    assert _supervisees(whole) == {"Sam Supervisor", "Dev Dsl", "Sid Supervisee", "Sal Supervisee"}
    # A head who leads one setting cannot ask for the whole organisation: they get their own supervisees.
    assert (
        login(cast.head).get(reverse("supervision:planner"), {"caseload": "organisation"}).context["caseload"] == "mine"
    )


def test_a_post_from_the_plan_shows_the_check_page_and_books_nothing(cast, agreements, half_term, login):
    client = login(cast.head)
    primary = str(cast.primary.code)
    rows = _rows_of(_plan(client, half_term, primary))
    assert len(rows) == 3
    response = _post(client, half_term, primary, rows)
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "supervision/planner_check.html"
    page = response.content.decode()
    assert "3 sessions for 2 supervisors; 6 invitations will be sent." in page
    assert "Hana Head: 2 sessions" in page and "Sam Supervisor: 1 session<" in page
    assert "Book these sessions" in page and "Go back and change" in page
    assert not Session.objects.exists() and mail.outbox == []
    # One ticked row: singular words.
    one = _post(client, half_term, primary, rows, unticked={1, 2}).content.decode()
    assert "1 session for 1 supervisor; 2 invitations will be sent." in one


def test_a_confirmation_without_the_check_shows_the_check_page(cast, agreements, half_term, login):
    """The old form (a page open since before the change, or a crafted POST) said action=confirm at once."""
    client = login(cast.head)
    primary = str(cast.primary.code)
    rows = _rows_of(_plan(client, half_term, primary))
    response = _post(client, half_term, primary, rows, action="confirm")
    assert response.status_code == 200
    assert "3 sessions for 2 supervisors" in response.content.decode()
    assert not Session.objects.exists()
    # Rows changed after the check are checked again, not booked.
    checked = response.context["checked"]
    moved = _post(client, half_term, primary, rows, action="confirm", unticked={0}, checked=checked)
    assert moved.status_code == 200
    assert "2 sessions for 2 supervisors; 4 invitations will be sent." in moved.content.decode()
    assert not Session.objects.exists()


def test_the_confirmation_books_and_sends_exactly_the_invitations_counted(
    cast, agreements, half_term, login, django_capture_on_commit_callbacks
):
    client = login(cast.head)
    primary = str(cast.primary.code)
    rows = _rows_of(_plan(client, half_term, primary))
    # Sid's row is left unticked: the head's two supervisees are booked.
    unticked = {i for i, row in enumerate(rows) if row[0] == agreements["sid"].code}
    check = _post(client, half_term, primary, rows, unticked=unticked)
    assert "2 sessions for 1 supervisor; 4 invitations will be sent." in check.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            client, half_term, primary, rows, action="confirm", unticked=unticked, checked=check.context["checked"]
        )
    assert response.status_code == 302
    assert set(Session.objects.values_list("contract", flat=True)) == {agreements["sam"].id, agreements["dev"].id}
    assert len(mail.outbox) == 4
    assert {to for message in mail.outbox for to in message.to} == {
        cast.head.user.email,
        cast.supervisor.user.email,
        cast.dsl.user.email,
    }


def test_going_back_keeps_the_ticks_and_the_changed_times(cast, agreements, half_term, login):
    client = login(cast.head)
    primary = str(cast.primary.code)
    rows = _rows_of(_plan(client, half_term, primary))
    code, day, _time = rows[0]
    rows[0] = (code, day, "15:00")
    response = _post(client, half_term, primary, rows, action="back", unticked={1})
    assert response.status_code == 200
    assert "Nothing was booked" not in response.content.decode()
    forms = response.context["formset"]
    assert [f.cleaned_data["include"] for f in forms] == [True, False, True]
    assert forms[0].cleaned_data["time"].strftime("%H:%M") == "15:00"
    assert not Session.objects.exists()


def test_each_row_says_the_agreements_frequency_in_the_caseloads_words(cast, half_term, login):
    cast.supervisee.new_to_post = True
    cast.supervisee.save(update_fields=["new_to_post"])
    signed_contract(cast.supervisee, cast.supervisor, start=date(2026, 9, 1))
    page = login(cast.supervisor).get(reverse("supervision:planner")).content.decode()
    assert '<th scope="col">Frequency</th>' in page
    assert "Monthly while new to post (agreement: half-termly)" in page


def test_the_check_page_takes_the_same_number_of_queries_for_2_and_6_rows(cast, half_term, login):
    client = login(cast.supervisor)

    def count_queries():
        rows = _rows_of(_plan(client, half_term, "mine"))
        with CaptureQueriesContext(connection) as queries:
            response = _post(client, half_term, "mine", rows)
        assert response.context["check"].sessions == len(rows)
        return len(queries), len(rows)

    for _ in range(2):
        signed_contract(StaffFactory(organisation=cast.organisation, settings=[cast.primary]), cast.supervisor)
    small, small_rows = count_queries()
    for _ in range(4):
        signed_contract(StaffFactory(organisation=cast.organisation, settings=[cast.primary]), cast.supervisor)
    large, large_rows = count_queries()
    assert (small_rows, large_rows) == (2, 6)
    assert small == large
