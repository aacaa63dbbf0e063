"""The planner in bounded pages (issue 14): a whole trust's plan was 11,000 rows, 10.9 MB of HTML, and a
booking of more than about 250 rows broke Django's DATA_UPLOAD_MAX_NUMBER_FIELDS.

An organisation with more agreements than a page is planned a setting at a time (and last, the people in
no open setting); a plan longer than a page is shown, checked and booked a page of rows at a time. Small
organisations keep their plan on one page. The pages' size is lowered here to exercise the paging.
"""

import re
from datetime import date
from html import escape

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from supervision import planner
from supervision.models import HalfTerm, Session
from supervision.views import planner as planner_view
from tests.factories import SettingFactory, StaffFactory

from .helpers import autumn_two_2026, plan_form, planner_agreements, signed_contract

pytestmark = pytest.mark.django_db

TODAY = "2026-10-01 09:00 +0100"
URL = reverse("supervision:planner")


@pytest.fixture(autouse=True)
def _today(time_machine):
    time_machine.move_to(TODAY, tick=False)


@pytest.fixture
def half_term(cast):
    return autumn_two_2026(cast.organisation)


@pytest.fixture
def agreements(cast):
    """Three in the primary (Sam and Dev with the head, Sid with Sam), one in the secondary (Sal), and one
    of a person whose only setting has closed (Cal)."""
    closed = SettingFactory(organisation=cast.organisation, name="Cast Annexe", closed_on=date(2026, 7, 31))
    cal = StaffFactory(organisation=cast.organisation, settings=[closed], user__full_name="Cal Closed")
    return {**planner_agreements(cast), "cal": signed_contract(cal, cast.supervisor2, start=date(2026, 9, 1))}


@pytest.fixture
def page_rows(monkeypatch):
    def set_rows(n):
        monkeypatch.setattr(planner_view, "PAGE_ROWS", n)

    return set_rows


def _get(client, half_term, **params):
    response = client.get(URL, {"half_term": half_term.code, **params})
    assert response.status_code == 200
    return response


def _names(response) -> set[str]:
    return {row["contract"].supervisee.full_name for row in response.context["rows"]}


def _rows_of(response):
    return [
        (form.initial["contract"], form.initial["date"], form.initial["time"].strftime("%H:%M"))
        for form in response.context["formset"]
    ]


def _everything(response) -> set[int]:
    """Every agreement the page accounts for: proposed, not placed, or already booked."""
    plan = response.context["plan"]
    return {p.contract.id for p in plan.proposals} | {u.contract.id for u in plan.unplaced + plan.already_booked}


def test_a_small_organisations_whole_plan_is_one_page(cast, agreements, half_term, login):
    response = _get(login(cast.org_admin), half_term, caseload="organisation")
    assert "parts" not in response.context and "pager" not in response.context
    assert _names(response) == {"Sam Supervisor", "Dev Dsl", "Sid Supervisee", "Sal Supervisee", "Cal Closed"}
    page = response.content.decode()
    assert "One setting at a time" not in page and 'name="setting"' not in page


def test_a_large_organisations_plan_is_shown_a_setting_at_a_time(cast, agreements, half_term, login, page_rows):
    client = login(cast.org_admin)
    whole = _everything(_get(client, half_term, caseload="organisation"))
    page_rows(3)  # five agreements: more than a page; the primary's three rows: one page
    first = _get(client, half_term, caseload="organisation")
    parts = first.context["parts"]
    assert [(p.label, p.people) for p in parts] == [
        ("Cast Primary", 3),
        ("Cast Secondary", 1),
        ("People in no open setting", 1),
    ]
    assert first.context["part"].label == "Cast Primary"
    assert _names(first) == {"Sam Supervisor", "Dev Dsl", "Sid Supervisee"}
    page = first.content.decode()
    assert "Everyone in Cast Trust: Cast Primary: setting 1 of 3, with 3 people to plan." in page
    assert "Cast Secondary (1 person to plan)" in page and "People in no open setting (1 person to plan)" in page
    assert f'href="{escape(parts[1].url)}"' in page and "Next setting: Cast Secondary" in page
    assert "Previous setting" not in page

    second = _get(client, half_term, caseload="organisation", setting=str(cast.secondary.code))
    assert _names(second) == {"Sal Supervisee"}
    assert "Previous setting: Cast Primary" in second.content.decode()
    last = _get(client, half_term, caseload="organisation", setting="others")
    assert _names(last) == {"Cal Closed"}
    assert "Next setting" not in last.content.decode()
    # Every agreement of the whole plan is on a part; an unknown part shows the first.
    assert _everything(first) | _everything(second) | _everything(last) == whole
    unknown = _get(client, half_term, caseload="organisation", setting="not-a-setting")
    assert unknown.context["part"].label == "Cast Primary"


def test_a_settings_part_plans_its_own_people_only(cast, agreements, half_term, login, page_rows, monkeypatch):
    """Busy times, hours and school days are loaded for the part's people, not the organisation's."""
    page_rows(2)
    loaded = []

    class Recording(planner.Availability):
        def __init__(self, organisation, people, first, last):
            loaded.append({p.full_name for p in people})
            super().__init__(organisation, people, first, last)

    monkeypatch.setattr(planner, "Availability", Recording)
    _get(login(cast.org_admin), half_term, caseload="organisation", setting=str(cast.secondary.code))
    assert loaded == [{"Sal Supervisee", "Sue Supervisor"}]


