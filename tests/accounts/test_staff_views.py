"""Organisation admin staff pages: add, edit, leavers, roles, the list; sign-in and sign-out events."""

import re
from datetime import date

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, EmploymentType, Role, StaffMember, User
from tests.accounts.helpers import edit_form_data

from ..factories import StaffFactory

NEW_PASSWORD = "a-long-new-passphrase-42"


def staff_form_data(cast, **overrides):
    data = {
        "full_name": "Nia Newcomer",
        "email": "nia.newcomer@cast.example",
        "job_title": "Teaching Assistant",
        "settings": [cast.primary.pk],
        "employment_type": EmploymentType.PERMANENT,
        "start_date": "2025-09-01",
        "leaving_date": "",
        "supervisor": cast.supervisor.pk,
        "day_0_works": "on",
        "day_1_works": "on",
        "day_3_works": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def error_next_to(page: str, field_name: str, message: str) -> bool:
    """The message appears after the field's input and before the next input."""
    start = page.rindex(f'name="{field_name}"')
    end = page.find("<input", start + 1)
    return message in page[start:end]


def events(action, staff=None):
    qs = AuditEvent.objects.filter(action=action)
    if staff is not None:
        qs = qs.filter(object_code=str(staff.code))
    return list(qs)


def path_of_link(body: str, name: str) -> str:
    match = re.search(rf"https?://[^/\s]+(/accounts/{name}/[^/\s]+/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


# Adding a person


def test_add_creates_the_person_writes_an_event_and_sends_a_working_invitation(
    cast, login, django_capture_on_commit_callbacks
):
    client = login(cast.org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:staff-add"), staff_form_data(cast, send_invitation="on"))

    staff = StaffMember.objects.get(user__email="nia.newcomer@cast.example")
    assert response.status_code == 302
    assert response.url == reverse("accounts:staff-edit", kwargs={"code": staff.code})
    assert staff.organisation == cast.organisation
    assert staff.supervisor == cast.supervisor
    assert list(staff.settings.all()) == [cast.primary]
    assert staff.working_weekdays == [0, 1, 3]
    assert not staff.user.has_usable_password()
    [created] = events("staff.created", staff)
    assert created.actor == cast.org_admin.user
    assert created.organisation == cast.organisation
    assert created.details["after"]["working_days"] == {"0": [None, None], "1": [None, None], "3": [None, None]}
    assert len(events("staff.invited", staff)) == 1

    [message] = mail.outbox
    assert message.to == ["nia.newcomer@cast.example"]
    invitee = Client()
    link = path_of_link(message.body, "invitation")
    response = invitee.get(link, follow=True)
    assert response.status_code == 200
    assert response.context["validlink"]
    set_password_url = response.redirect_chain[-1][0]
    response = invitee.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert len(events("auth.invitation_accepted")) == 1

    response = invitee.post(
        reverse("accounts:login"), {"username": "Nia.Newcomer@cast.example", "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert invitee.get(reverse("home")).context["me"] == staff


def test_add_without_invitation_sends_nothing(cast, login, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(cast.org_admin).post(reverse("accounts:staff-add"), staff_form_data(cast))
    assert response.status_code == 302
    assert StaffMember.objects.filter(user__email="nia.newcomer@cast.example").exists()
    assert mail.outbox == []
    assert events("staff.invited") == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"leaving_date": "2025-08-31"}, "leaving_date", "The leaving date cannot be before the start date."),
        (
            {"email": "SUPERVISEE2@cast.example"},
            "email",
            "This address cannot be used: it already belongs to an account. Check it, or ask the person for "
            "another address.",
        ),
        (
            {"day_0_works": None, "day_1_works": None, "day_3_works": None},
            "day_0_works",
            "Tick at least one working day.",
        ),
        ({"day_1_starts": "14:00", "day_1_ends": "09:00"}, "day_1_ends", "The day must end after it starts."),
        ({"start_date": "next Tuesday"}, "start_date", "Enter a valid date."),
        ({"settings": []}, "settings", "Choose at least one setting."),
    ],
    ids=[
        "leaving-before-start",
        "duplicate-email",
        "no-working-day",
        "day-ends-before-it-starts",
        "bad-date",
        "no-setting",
    ],
)
def test_add_with_bad_input_shows_the_error_by_the_field_and_saves_nothing(cast, login, overrides, field, message):
    staff_before, events_before = StaffMember.objects.count(), AuditEvent.objects.count()
    response = login(cast.org_admin).post(reverse("accounts:staff-add"), staff_form_data(cast, **overrides))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert error_next_to(response.content.decode(), field, message)
    assert StaffMember.objects.count() == staff_before
    assert AuditEvent.objects.count() == events_before
    assert not User.objects.filter(email="nia.newcomer@cast.example").exists()


def test_add_cannot_put_a_person_in_a_setting_of_another_organisation(cast, login):
    response = login(cast.org_admin).post(
        reverse("accounts:staff-add"), staff_form_data(cast, settings=[cast.other_setting.pk])
    )
    assert response.status_code == 200
    assert "settings" in response.context["form"].errors
    assert not User.objects.filter(email="nia.newcomer@cast.example").exists()


# Editing


def test_edit_saves_changes_and_records_them(cast, login):
    staff = cast.supervisee
    data = edit_form_data(staff, job_title="Year 4 Teacher", day_4_works=None, day_4_starts=None)
    data["new_to_post"] = "on"
    response = login(cast.org_admin).post(reverse("accounts:staff-edit", kwargs={"code": staff.code}), data)
    assert response.status_code == 302

    staff.refresh_from_db()
    assert staff.job_title == "Year 4 Teacher"
    assert staff.new_to_post
    assert staff.working_weekdays == [0, 1, 2, 3]
    [event] = events("staff.updated", staff)
    assert event.actor == cast.org_admin.user
    assert event.details["changes"]["job_title"] == ["Teacher", "Year 4 Teacher"]
    assert event.details["changes"]["new_to_post"] == [False, True]
    assert set(event.details["changes"]["working_days"][0]) == {"0", "1", "2", "3", "4"}
    assert set(event.details["changes"]["working_days"][1]) == {"0", "1", "2", "3"}
    assert set(event.details["changes"]) == {"job_title", "new_to_post", "working_days"}


def test_edit_changing_the_email_of_someone_who_never_signed_in_changes_the_sign_in(cast, login):
    # Issue 11: only a person who has never set a password (nor signed in) has their address changed at
    # once; anyone else confirms it first (tests/accounts/test_email_change.py).
    staff = cast.supervisee
    staff.user.set_unusable_password()
    staff.user.save(update_fields=["password"])
    url = reverse("accounts:staff-edit", kwargs={"code": staff.code})
    login(cast.org_admin).post(url, edit_form_data(staff, email="Sid.New@Cast.example"))
    staff.user.refresh_from_db()
    assert staff.user.email == "sid.new@cast.example"
    assert events("staff.updated", staff)[0].details["changes"]["email"] == [
        "supervisee@cast.example",
        "sid.new@cast.example",
    ]


def test_edit_without_changes_writes_nothing(cast, login):
    staff = cast.supervisee
    updated_at = staff.updated_at
    events_before = AuditEvent.objects.count()
    client = login(cast.org_admin)
    response = client.post(
        reverse("accounts:staff-edit", kwargs={"code": staff.code}), edit_form_data(staff), follow=True
    )
    assert response.status_code == 200
    assert "Nothing had changed." in response.content.decode()
    assert AuditEvent.objects.count() == events_before
    staff.refresh_from_db()
    assert staff.updated_at == updated_at


def test_edit_form_shows_the_person_and_their_history(cast, login):
    client = login(cast.org_admin)
    url = reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code})
    client.post(url, edit_form_data(cast.supervisee, job_title="Year 4 Teacher"))
    response = client.get(url)
    page = response.content.decode()
    assert response.context["form"].initial["email"] == "supervisee@cast.example"
    assert "staff.updated" in page


