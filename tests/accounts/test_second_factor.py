"""Issue 12: authenticator-app codes (TOTP) and recovery codes at sign-in, enrolment that privileged roles
cannot skip, step-up with the code when signing, and an admin's reset. Codes are computed with pyotp, as
the person's app would, at times fixed by time-machine."""

from base64 import b32encode
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, Organisation
from accounts.second_factor import authenticator_confirm, authenticator_start
from records import services as record_services
from records.models import RecordStatus
from supervision import services as supervision_services
from tests.records.helpers import signed_record, written_record

from ..factories import PASSWORD

NOW = datetime(2026, 1, 12, 9, 0, 7, tzinfo=UTC)
LOGIN = reverse("accounts:login")
CODE = reverse("accounts:login-code")
SECURITY = reverse("accounts:security")


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def enrol(staff) -> tuple[pyotp.TOTP, list[str]]:
    device = authenticator_start(user=staff.user)
    codes = authenticator_confirm(user=staff.user, device=device)
    return pyotp.TOTP(b32encode(device.bin_key).decode()), codes


def rule_on(cast):
    Organisation.objects.filter(pk=cast.organisation.pk).update(require_second_factor=True)


def password_step(staff, client=None):
    client = client or Client()
    response = client.post(LOGIN, {"username": staff.user.email, "password": PASSWORD})
    return client, response


def signed_in_as(client) -> str | None:
    response = client.get(reverse("home"))
    return None if response.status_code == 302 and LOGIN in response.url else response.context["user"].email


# --- Signing in with a code -----------------------------------------------------------------------


def test_a_right_password_alone_signs_nobody_in_who_has_an_app(cast, clock):
    totp, _ = enrol(cast.dsl)
    client, response = password_step(cast.dsl)
    assert response.status_code == 302 and response.url == CODE
    assert signed_in_as(client) is None
    assert not AuditEvent.objects.filter(action="auth.signed_in").exists()
    response = client.post(CODE, {"code": totp.now()})
    assert response.status_code == 302 and response.url == reverse("home")
    assert signed_in_as(client) == cast.dsl.user.email
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.actor == cast.dsl.user and event.details == {"second_factor": "authenticator"}


def test_the_code_page_without_a_right_password_sends_back_to_sign_in(cast, clock):
    totp, _ = enrol(cast.dsl)
    client = Client()
    response = client.post(CODE, {"code": totp.now()})
    assert response.status_code == 302 and response.url == LOGIN
    assert signed_in_as(client) is None


def test_a_code_used_once_is_refused_the_second_time(cast, clock):
    totp, _ = enrol(cast.dsl)
    code = totp.now()
    client, _ = password_step(cast.dsl)
    assert client.post(CODE, {"code": code}).status_code == 302
    client.post(reverse("accounts:logout"))
    # Someone who watched the code being typed, within the same 30 seconds.
    other, _ = password_step(cast.dsl)
    response = other.post(CODE, {"code": code})
    assert response.status_code == 200
    assert "not right, or it has been used already" in response.content.decode()
    assert signed_in_as(other) is None
    assert AuditEvent.objects.filter(action="auth.code_failed", details__purpose="auth.sign_in").count() == 1


def test_a_phone_clock_one_step_out_is_accepted_and_two_steps_refused(cast, clock):
    totp, _ = enrol(cast.dsl)
    client, _ = password_step(cast.dsl)
    two_behind = totp.at(NOW - timedelta(seconds=60))
    assert client.post(CODE, {"code": two_behind}).status_code == 200
    assert signed_in_as(client) is None
    one_behind = totp.at(NOW - timedelta(seconds=30))
    assert client.post(CODE, {"code": one_behind}).status_code == 302
    assert signed_in_as(client) == cast.dsl.user.email

    # The phone stays 30 seconds slow: django-otp remembers the drift, and its codes keep working.
    clock.shift(timedelta(minutes=5))
    client.post(reverse("accounts:logout"))
    again, _ = password_step(cast.dsl)
    assert again.post(CODE, {"code": totp.at(NOW + timedelta(minutes=5, seconds=-30))}).status_code == 302


def test_wrong_codes_lock_the_account_as_wrong_passwords_do(cast, clock):
    totp, _ = enrol(cast.dsl)
    client, _ = password_step(cast.dsl)
    # Two wrong passwords first: one count for both.
    for _ in range(2):
        assert Client().post(LOGIN, {"username": cast.dsl.user.email, "password": "wrong-guess"}).status_code == 200
    statuses = [client.post(CODE, {"code": f"{i:06d}"}).status_code for i in range(3)]
    assert statuses[:2] == [200, 200]
    assert statuses[2] in (403, 429)  # the fifth failure locks
    # Even the right code, and the right password, are now refused.
    fresh, response = password_step(cast.dsl)
    assert response.status_code == 429
    assert client.post(CODE, {"code": totp.now()}).status_code == 302  # the pending step was ended
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(action="auth.code_failed", details__locked_out=True).exists()


