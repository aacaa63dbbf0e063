"""Passkeys (WebAuthn), kept by django-otp-webauthn as django-otp devices: adding one (named by its owner),
the list on the security page, and removing one.

The library's own URLs are not mounted: its views would sign a person in with a passkey alone and take
the user from the session, so `accounts.views_passkeys` wraps its helper instead. Using a passkey (the
sign-in step, re-confirming a signature) is checked in `accounts.reauth`, with the one lockout.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.middleware import csrf
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions
from webauthn.helpers.exceptions import WebAuthnException

from .audit import audit_event
from .models import StaffMember, User
from .second_factor import new_recovery_codes, recovery_codes_left, second_factor_required

# What a browser's answer that is not accepted raises: the library's API errors, py_webauthn's own, and a
# passkey already registered (its credential id is unique).
REFUSED = (OTPWebAuthnApiError, WebAuthnException, IntegrityError, KeyError, TypeError, ValueError)

NAME_KEY = "passkey_name"
REGISTER_STATE_KEY = "otp_webauthn_register_state"
NAME_MAX_LENGTH = 60  # the library's Device.name holds 64


class PasskeyHelper(WebAuthnHelper):
    """The library's helper, with the name the person chose for the passkey."""

    def get_credential_display_name(self, user):
        return f"{user.full_name} ({user.email})" if user.full_name else user.email

    def create_credential(self, user, response, parsed_credential, original_data):
        device = super().create_credential(user, response, parsed_credential, original_data)
        device.name = self.request.session.get(NAME_KEY) or "Passkey"
        return device


def passkey_config(request, *, begin: str, complete: str, register=False) -> dict:
    """What the library's scripts read from the page (json_script, so no inline script)."""
    kind = "Registration" if register else "Authentication"
    return {
        "autocompleteLoginFieldSelector": None,
        "nextFieldSelector": "#passkey-next",
        "csrfToken": csrf.get_token(request),
        f"begin{kind}Url": reverse(begin),
        f"complete{kind}Url": reverse(complete),
    }


def passkeys(user: User):
    """The person's passkeys, newest first (one query)."""
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("-created_at", "-id")


def has_passkey(user: User) -> bool:
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()


def helper_for(request) -> PasskeyHelper:
    return WebAuthnCredential.get_webauthn_helper(request=request)


def registration_begin(*, request, name: str) -> dict:
    """The options the browser needs to make a passkey for the signed-in person. The challenge stays in
    the session for `passkey_register` (used once)."""
    request.session[NAME_KEY] = name
    options, state = helper_for(request).register_begin(user=request.user)
    request.session[REGISTER_STATE_KEY] = state
    return options


def passkey_register(*, request, data: dict) -> tuple[WebAuthnCredential, list[str] | None]:
    """Checks the browser's answer against the challenge in the session (taken out first, so it is never
    used twice) and keeps the passkey. A person with no recovery codes gets a set, shown once.
    Raises ValidationError with a message for the person."""
    state = request.session.pop(REGISTER_STATE_KEY, None)
    request.session.save()
    if not state:
        raise ValidationError("Start adding the passkey again: that request had expired or was used already.")
    try:
        with transaction.atomic():
            with rewrite_exceptions(logger=None):
                device = helper_for(request).register_complete(user=request.user, state=state, data=data)
            codes = _first_recovery_codes(request.user)
            audit_event(
                action="auth.passkey_added",
                actor=request.user,
                request=request,
                details={"passkey": device.name, "recovery_codes_made": codes is not None},
            )
    except REFUSED as error:
        audit_event(
            action="auth.passkey_add_failed", actor=request.user, request=request, details={"reason": str(error)[:200]}
        )
        raise ValidationError("This passkey could not be added: the browser's answer was not accepted.") from None
    request.session.pop(NAME_KEY, None)
    return device, codes


def _first_recovery_codes(user: User) -> list[str] | None:
    if recovery_codes_left(user):
        return None
    return new_recovery_codes(user)


@transaction.atomic
def passkey_remove(*, staff: StaffMember, device: WebAuthnCredential, request=None) -> None:
    """Removes one of the person's own passkeys (the caller has re-confirmed who they are). Never the last
    factor of someone the organisation's rule holds to one."""
    user = staff.user
    others = (
        WebAuthnCredential.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).exists()
        or TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    )
    if not others and second_factor_required(staff):
        raise ValidationError(
            "This is your only second factor and your organisation requires one: "
            "add another passkey or an authenticator app first."
        )
    name = device.name
    device.delete()
    audit_event(action="auth.passkey_removed", actor=user, obj=staff, request=request, details={"passkey": name})
