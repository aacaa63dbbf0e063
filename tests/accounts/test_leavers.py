"""Issue 11, finding 4: leavers lose access the day after their leaving date (DESIGN section 6,
"Separation of duties"). Sign-in is refused, a signed-in leaver is signed out on their next request,
their calendar feed stops, and their open work shows on the dashboard for reassignment."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role, StaffMember
from records import services as record_services
from records.models import Action
from supervision import services as supervision_services
from tests.factories import PASSWORD, StaffFactory
from tests.records.helpers import written_record
from tests.supervision.helpers import signed_contract

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 4)
NOW = "2026-03-04 10:00 +0000"


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(NOW, tick=False):
        yield


def leaves(staff, on):
    StaffMember.objects.filter(pk=staff.pk).update(leaving_date=on)
    staff.refresh_from_db()


def sign_in(email, password=PASSWORD):
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": email, "password": password})
    return client, response


# --- Sign-in and sessions ------------------------------------------------------------------------


def test_a_leaver_cannot_sign_in_from_the_day_after_their_leaving_date(cast):
    leaves(cast.supervisor, TODAY - timedelta(days=1))

    client, response = sign_in(cast.supervisor.email)

    assert response.status_code == 200
    assert "Enter the correct email address and password" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("records:record-list")).status_code == 302
    assert not AuditEvent.objects.filter(action="auth.signed_in", actor=cast.supervisor.user).exists()


def test_on_their_leaving_date_they_still_sign_in(cast):
    leaves(cast.supervisor, TODAY)

    client, response = sign_in(cast.supervisor.email)

    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_a_signed_in_leaver_is_signed_out_on_their_next_request(cast, login):
    record = written_record(cast)
    client = login(cast.supervisor)
    record_url = reverse("records:record-detail", kwargs={"code": record.code})
    assert client.get(record_url).status_code == 200

    leaves(cast.supervisor, TODAY - timedelta(days=1))
    response = client.get(record_url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="auth.signed_out_leaver")
    assert event.actor == cast.supervisor.user and event.object_code == str(cast.supervisor.code)
    assert event.details == {"leaving_date": (TODAY - timedelta(days=1)).isoformat()}
    # Still out if the leaving date were corrected afterwards: the session itself was ended.
    leaves(cast.supervisor, None)
    assert client.get(record_url).status_code == 302


def test_a_leaver_with_a_password_reset_link_still_cannot_sign_in(cast):
    """A leaver who sets a new password through a reset link gains nothing: the check is at sign-in."""
    leaves(cast.supervisee, TODAY - timedelta(days=30))
    user = cast.supervisee.user
    user.set_password("a-brand-new-passphrase")
    user.save()

    client, response = sign_in(cast.supervisee.email, "a-brand-new-passphrase")

    assert "_auth_user_id" not in client.session


# --- The calendar feed ---------------------------------------------------------------------------


def test_a_leavers_private_calendar_feed_stops(cast):
    feed = supervision_services.feed_renew(staff=cast.supervisor)
    url = reverse("supervision:feed", kwargs={"token": feed.token})
    assert Client().get(url).status_code == 200

    leaves(cast.supervisor, TODAY)
    assert Client().get(url).status_code == 200  # their last day

    leaves(cast.supervisor, TODAY - timedelta(days=1))
    assert Client().get(url).status_code == 404


# --- Their open work, on the dashboard -----------------------------------------------------------


def open_work_url():
    return reverse("supervision:dashboard-list", kwargs={"figure": "leavers-open-work"})


def give_work(supervisor, supervisee, cast):
    """A supervisee assigned to `supervisor`, an agreement, a draft record and an open action."""
    StaffMember.objects.filter(pk=supervisee.pk).update(supervisor=supervisor)
    signed_contract(supervisee, supervisor, start=date(2025, 9, 1))
    record = written_record(cast, supervisee=supervisee, supervisor=supervisor, days_ago=7)
    record_services.action_add(
        actor=supervisor, record=record, description="Send the course details", owner=supervisor, due_date=TODAY
    )
    return record


def test_a_leavers_open_work_shows_on_the_dashboard_for_reassignment(cast, login):
    give_work(cast.supervisor, cast.supervisee, cast)
    leaves(cast.supervisor, TODAY - timedelta(days=1))

    for viewer in (cast.org_admin, cast.head, cast.dsl):
        page = login(viewer).get(open_work_url())
        assert page.status_code == 200
        rows = page.context["rows"]
        (row,) = [r for r in rows if r.staff.pk == cast.supervisor.pk]
        assert (row.supervisees, row.agreements, row.records, row.actions) == (1, 1, 1, 1)
        assert row.has_left
        text = page.content.decode()
        assert "Leavers&#x27; open work to reassign" in text or "Leavers' open work to reassign" in text
        assert "Tue 3 Mar 2026" in text
    # The organisation admin is taken to the person's page; the head to the agreements.
    admin_row = login(cast.org_admin).get(open_work_url()).context["rows"][0]
    assert admin_row.url == reverse("accounts:staff-edit", kwargs={"code": cast.supervisor.code})

    home = login(cast.head).get(reverse("supervision:dashboard")).content.decode()
    assert "leaver with work to reassign" in home  # one leaver


def test_people_with_no_work_left_or_not_leaving_are_not_listed(cast, login):
    give_work(cast.supervisor, cast.supervisee, cast)  # not leaving
    idle = StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__email="idle@cast.example")
    leaves(idle, TODAY - timedelta(days=1))  # left, nothing in their name
    rows = login(cast.org_admin).get(open_work_url()).context["rows"]
    assert [r.staff.pk for r in rows] == []


def test_supervisors_and_supervisees_do_not_see_the_list(cast, login):
    assert login(cast.supervisor).get(open_work_url()).status_code == 403
    assert login(cast.supervisee).get(open_work_url()).status_code == 403


def test_the_open_work_list_costs_the_same_queries_for_one_leaver_or_many(cast, login):
    client = login(cast.org_admin)

    def make_leaver(n):
        supervisor = StaffFactory(
            organisation=cast.organisation,
            settings=[cast.primary],
            roles=[(Role.SUPERVISOR, cast.primary)],
            user__email=f"leaving.supervisor{n}@cast.example",
        )
        supervisee = StaffFactory(
            organisation=cast.organisation, settings=[cast.primary], user__email=f"left.behind{n}@cast.example"
        )
        give_work(supervisor, supervisee, cast)
        leaves(supervisor, TODAY - timedelta(days=n))

    make_leaver(1)
    client.get(open_work_url())  # the first visit writes the default school calendar
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(open_work_url()).context["rows"]) == 1
    for n in range(2, 5):
        make_leaver(n)
    with CaptureQueriesContext(connection) as four:
        assert len(client.get(open_work_url()).context["rows"]) == 4
    assert len(one) == len(four)
    assert Action.objects.open().count() >= 4
