"""Issue 12 in the browser, as a new user would: the demo DSL, under the organisation's rule, is made to
enrol, adds a passkey, signs out and back in with it, and signs a record with it. The passkey lives in
chromium's virtual authenticator (a platform authenticator with user verification, driven through the
DevTools protocol); the pages use django-otp-webauthn's scripts from our static files, under our CSP."""

import pytest
from django.conf import settings
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from accounts import demo
from accounts.models import AuditEvent
from records import services as record_services
from records.models import RecordStatus
from tests.records.helpers import written_record

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def record_for_the_dsl(settings, live_server):
    """The demo trust with its rule on; the DSL supervised Tom, who has signed the record already. The
    relying party is the live server's own origin (http://localhost is a secure context)."""
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    organisation = demo.seed_people(timezone.localdate())
    organisation.require_second_factor = True
    organisation.save(update_fields=["require_second_factor"])
    dsl = organisation.staff.select_related("user").get(user__email="dsl@riverside.example")
    tom = organisation.staff.get(user__email="staff@riverside.example")
    record = written_record(None, supervisee=tom, supervisor=dsl)
    record_services.record_submit(actor=dsl, record=record)
    record_services.record_sign(actor=tom, record=record, password=settings.DEMO_PASSWORD)
    return dsl, record


def virtual_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, found["authenticatorId"]


def test_the_dsl_enrols_a_passkey_signs_in_with_it_and_signs_a_record(record_for_the_dsl, page):
    dsl, record = record_for_the_dsl
    cdp, authenticator_id = virtual_authenticator(page)

    sign_in(page, "dsl@riverside.example", settings.DEMO_PASSWORD)
    assert page.url.endswith("/accounts/security/")
    page.goto("/dashboard/")
    assert page.url.endswith("/accounts/security/")  # no way round it
    assert page.get_by_text("Add a passkey or set up an authenticator app to go on").is_visible()

    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name this passkey").fill("MacBook Touch ID")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Make the passkey").click()
    page.wait_for_url("**/accounts/security/passkeys/added/")
    assert page.get_by_role("heading", name="Your passkey is added").is_visible()
    assert page.get_by_test_id("recovery-codes").locator("li").count() == 10
    page.get_by_role("link", name="I have kept them safe").click()
    assert page.get_by_role("cell", name="MacBook Touch ID", exact=True).is_visible()
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(credentials) == 1

    page.get_by_role("button", name=dsl.user.full_name).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")

    sign_in(page, "dsl@riverside.example", settings.DEMO_PASSWORD)
    assert page.url.endswith("/accounts/login/code/")
    page.get_by_role("button", name="Sign in with your passkey").click()
    page.wait_for_url(lambda url: not url.endswith("/accounts/login/code/"))
    assert page.url.endswith("/")
    assert AuditEvent.objects.filter(action="auth.signed_in", details__second_factor="passkey").exists()

    page.goto(f"/records/{record.code}/")
    assert page.get_by_label("Your password").count() == 0  # the passkey, not the password
    page.get_by_role("button", name="Confirm with your passkey").click()
    page.get_by_text("Confirmed with your passkey").wait_for()
    page.get_by_label("I have read the record and agree it is accurate").check()
    page.get_by_role("button", name="Sign and lock the record").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("Signed.").first.is_visible()

    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED
    assert record.signatures.filter(signer=dsl, voided_at__isnull=True).exists()
    device = WebAuthnCredential.objects.get(user=dsl.user)
    assert device.name == "MacBook Touch ID" and device.sign_count >= 0 and device.last_used_at is not None
    assert AuditEvent.objects.filter(action="auth.passkey_reconfirmed", details__purpose="record.sign").exists()
