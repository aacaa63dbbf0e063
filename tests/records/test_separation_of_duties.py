"""Issue 11 part 2, finding 2: nobody widens their own access. An organisation admin cannot change their
own roles, the auditor and organisation admin roles are never held together, and an auditor grant opens
nothing until a second person approves it. Each attack goes through the views, as the insider would."""

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from records.models import AuditorGrant
from records.oversight import auditor_grant_create
from tests.factories import StaffFactory

from .helpers import signed_record


def roles_url(staff):
    return reverse("accounts:staff-roles", kwargs={"code": staff.code})


def grant_post(cast, **overrides):
    today = timezone.localdate()
    data = {
        "auditor": cast.auditor.pk,
        "settings": [cast.primary.pk],
        "covers_from": (today - timedelta(days=30)).isoformat(),
        "covers_until": today.isoformat(),
        "expires_at": (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "purpose": "Annual safeguarding audit",
    }
    return {**data, **overrides}


def test_an_admin_cannot_make_themself_auditor(cast, login):
    admin = cast.org_admin
    response = login(admin).post(roles_url(admin), {Role.ORG_ADMIN: ["organisation"], Role.AUDITOR: ["organisation"]})
    assert response.status_code == 200
    assert "You cannot change your own roles" in response.content.decode()
    assert list(admin.role_assignments.values_list("role", flat=True)) == [Role.ORG_ADMIN]
    assert not AuditEvent.objects.filter(action="staff.roles_changed").exists()


def test_the_roles_page_says_an_admins_own_roles_are_changed_by_someone_else(cast, login):
    page = login(cast.org_admin).get(roles_url(cast.org_admin)).content.decode()
    assert "another organisation admin changes them" in page


def test_auditor_and_organisation_admin_are_never_held_together(cast, login):
    client = login(cast.org_admin)
    response = client.post(
        roles_url(cast.supervisor), {Role.AUDITOR: ["organisation"], Role.ORG_ADMIN: ["organisation"]}
    )
    assert response.status_code == 200
    assert "Nobody is both an auditor and an organisation admin" in response.content.decode()
    assert not cast.supervisor.role_assignments.filter(role__in=[Role.AUDITOR, Role.ORG_ADMIN]).exists()

    # Nor by adding auditor to someone who is an admin outside the admin's reach (a setting admin's view).
    second = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, None)])
    response = client.post(roles_url(second), {Role.ORG_ADMIN: ["organisation"], Role.AUDITOR: [cast.primary.pk]})
    assert response.status_code == 200
    assert not second.role_assignments.filter(role=Role.AUDITOR).exists()


def test_an_import_cannot_give_the_importer_a_role(cast, login):
    admin = cast.org_admin
    csv_text = (
        "first name,last name,email,job title,setting,employment type,working days,start date,supervisor email,roles\n"
        f"Ada,Admin,{admin.email},Business manager,Cast Primary,permanent,Mon Tue Wed Thu Fri,2020-09-01,,"
        "auditor@organisation\n"
    )
    upload = SimpleUploadedFile("staff.csv", csv_text.encode(), content_type="text/csv")
    response = login(admin).post(reverse("accounts:staff-import"), {"file": upload, "confirm": "1"})
    assert response.status_code == 200
    assert "You cannot change your own roles" in response.content.decode()
    assert not admin.role_assignments.filter(role=Role.AUDITOR).exists()


def test_an_admin_cannot_grant_themself_access(cast, login):
    response = login(cast.org_admin).post(reverse("records:grant-add"), grant_post(cast, auditor=cast.org_admin.pk))
    assert response.status_code == 200
    assert not AuditorGrant.objects.exists()


def test_a_grant_opens_nothing_until_a_second_person_approves_it(cast, login, client):
    record = signed_record(cast)
    record_url = reverse("records:record-detail", kwargs={"code": record.code})

    response = login(cast.org_admin).post(reverse("records:grant-add"), grant_post(cast))
    assert response.status_code == 302
    grant = AuditorGrant.objects.get()
    assert grant.approved_at is None and grant.state() == "pending"
    approve_url = reverse("records:grant-approve", kwargs={"code": grant.code})

    # Pending: the auditor reads nothing, and the admin who asked for it cannot approve it.
    assert login(cast.auditor).get(record_url).status_code == 404
    assert login(cast.auditor).post(approve_url).status_code == 403
    assert login(cast.org_admin).post(approve_url).status_code == 403
    # A head of another setting is not a second person for the primary school.
    other_head = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.HEAD, cast.secondary)]
    )
    assert login(other_head).post(approve_url).status_code == 403
    grant.refresh_from_db()
    assert grant.approved_at is None

    # The head of the primary school sees it awaiting approval, and approves.
    page = login(cast.head).get(reverse("records:grant-list")).content.decode()
    assert "Awaiting approval" in page and approve_url in page
    assert login(cast.head).post(approve_url).status_code == 302
    grant.refresh_from_db()
    assert grant.approved_by == cast.head and grant.state() == "live"
    assert login(cast.auditor).get(record_url).status_code == 200

    actions = list(AuditEvent.objects.filter(object_code=str(grant.code)).values_list("action", flat=True))
    assert sorted(actions) == ["auditor_grant.approved", "auditor_grant.created"]
    approved = AuditEvent.objects.get(action="auditor_grant.approved")
    assert approved.actor == cast.head.user and approved.details["granted_by"] == str(cast.org_admin.code)


def test_another_organisation_admin_may_approve(cast, login):
    grant = auditor_grant_create(
        actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary, cast.secondary],
        covers_from=timezone.localdate() - timedelta(days=30), covers_until=timezone.localdate(),
        expires_at=timezone.now() + timedelta(days=3), purpose="Inspection",
    )  # fmt: skip
    second = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, None)])
    # The primary head does not lead the secondary school: not enough for this grant.
    assert login(cast.head).post(reverse("records:grant-approve", kwargs={"code": grant.code})).status_code == 403
    assert login(second).post(reverse("records:grant-approve", kwargs={"code": grant.code})).status_code == 302
    grant.refresh_from_db()
    assert grant.approved_by == second


def test_an_approved_grant_is_approved_once(cast, login):
    grant = auditor_grant_create(
        actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary],
        covers_from=timezone.localdate() - timedelta(days=30), covers_until=timezone.localdate(),
        expires_at=timezone.now() + timedelta(days=3), purpose="Inspection",
    )  # fmt: skip
    url = reverse("records:grant-approve", kwargs={"code": grant.code})
    login(cast.head).post(url)
    response = login(cast.dsl).post(url, follow=True)
    assert "only a grant awaiting approval is approved" in response.content.decode()
    grant.refresh_from_db()
    assert grant.approved_by == cast.head
    assert AuditEvent.objects.filter(action="auditor_grant.approved").count() == 1


def test_approval_is_post_only(cast, login):
    grant = auditor_grant_create(
        actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary],
        covers_from=timezone.localdate(), covers_until=timezone.localdate(),
        expires_at=timezone.now() + timedelta(days=3), purpose="Inspection",
    )  # fmt: skip
    assert login(cast.head).get(reverse("records:grant-approve", kwargs={"code": grant.code})).status_code == 405