def test_edit_cannot_make_a_person_their_own_supervisor(cast, login):
    staff = cast.supervisee
    response = login(cast.org_admin).post(
        reverse("accounts:staff-edit", kwargs={"code": staff.code}), edit_form_data(staff, supervisor=staff.pk)
    )
    assert response.status_code == 200
    assert "supervisor" in response.context["form"].errors
    staff.refresh_from_db()
    assert staff.supervisor == cast.supervisor


# Leavers


def test_mark_a_leaver(cast, login):
    staff = cast.supervisee
    client = login(cast.org_admin)
    response = client.post(
        reverse("accounts:staff-leaver", kwargs={"code": staff.code}), {"leaving_date": "2026-07-22"}
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.leaving_date == date(2026, 7, 22)
    [event] = events("staff.leaver_marked", staff)
    assert event.details == {"leaving_date": "2026-07-22", "previous": None}


def test_leaving_date_before_the_start_date_is_refused(cast, login):
    staff = cast.supervisee
    response = login(cast.org_admin).post(
        reverse("accounts:staff-leaver", kwargs={"code": staff.code}), {"leaving_date": "2019-01-01"}
    )
    assert response.status_code == 200
    assert error_next_to(response.content.decode(), "leaving_date", "The leaving date cannot be before the start date.")
    staff.refresh_from_db()
    assert staff.leaving_date is None
    assert events("staff.leaver_marked") == []


# Roles


def test_assign_head_of_a_setting(cast, login):
    staff = cast.supervisor
    url = reverse("accounts:staff-roles", kwargs={"code": staff.code})
    client = login(cast.org_admin)
    assert client.get(url).status_code == 200
    response = client.post(url, {Role.SUPERVISOR: [cast.primary.pk], Role.HEAD: [cast.secondary.pk]})
    assert response.status_code == 302
    assert set(staff.role_assignments.values_list("role", "setting")) == {
        (Role.SUPERVISOR, cast.primary.pk),
        (Role.HEAD, cast.secondary.pk),
    }
    [event] = events("staff.roles_changed", staff)
    assert event.details == {"added": ["Head (Cast Secondary)"], "removed": []}


def test_remove_a_role_and_grant_one_organisation_wide(cast, login):
    staff = cast.supervisor
    response = login(cast.org_admin).post(
        reverse("accounts:staff-roles", kwargs={"code": staff.code}), {Role.AUDITOR: ["organisation"]}
    )
    assert response.status_code == 302
    assert list(staff.role_assignments.values_list("role", "setting")) == [(Role.AUDITOR, None)]
    [event] = events("staff.roles_changed", staff)
    assert event.details == {"added": ["Auditor (whole organisation)"], "removed": ["Supervisor (Cast Primary)"]}


def test_saving_the_same_roles_writes_nothing(cast, login):
    staff = cast.head
    response = login(cast.org_admin).post(
        reverse("accounts:staff-roles", kwargs={"code": staff.code}),
        {Role.HEAD: [cast.primary.pk], Role.SUPERVISOR: [cast.primary.pk]},
    )
    assert response.status_code == 302
    assert events("staff.roles_changed") == []


def test_an_admin_cannot_remove_their_own_org_admin_role(cast, login):
    admin = cast.org_admin
    response = login(admin).post(
        reverse("accounts:staff-roles", kwargs={"code": admin.code}), {Role.HEAD: [cast.primary.pk]}
    )
    assert response.status_code == 200
    assert error_next_to(
        response.content.decode(), Role.ORG_ADMIN, "You cannot remove your own organisation admin role."
    )
    assert list(admin.role_assignments.values_list("role", "setting")) == [(Role.ORG_ADMIN, None)]
    assert events("staff.roles_changed") == []


@pytest.fixture
def scoped_admin(cast):
    """An organisation admin for the primary setting only."""
    return StaffFactory(
        organisation=cast.organisation,
        user__email="primary-admin@cast.example",
        user__full_name="Pat Primary-Admin",
        settings=[cast.primary],
        roles=[(Role.ORG_ADMIN, cast.primary)],
    )


def test_a_setting_admin_cannot_grant_organisation_wide_roles(cast, login, scoped_admin):
    url = reverse("accounts:staff-roles", kwargs={"code": cast.supervisee.code})
    client = login(scoped_admin)
    response = client.get(url)
    assert "Whole organisation" not in response.content.decode()
    response = client.post(url, {Role.ORG_ADMIN: ["organisation"], Role.AUDITOR: ["organisation"]})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not cast.supervisee.role_assignments.exists()
    # Nor a role in a setting they do not manage.
    response = client.post(url, {Role.HEAD: [cast.secondary.pk]})
    assert response.status_code == 200
    assert not cast.supervisee.role_assignments.exists()
    # A role in their own setting is theirs to give.
    response = client.post(url, {Role.SUPERVISOR: [cast.primary.pk]})
    assert response.status_code == 302
    assert list(cast.supervisee.role_assignments.values_list("role", "setting")) == [(Role.SUPERVISOR, cast.primary.pk)]


def test_a_setting_admin_manages_only_the_staff_of_their_settings(cast, login, scoped_admin):
    client = login(scoped_admin)
    listed = {s.user.full_name for s in client.get(reverse("accounts:staff-list")).context["page"].object_list}
    assert listed == {"Sid Supervisee", "Sam Supervisor", "Dev Dsl", "Hana Head", "Pat Primary-Admin"}
    for stranger in (cast.supervisee2, cast.supervisor2):
        for name in ("accounts:staff-edit", "accounts:staff-leaver", "accounts:staff-roles"):
            assert client.get(reverse(name, kwargs={"code": stranger.code})).status_code == 404
    assert client.get(reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code})).status_code == 200


