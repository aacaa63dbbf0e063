"""Issue 12: "Sign in with Microsoft" and "Sign in with Google", a real OpenID Connect round trip.

The suite starts a local provider (tests/accounts/oidc_provider.py: discovery document, JWKS, an
authorisation endpoint that sends the browser back with a code, a token endpoint that returns an ID token
signed with joserfc). Each test drives the product through Django's test client, follows the redirect to
the provider with a real HTTP request, and brings the code back to the product's callback, which fetches
the discovery document, the keys and the token over HTTP as it would from Microsoft or Google.
"""

import time
from base64 import b32encode
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from joserfc.jwk import RSAKey

from accounts.models import AuditEvent, Organisation
from accounts.second_factor import authenticator_confirm, authenticator_start

from ..factories import StaffFactory
from .oidc_provider import CLIENT_ID, CLIENT_SECRET, LocalProvider

TENANT = "5f1e0c3a-2b7d-4c9e-8a61-0d3f9b2e7c11"
OTHER_TENANT = "a0c4e2f6-1b3d-4f5a-9c7e-2d4f6a8b0c13"
LOGIN = reverse("accounts:login")
CODE = reverse("accounts:login-code")
SECURITY = reverse("accounts:security")
RULE = reverse("accounts:second-factor-rule")
PROVIDERS = reverse("accounts:identity-providers")


@pytest.fixture(scope="module")
def local_provider():
    provider = LocalProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def idp(local_provider, settings, cast):
    """The installation registered with both providers, and the cast's organisation naming its tenant and
    domain; the other organisation names its own."""
    settings.MICROSOFT_CLIENT_ID = settings.GOOGLE_CLIENT_ID = CLIENT_ID
    settings.MICROSOFT_CLIENT_SECRET = settings.GOOGLE_CLIENT_SECRET = CLIENT_SECRET
    settings.MICROSOFT_AUTHORITY = f"{local_provider.base}/ms"
    settings.GOOGLE_ISSUER = f"{local_provider.base}/google"
    Organisation.objects.filter(pk=cast.organisation.pk).update(
        microsoft_tenant_id=TENANT, google_domain="cast.example"
    )
    Organisation.objects.filter(pk=cast.other_organisation.pk).update(
        microsoft_tenant_id=OTHER_TENANT, google_domain="other.example"
    )
    cache.clear()
    local_provider.reset()
    yield local_provider
    cache.clear()


def microsoft(email, tid=TENANT, **claims):
    return {"tid": tid, "email": email, "name": email.split("@")[0], **claims}


def google(email, hd="cast.example", **claims):
    return {"hd": hd, "email": email, "email_verified": True, **claims}


def go_to_provider(client, idp, slug, person, next_url=None):
    """The person clicks "Sign in with ..." and signs in at the provider as `person`: returns the address
    the provider sends the browser back to."""
    idp.person = person
    start = client.get(reverse("accounts:oidc-start", args=[slug]), {"next": next_url} if next_url else {})
    assert start.status_code == 302 and start.url.startswith(f"{idp.base}/"), start
    answer = requests.get(start.url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == reverse("accounts:oidc-callback", args=[slug])
    return f"{back.path}?{back.query}"


def round_trip(client, idp, slug, person, next_url=None):
    return client.get(go_to_provider(client, idp, slug, person, next_url))


def signed_in_as(client) -> str | None:
    response = client.get(reverse("home"))
    return None if response.status_code == 302 and LOGIN in response.url else response.context["user"].email


def refused(client, response, reason, signed_in_before=0) -> AuditEvent:
    """Nobody is signed in, the sign-in page says why, and the refusal is audited."""
    assert response.status_code == 302 and response.url == LOGIN
    page = client.get(LOGIN)
    shown = [str(m) for m in page.context["messages"]]
    assert len(shown) == 1
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(action="auth.signed_in").count() == signed_in_before
    event = AuditEvent.objects.get(action="auth.provider_sign_in_refused")
    assert event.details["reason"] == reason
    event.message = shown[0]
    return event


def enrol(staff) -> pyotp.TOTP:
    device = authenticator_start(user=staff.user)
    authenticator_confirm(user=staff.user, device=device)
    return pyotp.TOTP(b32encode(device.bin_key).decode())


# --- Signing in --------------------------------------------------------------------------------------


def test_a_staff_member_signs_in_with_microsoft(cast, idp):
    client = Client()
    callback = go_to_provider(client, idp, "microsoft", microsoft("Supervisor@Cast.Example"), next_url="/staff/")
    # The product asked for a code with PKCE, a state and a nonce, and proved the verifier for the code.
    response = client.get(callback)
    assert response.status_code == 302 and response.url == "/staff/"
    assert signed_in_as(client) == cast.supervisor.user.email
    (token_request,) = idp.token_requests
    assert token_request["client_secret"] == CLIENT_SECRET and len(token_request["code_verifier"]) >= 43
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.actor == cast.supervisor.user and event.details == {"provider": "microsoft"}
    assert event.organisation_id == cast.organisation.pk


def test_the_provider_is_asked_for_a_code_with_pkce_state_and_nonce(cast, idp):
    client = Client()
    start = client.get(reverse("accounts:oidc-start", args=["google"]))
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.url).query).items()}
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["redirect_uri"].endswith("/accounts/oidc/google/callback/")
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and query["state"] != query["nonce"]


