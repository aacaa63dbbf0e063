"""The audit trail page: who may see it, what a row shows, the filters, paging, the CSV and its cost."""

import csv
import io
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role

from ..factories import StaffFactory
from ..records.helpers import live_grant

LONDON = ZoneInfo("Europe/London")
URL = reverse("accounts:audit-list")
RECORD = str(uuid.UUID("6f1c2a4e-9a57-4d53-9a1e-2f3b8c0d1e7a"))


def at(*args):
    return datetime(*args, tzinfo=LONDON)


def add(organisation, action, *, actor=None, obj=None, when, details=None, ip=None, **fields):
    """An event as `audit_event` writes it, at a chosen moment."""
    if obj is not None:
        fields.update(object_type=obj._meta.model_name, object_code=str(obj.code), object_repr=str(obj))
    return AuditEvent.objects.create(
        organisation=organisation,
        actor=actor.user if actor else None,
        actor_name=actor.full_name if actor else "",
        action=action,
        created_at=when,
        details=details or {},
        ip_address=ip,
        **fields,
    )


def record_fields(code=RECORD):
    return {"object_type": "record", "object_code": code, "object_repr": "Sid Supervisee, Mon 3 Nov 2025"}


@pytest.fixture
def trail(cast):
    """Five events in the cast's organisation and one in the other organisation."""
    org = cast.organisation
    return {
        "signed_in": add(org, "auth.signed_in", actor=cast.supervisor, when=at(2025, 11, 3, 8, 0), ip="192.0.2.1"),
        "updated": add(
            org,
            "staff.updated",
            actor=cast.org_admin,
            obj=cast.supervisee,
            when=at(2025, 11, 3, 14, 5, 9),
            ip="192.0.2.9",
            details={"changes": {"job_title": ["Teacher", "Year 4 Teacher"]}},
        ),
        "started": add(org, "record.started", actor=cast.supervisor, when=at(2025, 11, 4, 9, 0), **record_fields()),
        "signed": add(
            org,
            "record.signed",
            actor=cast.supervisor,
            when=at(2025, 11, 4, 10, 0),
            details={"capacity": "supervisor"},
            **record_fields(),
        ),
        "notified": add(
            org,
            "record.flag_notified",
            when=at(2025, 11, 5, 7, 0),
            details={"flag": str(uuid.uuid4())},
            **record_fields(str(uuid.uuid4())),
        ),
        "elsewhere": add(
            cast.other_organisation,
            "staff.updated",
            actor=cast.outsider,
            obj=cast.outsider_staff,
            when=at(2025, 11, 4, 12, 0),
        ),
    }


def keys(trail, response):
    """The trail's names of the rows shown."""
    names = {event.pk: name for name, event in trail.items()}
    return [names.get(e.pk, e.action) for e in response.context["rows"]]


# Who may see it


def test_an_org_admin_sees_the_organisations_trail_newest_first_and_nothing_from_elsewhere(cast, login, trail):
    response = login(cast.org_admin).get(URL)
    assert response.status_code == 200
    assert keys(trail, response) == ["notified", "signed", "started", "updated", "signed_in"]
    page = response.content.decode()
    assert "Otto Outsider" not in page
    assert "Olga Other" not in page


def test_an_auditor_without_a_live_grant_is_refused_the_trail(cast, login, trail):
    # Issue 11: an auditor sees only what a live grant covers (this test used to expect the whole trail).
    response = login(cast.auditor).get(URL)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="audit.viewed").exists()


def test_the_other_organisations_admin_sees_only_their_own_trail(cast, login, trail):
    response = login(cast.outsider).get(URL)
    assert keys(trail, response) == ["elsewhere"]
    assert "Sam Supervisor" not in response.content.decode()


@pytest.mark.parametrize("person", ["supervisee", "supervisee2", "supervisor", "supervisor2", "head", "dsl"])
def test_people_without_an_admin_or_auditor_role_are_refused(cast, login, trail, person):
    response = login(getattr(cast, person)).get(URL)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="audit.viewed").exists()


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize("person", ["org_admin", "auditor"])
def test_post_is_not_allowed(cast, login, person):
    assert login(getattr(cast, person)).post(URL).status_code == 405


# What a row shows


