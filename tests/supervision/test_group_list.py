"""`/groups/` at a trust's size: 24 groups a page in the database, their members loaded for that page
only, and a search by the group's or the setting's name that the page links keep (issue 14)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from supervision.models import SupervisionGroup
from supervision.views.notes import GROUP_PAGE_SIZE

pytestmark = pytest.mark.django_db

URL = "/groups/"


def _groups(cast, count, *, start=0, setting=None, organisation=None, supervisor=None):
    """`count` groups named Group 000..., each with the cast's two supervisees as members."""
    setting = setting or cast.primary
    groups = SupervisionGroup.objects.bulk_create(
        SupervisionGroup(
            organisation=organisation or cast.organisation,
            setting=setting,
            name=f"Group {i:03d}",
            supervisor=supervisor or cast.supervisor,
            confidentiality_boundaries="What is said stays in the room.",
        )
        for i in range(start, start + count)
    )
    if organisation is None:
        for group in groups:
            group.members.set([cast.supervisee, cast.supervisee2])
    return groups


def _get(client, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, params or {})
    assert response.status_code == 200
    return response, len(ctx.captured_queries)


def _names(response):
    return [g.name for g in response.context["groups"]]


def test_an_admin_pages_through_the_trusts_groups_at_a_fixed_cost(cast, login):
    client = login(cast.org_admin)
    _groups(cast, 3)
    _groups(cast, 2, start=500, organisation=cast.other_organisation, setting=cast.other_setting,
            supervisor=cast.outsider)  # fmt: skip
    response, few = _get(client)
    assert _names(response) == ["Group 000", "Group 001", "Group 002"]
    assert response.context["page"].paginator.count == 3
    _groups(cast, GROUP_PAGE_SIZE + 2, start=3)
    response, many = _get(client)
    assert few == many
    assert len(response.context["groups"]) == GROUP_PAGE_SIZE
    assert response.context["page"].paginator.count == GROUP_PAGE_SIZE + 5
    page = response.content.decode()
    assert "Page 1 of 2" in page and 'href="?page=2"' in page
    # Members by name, the page's groups only.
    assert "Sal Supervisee, Sid Supervisee" in page
    second, _ = _get(client, {"page": 2})
    assert _names(second) == [f"Group {i:03d}" for i in range(GROUP_PAGE_SIZE, GROUP_PAGE_SIZE + 5)]
    # Another organisation's groups never show, even on a page past the end.
    last, _ = _get(client, {"page": 99})
    assert _names(last) == _names(second)


def test_the_search_finds_a_group_or_setting_by_part_of_its_name_and_the_pages_keep_it(cast, login):
    client = login(cast.org_admin)
    _groups(cast, GROUP_PAGE_SIZE + 1)
    _groups(cast, 2, start=900, setting=cast.secondary, supervisor=cast.supervisor2)
    response, _ = _get(client, {"q": "group 01"})
    assert _names(response) == [f"Group {i:03d}" for i in range(10, 20)]
    assert "10 groups matching “group 01”" in response.content.decode()
    by_setting, _ = _get(client, {"q": "secondary"})
    assert _names(by_setting) == ["Group 900", "Group 901"]
    paged, _ = _get(client, {"q": "group", "page": 2})
    assert _names(paged) == [f"Group {GROUP_PAGE_SIZE:03d}", "Group 900", "Group 901"]
    assert 'href="?q=group&amp;page=1"' in paged.content.decode()
    nothing, _ = _get(client, {"q": "no such group"})
    assert nothing.context["groups"] == [] and "No group matches" in nothing.content.decode()


def test_a_search_with_control_characters_gets_a_message_and_lists_nothing_different(cast, login):
    client = login(cast.org_admin)
    _groups(cast, 2)
    response, _ = _get(client, {"q": "Group\x00"})
    assert response.context["form"].errors["q"]
    # Beside the field, and named by it for a screen reader.
    page = response.content.decode()
    assert 'aria-describedby="id_q_error"' in page and 'id="id_q_error">Null characters' in page
    assert _names(response) == ["Group 000", "Group 001"]


def test_a_supervisee_sees_only_their_own_groups(cast, login):
    mine = _groups(cast, 1)[0]
    others = _groups(cast, 1, start=1, setting=cast.secondary, supervisor=cast.supervisor2)[0]
    others.members.set([cast.supervisee2])
    response, _ = _get(login(cast.supervisee))
    assert _names(response) == [mine.name]
    empty, _ = _get(login(cast.supervisee), {"q": "zzz"})
    assert "No group matches" in empty.content.decode()