def test_a_setting_admin_cannot_manage_someone_with_roles_beyond_their_settings(cast, login, scoped_admin):
    """Otherwise they could change an organisation-wide admin's email and take over the account."""
    client = login(scoped_admin)
    for person in (cast.org_admin, cast.auditor):
        assert person.settings.filter(pk=cast.primary.pk).exists()
        url = reverse("accounts:staff-edit", kwargs={"code": person.code})
        assert client.post(url, edit_form_data(person, email="mine@cast.example")).status_code == 404
        person.user.refresh_from_db()
        assert person.user.email != "mine@cast.example"
        assert client.get(reverse("accounts:staff-roles", kwargs={"code": person.code})).status_code == 404


def test_a_setting_admin_editing_someone_in_two_settings_keeps_the_other_setting(cast, login, scoped_admin):
    staff = cast.supervisee
    staff.settings.add(cast.secondary)
    data = edit_form_data(staff, job_title="Cover Teacher", settings=[cast.primary.pk])
    response = login(scoped_admin).post(reverse("accounts:staff-edit", kwargs={"code": staff.code}), data)
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.job_title == "Cover Teacher"
    assert set(staff.settings.all()) == {cast.primary, cast.secondary}
    assert set(events("staff.updated", staff)[0].details["changes"]) == {"job_title"}


