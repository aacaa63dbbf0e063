"""Issue 12: passkeys (django-otp-webauthn) through our views, answered by a software authenticator
(tests/accounts/authenticator.py) with real attestations and signed assertions: adding one, the list,
removing one, the second step of signing in, re-confirming a signature, the one lockout, and the attacks
(another site's origin, a replayed challenge, another person's passkey)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import AuditEvent, Organisation
from records import services as record_services
from records.models import RecordStatus
from supervision import services as supervision_services
from tests.records.helpers import signed_record, written_record

from ..factories import PASSWORD
from .authenticator import ORIGIN, RP_ID, SoftPasskey

NOW = datetime(2026, 1, 12, 9, 0, 7, tzinfo=UTC)
LOGIN = reverse("accounts:login")
CODE = reverse("accounts:login-code")
SECURITY = reverse("accounts:security")
ADD = reverse("accounts:security-passkey-add")
REGISTER_BEGIN = reverse("accounts:passkey-register-begin")
REGISTER_COMPLETE = reverse("accounts:passkey-register-complete")
ADDED = reverse("accounts:security-passkey-added")
REMOVE = reverse("accounts:security-passkey-remove")
LOGIN_BEGIN = reverse("accounts:login-passkey-begin")
LOGIN_COMPLETE = reverse("accounts:login-passkey-complete")
CONFIRM_BEGIN = reverse("accounts:passkey-confirm-begin")
CONFIRM_COMPLETE = reverse("accounts:passkey-confirm-complete")


@pytest.fixture(autouse=True)
def relying_party(settings):
    settings.OTP_WEBAUTHN_RP_ID = RP_ID
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def post_json(client, url, data=None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def add_passkey(client, name="MacBook Touch ID", passkey=None):
    """What the security page and the library's script do: name it, begin, create, complete."""
    passkey = passkey or SoftPasskey()
    assert client.post(ADD, {"name": name}).status_code == 200
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, passkey.create(options))
    assert response.status_code == 200, response.content
    return passkey


def enrolled(staff, name="MacBook Touch ID"):
    """The person, signed in with their password (the rule off or no factor yet), adds a passkey."""
    client = Client()
    client.force_login(staff.user)
    return add_passkey(client, name), client


def password_step(staff, client=None):
    client = client or Client()
    response = client.post(LOGIN, {"username": staff.user.email, "password": PASSWORD})
    return client, response


def passkey_step(client, passkey, origin=None):
    options = post_json(client, LOGIN_BEGIN).json()
    return post_json(client, LOGIN_COMPLETE, passkey.get(options, origin=origin))


def signed_in_as(client) -> str | None:
    response = client.get(reverse("home"))
    return None if response.status_code == 302 and LOGIN in response.url else response.context["user"].email


def signed_in_with_passkey(staff, passkey):
    client, _ = password_step(staff)
    assert passkey_step(client, passkey).status_code == 200
    return client


def rule_on(cast):
    Organisation.objects.filter(pk=cast.organisation.pk).update(require_second_factor=True)


# --- Adding one -----------------------------------------------------------------------------------


def test_a_passkey_is_added_named_listed_and_audited_with_recovery_codes(cast, clock):
    _, client = enrolled(cast.supervisee, "MacBook Touch ID")
    device = WebAuthnCredential.objects.get(user=cast.supervisee.user)
    assert device.name == "MacBook Touch ID" and device.confirmed
    # The first factor comes with recovery codes, shown once on the next page.
    page = client.get(ADDED)
    assert page.status_code == 200 and "Your passkey is added" in page.content.decode()
    assert StaticToken.objects.filter(device__user=cast.supervisee.user).count() == 10
    assert client.get(ADDED).status_code == 302  # not shown twice
    listing = client.get(SECURITY).content.decode()
    assert "MacBook Touch ID" in listing and "Mon 12 Jan 2026" in listing and "Not yet" in listing
    event = AuditEvent.objects.get(action="auth.passkey_added")
    assert event.actor == cast.supervisee.user
    assert event.details == {"passkey": "MacBook Touch ID", "recovery_codes_made": True}


