"""manage.py create_organisation (issue 15): an organisation from nothing, for the installation's operator."""

import re
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Organisation, Role, StaffMember, User
from supervision import setup
from supervision.models import AcademicYear, HalfTerm

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-new-password-1"


def run(*args, capture=None):
    out = StringIO()
    if capture is not None:
        with capture(execute=True):
            call_command("create_organisation", *args, stdout=out)
    else:
        call_command("create_organisation", *args, stdout=out)
    return out.getvalue()


def link_in(text: str) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/invitation/[^/\s]+/[^/\s]+/)", text)
    assert match, text
    return match.group(1)


def events(action, organisation):
    return list(AuditEvent.objects.filter(action=action, organisation=organisation))


@time_machine.travel("2026-10-01 09:00 +0100", tick=False)
def test_it_makes_the_organisation_its_calendar_and_an_invited_admin(django_capture_on_commit_callbacks):
    out = run(
        "--name", "Northfield Schools Partnership", "--admin-email", " Jo.Admin@Northfield.example ",
        "--admin-name", "Jo Admin", capture=django_capture_on_commit_callbacks,
    )  # fmt: skip

    organisation = Organisation.objects.get(name="Northfield Schools Partnership")
    admin = StaffMember.objects.select_related("user").get(organisation=organisation)
    assert admin.user.email == "jo.admin@northfield.example"
    assert admin.full_name == "Jo Admin"
    assert [(a.role, a.setting_id) for a in admin.role_assignments.all()] == [(Role.ORG_ADMIN, None)]
    assert not admin.user.has_usable_password()
    assert organisation.require_second_factor  # a real organisation: its admins sign in with a second factor
    # The England calendar for this academic year and the next.
    assert list(AcademicYear.objects.filter(organisation=organisation).values_list("name", flat=True)) == [
        "2026/27",
        "2027/28",
    ]
    assert HalfTerm.objects.filter(organisation=organisation).count() == 12
    assert "2026/27 and 2027/28" in out
    # Audited, in the organisation's own trail.
    assert len(events("organisation.created", organisation)) == 1
    assert len(events("staff.created", organisation)) == 1
    assert len(events("staff.invited", organisation)) == 1
    assert len(events("calendar.year_generated", organisation)) == 2
    # The invitation went by email, and the same link was printed: it works.
    [message] = mail.outbox
    assert message.to == ["jo.admin@northfield.example"]
    link = link_in(out)
    assert link in message.body
    invitee = Client()
    response = invitee.get(link, follow=True)
    assert response.context["validlink"]
    response = invitee.post(
        response.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    admin.user.refresh_from_db()
    assert admin.user.has_signed_in


def test_the_admin_name_comes_from_the_email_when_not_given(django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    run("--name", "Little Acorns", "--admin-email", "sam.o-neill@acorns.example", capture=capture)
    assert User.objects.get(email="sam.o-neill@acorns.example").full_name == "Sam O Neill"


def test_running_it_twice_makes_one_and_says_it_exists(django_capture_on_commit_callbacks):
    args = ("--name", "Little Acorns", "--admin-email", "lead@acorns.example")
    run(*args, capture=django_capture_on_commit_callbacks)
    again = ("--name", "little acorns", "--admin-email", "LEAD@acorns.example")
    out = run(*again, capture=django_capture_on_commit_callbacks)

    assert Organisation.objects.filter(name__iexact="little acorns").count() == 1
    assert User.objects.filter(email="lead@acorns.example").count() == 1
    assert "already exists" in out
    assert "not accepted the invitation yet" in out
    assert len(mail.outbox) == 1  # no second invitation unless asked for
    organisation = Organisation.objects.get(name="Little Acorns")
    assert AcademicYear.objects.filter(organisation=organisation).count() == 2
    assert len(events("organisation.created", organisation)) == 1


def test_a_second_run_can_resend_the_invitation_until_it_is_accepted(django_capture_on_commit_callbacks):
    args = ("--name", "Little Acorns", "--admin-email", "lead@acorns.example")
    run(*args, capture=django_capture_on_commit_callbacks)
    out = run(*args, "--resend-invitation", capture=django_capture_on_commit_callbacks)
    assert "A new invitation is on its way" in out
    assert link_in(out)
    assert [m.to for m in mail.outbox] == [["lead@acorns.example"], ["lead@acorns.example"]]
    organisation = Organisation.objects.get(name="Little Acorns")
    assert len(events("staff.invited", organisation)) == 2

    user = User.objects.get(email="lead@acorns.example")
    user.set_password(NEW_PASSWORD)
    user.save()
    out = run(*args, "--resend-invitation", capture=django_capture_on_commit_callbacks)
    assert "accepted the invitation: nothing to do" in out
    assert len(mail.outbox) == 2
    assert len(events("staff.invited", organisation)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "Acorns", "--admin-email", "not-an-email"), "--admin-email: “not-an-email” is not an email"),
        (("--name", "   ", "--admin-email", "lead@acorns.example"), "--name: Give the organisation's name."),
        (("--name", "Acorns\nTrust", "--admin-email", "lead@acorns.example"), "--name: Keep this to one line"),
        (("--name", "A" * 201, "--admin-email", "lead@acorns.example"), "--name: Keep the organisation's name to 200"),
        (("--admin-email", "lead@acorns.example"), "the following arguments are required: --name"),
        (("--name", "Acorns"), "the following arguments are required: --admin-email"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(args, message):
    organisations, users, events_before = Organisation.objects.count(), User.objects.count(), AuditEvent.objects.count()
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)
    assert (Organisation.objects.count(), User.objects.count(), AuditEvent.objects.count()) == (
        organisations,
        users,
        events_before,
    )
    assert mail.outbox == []


def test_an_email_used_in_another_organisation_is_refused(cast):
    organisations = Organisation.objects.count()
    with pytest.raises(CommandError, match=r"--admin-email: supervisee@cast.example is already used by someone in"):
        run("--name", "Brand New Trust", "--admin-email", "Supervisee@cast.example")
    # Not an admin there either: the same name does not make it "already there".
    with pytest.raises(CommandError, match="already used by someone in Cast Trust"):
        run("--name", "Cast Trust", "--admin-email", "supervisee@cast.example")
    assert Organisation.objects.count() == organisations


def test_a_name_taken_by_another_organisation_is_refused(cast):
    with pytest.raises(CommandError, match="--name: An organisation called Cast Trust already exists"):
        run("--name", "cast trust", "--admin-email", "someone.new@cast.example")
    assert not User.objects.filter(email="someone.new@cast.example").exists()


def test_two_runs_at_once_make_one(monkeypatch, django_capture_on_commit_callbacks):
    """The second run looked before the first committed; the email's uniqueness refuses its user, its
    transaction is undone, and it reports the first run's organisation."""
    run("--name", "Little Acorns", "--admin-email", "lead@acorns.example", capture=django_capture_on_commit_callbacks)
    real = setup._existing
    calls = []

    def looked_too_early(name, email):
        calls.append(name)
        return None if len(calls) == 1 else real(name, email)

    monkeypatch.setattr(setup, "_existing", looked_too_early)
    out = run("--name", "Little Acorns", "--admin-email", "lead@acorns.example")
    assert len(calls) == 2
    assert "already exists" in out
    assert Organisation.objects.filter(name="Little Acorns").count() == 1


def test_the_first_admin_sees_the_setup_checklist(client, django_capture_on_commit_callbacks):
    run("--name", "Little Acorns", "--admin-email", "lead@acorns.example", capture=django_capture_on_commit_callbacks)
    admin = StaffMember.objects.get(user__email="lead@acorns.example")
    admin.user.set_password(NEW_PASSWORD)
    admin.user.save()
    Organisation.objects.filter(pk=admin.organisation_id).update(require_second_factor=False)
    client.force_login(admin.user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    checklist = response.context["setup"]
    assert [s.key for s in checklist.steps if s.done] == []
    assert "0 of 8 steps done" in response.content.decode()
