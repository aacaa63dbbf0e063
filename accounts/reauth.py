"""Re-confirming who is at the keyboard: before a signature (records, addenda, agreements), before a change
of password, and as the second step of signing in.

A person re-confirms with the strongest factor they have: a passkey, else a code from their authenticator
app, else their password. A passkey is shown first (`confirm_passkey`, from the page's passkey button),
which leaves a short-lived, single-use mark in the session that the signature then spends. The second step
of signing in takes a passkey, a code or a recovery code.

Every re-confirmation goes through django-axes exactly as signing in does, so wrong passwords here and
on the sign-in page count towards the one lockout (5 failures for this email from this address), a
locked account is refused whatever password is given, and a right one clears the count as a sign-in
does. Each failure is audited. The check commits on its own, before the caller's transaction: a
failure raises, and a failure count or audit event written inside the caller's transaction would be
rolled back with it.
"""

import time

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions

from .audit import audit_event
from .models import User
from .passkeys import REFUSED, has_passkey, helper_for

WRONG = "That password is not right."
WRONG_CODE = "That code is not right, or it has been used already. Wait for the next code from your app."
WRONG_PASSKEY = "That passkey was not accepted. Try again, or use another way to sign in."
PASSKEY_FIRST = "Confirm it is you with your passkey first (the button above), then sign within five minutes."
PASSKEY_STATE_KEY = "passkey_assertion"
# A passkey shown for a signature is good for one signature within this many seconds.
STEP_UP_KEY = "passkey_confirmed"
STEP_UP_SECONDS = 5 * 60
STEP_UP = "step_up"
LOCKED = (
    "Too many wrong passwords: this account is locked for {minutes} minutes, and you have been signed out. "
    "If you did not try to sign in or sign, tell your organisation admin."
)


def lockout_minutes() -> int:
    return round(settings.AXES_COOLOFF_TIME * 60)


def strongest_factor(user: User) -> str:
    """ "passkey", "code" or "password": what re-confirms this person. One or two queries."""
    if has_passkey(user):
        return "passkey"
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return "code"
    return "password"


def reconfirm_field(user: User) -> dict:
    """How a signing form asks for the re-confirmation: label, autocomplete and input mode."""
    factor = strongest_factor(user)
    if factor == "passkey":
        return {"label": "Your passkey", "autocomplete": "off", "inputmode": "", "input_type": "hidden"}
    if factor == "code":
        return {
            "label": "Code from your authenticator app",
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "input_type": "text",
        }
    return {"label": "Your password", "autocomplete": "current-password", "inputmode": "", "input_type": "password"}


def apply_reconfirm_field(field, user: User) -> None:
    """Turns a signing form's "password" field into a code field for a person with an authenticator app."""
    how = reconfirm_field(user)
    if how["input_type"] == "hidden":
        # The passkey is shown before the form is sent (the page's passkey button): nothing to type.
        field.required = False
        field.widget = forms.HiddenInput()
        field.label = how["label"]
        field.help_text = ""
        return
    field.label = how["label"]
    field.widget.input_type = how["input_type"]
    field.widget.attrs["autocomplete"] = how["autocomplete"]
    if how["inputmode"]:
        field.widget.attrs["inputmode"] = how["inputmode"]


def confirm_password(
    *,
    user: User,
    password: str,
    request=None,
    purpose: str,
    obj: models.Model | None = None,
    password_only=False,
    allow_passkey=True,
) -> None:
    """Check that `password` is the person's, or raise ValidationError({"password": ...}). For a person
    with an authenticator app, `password` is a code from the app instead, and nothing else will do, unless
    `password_only` (changing the password, which must know the old one). For a person with a passkey,
    the passkey shown just before (`confirm_passkey`) is spent instead, unless `allow_passkey` is off
    (new recovery codes from the app's code).

    `purpose` names what it is for in the audit trail ("record.sign", "contract.sign", ...). Without a
    request (the shell, a data repair) there is no client to count against, and only the password is
    checked. When the failure is the one that locks the account, or the account is already locked,
    the session ends too: whoever is at this keyboard has not shown they are the person.
    """
    if not password_only and allow_passkey and has_passkey(user):
        _spend_step_up(user=user, request=request, purpose=purpose, obj=obj)
        return
    device = None if password_only else TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()
    if device is not None:
        _confirm_code(user=user, code=password, devices=[device], request=request, purpose=purpose, obj=obj)
        return
    if request is None:
        if user.check_password(password or ""):
            return
        _failed(user=user, request=None, purpose=purpose, obj=obj, locked=False)
        raise ValidationError({"password": WRONG})

    authenticated = authenticate(request, username=user.email, password=password or "")
    if authenticated is not None and authenticated.pk == user.pk:
        # As a successful sign-in does (AXES_RESET_ON_SUCCESS); axes sets the address unless it is off.
        ip_address = getattr(request, "axes_ip_address", None)
        if ip_address:
            AxesProxyHandler.reset_attempts(ip_address=ip_address, username=user.email)
        return
    locked = bool(getattr(request, "axes_locked_out", False))
    _failed(user=user, request=request, purpose=purpose, obj=obj, locked=locked)
    if locked:
        logout(request)
        raise ValidationError({"password": LOCKED.format(minutes=lockout_minutes())})
    raise ValidationError({"password": WRONG})


def confirm_sign_in_code(*, user: User, code: str, request) -> TOTPDevice | StaticDevice:
    """The second step of signing in: a code from the authenticator app, or one of the recovery codes
    (used up by this). Returns the device that took it, or raises ValidationError({"code": ...})."""
    devices = [
        *TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id")[:1],
        *StaticDevice.objects.filter(user=user, confirmed=True),
    ]
    return _confirm_code(user=user, code=code, devices=devices, request=request, purpose="auth.sign_in", obj=None)