def test_a_second_passkey_keeps_the_recovery_codes(cast, clock):
    _, client = enrolled(cast.supervisee, "Laptop")
    client.get(ADDED)
    codes = set(StaticToken.objects.filter(device__user=cast.supervisee.user).values_list("token", flat=True))
    add_passkey(client, "Phone")
    assert client.get(ADDED).status_code == 302
    assert set(StaticToken.objects.filter(device__user=cast.supervisee.user).values_list("token", flat=True)) == codes
    assert list(WebAuthnCredential.objects.filter(user=cast.supervisee.user).values_list("name", flat=True)) == [
        "Laptop",
        "Phone",
    ]


def test_the_security_page_costs_the_same_queries_with_more_passkeys(cast, clock):
    def queries(client):
        client.get(SECURITY)  # the session settles first
        with CaptureQueriesContext(connection) as captured:
            assert client.get(SECURITY).status_code == 200
        return len(captured)

    _, client = enrolled(cast.supervisee, "Laptop")
    client.get(ADDED)
    one = queries(client)
    add_passkey(client, "Phone")
    add_passkey(client, "Security key")
    assert WebAuthnCredential.objects.filter(user=cast.supervisee.user).count() == 3
    assert queries(client) == one


def test_a_name_is_required_and_nothing_starts_without_one(cast, clock):
    client = Client()
    client.force_login(cast.supervisee.user)
    response = client.post(ADD, {"name": "   "})
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    response = post_json(client, REGISTER_BEGIN)
    assert response.status_code == 400 and "Name the passkey first" in response.json()["detail"]


def test_an_answer_for_another_site_is_refused_and_nothing_kept(cast, clock):
    client = Client()
    client.force_login(cast.supervisee.user)
    client.post(ADD, {"name": "Phishing"})
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, SoftPasskey().create(options, origin="https://supervision.evil"))
    assert response.status_code == 400 and "could not be added" in response.json()["detail"]
    assert not WebAuthnCredential.objects.exists()
    assert not StaticToken.objects.filter(device__user=cast.supervisee.user).exists()
    assert AuditEvent.objects.filter(action="auth.passkey_add_failed", actor=cast.supervisee.user).exists()


def test_a_registration_challenge_is_used_once(cast, clock):
    client = Client()
    client.force_login(cast.supervisee.user)
    client.post(ADD, {"name": "Laptop"})
    options = post_json(client, REGISTER_BEGIN).json()
    answer = SoftPasskey().create(options)
    assert post_json(client, REGISTER_COMPLETE, answer).status_code == 200
    again = post_json(client, REGISTER_COMPLETE, answer)
    assert again.status_code == 400 and "expired or was used already" in again.json()["detail"]
    assert WebAuthnCredential.objects.count() == 1


def test_adding_a_passkey_meets_the_organisations_rule(cast, clock):
    rule_on(cast)
    client, _ = password_step(cast.dsl)
    assert client.get(reverse("home")).url == SECURITY  # made to enrol
    assert "Add a passkey or set up an authenticator app to go on" in client.get(SECURITY).content.decode()
    passkey = add_passkey(client, "Office PC")
    assert client.get(reverse("home")).status_code == 200  # the passkey is the proof for this session
    client.post(reverse("accounts:logout"))
    # The next sign-in needs the passkey too.
    client, response = password_step(cast.dsl)
    assert response.url == CODE and signed_in_as(client) is None
    assert passkey_step(client, passkey).status_code == 200
    assert signed_in_as(client) == cast.dsl.user.email


def test_the_librarys_own_passwordless_views_are_not_reachable(settings):
    """django-otp-webauthn's views would sign someone in with a passkey alone; they are not mounted, and
    its authentication backend is not in use."""
    with pytest.raises(NoReverseMatch):
        reverse("otp_webauthn:credential-authentication-complete")
    assert not any("webauthn" in backend.lower() for backend in settings.AUTHENTICATION_BACKENDS)
    assert settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN is False