def test_a_staff_member_signs_in_with_google(cast, idp):
    client = Client()
    response = round_trip(client, idp, "google", google("dsl@cast.example"))
    assert response.status_code == 302 and response.url == reverse("home")
    assert signed_in_as(client) == cast.dsl.user.email
    assert AuditEvent.objects.get(action="auth.signed_in").details == {"provider": "google"}


def test_an_unknown_email_is_refused_and_no_account_is_made(cast, idp):
    client = Client()
    users = cast.organisation.staff.count()
    response = round_trip(client, idp, "microsoft", microsoft("stranger@cast.example"))
    event = refused(client, response, "unknown_email")
    assert "stranger@cast.example" in event.message
    # The tenant is the cast's, so its admins see the attempt in their audit trail.
    assert event.organisation_id == cast.organisation.pk and event.actor is None
    assert cast.organisation.staff.count() == users
    # Counted by django-axes as a failed sign-in for that address, as a wrong password is.
    assert AccessAttempt.objects.get(username="stranger@cast.example").failures_since_start == 1


def test_another_organisations_tenant_is_refused(cast, idp):
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.supervisor.user.email, tid=OTHER_TENANT))
    event = refused(client, response, "other_tenant")
    assert event.actor == cast.supervisor.user


def test_the_other_organisations_staff_cannot_use_this_tenant(cast, idp):
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.outsider_staff.user.email, tid=TENANT))
    refused(client, response, "other_tenant")


def test_an_organisation_without_a_tenant_signs_nobody_in_with_microsoft(cast, idp):
    Organisation.objects.filter(pk=cast.organisation.pk).update(microsoft_tenant_id="")
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.supervisor.user.email, tid=TENANT))
    refused(client, response, "other_tenant")


def test_another_organisations_google_domain_is_refused(cast, idp):
    client = Client()
    response = round_trip(client, idp, "google", google(cast.supervisor.user.email, hd="other.example"))
    refused(client, response, "other_domain")


def test_a_google_account_without_a_workspace_domain_is_refused(cast, idp):
    client = Client()
    person = google(cast.supervisor.user.email)
    del person["hd"]
    response = round_trip(client, idp, "google", person)
    refused(client, response, "other_domain")


def test_an_unverified_google_email_is_refused(cast, idp):
    client = Client()
    response = round_trip(client, idp, "google", google(cast.supervisor.user.email, email_verified=False))
    refused(client, response, "email_unverified")


def test_a_leaver_is_refused(cast, idp):
    from datetime import timedelta

    from django.utils import timezone

    leaver = StaffFactory(
        organisation=cast.organisation,
        user__email="leaver@cast.example",
        leaving_date=timezone.localdate() - timedelta(days=1),
    )
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(leaver.user.email))
    event = refused(client, response, "left")
    assert "closed" in event.message


def test_a_deactivated_account_is_refused(cast, idp):
    cast.supervisee.user.is_active = False
    cast.supervisee.user.save(update_fields=["is_active"])
    client = Client()
    response = round_trip(client, idp, "google", google(cast.supervisee.user.email))
    refused(client, response, "left")


def test_a_locked_account_is_refused(cast, idp, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(LOGIN, {"username": cast.supervisor.user.email, "password": "not-the-password"})
    response = round_trip(client, idp, "microsoft", microsoft(cast.supervisor.user.email))
    event = refused(client, response, "locked_out")
    assert "locked" in event.message


# --- Tokens that are not right -----------------------------------------------------------------------


def test_a_token_signed_by_a_different_key_is_refused(cast, idp):
    idp.sign_with = idp.stranger_key  # same key ID as the published key, different key
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.supervisor.user.email))
    event = refused(client, response, "invalid_token")
    assert event.actor is None  # nothing in an unverified token is believed


def test_a_token_signed_by_an_unpublished_key_is_refused_after_fetching_the_keys_again(cast, idp):
    idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": "rotated-key"})
    client = Client()
    response = round_trip(client, idp, "google", google(cast.supervisor.user.email))
    refused(client, response, "invalid_token")