def test_a_row_shows_when_who_what_which_object_from_where_and_the_details(cast, login, trail):
    page = login(cast.org_admin).get(URL).content.decode()
    assert "Mon 3 Nov 2025, 14:05:09" in page
    assert "Ada Admin" in page
    assert "Person updated" in page
    # What happened, as a sentence (issue 16), not the action's code.
    assert f"Ada Admin changed the details of {cast.supervisee}" in page
    assert "<code" not in page.split("<tbody>")[1]
    assert "Staff member" in page
    assert reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code}) in page
    assert "192.0.2.9" in page
    assert "job_title:</span> Teacher → Year 4 Teacher" in page
    # The event without a person.
    assert "System" in page
    assert "Record flag notified" in page


def test_an_auditor_with_a_live_grant_sees_no_events_about_staff(cast, login, trail):
    # Issue 11: events about people are outside any grant (this test used to expect them as plain text).
    live_grant(cast)
    page = login(cast.auditor).get(URL).content.decode()
    assert "Sid Supervisee" not in page
    assert reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code}) not in page


def test_a_setting_admin_gets_links_only_to_people_they_manage(cast, login):
    scoped = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    for person in (cast.supervisee, cast.supervisee2):
        add(cast.organisation, "staff.updated", actor=cast.org_admin, obj=person, when=at(2025, 11, 3, 9, 0))
    page = login(scoped).get(URL).content.decode()
    assert reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code}) in page
    assert "Sal Supervisee" in page
    assert reverse("accounts:staff-edit", kwargs={"code": cast.supervisee2.code}) not in page


def test_details_are_compact_and_cut_short(cast, login):
    details = {f"key_{i}": f"value {i}" for i in range(8)}
    details["reason"] = "Concern raised by a parent. " * 20
    details["starts"] = "2025-07-01T08:30:00+00:00"
    add(cast.organisation, "session.rescheduled", actor=cast.supervisor, when=at(2025, 11, 3, 9, 0), details=details)
    response = login(cast.org_admin).get(URL, headers={"HX-Request": "true"})
    [row] = response.context["rows"]
    assert len(row.detail_items) == 6
    assert row.detail_more == 4
    assert all(len(value) <= 80 for _, value in row.detail_items)
    page = response.content.decode()
    assert "and 4 more" in page
    assert "Concern raised by a parent. " * 3 not in page
    assert "{&quot;" not in page and '{"' not in page


def test_datetimes_in_details_are_shown_in_uk_time(cast, login):
    add(
        cast.organisation,
        "session.rescheduled",
        actor=cast.supervisor,
        when=at(2025, 11, 3, 9, 0),
        details={"from": "2025-07-01T08:30:00+00:00"},
    )
    [row] = login(cast.org_admin).get(URL).context["rows"]
    assert row.detail_items == [("from", "Tue 1 Jul 2025, 09:30")]


def test_digests_are_shortened_and_no_filters_read_none(cast, login):
    digest = "c4db99c91efa926dde8d606c5271be1bfcae25179d3b721a4ddd4b6b4fd704e"
    add(cast.organisation, "record.pdf_stored", when=at(2025, 11, 3, 9, 0), details={"sha256": digest})
    add(cast.organisation, "audit.viewed", actor=cast.auditor, when=at(2025, 11, 3, 10, 0), details={"filters": {}})
    viewed, stored = login(cast.org_admin).get(URL).context["rows"]
    assert stored.detail_items == [("sha256", "c4db99c91efa…")]
    assert viewed.detail_items == [("filters", "none")]


# Filters


