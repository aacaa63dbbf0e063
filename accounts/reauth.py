"""Re-confirming who is at the keyboard: before a signature (records, addenda, agreements), before a change
of password, and as the second step of signing in.

A person with an authenticator app re-confirms with a code from it (the strongest factor they have);
everyone else with their password. The second step of signing in also takes a recovery code.

Every re-confirmation goes through django-axes exactly as signing in does, so wrong passwords here and
on the sign-in page count towards the one lockout (5 failures for this email from this address), a
locked account is refused whatever password is given, and a right one clears the count as a sign-in
does. Each failure is audited. The check commits on its own, before the caller's transaction: a
failure raises, and a failure count or audit event written inside the caller's transaction would be
rolled back with it.
"""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_event
from .models import User

WRONG = "That password is not right."
WRONG_CODE = "That code is not right, or it has been used already. Wait for the next code from your app."
LOCKED = (
    "Too many wrong passwords: this account is locked for {minutes} minutes, and you have been signed out. "
    "If you did not try to sign in or sign, tell your organisation admin."
)


def lockout_minutes() -> int:
    return round(settings.AXES_COOLOFF_TIME * 60)


def reconfirm_field(user: User) -> dict:
    """How a signing form asks for the re-confirmation: label, autocomplete and input mode."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
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
    field.label = how["label"]
    field.widget.input_type = how["input_type"]
    field.widget.attrs["autocomplete"] = how["autocomplete"]
    if how["inputmode"]:
        field.widget.attrs["inputmode"] = how["inputmode"]


def confirm_password(
    *, user: User, password: str, request=None, purpose: str, obj: models.Model | None = None, password_only=False
) -> None:
    """Check that `password` is the person's, or raise ValidationError({"password": ...}). For a person
    with an authenticator app, `password` is a code from the app instead, and nothing else will do, unless
    `password_only` (changing the password, which must know the old one).

    `purpose` names what it is for in the audit trail ("record.sign", "contract.sign", ...). Without a
    request (the shell, a data repair) there is no client to count against, and only the password is
    checked. When the failure is the one that locks the account, or the account is already locked,
    the session ends too: whoever is at this keyboard has not shown they are the person.
    """
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


def _end_session(request, purpose):
    if purpose == "auth.sign_in":
        request.session.flush()
    else:
        logout(request)


def _failed(*, user, request, purpose, obj, locked, factor="password") -> None:
    audit_event(
        action="auth.password_reconfirm_failed" if factor == "password" else "auth.code_failed",
        actor=user,
        obj=obj,
        organisation=getattr(getattr(user, "staff", None), "organisation", None),
        request=request,
        details={"purpose": purpose, "locked_out": locked, **({"factor": factor} if factor != "password" else {})},
    )
