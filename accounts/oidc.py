"""Signing in with Microsoft 365 or Google: OpenID Connect's authorisation-code flow with PKCE, state and nonce.

One app registration per installation (client IDs and secrets in settings); each organisation names its own
Microsoft Entra tenant or Google Workspace domain. authlib's `OAuth2Session` makes the authorisation address
and exchanges the code (client secret and PKCE verifier); joserfc checks the ID token's signature against the
keys the provider publishes (its JWKS, found through its discovery document) and its claims: issuer,
audience, expiry, nonce. Then `staff_for_claims` decides who that is: an existing, active staff member whose
email matches, in the organisation whose tenant (`tid`) or domain (`hd`) the token names. Nobody is created.
"""

import hashlib
import time
from dataclasses import dataclass
from hmac import compare_digest

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .audit import audit_event
from .backends import StaffBackend
from .models import Organisation, StaffMember, User
from .reauth import LOCKED, lockout_minutes

PENDING_KEY = "oidc_pending"
# The person has this long at the provider's sign-in page before the answer is refused as stale.
PENDING_SECONDS = 10 * 60
# Discovery documents and keys are fetched once an hour at most; an unknown key ID fetches the keys again
# (the provider has rotated them).
CACHE_SECONDS = 3600
# Clocks of the provider and this server may differ a little.
LEEWAY_SECONDS = 120
ALGORITHMS = ["RS256"]
SCOPE = "openid email profile"
# Refusals that name a person: counted by django-axes against that email, as a wrong password is.
COUNTED = {"unknown_email", "other_tenant", "other_domain", "email_unverified", "left"}


@dataclass(frozen=True)
class Provider:
    slug: str
    name: str
    client_id: str
    client_secret: str
    discovery_url: str

    @property
    def redirect_uri(self) -> str:
        return settings.SITE_URL + reverse("accounts:oidc-callback", kwargs={"provider": self.slug})


def _providers() -> list[Provider]:
    return [
        Provider(
            "microsoft",
            "Microsoft",
            settings.MICROSOFT_CLIENT_ID,
            settings.MICROSOFT_CLIENT_SECRET,
            # The multi-tenant ("organizations") endpoints: work and school accounts of any tenant.
            f"{settings.MICROSOFT_AUTHORITY}/organizations/v2.0/.well-known/openid-configuration",
        ),
        Provider(
            "google",
            "Google",
            settings.GOOGLE_CLIENT_ID,
            settings.GOOGLE_CLIENT_SECRET,
            f"{settings.GOOGLE_ISSUER}/.well-known/openid-configuration",
        ),
    ]


def configured_providers() -> list[Provider]:
    """The providers this installation has an app registration for (a client ID and secret)."""
    return [p for p in _providers() if p.client_id and p.client_secret]


def get_provider(slug: str) -> Provider | None:
    return next((p for p in configured_providers() if p.slug == slug), None)


class Refused(Exception):
    """A sign-in through a provider that signs nobody in: `reason` for the audit trail, `message` for the
    person."""

    def __init__(self, reason: str, message: str, *, email: str = "", user=None, organisation=None):
        super().__init__(reason)
        self.reason, self.message, self.email = reason, message, email
        self.user, self.organisation = user, organisation


# --- The provider's published documents -------------------------------------------------------------


def _get_json(url: str, *, provider: Provider, refresh=False) -> dict:
    key = "oidc:" + hashlib.sha256(url.encode()).hexdigest()
    document = None if refresh else cache.get(key)
    if document is None:
        try:
            response = requests.get(url, timeout=settings.OIDC_HTTP_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError):
            raise Refused(
                "provider_unreachable",
                f"{provider.name} could not be reached just now. Try again in a minute, or sign in with your password.",
            ) from None
        cache.set(key, document, CACHE_SECONDS)
    return document


DISCOVERY_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def discovery(provider: Provider) -> dict:
    document = _get_json(provider.discovery_url, provider=provider)
    if not isinstance(document, dict) or not all(isinstance(document.get(f), str) for f in DISCOVERY_FIELDS):
        raise Refused(
            "provider_unreachable", f"{provider.name}'s sign-in is not answering as expected. Try again later."
        )
    return document


def _kids(document) -> set:
    keys = document.get("keys") if isinstance(document, dict) else None
    return {key.get("kid") for key in keys if isinstance(key, dict)} if isinstance(keys, list) else set()