def test_a_recovery_code_signs_in_once(cast, clock):
    _, codes = enrol(cast.head)
    client, _ = password_step(cast.head)
    response = client.post(CODE, {"code": codes[0].upper()})
    assert response.status_code == 302
    assert signed_in_as(client) == cast.head.user.email
    assert AuditEvent.objects.get(action="auth.signed_in").details == {"second_factor": "recovery_code"}
    assert StaticToken.objects.filter(device__user=cast.head.user).count() == 9
    client.post(reverse("accounts:logout"))
    again, _ = password_step(cast.head)
    assert again.post(CODE, {"code": codes[0]}).status_code == 200
    assert signed_in_as(again) is None


def test_the_code_step_lapses_after_five_minutes(cast, clock):
    totp, _ = enrol(cast.dsl)
    client, _ = password_step(cast.dsl)
    clock.shift(timedelta(minutes=6))
    response = client.post(CODE, {"code": totp.now()})
    assert response.status_code == 302 and response.url == LOGIN
    assert signed_in_as(client) is None


def test_a_leaver_with_an_app_is_not_signed_in_by_the_code(cast, clock):
    totp, _ = enrol(cast.dsl)
    client, _ = password_step(cast.dsl)
    cast.dsl.leaving_date = NOW.date() - timedelta(days=1)
    cast.dsl.save(update_fields=["leaving_date"])
    response = client.post(CODE, {"code": totp.now()})
    assert response.status_code == 302 and response.url == LOGIN
    assert signed_in_as(client) is None


def test_a_session_that_never_showed_a_code_is_ended(cast, clock):
    """A session from before the person enrolled (or made any way but the sign-in page) does not carry on."""
    client = Client()
    client.force_login(cast.supervisor.user)
    enrol(cast.supervisor)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and LOGIN in response.url
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(action="auth.signed_out_unverified", actor=cast.supervisor.user).exists()


# --- Enrolment ------------------------------------------------------------------------------------