# --- Signing in -----------------------------------------------------------------------------------


def test_the_second_step_takes_the_passkey_and_says_where_to_go(cast, clock):
    passkey, _ = enrolled(cast.dsl)
    client, response = password_step(cast.dsl)
    assert response.url == CODE
    page = client.get(CODE).content.decode()
    assert "Sign in with your passkey" in page and 'id="otp_webauthn_config"' in page
    assert "django_otp_webauthn/otp_webauthn_auth.js" in page
    response = passkey_step(client, passkey)
    assert response.status_code == 200 and response.json()["redirect_url"] == reverse("home")
    assert signed_in_as(client) == cast.dsl.user.email
    assert AuditEvent.objects.get(action="auth.signed_in").details == {"second_factor": "passkey"}
    used = AuditEvent.objects.get(action="auth.passkey_used")
    assert used.details == {"purpose": "auth.sign_in", "passkey": "MacBook Touch ID"}
    device = WebAuthnCredential.objects.get(user=cast.dsl.user)
    assert device.last_used_at is not None and device.sign_count == 1


def test_a_recovery_code_signs_in_someone_whose_passkey_is_lost(cast, clock):
    _, client = enrolled(cast.dsl)
    codes = client.get(ADDED).context["codes"]
    client, _ = password_step(cast.dsl)
    assert "Recovery code" in client.get(CODE).content.decode()
    assert client.post(CODE, {"code": "not-a-code"}).status_code == 200
    assert signed_in_as(client) is None
    response = client.post(CODE, {"code": codes[0]})
    assert response.status_code == 302 and signed_in_as(client) == cast.dsl.user.email
    assert AuditEvent.objects.get(action="auth.signed_in").details == {"second_factor": "recovery_code"}


def test_no_passkey_step_without_the_password(cast, clock):
    passkey, _ = enrolled(cast.dsl)
    client = Client()
    assert post_json(client, LOGIN_BEGIN).status_code == 403
    assert post_json(client, LOGIN_COMPLETE, passkey.get({"rpId": RP_ID, "challenge": "AAAA"})).status_code == 403
    assert signed_in_as(client) is None


def test_an_assertion_for_another_origin_is_refused(cast, clock):
    passkey, _ = enrolled(cast.dsl)
    client, _ = password_step(cast.dsl)
    response = passkey_step(client, passkey, origin="https://supervision.evil")
    assert response.status_code == 400 and "not accepted" in response.json()["detail"]
    assert signed_in_as(client) is None
    failure = AuditEvent.objects.get(action="auth.passkey_failed")
    assert failure.details == {"purpose": "auth.sign_in", "locked_out": False, "factor": "passkey"}


def test_a_replayed_assertion_is_refused(cast, clock):
    """Someone who captured the browser's answer sends it again, in a new sign-in of their own."""
    passkey, _ = enrolled(cast.dsl)
    client, _ = password_step(cast.dsl)
    options = post_json(client, LOGIN_BEGIN).json()
    answer = passkey.get(options)
    assert post_json(client, LOGIN_COMPLETE, answer).status_code == 200
    attacker, _ = password_step(cast.dsl)  # with the stolen password, even
    post_json(attacker, LOGIN_BEGIN)  # a fresh challenge, which the old answer does not sign
    assert post_json(attacker, LOGIN_COMPLETE, answer).status_code == 400
    assert post_json(attacker, LOGIN_COMPLETE, answer).status_code == 400  # the challenge was spent
    assert signed_in_as(attacker) is None


def test_another_persons_passkey_does_not_pass_the_step(cast, clock):
    passkey, _ = enrolled(cast.dsl)
    enrolled(cast.head)
    client, _ = password_step(cast.head)
    options = post_json(client, LOGIN_BEGIN).json()
    assert post_json(client, LOGIN_COMPLETE, passkey.get(options)).status_code == 400
    assert signed_in_as(client) is None