def test_a_token_with_the_wrong_nonce_is_refused(cast, idp):
    idp.nonce_override = "a-nonce-from-another-sign-in"
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.supervisor.user.email))
    refused(client, response, "nonce")


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "another-application"}, id="another-audience"),
        pytest.param({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200}, id="expired"),
        pytest.param({"iss": "https://login.example/elsewhere/v2.0"}, id="another-issuer"),
    ],
)
def test_a_token_for_someone_else_or_out_of_date_is_refused(cast, idp, claims):
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.supervisor.user.email, **claims))
    refused(client, response, "invalid_token")


def test_a_token_naming_another_tenant_than_its_issuer_is_refused(cast, idp, local_provider):
    # Signed by the provider for the other tenant, but claiming this organisation's `tid`.
    person = microsoft(cast.supervisor.user.email, iss=f"{local_provider.base}/ms/{OTHER_TENANT}/v2.0")
    client = Client()
    response = round_trip(client, idp, "microsoft", person)
    refused(client, response, "invalid_token")


@pytest.mark.parametrize("state", ["forged-state", "état-forgé", ""])
def test_a_wrong_state_is_refused(cast, idp, state):
    client = Client()
    callback = go_to_provider(client, idp, "microsoft", microsoft(cast.supervisor.user.email))
    path, query = callback.split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    response = client.get(path, {**params, "state": state})
    refused(client, response, "state")
    assert idp.token_requests == []  # the code was never exchanged


def test_an_answer_brought_to_another_browser_is_refused(cast, idp):
    """Login CSRF: the attacker's own code, delivered to the victim's browser, signs nobody in."""
    callback = go_to_provider(Client(), idp, "microsoft", microsoft(cast.supervisor.user.email))
    victim = Client()
    response = victim.get(callback)
    refused(victim, response, "state")


def test_an_answer_is_used_once(cast, idp):
    client = Client()
    callback = go_to_provider(client, idp, "google", google(cast.supervisor.user.email))
    assert client.get(callback).status_code == 302
    client.post(reverse("accounts:logout"))
    refused(client, client.get(callback), "state", signed_in_before=1)


def test_the_provider_saying_no_is_shown(cast, idp):
    client = Client()
    callback = go_to_provider(client, idp, "microsoft", microsoft(cast.supervisor.user.email))
    path, query = callback.split("?")
    state = parse_qs(query)["state"][0]
    response = client.get(path, {"error": "access_denied", "state": state})
    event = refused(client, response, "provider_error")
    assert "access_denied" in event.message


def test_a_wrong_client_secret_signs_nobody_in(cast, idp, settings):
    client = Client()
    callback = go_to_provider(client, idp, "microsoft", microsoft(cast.supervisor.user.email))
    settings.MICROSOFT_CLIENT_SECRET = "not-the-registered-secret"
    refused(client, client.get(callback), "token_exchange")


def test_an_unreachable_provider_is_explained(cast, idp, settings):
    settings.GOOGLE_ISSUER = "http://127.0.0.1:9/google"  # the discard port: nothing listens
    client = Client()
    response = client.get(reverse("accounts:oidc-start", args=["google"]))
    assert response.status_code == 302 and response.url == LOGIN
    (message,) = client.get(LOGIN).context["messages"]
    assert "could not be reached" in str(message)


def test_a_provider_not_registered_here_sends_back_to_sign_in(cast, idp, settings):
    settings.GOOGLE_CLIENT_ID = ""
    client = Client()
    for slug in ("google", "facebook"):
        for name in ("accounts:oidc-start", "accounts:oidc-callback"):
            response = client.get(reverse(name, args=[slug]), {"code": "x", "state": "y"})
            assert response.status_code == 302 and response.url == LOGIN
    assert idp.token_requests == []
    page = client.get(LOGIN).content.decode()
    assert "Sign in with Microsoft" in page and "Sign in with Google" not in page


def test_the_sign_in_page_offers_each_registered_provider_and_keeps_next(cast, idp):
    page = Client().get(LOGIN, {"next": "/records/"}).content.decode()
    for slug in ("microsoft", "google"):
        assert f'href="{reverse("accounts:oidc-start", args=[slug])}?next=/records/"' in page


def test_the_sign_in_page_shows_no_buttons_without_registrations(cast, settings):
    settings.MICROSOFT_CLIENT_ID = settings.GOOGLE_CLIENT_ID = ""
    assert "Sign in with" not in Client().get(LOGIN).content.decode()


# --- The second-factor rule after a provider's sign-in -----------------------------------------------


def rule(cast, *, required=True, trust=False):
    Organisation.objects.filter(pk=cast.organisation.pk).update(
        require_second_factor=required, trust_provider_mfa=trust
    )