@pytest.mark.parametrize("person", ["dsl", "head", "auditor", "org_admin"])
def test_privileged_roles_must_enrol_before_anything_else(cast, clock, person):
    rule_on(cast)
    staff = getattr(cast, person)
    client, response = password_step(staff)
    assert response.status_code == 302 and response.url == reverse("home")
    for url in (reverse("home"), reverse("accounts:staff-list"), reverse("accounts:password-change")):
        response = client.get(url)
        assert response.status_code == 302 and response.url == SECURITY, url
    page = client.get(SECURITY)
    assert "Add a passkey or set up an authenticator app to go on" in page.content.decode()

    assert client.post(SECURITY).status_code == 302
    page = client.get(reverse("accounts:security-authenticator"))
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=staff.user, confirmed=False)
    totp = pyotp.TOTP(b32encode(device.bin_key).decode())
    wrong = client.post(reverse("accounts:security-authenticator"), {"code": "000000"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    done = client.post(reverse("accounts:security-authenticator"), {"code": totp.now()})
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert client.get(reverse("home")).status_code == 200
    assert AuditEvent.objects.filter(action="auth.second_factor_enrolled", actor=staff.user).exists()


def test_everyone_else_may_enrol_but_need_not(cast, clock):
    rule_on(cast)
    client, _ = password_step(cast.supervisee)
    assert client.get(reverse("home")).status_code == 200
    assert "Add a passkey or set up an authenticator app to go on" not in client.get(SECURITY).content.decode()


def test_with_the_rule_off_privileged_roles_sign_in_with_a_password(cast, clock):
    client, _ = password_step(cast.dsl)
    assert client.get(reverse("home")).status_code == 200


def test_a_new_organisation_has_the_rule_on():
    assert Organisation._meta.get_field("require_second_factor").default is True


def test_new_recovery_codes_need_a_current_code(cast, clock):
    totp, old_codes = enrol(cast.supervisor)
    client, _ = password_step(cast.supervisor)
    client.post(CODE, {"code": totp.now()})
    url = reverse("accounts:security-recovery-codes")
    assert client.post(url, {"renew-code": "123456"}).status_code == 400
    clock.shift(timedelta(seconds=30))
    response = client.post(url, {"renew-code": totp.now()})
    assert response.status_code == 200
    new_codes = response.context["codes"]
    assert set(new_codes).isdisjoint(old_codes)
    assert set(StaticToken.objects.filter(device__user=cast.supervisor.user).values_list("token", flat=True)) == set(
        new_codes
    )


# --- Step-up when signing -------------------------------------------------------------------------


def sign(client, record, secret):
    return client.post(
        reverse("records:record-sign", kwargs={"code": record.code}), {"password": secret, "agree": "on"}
    )


def verified_client(staff, totp):
    client, _ = password_step(staff)
    assert client.post(CODE, {"code": totp.now()}).status_code == 302
    return client


def test_a_stolen_password_does_not_sign_a_record_for_someone_with_an_app(cast, clock):
    """The attack: a signed-in session (left open, or taken over) and the person's password. With an app,
    the record asks for a code from it, and the password signs nothing."""
    totp, _ = enrol(cast.supervisee)
    record = written_record(cast)
    record_services.record_submit(actor=cast.supervisor, record=record)
    client = verified_client(cast.supervisee, totp)
    page = client.get(reverse("records:record-detail", kwargs={"code": record.code})).content.decode()
    assert "Code from your authenticator app" in page
    sign(client, record, PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISEE and not record.signatures.exists()
    assert AuditEvent.objects.filter(action="auth.code_failed", details__purpose="record.sign").exists()

    clock.shift(timedelta(seconds=30))
    sign(client, record, totp.now())
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    assert record.signatures.filter(signer=cast.supervisee).exists()


def test_the_code_that_signed_in_does_not_sign_too(cast, clock):
    totp, _ = enrol(cast.supervisee)
    record = written_record(cast)
    record_services.record_submit(actor=cast.supervisor, record=record)
    client = verified_client(cast.supervisee, totp)
    sign(client, record, totp.now())
    record.refresh_from_db()
    assert not record.signatures.exists()


def test_changing_the_password_still_asks_for_the_old_password(cast, clock):
    totp, _ = enrol(cast.supervisee)
    client = verified_client(cast.supervisee, totp)
    response = client.post(
        reverse("accounts:password-change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-long-new-passphrase-42",
            "new_password2": "a-long-new-passphrase-42",
        },
    )
    assert response.status_code == 302


# --- An admin's reset -----------------------------------------------------------------------------


def test_an_admin_resets_a_lost_second_factor_and_the_person_is_told(cast, clock, django_capture_on_commit_callbacks):
    rule_on(cast)
    enrol(cast.dsl)
    totp, _ = enrol(cast.org_admin)
    admin = verified_client(cast.org_admin, totp)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("accounts:staff-second-factor-reset", kwargs={"code": cast.dsl.code}))
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=cast.dsl.user).exists()
    assert not StaticDevice.objects.filter(user=cast.dsl.user).exists()
    event = AuditEvent.objects.get(action="auth.second_factor_reset")
    assert event.actor == cast.org_admin.user and event.object_code == str(cast.dsl.code)
    assert [m.to for m in mail.outbox] == [[cast.dsl.user.email]]
    assert "second factor" in mail.outbox[0].subject
    # The person signs in with the password and is made to enrol again.
    client, _ = password_step(cast.dsl)
    assert client.get(reverse("home")).url == SECURITY


def test_an_admin_is_sent_to_their_own_security_page_rather_than_resetting_themself(cast, clock):
    totp, _ = enrol(cast.org_admin)
    admin = verified_client(cast.org_admin, totp)
    response = admin.post(reverse("accounts:staff-second-factor-reset", kwargs={"code": cast.org_admin.code}))
    assert response.status_code == 302 and response.url == SECURITY
    assert not AuditEvent.objects.filter(action="auth.second_factor_reset").exists()
    assert TOTPDevice.objects.filter(user=cast.org_admin.user).exists()


def test_the_organisation_admin_turns_the_rule_on_and_it_is_audited(cast, login):
    client = login(cast.org_admin)
    url = reverse("accounts:second-factor-rule")
    assert client.get(url).status_code == 200
    assert client.post(url, {"require_second_factor": "on"}).status_code == 302
    cast.organisation.refresh_from_db()
    assert cast.organisation.require_second_factor is True
    event = AuditEvent.objects.get(action="organisation.second_factor_rule_changed")
    assert event.details == {"required": True} and event.actor == cast.org_admin.user


def test_an_agreement_and_an_addendum_are_signed_with_a_code_not_the_password(cast, clock):
    record = signed_record(cast)  # signed with passwords, before the supervisee set up an app
    addendum = record_services.addendum_add(actor=cast.supervisor, record=record, text="A correction.")
    contract = supervision_services.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee2, supervisor=cast.supervisor, start_date=NOW.date()
    )
    totp, _ = enrol(cast.supervisor)
    client = verified_client(cast.supervisor, totp)
    addendum_url = reverse("records:addendum-sign", kwargs={"code": record.code, "addendum": addendum.code})
    contract_url = reverse("supervision:contract-sign", kwargs={"code": contract.code})
    page = client.get(reverse("records:record-detail", kwargs={"code": record.code})).content.decode()
    assert "Code from your authenticator app" in page

    client.post(addendum_url, {"password": PASSWORD, "agree": "on"})
    client.post(contract_url, {"password": PASSWORD, "agree": "on"})
    assert not addendum.signatures.exists()
    contract.refresh_from_db()
    assert contract.supervisor_signed_at is None

    clock.shift(timedelta(seconds=30))
    client.post(addendum_url, {"password": totp.now(), "agree": "on"})
    assert addendum.signatures.filter(signer=cast.supervisor).exists()
    clock.shift(timedelta(seconds=30))
    client.post(contract_url, {"password": totp.now(), "agree": "on"})
    contract.refresh_from_db()
    assert contract.supervisor_signed_at is not None
