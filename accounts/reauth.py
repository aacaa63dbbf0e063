"""Re-confirming the signed-in person's password: before a signature (records, addenda, agreements) and
before a change of password.

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
from django.core.exceptions import ValidationError
from django.db import models

from .audit import audit_event
from .models import User

WRONG = "That password is not right."
LOCKED = (
    "Too many wrong passwords: this account is locked for {minutes} minutes, and you have been signed out. "
    "If you did not try to sign in or sign, tell your organisation admin."
)


def lockout_minutes() -> int:
    return round(settings.AXES_COOLOFF_TIME * 60)


def confirm_password(*, user: User, password: str, request=None, purpose: str, obj: models.Model | None = None) -> None:
    """Check that `password` is the person's, or raise ValidationError({"password": ...}).

    `purpose` names what it is for in the audit trail ("record.sign", "contract.sign", ...). Without a
    request (the shell, a data repair) there is no client to count against, and only the password is
    checked. When the failure is the one that locks the account, or the account is already locked,
    the session ends too: whoever is at this keyboard has not shown they are the person.
    """
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


def _failed(*, user, request, purpose, obj, locked) -> None:
    audit_event(
        action="auth.password_reconfirm_failed",
        actor=user,
        obj=obj,
        organisation=getattr(getattr(user, "staff", None), "organisation", None),
        request=request,
        details={"purpose": purpose, "locked_out": locked},
    )