def test_a_person_with_an_app_still_gives_a_code_when_the_provider_is_not_trusted(cast, idp):
    rule(cast, trust=False)
    totp = enrol(cast.dsl)
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.dsl.user.email, amr=["pwd", "mfa"]))
    assert response.status_code == 302 and response.url == CODE
    assert signed_in_as(client) is None
    response = client.post(CODE, {"code": totp.now()})
    assert response.status_code == 302 and response.url == reverse("home")
    assert signed_in_as(client) == cast.dsl.user.email
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.details == {"second_factor": "authenticator", "provider": "microsoft"}


def test_a_trusted_providers_mfa_stands_in_for_the_code(cast, idp):
    rule(cast, trust=True)
    enrol(cast.dsl)
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.dsl.user.email, amr=["pwd", "mfa"]))
    assert response.status_code == 302 and response.url == reverse("home")
    assert signed_in_as(client) == cast.dsl.user.email
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.details == {"provider": "microsoft", "second_factor": "provider_mfa"}


def test_a_trusted_provider_without_mfa_still_needs_the_code(cast, idp):
    rule(cast, trust=True)
    enrol(cast.dsl)
    client = Client()
    response = round_trip(client, idp, "microsoft", microsoft(cast.dsl.user.email, amr=["pwd"]))
    assert response.status_code == 302 and response.url == CODE
    assert signed_in_as(client) is None


def test_a_privileged_person_without_an_app_enrols_unless_the_providers_mfa_is_trusted(cast, idp):
    rule(cast, trust=False)
    client = Client()
    round_trip(client, idp, "google", google(cast.head.user.email, amr=["mfa"]))
    # Signed in, but every page sends them to set up an app.
    assert client.get(reverse("home")).url == SECURITY

    rule(cast, trust=True)
    client = Client()
    round_trip(client, idp, "microsoft", microsoft(cast.head.user.email, amr=["mfa"]))
    assert client.get(reverse("home")).status_code == 200


def test_withdrawing_trust_ends_sessions_that_relied_on_it(cast, idp):
    rule(cast, trust=True)
    enrol(cast.dsl)
    client = Client()
    round_trip(client, idp, "microsoft", microsoft(cast.dsl.user.email, amr=["mfa"]))
    assert signed_in_as(client) == cast.dsl.user.email
    rule(cast, trust=False)
    assert signed_in_as(client) is None
    assert AuditEvent.objects.filter(action="auth.signed_out_unverified", actor=cast.dsl.user).exists()


# --- The organisation's settings ---------------------------------------------------------------------


def test_an_organisation_admin_names_the_tenant_and_domain(cast, client):
    Organisation.objects.filter(pk=cast.organisation.pk).update(microsoft_tenant_id="", google_domain="")
    client.force_login(cast.org_admin.user)
    page = client.get(RULE)
    assert page.status_code == 200 and "Microsoft Entra tenant ID" in page.content.decode()
    response = client.post(
        PROVIDERS,
        {"microsoft_tenant_id": f" {TENANT.upper()} ", "google_domain": "@Cast.Example", "trust_provider_mfa": "on"},
    )
    assert response.status_code == 302 and response.url == RULE
    organisation = Organisation.objects.get(pk=cast.organisation.pk)
    assert (organisation.microsoft_tenant_id, organisation.google_domain) == (TENANT, "cast.example")
    assert organisation.trust_provider_mfa is True
    event = AuditEvent.objects.get(action="organisation.identity_providers_changed")
    assert event.actor == cast.org_admin.user and event.object_code == str(organisation.code)
    assert event.details["microsoft_tenant_id"] == {"from": "", "to": TENANT}
    assert event.details["trust_provider_mfa"] == {"from": False, "to": True}
    # The same again changes nothing and writes nothing.
    client.post(PROVIDERS, {"microsoft_tenant_id": TENANT, "google_domain": "cast.example", "trust_provider_mfa": "on"})
    assert AuditEvent.objects.filter(action="organisation.identity_providers_changed").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("microsoft_tenant_id", "contoso.onmicrosoft.com", "Directory (tenant) ID"),
        ("google_domain", "gmail.com", "personal accounts"),
        ("google_domain", "not a domain", "domain name only"),
    ],
)
def test_a_wrong_tenant_or_domain_is_explained_and_changes_nothing(cast, client, field, value, message):
    client.force_login(cast.org_admin.user)
    response = client.post(PROVIDERS, {field: value})
    assert response.status_code == 400
    assert message in " ".join(response.context["providers_form"].errors[field])
    organisation = Organisation.objects.get(pk=cast.organisation.pk)
    assert (organisation.microsoft_tenant_id, organisation.google_domain) == ("", "")
    assert not AuditEvent.objects.filter(action="organisation.identity_providers_changed").exists()


def test_only_an_organisation_wide_admin_names_the_tenant(cast, client):
    client.force_login(cast.supervisor.user)
    assert client.post(PROVIDERS, {"microsoft_tenant_id": TENANT}).status_code == 403
    assert Organisation.objects.get(pk=cast.organisation.pk).microsoft_tenant_id == ""
