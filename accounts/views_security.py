"""A person's second factors (/accounts/security/), the second step of signing in, and an admin's reset."""

import time

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from .access import get_staff_for_admin, org_admin_required, staff_required
from .audit import audit_event
from .backends import has_left
from .forms_security import CodeForm, IdentityProvidersForm, PasskeyRemoveForm, SecondFactorRuleForm
from .models import Role, User
from .oidc import configured_providers, identity_providers_set
from .passkeys import has_passkey, passkey_config, passkeys
from .reauth import confirm_password, confirm_sign_in_code
from .second_factor import (
    authenticator,
    authenticator_confirm,
    authenticator_pending,
    authenticator_start,
    recovery_codes_left,
    recovery_codes_renew,
    second_factor_required,
    second_factor_reset,
    second_factor_rule_set,
    setup_key,
    setup_qr_svg,
)

PENDING_KEY = "second_factor_pending"
# The password was right this long ago at most: after that, the code step starts again from the password.
PENDING_SECONDS = 5 * 60


def start_second_step(request, user, redirect_to: str, provider: str = ""):
    """Called by the sign-in page when the password is right (or by a Microsoft or Google sign-in, naming
    the `provider`) and the person has a second factor: nobody is signed in until the code is right too."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "at": int(time.time()),
        "next": redirect_to,
        "provider": provider,
    }
    return redirect("accounts:login-code")


def pending_user(request):
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None, None
    user = User.objects.filter(pk=pending["user"], is_active=True).select_related("staff").first()
    if user is None or has_left(user):
        return None, None
    return user, pending


def finish_sign_in(request, *, user, pending, device, factor: str) -> str:
    """The second factor was right: the person is signed in, and verified by that device. Returns where to go."""
    del request.session[PENDING_KEY]
    user.backend = pending["backend"]
    login(request, user, backend=pending["backend"])
    otp_login(request, device)
    details = {"second_factor": factor, **({"provider": pending["provider"]} if pending.get("provider") else {})}
    audit_event(action="auth.signed_in", actor=user, request=request, details=details)
    if factor == "recovery_code":
        messages.warning(
            request,
            f"You used a recovery code: {recovery_codes_left(user)} left. "
            "Make new ones on your security page, or set up your app or passkey again if it is lost.",
        )
    target = pending["next"]
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("home")
    return target


@require_http_methods(["GET", "POST"])
def sign_in_code(request):
    user, pending = pending_user(request)
    if user is None:
        request.session.pop(PENDING_KEY, None)
        messages.info(request, "Sign in with your email address and password first.")
        return redirect("accounts:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = confirm_sign_in_code(user=user, code=form.cleaned_data["code"], request=request)
        except ValidationError as error:
            if PENDING_KEY not in request.session:  # locked out: the session was flushed
                return render(request, "accounts/locked_out.html", {"failure_limit": 5}, status=403)
            form.add_error("code", error.message_dict["code"])
        else:
            factor = "recovery_code" if isinstance(device, StaticDevice) else "authenticator"
            return redirect(finish_sign_in(request, user=user, pending=pending, device=device, factor=factor))
    context = {"form": form, "has_app": authenticator(user) is not None, "has_passkey": has_passkey(user)}
    if context["has_passkey"] and not context["has_app"]:
        form.fields["code"].label = "Recovery code"
        form.fields["code"].help_text = "One of the recovery codes you kept when you added your first passkey."
    if context["has_passkey"]:
        context["passkey_config"] = passkey_config(
            request, begin="accounts:login-passkey-begin", complete="accounts:login-passkey-complete"
        )
    return render(request, "accounts/login_code.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def security(request):
    """The person's factors. POST starts setting up an authenticator app (a new one, or a replacement)."""
    user = request.user
    if request.method == "POST":
        authenticator_start(user=user, request=request)
        return redirect("accounts:security-authenticator")
    return render(request, "accounts/security.html", _security_context(request))


def _security_context(request, renew_form=None) -> dict:
    """The security page: the app, the passkeys (one query however many), the recovery codes."""
    user = request.user
    device = authenticator(user)
    keys = list(passkeys(user))
    return {
        "device": device,
        "passkeys": keys,
        "remove_form": PasskeyRemoveForm(user=user) if keys else None,
        "recovery_left": recovery_codes_left(user) if device or keys else 0,
        "required": second_factor_required(request.staff),
        "renew_form": renew_form or (CodeForm(prefix="renew", app_only=True) if device else None),
    }


@staff_required
@require_http_methods(["GET", "POST"])
def security_authenticator(request):
    """Scan the QR code, then type a code from the app to show it works."""
    device = authenticator_pending(request.user)
    if device is None:
        messages.info(request, "Start setting up an authenticator app here.")
        return redirect("accounts:security")
    form = CodeForm(request.POST or None, app_only=True)
    if request.method == "POST" and form.is_valid():
        token = "".join(form.cleaned_data["code"].split())
        if device.verify_token(token):
            codes = authenticator_confirm(user=request.user, device=device, request=request)
            otp_login(request, device)
            return render(request, "accounts/security_codes.html", {"codes": codes, "new_app": True})
        form.add_error(
            "code", "That code is not right: check the app shows the code for Supervision, and try the next one."
        )
    context = {"form": form, "qr": setup_qr_svg(device), "key": setup_key(device)}
    return render(request, "accounts/security_authenticator.html", context)


