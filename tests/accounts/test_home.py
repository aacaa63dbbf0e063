"""Each person's home page: what exists for them, at a cost that does not grow with their caseload."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role

from ..factories import StaffFactory


def _home_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def _supervisees(cast, count):
    for i in range(count):
        StaffFactory(
            organisation=cast.organisation,
            settings=[cast.primary, cast.secondary] if i % 2 else [cast.primary],
            supervisor=cast.head,
            days=[1, 3] if i % 2 else None,
            roles=[(Role.SUPERVISOR, cast.primary)] if i % 3 == 0 else [],
        )


def test_home_queries_do_not_grow_with_the_number_of_supervisees(cast, login):
    client = login(cast.head)
    _supervisees(cast, 3)
    small, response = _home_queries(client)
    assert len(response.context["supervisees"]) == 2 + 3  # the DSL and the supervisor, and the new three
    _supervisees(cast, 30)
    large, response = _home_queries(client)
    assert len(response.context["supervisees"]) == 2 + 33
    assert small == large


def test_home_queries_of_an_org_admin_do_not_grow_with_the_organisation(cast, login):
    client = login(cast.org_admin)
    small, _ = _home_queries(client)
    _supervisees(cast, 30)
    large, response = _home_queries(client)
    assert response.context["admin_counts"]["current"] == 8 + 30
    assert small == large


def test_home_shows_a_supervisee_their_supervisor_settings_and_days(cast, login):
    response = login(cast.supervisee).get("/")
    page = response.content.decode()
    assert response.context["my_supervisor"] == cast.supervisor
    assert "Sam Supervisor" in page
    assert "Cast Primary" in page
    assert "Mon Tue Wed Thu Fri" in page
    # Nothing of the supervisor's or admin's panels.
    assert "supervisees" not in response.context
    assert "admin_counts" not in response.context
    assert "recent_events" not in response.context


def test_home_shows_a_head_the_settings_they_lead(cast, login):
    response = login(cast.head).get("/")
    assert [(s.name, s.people) for s in response.context["led_settings"]] == [("Cast Primary", 6)]
