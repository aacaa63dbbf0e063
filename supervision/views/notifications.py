"""The notification centre: a person's own reminders and escalations, marking them read, and the
choice of which kinds also come by email.

It reads across apps (records): the safeguarding decisions waiting for the person as key person are
shown above the list whether or not a reminder has gone yet, so the page never says nothing needs them
while one does."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import staff_required
from accounts.audit import audit_event
from accounts.models import StaffMember
from records.models import SafeguardingDecision

from ..forms_notifications import NotificationPreferencesForm
from ..models import ALWAYS_EMAILED, Notification, NotificationPreference

NOTIFICATIONS_PAGE_SIZE = 30


# --- Writes. They belong in services.py (STYLE.md); kept here until that file is free to change. ---


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one notification read. Idempotent: the first reading time stays."""
    now = timezone.now()
    if Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now):
        notification.read_at = now
    elif notification.read_at is None:
        notification.refresh_from_db(fields=["read_at"])
    return notification


def notifications_mark_all_read(*, staff: StaffMember) -> int:
    """Mark every unread notification of the person read; returns how many there were."""
    return Notification.objects.filter(recipient=staff, read_at__isnull=True).update(read_at=timezone.now())


@transaction.atomic
def notification_preferences_save(*, actor: StaffMember, email: dict[str, bool], request=None) -> dict[str, bool]:
    """Store the person's email choices; returns the kinds that changed. ALWAYS_EMAILED kinds are not
    a choice: they are dropped here as well as by the form, and delivery emails them whatever a row says."""
    email = {kind: on for kind, on in email.items() if kind not in ALWAYS_EMAILED}
    current = dict(NotificationPreference.objects.filter(staff=actor).values_list("kind", "email"))
    changed = {kind: on for kind, on in email.items() if current.get(kind, True) != on}
    for kind, on in changed.items():
        NotificationPreference.objects.update_or_create(staff=actor, kind=kind, defaults={"email": on})
    if changed:
        audit_event(
            action="notifications.preferences_changed",
            actor=actor.user,
            obj=actor,
            request=request,
            details={"email": changed},
        )
    return changed


# --- Views ---------------------------------------------------------------------------------------


def _get_notification_for_user(staff: StaffMember, code) -> Notification:
    """The person's own notification; anyone else's is not found."""
    return get_object_or_404(Notification, recipient=staff, code=code)


def _safe_next(request) -> str | None:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@staff_required
@require_GET
def notification_list(request):
    """Unread first, then newest: three queries (count, page, decisions waiting) whatever the number."""
    unread_first = ExpressionWrapper(Q(read_at__isnull=False), output_field=BooleanField())
    qs = Notification.objects.filter(recipient=request.staff).order_by(unread_first, "-created_at", "-id")
    page = Paginator(qs, NOTIFICATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    decisions = SafeguardingDecision.objects.awaiting_confirmation().filter(key_person=request.staff).count()
    return render(request, "supervision/notification_list.html", {"page": page, "decisions_to_confirm": decisions})


@staff_required
@require_POST
def notification_read(request, code):
    notification = notification_mark_read(notification=_get_notification_for_user(request.staff, code))
    if request.htmx:
        return render(request, "supervision/includes/notification_item.html", {"n": notification})
    return redirect(_safe_next(request) or "supervision:notification-list")


@staff_required
@require_POST
def notification_read_all(request):
    count = notifications_mark_all_read(staff=request.staff)
    if count:
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    else:
        messages.info(request, "You had no unread notifications.")
    return redirect("supervision:notification-list")


@staff_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request):
    staff = request.staff
    current = dict(staff.notification_preferences.values_list("kind", "email"))
    form = NotificationPreferencesForm(request.POST if request.method == "POST" else None, current=current)
    if request.method == "POST" and form.is_valid():
        changed = notification_preferences_save(actor=staff, email=form.email_choices(), request=request)
        messages.success(request, "Your notification preferences are saved." if changed else "Nothing changed.")
        return redirect("supervision:notification-preferences")
    return render(request, "supervision/notification_preferences.html", {"form": form})