@staff_required
@require_POST
def security_recovery_codes(request):
    """New recovery codes, after a current code from the app (through the sign-in lockout), or for a person
    with passkeys only, after re-confirming with a passkey."""
    if authenticator(request.user) is None:
        if not has_passkey(request.user):
            return redirect("accounts:security")
        try:
            confirm_password(user=request.user, password="", request=request, purpose="auth.recovery_codes_renew")
        except ValidationError as error:
            if not request.user.is_authenticated:
                return redirect("accounts:login")
            messages.error(request, " ".join(error.messages))
            return redirect("accounts:security")
        codes = recovery_codes_renew(user=request.user, request=request)
        return render(request, "accounts/security_codes.html", {"codes": codes})
    form = CodeForm(request.POST, prefix="renew", app_only=True)
    if form.is_valid():
        try:
            confirm_password(
                user=request.user,
                password=form.cleaned_data["code"],
                request=request,
                purpose="auth.recovery_codes_renew",
                allow_passkey=False,
            )
        except ValidationError as error:
            if not request.user.is_authenticated:
                return redirect("accounts:login")
            form.add_error("code", error.message_dict["password"])
        else:
            codes = recovery_codes_renew(user=request.user, request=request)
            return render(request, "accounts/security_codes.html", {"codes": codes})
    return render(request, "accounts/security.html", _security_context(request, renew_form=form), status=400)


@org_admin_required
@require_POST
def staff_second_factor_reset(request, code):
    staff = get_staff_for_admin(request.staff, code)
    if staff.pk == request.staff.pk:
        # Your own factors are managed on your security page, where replacing the app needs the old one.
        messages.info(request, "Your own authenticator app, passkeys and recovery codes are changed here.")
        return redirect("accounts:security")
    if second_factor_reset(actor=request.staff, staff=staff, request=request):
        messages.success(
            request,
            f"{staff.user.full_name}'s authenticator app, passkeys and recovery codes are removed. "
            "They have been told by email.",
        )
    else:
        messages.info(request, f"{staff.user.full_name} has no second factor to reset.")
    return redirect("accounts:staff-edit", code=staff.code)


def _organisation_admin(request):
    if request.staff.role_scope(Role.ORG_ADMIN) != "organisation":
        raise PermissionDenied("Only an organisation-wide admin changes how people sign in.")
    return request.staff.organisation


def _providers_initial(organisation) -> dict:
    return {
        "microsoft_tenant_id": organisation.microsoft_tenant_id,
        "google_domain": organisation.google_domain,
        "trust_provider_mfa": organisation.trust_provider_mfa,
    }


def _sign_in_rule_page(request, organisation, *, form=None, providers_form=None, status=200):
    context = {
        "organisation": organisation,
        "form": form or SecondFactorRuleForm(initial={"require_second_factor": organisation.require_second_factor}),
        "providers_form": providers_form or IdentityProvidersForm(initial=_providers_initial(organisation)),
        "providers": configured_providers(),
    }
    return render(request, "accounts/second_factor_rule.html", context, status=status)


@org_admin_required
@require_http_methods(["GET", "POST"])
def second_factor_rule(request):
    """The organisation's sign-in rule and identity providers; only an admin of the whole organisation
    changes them."""
    organisation = _organisation_admin(request)
    form = SecondFactorRuleForm(
        request.POST or None, initial={"require_second_factor": organisation.require_second_factor}
    )
    if request.method == "POST" and form.is_valid():
        required = form.cleaned_data["require_second_factor"]
        if second_factor_rule_set(actor=request.staff, required=required, request=request):
            messages.success(
                request,
                "Saved: privileged roles " + ("must" if required else "no longer must") + " use a second factor.",
            )
        else:
            messages.info(request, "Nothing had changed.")
        return redirect("accounts:second-factor-rule")
    return _sign_in_rule_page(request, organisation, form=form)


@org_admin_required
@require_POST
def identity_providers(request):
    """The organisation's Microsoft Entra tenant, Google Workspace domain and trust in their MFA."""
    organisation = _organisation_admin(request)
    form = IdentityProvidersForm(request.POST)
    if not form.is_valid():
        return _sign_in_rule_page(request, organisation, providers_form=form, status=400)
    if identity_providers_set(actor=request.staff, **form.cleaned_data, request=request):
        messages.success(request, "Saved: how your staff sign in with Microsoft 365 or Google.")
    else:
        messages.info(request, "Nothing had changed.")
    return redirect("accounts:second-factor-rule")
