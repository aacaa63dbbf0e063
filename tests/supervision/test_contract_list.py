"""`/contracts/` at a trust's size: 50 agreements a page in the database, the wording never loaded, and a
search for a supervisee or supervisor by name or email that the page links keep."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from supervision.models import Contract
from supervision.views.contracts import CONTRACT_PAGE_SIZE, WORDING

from ..factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/contracts/"


def _agreements(cast, count, *, start=0):
    """`count` current agreements with the cast's supervisor, each with a new supervisee (Person 000...)."""
    people = [
        StaffFactory(
            organisation=cast.organisation,
            settings=[cast.primary],
            user=UserFactory(full_name=f"Person {i:03d}", email=f"person.{i:03d}@trust.example"),
        )
        for i in range(start, start + count)
    ]
    return Contract.objects.bulk_create(
        Contract(
            organisation=cast.organisation,
            supervisee=p,
            supervisor=cast.supervisor,
            start_date=date(2025, 9, 1),
            review_date=date(2026, 9, 1),
            purpose="A long purpose " * 50,
            confidentiality_terms="Terms " * 50,
        )  # fmt: skip
        for p in people
    )


def _get(client, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, params or {})
    assert response.status_code == 200
    return response, len(ctx.captured_queries)


def _names(response):
    return [c.supervisee.user.full_name for c in response.context["contracts"]]


def test_an_admin_pages_through_the_trusts_agreements_at_a_fixed_cost(cast, login):
    client = login(cast.org_admin)
    _agreements(cast, 3)
    response, few = _get(client)
    assert response.context["page"].paginator.count == 3
    _agreements(cast, CONTRACT_PAGE_SIZE + 2, start=3)
    response, many = _get(client)
    assert few == many
    assert len(response.context["contracts"]) == CONTRACT_PAGE_SIZE
    assert response.context["page"].paginator.count == CONTRACT_PAGE_SIZE + 5
    assert _names(response)[:2] == ["Person 000", "Person 001"]
    page = response.content.decode()
    assert "Page 1 of 2" in page and 'href="?show=current&amp;page=2"' in page
    second, _ = _get(client, {"page": 2})
    assert _names(second) == ["Person 050", "Person 051", "Person 052", "Person 053", "Person 054"]


def test_the_wording_is_not_loaded_for_the_list(cast, login):
    _agreements(cast, 2)
    response, _ = _get(login(cast.org_admin))
    for contract in response.context["contracts"]:
        assert set(WORDING) <= contract.get_deferred_fields()
    with CaptureQueriesContext(connection) as ctx:
        login(cast.org_admin).get(URL)
    contract_query = next(
        q["sql"] for q in ctx.captured_queries if 'FROM "supervision_contract"' in q["sql"] and "LIMIT" in q["sql"]
    )
    assert "confidentiality_terms" not in contract_query and "purpose" not in contract_query


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("person 05", ["Person 050", "Person 051"]),  # name, any case
        ("PERSON.051@trust", ["Person 051"]),  # email
        ("Sam Supervisor", [f"Person {i:03d}" for i in range(50)]),  # the supervisor's name: a full first page
    ],
)
def test_the_search_finds_a_supervisee_or_supervisor_by_name_or_email(cast, login, q, expected):
    _agreements(cast, 52)
    response, _ = _get(login(cast.org_admin), {"q": q})
    assert _names(response) == expected
    assert response.context["searched"] == q


def test_the_page_links_keep_the_search_and_the_choice_of_agreements(cast, login):
    _agreements(cast, 52)
    client = login(cast.org_admin)
    response, _ = _get(client, {"q": "Person", "show": "all"})
    page = response.content.decode()
    assert 'href="?show=all&amp;q=Person&amp;page=2"' in page
    assert 'href="?show=current&amp;q=Person"' in page  # the pills keep the search
    second, _ = _get(client, {"q": "Person", "show": "all", "page": "2"})
    assert _names(second) == ["Person 050", "Person 051"]


def test_a_search_that_matches_nobody_says_so(cast, login):
    _agreements(cast, 2)
    response, _ = _get(login(cast.org_admin), {"q": "Nobody by this name"})
    assert response.context["contracts"] == []
    assert "No agreement matches" in response.content.decode()


def test_the_search_stays_within_what_the_person_may_see(cast, login):
    _agreements(cast, 2)
    # The supervisee sees their own agreements only, whatever they search for.
    response, _ = _get(login(cast.supervisee2), {"q": "Person"})
    assert response.context["contracts"] == []
    response, _ = _get(login(cast.outsider), {"q": "Person 000"})
    assert response.context["contracts"] == []


def test_a_search_longer_than_allowed_shows_the_error_and_lists_unfiltered(cast, login):
    _agreements(cast, 2)
    response, _ = _get(login(cast.org_admin), {"q": "x" * 201})
    assert "Ensure this value has at most 200 characters" in response.content.decode()
    assert len(response.context["contracts"]) == Contract.objects.visible_to(cast.org_admin).current().count()