def _confirm_code(*, user, code, devices, request, purpose, obj):
    """One lockout with passwords: a locked account is refused whatever the code, a wrong code is a failed
    sign-in to django-axes, a right one clears the count."""
    field = "code" if purpose == "auth.sign_in" else "password"
    credentials = {"username": user.email}
    if request is not None and AxesProxyHandler.is_locked(request, credentials=credentials):
        _failed(user=user, request=request, purpose=purpose, obj=obj, locked=True, factor="code")
        _end_session(request, purpose)
        raise ValidationError({field: LOCKED.format(minutes=lockout_minutes())})
    token = "".join((code or "").split()).lower()
    for device in devices:
        # verify_token saves the device (the last step used, a spent recovery code). Callers check before
        # their own transaction, so this commits at once and a code is never accepted twice.
        with transaction.atomic():
            accepted = bool(token) and device.verify_token(token)
        if accepted:
            ip_address = getattr(request, "axes_ip_address", None)
            if ip_address:
                AxesProxyHandler.reset_attempts(ip_address=ip_address, username=user.email)
            return device
    if request is not None:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
    locked = bool(getattr(request, "axes_locked_out", False))
    _failed(user=user, request=request, purpose=purpose, obj=obj, locked=locked, factor="code")
    if locked:
        _end_session(request, purpose)
        raise ValidationError({field: LOCKED.format(minutes=lockout_minutes())})
    raise ValidationError({field: WRONG_CODE})


def passkey_options(*, request, user: User, purpose: str) -> dict:
    """The options for the browser to ask one of the person's passkeys, with a fresh challenge kept in the
    session for `confirm_passkey` (for this person and this purpose, used once)."""
    options, state = helper_for(request).authenticate_begin(user=user, require_user_verification=False)
    request.session[PASSKEY_STATE_KEY] = {**state, "user": user.pk, "purpose": purpose}
    return options


def confirm_passkey(*, user: User, data, request, purpose: str, obj=None) -> WebAuthnCredential:
    """Checks the browser's answer from one of the person's passkeys against the challenge in the session,
    through the one lockout: a locked account is refused whatever the answer, a refused answer (another
    site's origin, a replayed or spent challenge, another person's passkey, a bad signature) is a failed
    sign-in to django-axes, a right one clears the count. For a signature (`purpose` "step_up") it leaves
    the single-use mark that `confirm_password` spends. Raises ValidationError(message)."""
    credentials = {"username": user.email}
    if AxesProxyHandler.is_locked(request, credentials=credentials):
        _failed(user=user, request=request, purpose=purpose, obj=obj, locked=True, factor="passkey")
        _end_session(request, purpose)
        raise ValidationError(LOCKED.format(minutes=lockout_minutes()))
    # Taken out before anything else, and saved, so a challenge is never answered twice.
    state = request.session.pop(PASSKEY_STATE_KEY, None)
    request.session.save()
    device = None
    if state and state.get("user") == user.pk and state.get("purpose") == purpose:
        try:
            # The library's check saves the device's signature counter and when it was last used.
            with transaction.atomic(), rewrite_exceptions(logger=None):
                device = helper_for(request).authenticate_complete(user=user, state=state, data=data)
        except REFUSED:
            device = None
    if device is None or not device.confirmed:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        locked = bool(getattr(request, "axes_locked_out", False))
        _failed(user=user, request=request, purpose=purpose, obj=obj, locked=locked, factor="passkey")
        if locked:
            _end_session(request, purpose)
            raise ValidationError(LOCKED.format(minutes=lockout_minutes()))
        raise ValidationError(WRONG_PASSKEY)
    ip_address = getattr(request, "axes_ip_address", None)
    if ip_address:
        AxesProxyHandler.reset_attempts(ip_address=ip_address, username=user.email)
    audit_event(
        action="auth.passkey_used",
        actor=user,
        obj=obj,
        request=request,
        details={"purpose": purpose, "passkey": device.name},
    )
    if purpose == STEP_UP:
        request.session[STEP_UP_KEY] = {"user": user.pk, "at": int(time.time()), "passkey": device.name}
    return device


def step_up_pending(request) -> bool:
    """Whether this session holds a passkey confirmation not yet spent on a signature."""
    mark = request.session.get(STEP_UP_KEY)
    return bool(mark and mark["user"] == request.user.pk and time.time() - mark["at"] <= STEP_UP_SECONDS)


def _spend_step_up(*, user, request, purpose, obj) -> None:
    mark = request.session.pop(STEP_UP_KEY, None) if request is not None else None
    if mark and mark["user"] == user.pk and time.time() - mark["at"] <= STEP_UP_SECONDS:
        audit_event(
            action="auth.passkey_reconfirmed",
            actor=user,
            obj=obj,
            request=request,
            details={"purpose": purpose, "passkey": mark["passkey"]},
        )
        return
    raise ValidationError({"password": PASSKEY_FIRST})


def _end_session(request, purpose):
    if purpose == "auth.sign_in":
        request.session.flush()
    else:
        logout(request)


def _failed(*, user, request, purpose, obj, locked, factor="password") -> None:
    audit_event(
        action={"password": "auth.password_reconfirm_failed", "code": "auth.code_failed"}.get(
            factor, "auth.passkey_failed"
        ),
        actor=user,
        obj=obj,
        organisation=getattr(getattr(user, "staff", None), "organisation", None),
        request=request,
        details={"purpose": purpose, "locked_out": locked, **({"factor": factor} if factor != "password" else {})},
    )