def _key_set(provider: Provider, jwks_uri: str, kid: str | None) -> KeySet:
    document = _get_json(jwks_uri, provider=provider)
    if kid is not None and kid not in _kids(document):
        document = _get_json(jwks_uri, provider=provider, refresh=True)
    try:
        return KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise Refused("invalid_keys", f"{provider.name}'s signing keys could not be read. Try again later.") from None


# --- The flow ---------------------------------------------------------------------------------------


def _same(given, expected: str) -> bool:
    # As bytes: compare_digest refuses str with anything but ASCII, and the state comes from the address bar.
    return compare_digest(str(given).encode(), expected.encode())


def _client(provider: Provider) -> OAuth2Session:
    return OAuth2Session(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=SCOPE,
        redirect_uri=provider.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
    )


def authorisation_start(provider: Provider, session, next_url: str) -> str:
    """Remembers state, nonce and PKCE verifier in the session and returns the provider's sign-in address."""
    document = discovery(provider)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with _client(provider) as client:
        url, _ = client.create_authorization_url(
            document["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            prompt="select_account",
        )
    session[PENDING_KEY] = {
        "provider": provider.slug,
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": next_url,
        "at": int(time.time()),
    }
    return url


def authorisation_finish(provider: Provider, session, params) -> tuple[dict, str]:
    """The provider has sent the person back with `params` (code and state, or an error). Returns the ID
    token's verified claims and where to go next, or raises Refused. The pending sign-in is used up."""
    pending = session.pop(PENDING_KEY, None)
    stale = Refused("state", f"That sign-in with {provider.name} had expired or was not started here. Try again.")
    if not pending or pending.get("provider") != provider.slug or time.time() - pending["at"] > PENDING_SECONDS:
        raise stale
    if not _same(params.get("state", ""), pending["state"]):
        raise stale
    if params.get("error"):
        raise Refused(
            "provider_error",
            f"{provider.name} did not sign you in ({params.get('error')[:60]}). "
            "Try again, or sign in with your password.",
        )
    code = params.get("code")
    if not code:
        raise stale
    document = discovery(provider)
    try:
        with _client(provider) as client:
            token = client.fetch_token(
                document["token_endpoint"],
                code=code,
                code_verifier=pending["verifier"],
                timeout=settings.OIDC_HTTP_TIMEOUT,
            )
    except (OAuthError, requests.RequestException, ValueError):
        raise Refused(
            "token_exchange", f"{provider.name} did not confirm the sign-in. Try again, or sign in with your password."
        ) from None
    claims = verify_id_token(provider, document, token.get("id_token") or "", nonce=pending["nonce"])
    return claims, pending["next"]


def verify_id_token(provider: Provider, document: dict, id_token: str, *, nonce: str) -> dict:
    """The ID token's claims, once its signature (against the provider's JWKS), issuer, audience, expiry and
    nonce are right; otherwise Refused."""
    invalid = Refused("invalid_token", f"{provider.name}'s answer could not be verified, so nobody is signed in.")
    try:
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
    except (JoseError, ValueError):
        raise invalid from None
    keys = _key_set(provider, document["jwks_uri"], kid)
    try:
        claims = jwt.decode(id_token, keys, algorithms=ALGORITHMS).claims
    except (JoseError, ValueError):
        raise invalid from None
    issuer = document["issuer"]
    if provider.slug == "microsoft":
        # The multi-tenant document's issuer is a template: each token names its own tenant.
        issuer = issuer.replace("{tenantid}", str(claims.get("tid", "")))
    issuers = [issuer]
    if provider.slug == "google":
        issuers.append(issuer.removeprefix("https://"))  # Google documents both forms
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "values": issuers},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except (JoseError, ValueError):
        raise invalid from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise invalid
    if not _same(claims.get("nonce", ""), nonce):
        raise Refused("nonce", f"That sign-in with {provider.name} did not match the one started here. Try again.")
    return claims


# --- Who that is ------------------------------------------------------------------------------------


def claimed_email(provider: Provider, claims: dict) -> str:
    # Microsoft's `email` is optional and set by the tenant's own administrators, which is why it is
    # trusted only for the organisation that named that tenant; `preferred_username` is the sign-in name.
    email = claims.get("email") or (claims.get("preferred_username") if provider.slug == "microsoft" else "")
    return str(email or "").strip().lower()