def test_the_selects_offer_the_actions_and_objects_present(cast, login, trail):
    add(cast.outsider.organisation, "retention.listed", obj=cast.outsider, when=at(2025, 11, 3, 9, 0))
    form = login(cast.org_admin).get(URL).context["form"]
    assert not hasattr(form.fields["person"], "choices")  # a search box: no list of everyone
    assert form.fields["action"].choices == [
        ("", "Any action"),
        ("Records", [("record.*", "All (record.*)"), ("record.flag_notified", "Record flag notified"),
                     ("record.signed", "Record signed"), ("record.started", "Record started")]),
        ("Signing in", [("auth.*", "All (auth.*)"), ("auth.signed_in", "Signed in")]),
        ("Staff", [("staff.*", "All (staff.*)"), ("staff.updated", "Person updated")]),
    ]  # fmt: skip
    assert form.fields["object_type"].choices == [
        ("", "Any object"),
        ("record", "Record"),
        ("staffmember", "Staff member"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"person": "supervisor"}, ["signed", "started", "signed_in"]),
        ({"person": "system"}, ["notified"]),
        ({"name": "ADA"}, ["updated"]),
        ({"action": "record.signed"}, ["signed"]),
        ({"action": "record.*"}, ["notified", "signed", "started"]),
        ({"object_type": "staffmember"}, ["updated"]),
        ({"object_type": "record", "person": "supervisor"}, ["signed", "started"]),
        ({"object": RECORD.upper()}, ["signed", "started"]),
        ({"object": RECORD.replace("-", "")}, ["signed", "started"]),
        ({"object": "sid supervisee"}, ["notified", "signed", "started", "updated"]),
        ({"object": "supervisee", "object_type": "staffmember"}, ["updated"]),
        ({"date_from": "2025-11-04"}, ["notified", "signed", "started"]),
        ({"date_to": "2025-11-03"}, ["updated", "signed_in"]),
        ({"date_from": "2025-11-04", "date_to": "2025-11-04"}, ["signed", "started"]),
        ({"action": "auth.signed_in", "date_from": "2025-11-04"}, []),
    ],
)
def test_filters(cast, login, trail, query, expected):
    if query.get("person") == "supervisor":
        query["person"] = str(cast.supervisor.code)
    response = login(cast.org_admin).get(URL, query)
    assert response.status_code == 200
    assert keys(trail, response) == expected
    if not expected:
        assert "Nothing matches these filters" in response.content.decode()


def test_the_person_search_does_not_accept_a_code_from_another_organisation(cast, login, trail):
    response = login(cast.org_admin).get(URL, {"person": str(cast.outsider.code)})
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "Nobody in your organisation has this code." in response.content.decode()


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("sam super", ["signed", "started", "signed_in"]),  # part of a name, any case
        ("SUPERVISOR@CAST", ["signed", "started", "signed_in"]),  # part of an email
        ("cast.example", ["signed", "started", "updated", "signed_in"]),  # everyone who acted
        ("System", ["notified"]),
        ("nobody like this", []),
    ],
)
def test_the_person_search_matches_a_name_or_email(cast, login, trail, person, expected):
    response = login(cast.org_admin).get(URL, {"person": person})
    assert keys(trail, response) == expected


def test_the_person_search_finds_nobody_in_another_organisation(cast, login, trail):
    add(cast.outsider.organisation, "auth.signed_in", actor=cast.outsider, when=at(2025, 11, 3, 9, 0))
    response = login(cast.org_admin).get(URL, {"person": cast.outsider.user.email})
    assert response.context["rows"] == []


def test_the_page_costs_the_same_queries_however_many_people_acted(cast, login, trail):
    client = login(cast.org_admin)
    client.get(URL)  # the visit is logged once

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(30):
        person = StaffFactory(organisation=cast.organisation)
        add(cast.organisation, f"staff.action_{i % 3}", actor=person, when=at(2025, 11, 3, 9, i))
    assert count() == few


@pytest.fixture
def around_midnight(cast):
    org = cast.organisation
    return {
        "before": add(org, "auth.signed_in", when=at(2025, 11, 2, 23, 59, 59)),
        "first": add(org, "auth.signed_in", when=at(2025, 11, 3, 0, 0, 0)),
        "last": add(org, "auth.signed_in", when=at(2025, 11, 5, 23, 59, 59, 999999)),
        "after": add(org, "auth.signed_in", when=at(2025, 11, 6, 0, 0, 0)),
        # British Summer Time: 00:30 in London on 1 July is still 30 June in UTC.
        "summer": add(org, "auth.signed_in", when=at(2025, 7, 1, 0, 30)),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"date_from": "2025-11-03", "date_to": "2025-11-05"}, ["last", "first"]),
        ({"date_from": "2025-11-03"}, ["after", "last", "first"]),
        ({"date_to": "2025-11-02"}, ["before", "summer"]),
        ({"date_from": "2025-07-01", "date_to": "2025-07-01"}, ["summer"]),
        ({"date_from": "2025-06-30", "date_to": "2025-06-30"}, []),
    ],
)
def test_date_filters_take_whole_days_in_uk_time(cast, login, around_midnight, query, expected):
    response = login(cast.org_admin).get(URL, query)
    assert keys(around_midnight, response) == expected