def test_a_plan_longer_than_a_page_is_shown_a_page_of_rows_at_a_time(cast, agreements, half_term, login, page_rows):
    client = login(cast.head)
    primary = str(cast.primary.code)
    whole = _rows_of(_get(client, half_term, caseload=primary))
    assert len(whole) == 3
    page_rows(2)
    first = _get(client, half_term, caseload=primary)
    second = _get(client, half_term, caseload=primary, page=2)
    assert _rows_of(first) + _rows_of(second) == whole
    here = f"{URL}?half_term={half_term.code}&caseload={primary}"
    assert (first.context["pager"]["next_url"], second.context["pager"]["previous_url"]) == (f"{here}&page=2", here)
    assert "Sessions 1 to 2 of 3, page 1 of 2" in first.content.decode()
    assert "Sessions 3 to 3 of 3, page 2 of 2" in second.content.decode()
    assert 'name="page" value="2"' in second.content.decode()
    # Past the end: the last page; nonsense: the first.
    assert _rows_of(_get(client, half_term, caseload=primary, page=9)) == _rows_of(second)
    assert _rows_of(_get(client, half_term, caseload=primary, page="x")) == _rows_of(first)


def test_a_page_is_checked_and_booked_on_its_own(cast, agreements, half_term, login, page_rows):
    client = login(cast.head)
    primary = str(cast.primary.code)
    page_rows(2)
    rows = _rows_of(_get(client, half_term, caseload=primary, page=2))
    data = plan_form(half_term, primary, rows) | {"page": 2}
    check = client.post(URL, data)
    assert "1 session for 1 supervisor" in check.content.decode()
    assert 'name="page" value="2"' in check.content.decode()
    confirm = client.post(URL, data | {"action": "confirm", "checked": check.context["checked"]})
    assert confirm.status_code == 302
    assert list(Session.objects.values_list("contract__code", flat=True)) == [rows[0][0]]


def test_a_check_of_one_part_or_page_confirms_nothing_of_another(cast, agreements, half_term, login, page_rows):
    """The digest covers the rows and where they were planned: a confirmation sent with another setting or
    page, or with its rows changed, shows the check page again and books nothing."""
    client = login(cast.org_admin)
    page_rows(2)
    secondary = str(cast.secondary.code)
    rows = _rows_of(_get(client, half_term, caseload="organisation", setting=secondary))
    data = plan_form(half_term, "organisation", rows) | {"setting": secondary}
    checked = client.post(URL, data).context["checked"]
    confirm = data | {"action": "confirm", "checked": checked}
    for tampered in (
        confirm | {"page": 2},
        confirm | {"rows-0-time": "15:45"},
        confirm | {"half_term": HalfTerm.objects.filter(organisation=cast.organisation).last().code},
    ):
        response = client.post(URL, tampered)
        assert response.status_code == 200
    # Sent as the primary's: Sal's agreement is not on that part, so the row is refused.
    refused = client.post(URL, confirm | {"setting": str(cast.primary.code)})
    assert refused.status_code == 200
    assert "This agreement is not in the caseload you are planning." in refused.content.decode()
    assert not Session.objects.exists()
    # Untouched, it books.
    assert client.post(URL, confirm).status_code == 302
    assert Session.objects.count() == len(rows)


def test_rows_of_another_setting_slipped_into_a_parts_booking_are_refused(
    cast, agreements, half_term, login, page_rows
):
    client = login(cast.org_admin)
    page_rows(2)
    primary, secondary = str(cast.primary.code), str(cast.secondary.code)
    mine = _rows_of(_get(client, half_term, caseload="organisation", setting=primary))
    theirs = _rows_of(_get(client, half_term, caseload="organisation", setting=secondary))
    data = plan_form(half_term, "organisation", mine + theirs) | {"setting": primary}
    response = client.post(URL, data)
    assert response.status_code == 200
    assert "This agreement is not in the caseload you are planning." in response.content.decode()
    assert not Session.objects.exists()


def test_a_part_takes_the_same_number_of_queries_for_small_and_large_settings(
    cast, agreements, half_term, login, page_rows
):
    client = login(cast.org_admin)
    page_rows(1)

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = _get(client, half_term, caseload="organisation", setting=str(cast.primary.code))
        return len(queries), response.context["proposals_total"]

    small, small_rows = count()
    for _ in range(6):
        signed_contract(StaffFactory(organisation=cast.organisation, settings=[cast.primary]), cast.supervisor)
    large, large_rows = count()
    assert (small_rows, large_rows) == (3, 9)
    assert small == large


def test_a_full_page_books_within_djangos_limit_on_fields(cast, agreements, half_term, login, page_rows):
    """DATA_UPLOAD_MAX_NUMBER_FIELDS is a defence against floods of fields and stays as it is: a full page's
    plan and check forms must post fewer fields than it allows."""
    client = login(cast.org_admin)
    full_page = planner_view.PAGE_ROWS
    page_rows(2)
    plan = _get(client, half_term, caseload="organisation", setting=str(cast.primary.code))
    check = client.post(URL, plan_form(half_term, "organisation", _rows_of(plan)) | {"setting": str(cast.primary.code)})
    for page in (plan.content.decode(), check.content.decode()):
        form = page[page.rindex("<form", 0, page.index("rows-TOTAL_FORMS")) :]
        names = re.findall(r'name="([^"]+)"', form[: form.index("</form>")])
        row_fields = [n for n in names if n.startswith("rows-0-")]
        other_fields = [n for n in names if not re.match(r"rows-\d+-", n)]
        assert row_fields and len(names) == len(other_fields) + 2 * len(row_fields)
        assert len(other_fields) + full_page * len(row_fields) < settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