def staff_for_claims(provider: Provider, claims: dict, request) -> StaffMember:
    """The staff member the verified claims name, or Refused: an existing, active person with that email,
    in an organisation that named this tenant (Microsoft) or Workspace domain (Google)."""
    email = claimed_email(provider, claims)
    tenant = str(claims.get("tid", "")).lower()
    domain = str(claims.get("hd", "")).lower()
    if provider.slug == "microsoft":
        named = Organisation.objects.filter(microsoft_tenant_id=tenant).first() if tenant else None
    else:
        named = Organisation.objects.filter(google_domain=domain).first() if domain else None
    account = "Microsoft 365" if provider.slug == "microsoft" else "Google Workspace"
    user = User.objects.select_related("staff__organisation").filter(email=email).first() if email else None
    staff = getattr(user, "staff", None) if user is not None else None
    if staff is None:
        raise Refused(
            "unknown_email",
            f"No one here signs in as {email or 'that account'}. Ask your organisation admin to add you with the "
            f"address of your {account} account, or sign in with your password.",
            email=email,
            organisation=named,
        )
    organisation = staff.organisation
    common = {"email": email, "user": user, "organisation": organisation}
    if provider.slug == "microsoft":
        if not organisation.microsoft_tenant_id or tenant != organisation.microsoft_tenant_id:
            raise Refused(
                "other_tenant",
                f"Your organisation does not sign in with that {account} tenant. "
                "Sign in with your password, or ask your organisation admin.",
                **common,
            )
    else:
        if claims.get("email_verified") is not True:
            raise Refused(
                "email_unverified", "Google has not verified that email address, so nobody is signed in.", **common
            )
        if not organisation.google_domain or domain != organisation.google_domain:
            raise Refused(
                "other_domain",
                f"Your organisation does not sign in with that {account} domain. "
                "Sign in with your password, or ask your organisation admin.",
                **common,
            )
    if not StaffBackend().user_can_authenticate(user):
        raise Refused("left", "This account is closed. If you still work here, ask your organisation admin.", **common)
    if AxesProxyHandler.is_locked(request, credentials={"username": email}):
        raise Refused("locked_out", LOCKED.format(minutes=lockout_minutes()), **common)
    return staff


def provider_mfa(claims: dict) -> bool:
    """Whether the provider says the person used multi-factor authentication (RFC 8176 `amr`: "mfa")."""
    amr = claims.get("amr")
    return isinstance(amr, list) and "mfa" in amr


def refusal_record(*, provider: Provider, refusal: Refused, request) -> None:
    """Audits a refused sign-in; one that names a person counts towards django-axes' lockout for that email."""
    audit_event(
        action="auth.provider_sign_in_refused",
        actor=refusal.user,
        organisation=refusal.organisation,
        request=request,
        details={
            "provider": provider.slug,
            "reason": refusal.reason,
            **({"email": refusal.email} if refusal.email else {}),
        },
    )
    if refusal.reason in COUNTED and refusal.email:
        user_login_failed.send(sender=__name__, credentials={"username": refusal.email}, request=request)


# --- The organisation's settings --------------------------------------------------------------------


@transaction.atomic
def identity_providers_set(
    *, actor: StaffMember, microsoft_tenant_id: str, google_domain: str, trust_provider_mfa: bool, request=None
) -> list[str]:
    """An organisation-wide admin names the organisation's Entra tenant and Workspace domain (either may be
    empty) and whether the provider's multi-factor sign-in stands in for ours. Returns the fields changed."""
    organisation = Organisation.objects.select_for_update().get(pk=actor.organisation_id)
    wanted = {
        "microsoft_tenant_id": microsoft_tenant_id,
        "google_domain": google_domain,
        "trust_provider_mfa": trust_provider_mfa,
    }
    changed = [field for field, value in wanted.items() if getattr(organisation, field) != value]
    if not changed:
        return []
    details = {field: {"from": getattr(organisation, field), "to": wanted[field]} for field in changed}
    for field in changed:
        setattr(organisation, field, wanted[field])
    organisation.save(update_fields=changed)
    actor.organisation = organisation
    audit_event(
        action="organisation.identity_providers_changed",
        actor=actor.user,
        obj=organisation,
        request=request,
        details=details,
    )
    return changed
