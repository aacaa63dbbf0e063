"""Who takes part in what: the records, sessions and actions a person reaches as a participant, found by
index-backed queries in their own organisation (`of_participant`, `involving`, `/actions/`), at a cost in
queries that does not grow with the rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from records import services
from records.models import Action, Record
from records.views.actions import _actions_in_reach
from supervision import services as supervision_services
from supervision.models import Session
from tests.supervision.helpers import at

from .helpers import written_record

pytestmark = pytest.mark.django_db


def _group_record(cast):
    group = supervision_services.group_create(
        actor=cast.head, name="Team", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, cast.supervisor2], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    session = supervision_services.session_book(
        actor=cast.dsl, group=group, starts_at=at(timezone.localdate() - timedelta(days=1), 14), minutes=45,
        check=False, send=False,
    )  # fmt: skip
    return services.record_start(actor=cast.dsl, session=session)


@pytest.fixture
def records(cast):
    one_to_one = written_record(cast)
    other = written_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)
    group = _group_record(cast)
    for record, owner in ((one_to_one, cast.supervisee), (other, cast.supervisee2), (group, cast.dsl)):
        services.action_add(
            actor=record.supervisor, record=record, description=f"For {owner}", owner=owner,
            due_date=timezone.localdate() + timedelta(days=7),
        )  # fmt: skip
    return one_to_one, other, group


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("supervisee", {"one_to_one", "group"}),  # supervised alone, and a group participant
        ("supervisor", {"one_to_one"}),  # wrote one
        ("supervisee2", {"other"}),
        ("supervisor2", {"other", "group"}),  # wrote one, a participant in another
        ("dsl", {"group"}),  # wrote the group's
        ("head", set()),
        ("outsider", set()),
    ],
)
def test_each_person_reaches_the_records_sessions_and_actions_they_take_part_in(cast, records, person, expected):
    names = dict(zip(("one_to_one", "other", "group"), records, strict=True))
    staff = getattr(cast, person)
    found = {name for name, r in names.items() if r in Record.objects.of_participant(staff)}
    assert found == expected
    sessions = {name for name, r in names.items() if r.session in Session.objects.involving(staff)}
    assert sessions == expected
    actions = {name for name, r in names.items() if _actions_in_reach(staff).filter(record=r).exists()}
    assert actions == expected
    # Each once, whatever the number of ways the person takes part.
    assert Record.objects.of_participant(staff).count() == len(expected)
    assert Session.objects.involving(staff).count() == len(expected)


def test_an_action_owned_by_someone_outside_the_record_reaches_its_owner(cast, records):
    one_to_one, _, _ = records
    action = services.action_add(
        actor=cast.supervisor, record=one_to_one, description="Ask the head", owner=cast.head,
        due_date=timezone.localdate() + timedelta(days=7),
    )  # fmt: skip
    assert list(_actions_in_reach(cast.head)) == [action]
    assert _actions_in_reach(cast.head).get().attends is False
    assert Action.objects.filter(record=one_to_one).count() == 2


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_records_list_costs_the_same_queries_for_1_and_4_records(cast, login):
    client = login(cast.supervisee)
    written_record(cast)
    few = _queries(client, "/records/")
    for days in (10, 20, 30):
        written_record(cast, days_ago=days)
    assert Record.objects.of_participant(cast.supervisee).count() == 4
    assert _queries(client, "/records/") == few


def test_the_records_list_shows_each_row_as_the_record_pages_do(cast, records, login):
    # Rows read as values: the day, the names, the links and the status badge are those of the records.
    one_to_one, other, group = records
    services.record_submit(actor=cast.supervisor2, record=other)
    Record.objects.filter(pk=one_to_one.pk).update(pdf_path="records/x.pdf")  # as if a PDF were stored
    page = login(cast.supervisor2).get("/records/").content.decode()
    mine, written = page.split('id="written-heading"')
    day = f"{timezone.localtime(group.session.starts_at):%a %-d %b %Y}"
    assert f'<a href="/records/{group.code}/">{day}</a> · group: Team' in mine
    assert '<span class="badge text-bg-secondary">Draft</span>' in mine
    assert cast.supervisee2.full_name in written
    assert f'href="/records/{other.code}/"' in written
    assert '<span class="badge text-bg-warning">Awaiting the supervisee</span>' in written
    assert '/pdf"' not in page

    page = login(cast.supervisee).get("/records/").content.decode()
    assert f'href="/records/{one_to_one.code}/pdf"' in page  # stored: its PDF is offered
    assert f'href="/records/{group.code}/pdf"' not in page
    assert cast.supervisor.full_name in page and cast.dsl.full_name in page

    section = group.sections.first()
    services.section_save(actor=cast.dsl, section=section, discussion="What the team discussed")
    services.record_submit(actor=cast.dsl, record=group)
    page = login(cast.supervisee).get("/records/").content.decode()
    badge = '<span class="badge text-bg-warning">Awaiting the participants</span>'
    assert f'{badge} <span class="small">your turn</span>' in page