def test_wrong_passkey_answers_lock_the_account_with_wrong_passwords(cast, clock):
    passkey, _ = enrolled(cast.dsl)
    client, _ = password_step(cast.dsl)
    for _ in range(3):
        assert Client().post(LOGIN, {"username": cast.dsl.user.email, "password": "wrong"}).status_code == 200
    assert passkey_step(client, passkey, origin="https://evil.example").status_code == 400
    locked = passkey_step(client, passkey, origin="https://evil.example")
    assert locked.status_code == 429  # django-axes answers the locking request with its lockout page
    # The right passkey, and the right password, are refused now.
    assert password_step(cast.dsl)[1].status_code == 429
    assert post_json(client, LOGIN_BEGIN).status_code == 403
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(action="auth.passkey_failed", details__locked_out=True).exists()


def test_a_right_passkey_clears_the_failure_count(cast, clock):
    passkey, _ = enrolled(cast.dsl)
    client, _ = password_step(cast.dsl)
    for _ in range(3):
        passkey_step(client, passkey, origin="https://evil.example")
    assert passkey_step(client, passkey).status_code == 200
    for _ in range(4):  # four more failures after the reset: still not locked
        assert Client().post(LOGIN, {"username": cast.dsl.user.email, "password": "wrong"}).status_code == 200


# --- Signing with it ------------------------------------------------------------------------------


def sign(client, record, password=""):
    return client.post(
        reverse("records:record-sign", kwargs={"code": record.code}), {"password": password, "agree": "on"}
    )


def confirm(client, passkey, next_url="/"):
    options = post_json(client, CONFIRM_BEGIN).json()
    return post_json(client, f"{CONFIRM_COMPLETE}?next={next_url}", passkey.get(options))


def test_a_record_is_signed_after_the_passkey_and_the_password_alone_signs_nothing(cast, clock):
    passkey, _ = enrolled(cast.supervisee)
    record = written_record(cast)
    record_services.record_submit(actor=cast.supervisor, record=record)
    client = signed_in_with_passkey(cast.supervisee, passkey)
    detail = reverse("records:record-detail", kwargs={"code": record.code})
    page = client.get(detail).content.decode()
    assert "Confirm with your passkey" in page and 'name="password"' in page and 'type="hidden"' in page

    sign(client, record, PASSWORD)  # a stolen password signs nothing for someone with a passkey
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISEE and not record.signatures.exists()

    response = confirm(client, passkey, detail)
    assert response.status_code == 200 and response.json()["redirect_url"] == detail
    assert "Confirmed with your passkey" in client.get(detail).content.decode()
    sign(client, record)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    assert record.signatures.filter(signer=cast.supervisee).exists()
    spent = AuditEvent.objects.get(action="auth.passkey_reconfirmed")
    assert spent.details == {"purpose": "record.sign", "passkey": "MacBook Touch ID"}


def test_one_confirmation_signs_once_and_lapses_after_five_minutes(cast, clock):
    passkey, _ = enrolled(cast.supervisee)
    record = written_record(cast)
    record_services.record_submit(actor=cast.supervisor, record=record)
    client = signed_in_with_passkey(cast.supervisee, passkey)
    confirm(client, passkey)
    clock.shift(timedelta(minutes=6))
    sign(client, record)
    record.refresh_from_db()
    assert not record.signatures.exists()


def test_the_confirmation_goes_back_only_to_our_own_pages(cast, clock):
    passkey, _ = enrolled(cast.supervisee)
    client = signed_in_with_passkey(cast.supervisee, passkey)
    response = confirm(client, passkey, "https://evil.example/")
    assert response.json()["redirect_url"] == reverse("home")


