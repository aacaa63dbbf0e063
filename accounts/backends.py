"""Sign-in: Django's password check, refused to people whose leaving date has passed."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone


def has_left(user) -> bool:
    """True from the day after the person's leaving date (Europe/London). One query unless `staff` is loaded."""
    staff = getattr(user, "staff", None) if user.pk else None
    return staff is not None and staff.is_leaver(timezone.localdate())


class StaffBackend(ModelBackend):
    """Leavers cannot sign in from the day after their leaving date.

    Existing sessions are ended by `accounts.middleware.StaffMiddleware`, which has the staff row in
    hand already; `get_user` therefore checks only what Django checks, so that the middleware sees the
    leaver and signs them out (flushing the session and writing the audit event) rather than the
    session lingering half-alive until a corrected leaving date would revive it.
    """

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and not has_left(user)

    def get_user(self, user_id):
        try:
            user = get_user_model()._default_manager.get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if super().user_can_authenticate(user) else None
