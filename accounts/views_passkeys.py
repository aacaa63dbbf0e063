"""Passkeys on the security page (add, list, remove), as the second step of signing in, and as the
re-confirmation before a signature.

The browser side is django-otp-webauthn's own scripts, served from our static files: each page carries
their configuration (`passkey_config`) pointing at the JSON endpoints below rather than the library's
views, which are not mounted (they would take the user from the session, and sign in with a passkey alone).
"""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from .access import staff_required
from .forms_security import PasskeyNameForm, PasskeyRemoveForm
from .passkeys import NAME_KEY, has_passkey, passkey_config, passkey_register, passkey_remove, registration_begin
from .reauth import STEP_UP, confirm_passkey, confirm_password, passkey_options
from .views_security import PENDING_KEY, finish_sign_in, pending_user

CODES_KEY = "passkey_recovery_codes"


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _refused(message: str, status=400) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _safe_next(request, default: str) -> str:
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# Adding a passkey


@staff_required
@require_http_methods(["GET", "POST"])
def security_passkey_add(request):
    """Name the passkey ("MacBook Touch ID"), then the browser makes it."""
    form = PasskeyNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        request.session[NAME_KEY] = form.cleaned_data["name"]
        context = {
            "name": form.cleaned_data["name"],
            "config": passkey_config(
                request,
                begin="accounts:passkey-register-begin",
                complete="accounts:passkey-register-complete",
                register=True,
            ),
        }
        return render(request, "accounts/security_passkey_make.html", context)
    return render(request, "accounts/security_passkey_add.html", {"form": form})


@never_cache
@staff_required
@require_POST
def passkey_register_begin(request):
    name = request.session.get(NAME_KEY)
    if not name:
        return _refused("Name the passkey first, on the security page.")
    return JsonResponse(registration_begin(request=request, name=name))


@never_cache
@staff_required
@require_POST
def passkey_register_complete(request):
    try:
        device, codes = passkey_register(request=request, data=_body(request))
    except ValidationError as error:
        return _refused(error.messages[0])
    if not request.user.is_verified():
        # Enrolling is the proof for this session, as confirming a new authenticator app is.
        otp_login(request, device)
    if codes:
        request.session[CODES_KEY] = codes
    return JsonResponse({"id": device.pk})


@never_cache
@staff_required
@require_http_methods(["GET"])
def security_passkey_added(request):
    """Where the browser goes once the passkey is kept: the first recovery codes, shown this once."""
    codes = request.session.pop(CODES_KEY, None)
    if codes:
        return render(request, "accounts/security_codes.html", {"codes": codes, "new_passkey": True})
    messages.success(request, "Your passkey is added. You can sign in and sign with it.")
    return redirect("accounts:security")


# Removing one


@staff_required
@require_POST
def security_passkey_remove(request):
    """Removes one of the person's own passkeys, once they have re-confirmed who they are with a passkey.
    The choice is limited to their own: another person's passkey is not a valid choice."""
    form = PasskeyRemoveForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, "Choose one of your passkeys to remove.")
        return redirect("accounts:security")
    device = form.cleaned_data["passkey"]
    try:
        confirm_password(user=request.user, password="", request=request, purpose="auth.passkey_remove")
        passkey_remove(staff=request.staff, device=device, request=request)
    except ValidationError as error:
        if not request.user.is_authenticated:
            return redirect("accounts:login")
        messages.error(request, " ".join(error.messages))
        return redirect("accounts:security")
    messages.success(request, f"Removed the passkey “{device.name}”.")
    return redirect("accounts:security")


# The second step of signing in


@never_cache
@require_POST
def sign_in_passkey_begin(request):
    user, _pending = pending_user(request)
    if user is None:
        return _refused("Sign in with your email address and password first.", status=403)
    if not has_passkey(user):
        return _refused("You have no passkey: use a code instead.")
    return JsonResponse(passkey_options(request=request, user=user, purpose="auth.sign_in"))


@never_cache
@require_POST
def sign_in_passkey_complete(request):
    user, pending = pending_user(request)
    if user is None:
        return _refused("Sign in with your email address and password first.", status=403)
    try:
        device = confirm_passkey(user=user, data=_body(request), request=request, purpose="auth.sign_in")
    except ValidationError as error:
        locked = PENDING_KEY not in request.session  # the lockout flushed the session
        return _refused(error.messages[0], status=403 if locked else 400)
    target = finish_sign_in(request, user=user, pending=pending, device=device, factor="passkey")
    return JsonResponse({"id": device.pk, "redirect_url": target})


# Re-confirming before a signature (and removing a passkey)


@never_cache
@staff_required
@require_POST
def passkey_confirm_begin(request):
    if not has_passkey(request.user):
        return _refused("You have no passkey: sign with your code or password.")
    return JsonResponse(passkey_options(request=request, user=request.user, purpose=STEP_UP))


@never_cache
@staff_required
@require_POST
def passkey_confirm_complete(request):
    try:
        device = confirm_passkey(user=request.user, data=_body(request), request=request, purpose=STEP_UP)
    except ValidationError as error:
        return _refused(error.messages[0], status=400 if request.user.is_authenticated else 403)
    return JsonResponse({"id": device.pk, "redirect_url": _safe_next(request, reverse("home"))})