def test_a_setting_admin_sees_only_their_settings_in_the_forms(cast, login, scoped_admin):
    client = login(scoped_admin)
    form = client.get(reverse("accounts:staff-add")).context["form"]
    assert list(form.fields["settings"].queryset) == [cast.primary]
    response = client.post(reverse("accounts:staff-add"), staff_form_data(cast, settings=[cast.secondary.pk]))
    assert response.status_code == 200
    assert "settings" in response.context["form"].errors


# The list


def names(response):
    return {s.user.full_name for s in response.context["page"].object_list}


@pytest.fixture
def variety(cast):
    """People who differ in exactly one way from the cast."""
    return {
        "agency": StaffFactory(
            organisation=cast.organisation,
            user__full_name="Ali Agency",
            settings=[cast.secondary],
            employment_type=EmploymentType.AGENCY,
        ),
        "leaver": StaffFactory(
            organisation=cast.organisation,
            user__full_name="Lee Leaver",
            settings=[cast.primary],
            leaving_date=date(2021, 7, 31),
        ),
        "volunteer": StaffFactory(
            organisation=cast.organisation,
            user__full_name="Val Volunteer",
            user__email="reading.helper@cast.example",
            job_title="Reading Volunteer",
            settings=[cast.primary],
            employment_type=EmploymentType.VOLUNTEER,
        ),
    }


