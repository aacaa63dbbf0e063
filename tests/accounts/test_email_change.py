"""Issue 11, finding 1: an organisation admin alone cannot take over someone's account by changing their
email and inviting them. A new address waits for the person (or a second admin where their address is
gone), the new address is verified, the person hears at their old address, and every session ends."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, EmailChange, Role
from accounts.services import invitation_path
from tests.accounts.helpers import edit_form_data

from ..factories import StaffFactory

ATTACKER = "admin.controls.this@evil.example"
NEW_PASSWORD = "a-long-new-passphrase-42"


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def link_in(message, step: str) -> str:
    match = re.search(rf"https?://[^/\s]+(/accounts/email/{step}/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def can_sign_in(email, password) -> bool:
    client = Client()
    client.post(reverse("accounts:login"), {"username": email, "password": password})
    return client.get(reverse("home")).status_code == 200


def mails_to(address):
    return [m for m in mail.outbox if address in m.to]


def ask(admin_client, staff, new_email, capture, **extra):
    url = reverse("accounts:staff-edit", kwargs={"code": staff.code})
    with capture(execute=True):
        return admin_client.post(url, edit_form_data(staff, email=new_email, **extra), follow=True)


def test_the_takeover_by_email_change_and_invitation_fails(cast, login, django_capture_on_commit_callbacks):
    victim = cast.supervisor
    admin = login(cast.org_admin)
    response = ask(admin, victim, ATTACKER, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    victim.user.refresh_from_db()
    assert victim.user.email == "supervisor@cast.example"
    assert "takes effect once they do" in response.content.decode()

    # The invitation is refused: the person has a password.
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("accounts:staff-invite", kwargs={"code": victim.code}), follow=True)
    assert "has already set a password" in response.content.decode()
    assert mails_to(ATTACKER) == []
    assert not AuditEvent.objects.filter(action="staff.invited", object_code=str(victim.code)).exists()

    # Even a hand-made invitation link for the person sets nothing.
    link = invitation_path(victim.user)
    attacker = Client()
    page = attacker.get(link, follow=True)
    assert "This link no longer works" in page.content.decode()
    attacker.post(link.replace(link.split("/")[-2], "set-password"), {"new_password1": NEW_PASSWORD,
                                                                       "new_password2": NEW_PASSWORD})  # fmt: skip
    victim.user.refresh_from_db()
    assert victim.user.check_password(cast.password)

    # The attacker's address does not sign in; the person's does, and they were told.
    assert not can_sign_in(ATTACKER, NEW_PASSWORD)
    assert can_sign_in("supervisor@cast.example", cast.password)
    [told] = mails_to("supervisor@cast.example")
    assert ATTACKER in told.body and "Nothing changes until you confirm it" in told.body
    assert EmailChange.objects.get(staff=victim).status == EmailChange.Status.AWAITING_PERSON


def test_the_person_confirms_at_their_old_address_then_verifies_the_new_one(
    cast, login, django_capture_on_commit_callbacks
):
    person = cast.supervisee
    old_session = signed_in(person)
    assert old_session.get(reverse("home")).status_code == 200
    ask(login(cast.org_admin), person, "Sid.New@Cast.example", django_capture_on_commit_callbacks)
    confirm = link_in(mails_to("supervisee@cast.example")[0], "confirm")

    anyone = Client()
    page = anyone.get(confirm)  # a mail scanner opening the link changes nothing
    assert "sid.new@cast.example" in page.content.decode()
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.AWAITING_PERSON
    with django_capture_on_commit_callbacks(execute=True):
        anyone.post(confirm, {"decision": "confirm"})
    person.user.refresh_from_db()
    assert person.user.email == "supervisee@cast.example"  # not until the new address is verified
    verify = link_in(mails_to("sid.new@cast.example")[0], "verify")
    assert anyone.post(confirm, {"decision": "confirm"}).status_code == 200  # used: "no longer works"

    anyone.get(verify)
    person.user.refresh_from_db()
    assert person.user.email == "supervisee@cast.example"
    with django_capture_on_commit_callbacks(execute=True):
        response = anyone.post(verify, follow=True)
    assert "Sign in with sid.new@cast.example" in response.content.decode()
    person.user.refresh_from_db()
    assert person.user.email == "sid.new@cast.example"

    # Every session of the person ended; they sign in with the new address.
    assert old_session.get(reverse("home")).status_code == 302
    assert can_sign_in("sid.new@cast.example", cast.password)
    assert not can_sign_in("supervisee@cast.example", cast.password)
    done = mails_to("supervisee@cast.example")[-1]
    assert "sid.new@cast.example" in done.body and "signed out" in done.body
    actions = list(
        AuditEvent.objects.filter(object_code=str(person.code), action__startswith="staff.email_change").values_list(
            "action", flat=True
        )
    )
    assert set(actions) == {"staff.email_change_requested", "staff.email_change_confirmed", "staff.email_changed"}
    changed = AuditEvent.objects.get(action="staff.email_changed", object_code=str(person.code))
    assert changed.details["old_email"] == "supervisee@cast.example"
    assert changed.details["confirmed_by"] == "old_address"
    # The verify link works once.
    assert anyone.post(verify).status_code == 200
    assert "This link no longer works" in anyone.get(verify).content.decode()


def test_the_person_confirms_signed_in_with_their_password(cast, login, django_capture_on_commit_callbacks):
    person = cast.supervisor2
    ask(login(cast.org_admin), person, "s2.new@cast.example", django_capture_on_commit_callbacks)
    client = signed_in(person)
    assert "A new sign-in address is waiting for you" in client.get(reverse("home")).content.decode()
    url = reverse("accounts:email-change")
    response = client.post(url, {"decision": "confirm", "password": "not-mine"})
    assert "That password is not right." in response.content.decode()
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.AWAITING_PERSON
    assert mails_to("s2.new@cast.example") == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"decision": "confirm", "password": cast.password})
    change = EmailChange.objects.get(staff=person)
    assert (change.status, change.confirmed_by) == (EmailChange.Status.AWAITING_NEW_ADDRESS, "session")
    assert len(mails_to("s2.new@cast.example")) == 1


def test_the_person_refuses_and_nothing_changes(cast, login, django_capture_on_commit_callbacks):
    person = cast.supervisor
    ask(login(cast.org_admin), person, ATTACKER, django_capture_on_commit_callbacks)
    confirm = link_in(mails_to("supervisor@cast.example")[0], "confirm")
    Client().post(confirm, {"decision": "refuse"})
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.CANCELLED
    assert AuditEvent.objects.filter(action="staff.email_change_refused", object_code=str(person.code)).exists()
    assert mails_to(ATTACKER) == []
    person.user.refresh_from_db()
    assert person.user.email == "supervisor@cast.example"


def test_where_the_old_address_is_gone_a_second_admin_approves(cast, login, django_capture_on_commit_callbacks):
    person = cast.supervisor
    second = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, None)])
    ask(login(cast.org_admin), person, "new.home@cast.example", django_capture_on_commit_callbacks,
        old_address_gone="on")  # fmt: skip
    url = reverse("accounts:staff-email-change", kwargs={"code": person.code})

    # The admin who asked cannot approve it; nor can the person stand in for a second admin.
    assert login(cast.org_admin).post(url, {"action": "approve"}).status_code == 403
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.AWAITING_PERSON
    assert mails_to("new.home@cast.example") == []

    with django_capture_on_commit_callbacks(execute=True):
        signed_in(second).post(url, {"action": "approve"})
    change = EmailChange.objects.get(staff=person)
    assert (change.status, change.approved_by) == (EmailChange.Status.AWAITING_NEW_ADDRESS, second.user)
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(link_in(mails_to("new.home@cast.example")[0], "verify"))
    person.user.refresh_from_db()
    assert person.user.email == "new.home@cast.example"
    assert AuditEvent.objects.filter(action="staff.email_change_approved", actor=second.user).exists()


def test_a_second_admin_cannot_approve_when_the_person_can_confirm(cast, login, django_capture_on_commit_callbacks):
    person = cast.supervisor
    second = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, None)])
    ask(login(cast.org_admin), person, ATTACKER, django_capture_on_commit_callbacks)
    url = reverse("accounts:staff-email-change", kwargs={"code": person.code})
    assert signed_in(second).post(url, {"action": "approve"}).status_code == 403
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.AWAITING_PERSON


def test_an_admin_cancels_a_waiting_change(cast, login, django_capture_on_commit_callbacks):
    person = cast.supervisee2
    client = login(cast.org_admin)
    ask(client, person, "x.new@cast.example", django_capture_on_commit_callbacks)
    confirm = link_in(mails_to("supervisee2@cast.example")[0], "confirm")
    client.post(reverse("accounts:staff-email-change", kwargs={"code": person.code}), {"action": "cancel"})
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.CANCELLED
    Client().post(confirm, {"decision": "confirm"})
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.CANCELLED
    assert mails_to("x.new@cast.example") == []


def test_an_admin_of_another_organisation_cannot_touch_a_change(cast, login, django_capture_on_commit_callbacks):
    person = cast.supervisee
    ask(login(cast.org_admin), person, "x.new@cast.example", django_capture_on_commit_callbacks)
    url = reverse("accounts:staff-email-change", kwargs={"code": person.code})
    assert signed_in(cast.outsider).post(url, {"action": "cancel"}).status_code == 404
    assert signed_in(cast.supervisor).post(url, {"action": "cancel"}).status_code == 403
    assert EmailChange.objects.get(staff=person).status == EmailChange.Status.AWAITING_PERSON


def test_someone_who_never_signed_in_has_their_address_corrected_at_once(
    cast, login, django_capture_on_commit_callbacks
):
    newcomer = StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__email="typo@cast.exmaple")
    newcomer.user.set_unusable_password()
    newcomer.user.save(update_fields=["password"])
    ask(login(cast.org_admin), newcomer, "fixed@cast.example", django_capture_on_commit_callbacks)
    newcomer.user.refresh_from_db()
    assert newcomer.user.email == "fixed@cast.example"
    assert not EmailChange.objects.filter(staff=newcomer).exists()


@pytest.mark.parametrize("taken", ["Outsider-Staff@other.example", "supervisee2@cast.example"])
def test_an_address_already_in_use_is_refused_in_the_same_words(cast, login, taken):
    response = login(cast.org_admin).post(
        reverse("accounts:staff-edit", kwargs={"code": cast.supervisor.code}),
        edit_form_data(cast.supervisor, email=taken),
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    assert error.startswith("This address cannot be used: it already belongs to an account.")
    assert "organisation" not in error
    assert not EmailChange.objects.exists()


def test_adding_a_person_with_another_organisations_address_says_nothing_about_it(cast, login):
    data = {
        "full_name": "Nia Newcomer",
        "email": "outsider-staff@other.example",
        "settings": [cast.primary.pk],
        "employment_type": "permanent",
        "start_date": "2025-09-01",
        "day_0_works": "on",
    }
    response = login(cast.org_admin).post(reverse("accounts:staff-add"), data)
    page = response.content.decode()
    assert "it already belongs to an account" in page
    assert "another organisation" not in page and cast.other_organisation.name not in page


def test_a_password_change_ends_the_persons_other_sessions(cast):
    elsewhere = signed_in(cast.supervisee)
    here = signed_in(cast.supervisee)
    response = here.post(
        reverse("accounts:password-change"),
        {"old_password": cast.password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert here.get(reverse("home")).status_code == 200
    assert elsewhere.get(reverse("home")).status_code == 302
