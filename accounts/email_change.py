"""Changing the address a person signs in with, so that no admin alone can take an account over.

An admin may correct the address of someone who has never signed in at once. For anyone else the new
address waits: the person confirms it, from their current address (a link) or their own signed-in
session (with their password); where the current address is gone, a second admin approves instead.
Then the new address is verified by a link sent to it, and only then does it replace the old one.
The person hears at their current address when a change is asked for and when it takes effect. The
session hash covers the address (`User._get_session_auth_hash`), so the change ends every session.
"""

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse

from .audit import audit_event
from .models import EmailChange, StaffMember, User

ADDRESS_IN_USE = (
    "This address cannot be used: it already belongs to an account. Check it, or ask the person for another address."
)
CONFIRM_SALT = "accounts.email_change.confirm"
VERIFY_SALT = "accounts.email_change.verify"


def address_in_use(email: str, *, exclude_user: User | None = None) -> bool:
    others = User.objects.filter(email__iexact=email)
    if exclude_user is not None:
        others = others.exclude(pk=exclude_user.pk)
    return others.exists()


# Links. A token names the change and the new address, is signed with the secret key and lasts as long
# as an invitation; it works only while the change is at the step the link is for, so it works once.


def _token(change: EmailChange, salt: str) -> str:
    return signing.dumps({"c": str(change.code), "e": change.new_email}, salt=salt, compress=True)


def confirm_path(change: EmailChange) -> str:
    return reverse("accounts:email-change-confirm", kwargs={"token": _token(change, CONFIRM_SALT)})


def verify_path(change: EmailChange) -> str:
    return reverse("accounts:email-change-verify", kwargs={"token": _token(change, VERIFY_SALT)})


