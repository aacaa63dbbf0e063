"""Second factors: an authenticator app (TOTP), passkeys (WebAuthn, `accounts.passkeys`) and single-use
recovery codes, kept by django-otp.

Who must have one (`second_factor_required`), enrolment, new recovery codes and an admin's reset. The
codes themselves are checked in `accounts.reauth`, where sign-in and signing share django-axes' lockout.
"""

from base64 import b32encode

import segno
from django.db import transaction
from django.utils.safestring import mark_safe
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from .audit import audit_event
from .models import Role, StaffMember, User
from .tasks import send_second_factor_reset_email

PRIVILEGED_ROLES = (Role.ORG_ADMIN, Role.HEAD, Role.DSL, Role.AUDITOR)
RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"


def second_factor_required(staff: StaffMember | None) -> bool:
    """Organisation admins, heads, DSLs and auditors, where the organisation asks for it. No query."""
    return bool(staff and staff.organisation.require_second_factor and staff.has_role(*PRIVILEGED_ROLES))


# Set by a sign-in through Microsoft or Google (accounts/oidc.py) when the organisation trusts the provider's
# multi-factor sign-in and the ID token says it was used.
PROVIDER_MFA_SESSION_KEY = "second_factor_by_provider"


def second_factor_shown(request) -> bool:
    """Whether this session proved a second factor: ours (django-otp), or the provider's where the person's
    organisation still trusts it. No query (`request.staff` is loaded with its organisation)."""
    if request.user.is_verified():
        return True
    staff = getattr(request, "staff", None)
    return bool(request.session.get(PROVIDER_MFA_SESSION_KEY) and staff and staff.organisation.trust_provider_mfa)


def authenticator(user: User) -> TOTPDevice | None:
    """The person's confirmed authenticator app, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def has_second_factor(user: User) -> bool:
    """An authenticator app or a passkey (recovery codes alone are not a factor). One query."""
    return (
        TOTPDevice.objects.filter(user=user, confirmed=True)
        .values("id")
        .union(WebAuthnCredential.objects.filter(user=user, confirmed=True).values("id"))
        .exists()
    )


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def authenticator_pending(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def setup_key(device: TOTPDevice) -> str:
    """The secret as people type it into an app: base32 in groups of four."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def setup_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// address as an inline SVG QR code (no script, no external image)."""
    return mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff"))  # noqa: S308


@transaction.atomic
def authenticator_start(*, user: User, request=None) -> TOTPDevice:
    """A new, unconfirmed authenticator for the person. A confirmed one keeps working until the new one is
    confirmed, so a half-finished set-up never locks anyone out."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    audit_event(action="auth.second_factor_setup_started", actor=user, request=request)
    return device


@transaction.atomic
def authenticator_confirm(*, user: User, device: TOTPDevice, request=None) -> list[str]:
    """The person has shown a code from the new app (checked by the caller): it replaces any earlier app,
    and a fresh set of recovery codes replaces any earlier set. Returns the codes, shown once."""
    replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()[0] > 0
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = new_recovery_codes(user)
    audit_event(
        action="auth.second_factor_enrolled", actor=user, request=request, details={"replaced_earlier_app": replaced}
    )
    return codes


@transaction.atomic
def recovery_codes_renew(*, user: User, request=None) -> list[str]:
    """A new set of recovery codes; the earlier set stops working."""
    codes = new_recovery_codes(user)
    audit_event(action="auth.recovery_codes_renewed", actor=user, request=request)
    return codes


def new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def second_factor_reset(*, actor: StaffMember, staff: StaffMember, request=None) -> bool:
    """An organisation admin removes a person's authenticator app, passkeys and recovery codes (a lost phone). The
    person enrols again at their next sign-in if their role needs it, and is told by email. Returns
    whether there was anything to remove. The caller has checked the admin manages the person."""
    removed = (
        TOTPDevice.objects.filter(user=staff.user).delete()[0]
        + StaticDevice.objects.filter(user=staff.user).delete()[0]
    )
    passkeys_removed = (
        WebAuthnCredential.objects.filter(user=staff.user).delete()[1].get(WebAuthnCredential._meta.label, 0)
    )
    removed += passkeys_removed
    if not removed:
        return False
    audit_event(
        action="auth.second_factor_reset",
        actor=actor.user,
        obj=staff,
        request=request,
        details={"passkeys_removed": passkeys_removed},
    )
    staff_id, actor_id = staff.id, actor.id
    transaction.on_commit(lambda: send_second_factor_reset_email.delay(staff_id, actor_id))
    return True


@transaction.atomic
def second_factor_rule_set(*, actor: StaffMember, required: bool, request=None) -> bool:
    """An organisation-wide admin turns the rule on or off for their organisation. Returns whether it changed."""
    organisation = actor.organisation
    if organisation.require_second_factor == required:
        return False
    organisation.require_second_factor = required
    organisation.save(update_fields=["require_second_factor"])
    audit_event(
        action="organisation.second_factor_rule_changed",
        actor=actor.user,
        obj=organisation,
        request=request,
        details={"required": required},
    )
    return True
