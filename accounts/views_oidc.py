"""Signing in with Microsoft or Google: off to the provider, and back (the protocol is in accounts/oidc.py)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from .audit import audit_event
from .oidc import (
    Refused,
    authorisation_finish,
    authorisation_start,
    get_provider,
    provider_mfa,
    refusal_record,
    staff_for_claims,
)
from .second_factor import PROVIDER_MFA_SESSION_KEY, has_second_factor
from .views_security import start_second_step

# The backend a provider's sign-in is recorded under: the session then lives exactly as a password's does.
BACKEND = "accounts.backends.StaffBackend"


def _not_registered(request):
    # A bookmarked link to a provider this installation no longer uses (or never did).
    messages.error(request, "This site does not offer that sign-in. Sign in with your email address and password.")
    return redirect("accounts:login")


def _safe_next(request, target) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@require_GET
def oidc_start(request, provider):
    """A link, not a form: the Content Security Policy's form-action would stop a form's redirect to the
    provider. Starting a sign-in changes nothing but this browser's session, whose state the answer must
    carry back."""
    provider = get_provider(provider)
    if provider is None:
        return _not_registered(request)
    if request.user.is_authenticated:
        return redirect(_safe_next(request, request.GET.get("next")))
    try:
        url = authorisation_start(provider, request.session, _safe_next(request, request.GET.get("next")))
    except Refused as refusal:
        messages.error(request, refusal.message)
        return redirect("accounts:login")
    return redirect(url)


@require_GET
def oidc_callback(request, provider):
    """The provider sends the person back here with a code. Only an existing, active staff member of the
    organisation that named this tenant or domain is signed in; then the second-factor rule applies as
    after a password, unless the organisation trusts the provider's multi-factor sign-in and it was used."""
    provider = get_provider(provider)
    if provider is None:
        return _not_registered(request)
    try:
        claims, next_url = authorisation_finish(provider, request.session, request.GET)
        staff = staff_for_claims(provider, claims, request)
    except Refused as refusal:
        refusal_record(provider=provider, refusal=refusal, request=request)
        messages.error(request, refusal.message)
        return redirect("accounts:login")
    user = staff.user
    user.backend = BACKEND
    trusted = staff.organisation.trust_provider_mfa and provider_mfa(claims)
    if has_second_factor(user) and not trusted:
        return start_second_step(request, user, next_url, provider=provider.slug)
    login(request, user, backend=BACKEND)
    if trusted:
        request.session[PROVIDER_MFA_SESSION_KEY] = provider.slug
    audit_event(
        action="auth.signed_in",
        actor=user,
        request=request,
        details={"provider": provider.slug, **({"second_factor": "provider_mfa"} if trusted else {})},
    )
    return redirect(_safe_next(request, next_url))