def test_dates_the_wrong_way_round_show_the_error_and_no_rows(cast, login, trail):
    response = login(cast.org_admin).get(URL, {"date_from": "2025-11-05", "date_to": "2025-11-03"})
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "The end date must be on or after the start date." in response.content.decode()
    assert not AuditEvent.objects.filter(action="audit.viewed").exists()


def test_each_row_links_to_every_event_for_its_object(cast, login, trail):
    page = login(cast.org_admin).get(URL).content.decode()
    assert f"{URL}?object_type=record&amp;object={RECORD}" in page


# HTMX, paging and the empty states


def test_htmx_gets_the_table_only(cast, login, trail):
    client = login(cast.org_admin)
    response = client.get(URL, {"action": "record.signed"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page
    assert 'id="audit_person"' not in page
    assert "Sam Supervisor signed Sid Supervisee, Mon 3 Nov 2025" in page
    assert "Signed in" not in page
    assert "HX-Request" in response["Vary"]
    # Going back to a page htmx no longer holds asks for the whole page.
    response = client.get(URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_the_filter_form_works_with_and_without_javascript(cast, login, trail):
    page = login(cast.org_admin).get(URL).content.decode()
    assert f'method="get" action="{URL}"' in page
    assert f'hx-get="{URL}" hx-target="#audit-table"' in page
    assert 'hx-push-url="true"' in page
    assert 'type="submit"' in page


def test_fifty_events_a_page_newest_first_keeping_the_filters(cast, login):
    start = at(2025, 9, 1, 9, 0)
    AuditEvent.objects.bulk_create(
        AuditEvent(organisation=cast.organisation, action="record.signed", created_at=start + timedelta(hours=i))
        for i in range(120)
    )
    client = login(cast.org_admin)
    first = client.get(URL, {"action": "record.*"})
    assert first.context["page"].paginator.count == 120
    assert len(first.context["rows"]) == 50
    assert first.context["rows"][0].created_at == start + timedelta(hours=119)
    assert "Page 1 of 3" in first.content.decode()
    assert f"{URL}?action=record.%2A&amp;page=2" in first.content.decode()
    last = client.get(URL, {"action": "record.*", "page": 3})
    rows = last.context["rows"]
    assert len(rows) == 20
    assert rows[-1].created_at == start
    assert "Newer" in last.content.decode() and "Older" not in last.content.decode()


def test_the_whole_trail_is_counted_by_its_chain_and_a_filtered_one_by_its_rows(cast, login):
    """The unfiltered count is the chain head's number (issue 14): the same as counting the events, other
    organisations' events left out, and a filtered trail still counted row by row."""
    start = at(2025, 9, 1, 9, 0)
    AuditEvent.objects.bulk_create(
        AuditEvent(organisation=cast.organisation, action="record.signed", created_at=start + timedelta(hours=i))
        for i in range(60)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(organisation=cast.outsider.organisation, action="record.signed", created_at=start) for _ in range(7)
    )
    client = login(cast.org_admin)
    total = AuditEvent.objects.filter(organisation=cast.organisation).count()  # the visit is logged after
    whole = client.get(URL)
    assert whole.context["page"].paginator.count == total >= 60
    assert f"{total} events, newest first" in whole.content.decode()
    assert f"Page 1 of {(total + 49) // 50}" in whole.content.decode()
    filtered = client.get(URL, {"action": "record.*"})
    assert filtered.context["page"].paginator.count == 60


def test_an_empty_trail_says_so(cast, login):
    page = login(cast.org_admin).get(URL).content.decode()
    assert "Nothing in the audit trail yet" in page


# Looking at the trail is in the trail


def test_a_visit_is_logged_once_with_its_filters(cast, login, trail):
    # Issue 11: the visitor is the organisation admin (an auditor reaches only what a live grant covers).
    client = login(cast.org_admin)
    with time_machine.travel(datetime(2025, 11, 10, 9, 0, tzinfo=LONDON), tick=False):
        client.get(URL, {"action": "record.*"})
        client.get(URL, {"action": "record.*", "page": 2})
        client.get(URL, {"action": "record.*"}, headers={"HX-Request": "true"})
        viewed = list(AuditEvent.objects.filter(action="audit.viewed"))
        assert len(viewed) == 1
        assert viewed[0].actor == cast.org_admin.user
        assert viewed[0].organisation == cast.organisation
        assert viewed[0].details == {"filters": {"action": "record.*"}}

        client.get(URL, {"action": "record.*", "date_from": "2025-11-04"})
        assert AuditEvent.objects.filter(action="audit.viewed").count() == 2
    with time_machine.travel(datetime(2025, 11, 10, 9, 45, tzinfo=LONDON), tick=False):
        client.get(URL, {"action": "record.*", "date_from": "2025-11-04"})
    assert AuditEvent.objects.filter(action="audit.viewed").count() == 3
    # The visits are in the trail (the one listing them is logged after the page is built).
    response = login(cast.org_admin).get(URL, {"action": "audit.viewed"})
    assert len(response.context["rows"]) == 3
    assert "Audit trail viewed" in response.content.decode()
    assert "filters.action:</span> record.*" in response.content.decode()


# The CSV download


def test_the_csv_holds_the_filtered_trail_and_is_logged(cast, login, trail):
    add(
        cast.organisation,
        "record.signed",
        actor=cast.supervisor,
        when=at(2025, 11, 6, 9, 0),
        object_type="record",
        object_code=str(uuid.uuid4()),
        object_repr='=HYPERLINK("http://example.com")',
    )
    # Issue 11: the organisation admin downloads the whole trail (an auditor only what a grant covers).
    response = login(cast.org_admin).get(URL, {"action": "record.*", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["when (Europe/London)", "who", "action"]
    assert [r[2] for r in rows[1:]] == ["record.signed", "record.flag_notified", "record.signed", "record.started"]
    assert rows[1][6].startswith("'=HYPERLINK")
    assert rows[3][0] == "Tue 4 Nov 2025 10:00:00"  # the weekday with the date (issue 16)
    assert rows[3][9] == '{"capacity": "supervisor"}'
    [exported] = AuditEvent.objects.filter(action="audit.exported")
    assert exported.actor == cast.org_admin.user
    assert exported.details == {"filters": {"action": "record.*"}, "events": 4}


def test_the_csv_never_holds_another_organisations_events(cast, login, trail):
    response = login(cast.org_admin).get(URL, {"format": "csv"})
    content = b"".join(response.streaming_content).decode()
    assert "Sam Supervisor" in content
    assert "Otto Outsider" not in content
    assert "audit.exported" not in content


# Cost


def _fill(cast, count, start):
    people = [cast.supervisee, cast.supervisee2, cast.supervisor]
    AuditEvent.objects.bulk_create(
        AuditEvent(
            organisation=cast.organisation,
            actor=cast.org_admin.user,
            actor_name="Ada Admin",
            action="staff.updated" if i % 2 else "record.signed",
            object_type="staffmember" if i % 2 else "record",
            object_code=str(people[i % 3].code) if i % 2 else str(uuid.uuid4()),
            object_repr="someone",
            details={"changes": {"job_title": ["a", "b"]}},
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    )


def _count_queries(client, query):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, query)
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.context["rows"])


@pytest.mark.parametrize(
    "query",
    [{}, {"person": "admin", "action": "staff.*", "date_from": "2025-01-01", "object": "some"}],
    ids=["plain", "filtered"],
)
def test_queries_do_not_grow_with_the_number_of_events(cast, login, query):
    if query.get("person") == "admin":
        query["person"] = str(cast.org_admin.code)
    client = login(cast.org_admin)
    _fill(cast, 10, at(2025, 3, 1, 9, 0))
    # Each measurement is a new visit, so both write their audit.viewed event.
    with time_machine.travel(datetime(2025, 11, 10, 9, 0, tzinfo=LONDON), tick=False):
        small, shown_small = _count_queries(client, query)
    _fill(cast, 190, at(2025, 4, 1, 9, 0))
    with time_machine.travel(datetime(2025, 11, 10, 11, 0, tzinfo=LONDON), tick=False):
        large, shown_large = _count_queries(client, query)
    assert shown_large > shown_small
    assert small == large
