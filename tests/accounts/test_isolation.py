"""Two organisations never see each other."""

import pytest
from django.urls import reverse

from accounts.audit import audit_event
from accounts.models import AuditEvent, Role, StaffMember
from accounts.services import staff_mark_leaver

from ..factories import StaffFactory
from ..permissions import TABLE

STAFF_URLS = [(name, method) for name, row in TABLE.items() if row.kind == "staff" for method in row.methods]


@pytest.mark.parametrize(("name", "method"), STAFF_URLS, ids=[f"{n}-{m}" for n, m in STAFF_URLS])
def test_org_admin_gets_404_for_every_staff_url_of_the_other_organisation(client, cast, name, method):
    for admin, stranger in [(cast.org_admin, cast.outsider_staff), (cast.outsider, cast.supervisee)]:
        client.force_login(admin.user)
        url = reverse(name, kwargs={"code": stranger.code})
        response = client.get(url) if method == "GET" else client.post(url)
        assert response.status_code == 404, f"{method} {url} as {admin}"


@pytest.mark.parametrize(
    "query",
    [
        {"status": "all"},
        {"status": "leavers"},
        {"q": "Olga"},
        {"q": "other.example"},
        {"q": "Teacher", "status": "all"},
        {"role": Role.ORG_ADMIN},
        {"employment_type": "permanent"},
    ],
)
def test_staff_list_and_search_never_show_the_other_organisation(cast, login, query):
    staff_mark_leaver(actor=cast.outsider.user, staff=cast.outsider_staff, leaving_date=cast.outsider_staff.start_date)
    client = login(cast.org_admin)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(reverse("accounts:staff-list"), query, headers=headers)
        assert response.status_code == 200
        page = response.content.decode()
        assert "Olga Other" not in page
        assert "Otto Outsider" not in page
        assert "outsider-staff@other.example" not in page
        assert "outsider@other.example" not in page


def test_staff_list_ignores_a_setting_of_the_other_organisation(cast, login):
    response = login(cast.org_admin).get(reverse("accounts:staff-list"), {"setting": cast.other_setting.pk})
    assert response.status_code == 200
    assert "Olga Other" not in response.content.decode()
    assert all(s.organisation_id == cast.organisation.pk for s in response.context["page"].object_list)


def test_manageable_by_never_returns_the_other_organisation(cast):
    scoped_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    mine = set(StaffMember.objects.filter(organisation=cast.organisation))
    theirs = set(StaffMember.objects.filter(organisation=cast.other_organisation))

    assert set(StaffMember.objects.manageable_by(cast.org_admin)) == mine
    assert set(StaffMember.objects.manageable_by(cast.outsider)) == theirs
    assert not set(StaffMember.objects.manageable_by(scoped_admin)) & theirs
    # Without the org admin role, nobody is manageable, whatever else the person holds.
    for person in (cast.head, cast.dsl, cast.auditor, cast.supervisor, cast.supervisee):
        assert not StaffMember.objects.manageable_by(person).exists()


def test_audit_trail_never_shows_the_other_organisations_events(cast):
    audit_event(action="auth.signed_in", actor=cast.outsider.user)
    audit_event(action="staff.updated", actor=cast.outsider.user, obj=cast.outsider_staff)
    audit_event(action="auth.signed_in", actor=cast.supervisee.user)
    audit_event(action="staff.updated", actor=cast.org_admin.user, obj=cast.supervisee)

    for person in (cast.org_admin, cast.auditor):
        visible = list(AuditEvent.objects.visible_to(person))
        assert len(visible) == 2
        assert {e.organisation_id for e in visible} == {cast.organisation.pk}
    theirs = list(AuditEvent.objects.visible_to(cast.outsider))
    assert len(theirs) == 2
    assert {e.organisation_id for e in theirs} == {cast.other_organisation.pk}
    # The trail is for admins and auditors only.
    for person in (cast.supervisee, cast.supervisor, cast.head, cast.dsl):
        assert not AuditEvent.objects.visible_to(person).exists()


def test_home_of_an_org_admin_counts_and_lists_only_their_organisation(cast, login):
    audit_event(action="staff.updated", actor=cast.outsider.user, obj=cast.outsider_staff)
    response = login(cast.org_admin).get("/")
    assert (
        response.context["admin_counts"]["current"]
        == StaffMember.objects.filter(organisation=cast.organisation).count()
    )
    assert response.context["recent_events"] == []
    assert "Olga Other" not in response.content.decode()


def test_home_of_a_supervisor_shows_only_their_own_supervisees(cast, login):
    expected = {
        cast.supervisor: ["Sid Supervisee"],
        cast.supervisor2: ["Sal Supervisee"],
        cast.head: ["Dev Dsl", "Sam Supervisor"],
        cast.outsider: ["Olga Other"],
    }
    everyone = {s.user.full_name for s in StaffMember.objects.select_related("user")}
    for supervisor, names in expected.items():
        response = login(supervisor).get("/")
        assert [s.user.full_name for s in response.context["supervisees"]] == names
        page = response.content.decode()
        for name in names:
            assert name in page
        me_and_mine = {supervisor.user.full_name, supervisor.supervisor.user.full_name if supervisor.supervisor else ""}
        for name in everyone - set(names) - me_and_mine:
            assert name not in page, f"{name} on the home page of {supervisor}"