CAST_CURRENT = {
    "Sid Supervisee",
    "Sal Supervisee",
    "Sam Supervisor",
    "Sue Supervisor",
    "Dev Dsl",
    "Hana Head",
    "Aud Auditor",
    "Ada Admin",
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, CAST_CURRENT | {"Ali Agency", "Val Volunteer"}),
        ({"status": "leavers"}, {"Lee Leaver"}),
        ({"status": "all"}, CAST_CURRENT | {"Ali Agency", "Val Volunteer", "Lee Leaver"}),
        ({"setting": "secondary"}, {"Sal Supervisee", "Sue Supervisor", "Ali Agency"}),
        ({"role": Role.SUPERVISOR}, {"Sam Supervisor", "Sue Supervisor", "Hana Head"}),
        ({"role": Role.HEAD, "setting": "primary"}, {"Hana Head"}),
        ({"employment_type": EmploymentType.AGENCY}, {"Ali Agency"}),
        ({"employment_type": EmploymentType.PERMANENT, "status": "leavers"}, {"Lee Leaver"}),
        ({"q": "supervis"}, {"Sid Supervisee", "Sal Supervisee", "Sam Supervisor", "Sue Supervisor"}),
        ({"q": "READING.helper"}, {"Val Volunteer"}),
        ({"q": "volunteer"}, {"Val Volunteer"}),
        ({"q": "nobody-like-this"}, set()),
    ],
)
def test_staff_list_filters(cast, login, variety, query, expected):
    query = {k: getattr(cast, v).pk if k == "setting" else v for k, v in query.items()}
    response = login(cast.org_admin).get(reverse("accounts:staff-list"), query)
    assert response.status_code == 200
    assert names(response) == expected
    if not expected:
        assert "Nobody matches" in response.content.decode()


def test_staff_list_search_answers_htmx_with_the_table_only(cast, login):
    response = login(cast.org_admin).get(reverse("accounts:staff-list"), {"q": "Sid"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page
    assert "Sid Supervisee" in page
    assert "Sal Supervisee" not in page


def _fill(cast, count):
    for i in range(count):
        StaffFactory(
            organisation=cast.organisation,
            settings=[cast.primary, cast.secondary] if i % 2 else [cast.secondary],
            supervisor=cast.supervisor if i % 3 else cast.supervisor2,
            roles=[(Role.SUPERVISOR, cast.primary)] if i % 4 == 0 else [],
            days=[0, 2, 4] if i % 2 else None,
        )


def _count_queries(client, query):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("accounts:staff-list"), query)
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.context["page"].object_list)


@pytest.mark.parametrize("query", [{}, {"status": "all", "q": "e", "role": Role.SUPERVISOR}], ids=["plain", "filtered"])
def test_staff_list_queries_do_not_grow_with_the_number_of_people(cast, login, query):
    client = login(cast.org_admin)
    _fill(cast, 5)
    small, shown_small = _count_queries(client, query)
    _fill(cast, 45)
    large, shown_large = _count_queries(client, query)
    assert shown_large > shown_small
    assert small == large


# Sign-in and sign-out events


def test_signing_in_and_out_write_audit_events(cast, client):
    user = cast.supervisee.user
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": cast.password})
    assert response.status_code == 302
    [signed_in] = events("auth.signed_in")
    assert signed_in.actor == user
    assert signed_in.organisation == cast.organisation
    assert signed_in.ip_address == "127.0.0.1"

    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    [signed_out] = events("auth.signed_out")
    assert signed_out.actor == user
    assert signed_out.organisation == cast.organisation
    assert client.get(reverse("home")).status_code == 302


def test_a_failed_sign_in_writes_no_signed_in_event(cast, client):
    client.post(reverse("accounts:login"), {"username": cast.supervisee.user.email, "password": "wrong-password"})
    assert events("auth.signed_in") == []