def test_an_agreement_and_an_addendum_are_signed_with_the_passkey(cast, clock):
    record = signed_record(cast)  # signed with passwords, before the supervisor added a passkey
    addendum = record_services.addendum_add(actor=cast.supervisor, record=record, text="A correction.")
    contract = supervision_services.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee2, supervisor=cast.supervisor, start_date=NOW.date()
    )
    passkey, _ = enrolled(cast.supervisor)
    client = signed_in_with_passkey(cast.supervisor, passkey)
    addendum_url = reverse("records:addendum-sign", kwargs={"code": record.code, "addendum": addendum.code})
    contract_url = reverse("supervision:contract-sign", kwargs={"code": contract.code})
    page = client.get(reverse("records:record-detail", kwargs={"code": record.code})).content.decode()
    assert "Confirm it is you with your passkey to sign an addendum" in page
    assert 'id="addendum-password-' not in page
    contract_page = client.get(reverse("supervision:contract-detail", kwargs={"code": contract.code}))
    assert "Confirm it is you with your passkey to sign the agreement" in contract_page.content.decode()

    client.post(addendum_url, {"password": PASSWORD, "agree": "on"})
    client.post(contract_url, {"password": PASSWORD, "agree": "on"})
    assert not addendum.signatures.exists()
    contract.refresh_from_db()
    assert contract.supervisor_signed_at is None

    confirm(client, passkey)
    client.post(addendum_url, {"agree": "on"})
    assert addendum.signatures.filter(signer=cast.supervisor).exists()
    client.post(contract_url, {"agree": "on"})  # the confirmation was spent on the addendum
    contract.refresh_from_db()
    assert contract.supervisor_signed_at is None
    confirm(client, passkey)
    client.post(contract_url, {"agree": "on"})
    contract.refresh_from_db()
    assert contract.supervisor_signed_at is not None


# --- Removing one, and an admin's reset -----------------------------------------------------------


def test_removing_a_passkey_needs_a_passkey_and_is_audited(cast, clock):
    passkey, client = enrolled(cast.supervisee, "Laptop")
    add_passkey(client, "Phone")
    laptop = WebAuthnCredential.objects.get(name="Laptop")
    client.post(REMOVE, {"passkey": laptop.credential_id_sha256})
    assert WebAuthnCredential.objects.filter(pk=laptop.pk).exists()  # not confirmed yet
    confirm(client, passkey)
    response = client.post(REMOVE, {"passkey": laptop.credential_id_sha256})
    assert response.status_code == 302 and response.url == SECURITY
    assert list(WebAuthnCredential.objects.values_list("name", flat=True)) == ["Phone"]
    event = AuditEvent.objects.get(action="auth.passkey_removed")
    assert event.actor == cast.supervisee.user and event.details == {"passkey": "Laptop"}


def test_nobody_removes_another_persons_passkey(cast, clock):
    """The insider attack: a colleague with a passkey of their own posts the DSL's passkey to remove."""
    enrolled(cast.dsl)
    passkey, client = enrolled(cast.supervisee)
    target = WebAuthnCredential.objects.get(user=cast.dsl.user)
    confirm(client, passkey)
    client.post(REMOVE, {"passkey": target.credential_id_sha256})
    assert WebAuthnCredential.objects.filter(pk=target.pk).exists()
    assert not AuditEvent.objects.filter(action="auth.passkey_removed").exists()


def test_the_last_factor_stays_when_the_rule_requires_one(cast, clock):
    passkey, client = enrolled(cast.dsl)
    rule_on(cast)
    confirm(client, passkey)
    response = client.post(REMOVE, {"passkey": WebAuthnCredential.objects.get().credential_id_sha256}, follow=True)
    assert "This is your only second factor" in response.content.decode()
    assert WebAuthnCredential.objects.count() == 1


def test_an_admin_reset_removes_passkeys_and_tells_the_person(cast, clock, django_capture_on_commit_callbacks):
    enrolled(cast.dsl)
    admin = Client()
    admin.force_login(cast.org_admin.user)
    url = reverse("accounts:staff-second-factor-reset", kwargs={"code": cast.dsl.code})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(url)
    assert response.status_code == 302
    assert not WebAuthnCredential.objects.filter(user=cast.dsl.user).exists()
    event = AuditEvent.objects.get(action="auth.second_factor_reset")
    assert event.details == {"passkeys_removed": 1}
    assert [m.to for m in mail.outbox] == [[cast.dsl.user.email]]
    assert "passkeys" in mail.outbox[0].body