def _from_token(token: str, salt: str, status: str) -> EmailChange | None:
    try:
        data = signing.loads(token, salt=salt, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:
        return None
    return (
        EmailChange.objects.select_related("staff__user", "staff__organisation")
        .filter(code=data.get("c"), new_email=data.get("e"), status=status)
        .first()
    )


def change_to_confirm(token: str) -> EmailChange | None:
    return _from_token(token, CONFIRM_SALT, EmailChange.Status.AWAITING_PERSON)


def change_to_verify(token: str) -> EmailChange | None:
    return _from_token(token, VERIFY_SALT, EmailChange.Status.AWAITING_NEW_ADDRESS)


def open_change(staff: StaffMember) -> EmailChange | None:
    return EmailChange.objects.filter(staff=staff, status__in=EmailChange.OPEN).select_related("requested_by").first()


def email_change_message(change: EmailChange) -> str:
    person = change.staff.full_name
    if change.old_address_gone:
        return (
            f"Saved. {change.new_email} takes effect once {person} confirms it, or a second organisation admin "
            "approves it, and the new address is verified. Until then they sign in with their current address."
        )
    return (
        f"Saved. We have asked {person} to confirm {change.new_email} at their current address; it takes effect "
        "once they do and the new address is verified. Until then they sign in with their current address."
    )


def _send(change: EmailChange, kind: str) -> None:
    from .tasks import send_email_change_email

    change_id = change.id
    transaction.on_commit(lambda: send_email_change_email.delay(change_id, kind))


def _lock(change: EmailChange) -> EmailChange:
    return (
        EmailChange.objects.select_for_update().select_related("staff__user", "staff__organisation").get(pk=change.pk)
    )


# Services


@transaction.atomic
def email_change_request(
    *, actor: User, staff: StaffMember, new_email: str, old_address_gone: bool = False, request=None
) -> EmailChange:
    """Ask for a new address for someone who has signed in; it waits for them (or a second admin)."""
    new_email = new_email.strip().lower()
    user = staff.user
    if new_email == user.email:
        raise ValidationError({"email": "That is already their address."})
    if address_in_use(new_email, exclude_user=user):
        raise ValidationError({"email": ADDRESS_IN_USE})
    StaffMember.objects.select_for_update().filter(pk=staff.pk).first()
    for earlier in EmailChange.objects.filter(staff=staff, status__in=EmailChange.OPEN):
        earlier.status = EmailChange.Status.CANCELLED
        earlier.save(update_fields=["status", "updated_at"])
        audit_event(
            action="staff.email_change_cancelled",
            actor=actor,
            obj=staff,
            request=request,
            details={"new_email": earlier.new_email, "why": "replaced by a newer request"},
        )
    change = EmailChange.objects.create(
        staff=staff, old_email=user.email, new_email=new_email, old_address_gone=old_address_gone, requested_by=actor
    )
    audit_event(
        action="staff.email_change_requested",
        actor=actor,
        obj=staff,
        request=request,
        details={"old_email": user.email, "new_email": new_email, "old_address_gone": old_address_gone},
    )
    _send(change, "requested")
    return change


@transaction.atomic
def email_change_confirm(*, change: EmailChange, by: str, actor: User | None = None, request=None) -> EmailChange:
    """The person agrees (by their current address's link, or signed in after re-entering their password),
    or a second admin approves where the current address is gone. The new address is verified next."""
    change = _lock(change)
    if change.status != EmailChange.Status.AWAITING_PERSON:
        raise ValidationError("This change of address is no longer waiting to be confirmed.")
    if by == EmailChange.ConfirmedBy.SECOND_ADMIN:
        if not change.old_address_gone:
            raise PermissionDenied("The person confirms this change themselves.")
        if actor is None or actor.pk in (change.requested_by_id, change.staff.user_id):
            raise PermissionDenied("A second organisation admin, not the one who asked, approves the change.")
        change.approved_by = actor
    change.status = EmailChange.Status.AWAITING_NEW_ADDRESS
    change.confirmed_by = by
    change.save(update_fields=["status", "confirmed_by", "approved_by", "updated_at"])
    audit_event(
        action="staff.email_change_approved"
        if by == EmailChange.ConfirmedBy.SECOND_ADMIN
        else "staff.email_change_confirmed",
        actor=actor,
        obj=change.staff,
        organisation=change.staff.organisation,
        request=request,
        details={"new_email": change.new_email, "by": by},
    )
    _send(change, "verify")
    return change


@transaction.atomic
def email_change_cancel(*, change: EmailChange, actor: User | None, refused: bool = False, request=None) -> None:
    """An admin withdraws the change, or the person refuses it; the address stays as it is."""
    change = _lock(change)
    if not change.is_open:
        return
    change.status = EmailChange.Status.CANCELLED
    change.save(update_fields=["status", "updated_at"])
    audit_event(
        action="staff.email_change_refused" if refused else "staff.email_change_cancelled",
        actor=actor,
        obj=change.staff,
        organisation=change.staff.organisation,
        request=request,
        details={"new_email": change.new_email},
    )


@transaction.atomic
def email_change_complete(*, change: EmailChange, request=None) -> EmailChange:
    """The link at the new address was followed: it becomes the sign-in, and every session ends."""
    change = _lock(change)
    if change.status != EmailChange.Status.AWAITING_NEW_ADDRESS:
        raise ValidationError("This change of address is no longer waiting to be verified.")
    user = User.objects.select_for_update().get(pk=change.staff.user_id)
    if address_in_use(change.new_email, exclude_user=user):
        raise ValidationError(ADDRESS_IN_USE)
    old_email = user.email
    user.email = change.new_email
    user.save(update_fields=["email"])
    change.old_email = old_email
    change.status = EmailChange.Status.DONE
    change.save(update_fields=["old_email", "status", "updated_at"])
    audit_event(
        action="staff.email_changed",
        actor=None,
        obj=change.staff,
        organisation=change.staff.organisation,
        request=request,
        details={"old_email": old_email, "new_email": change.new_email, "confirmed_by": change.confirmed_by},
    )
    _send(change, "done")
    return change
