"""Calendar files: each person's private feed, its management page, and one session's invite."""

from django.contrib import messages
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from accounts.access import staff_required
from accounts.models import StaffMember

from .. import ical
from ..access import get_session_for_user, require
from ..models import CalendarFeed, SessionStatus
from ..services import feed_for, feed_renew, feed_revoke


def _calendar_response(content: bytes, content_type: str = "text/calendar; charset=utf-8") -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


# Public: the token in the address is the secret (Outlook and Google fetch it with no session).
@require_safe
def feed(request, token):
    # A leaver's feed stops the day after their leaving date, like their sign-in.
    today = timezone.localdate()
    calendar_feed = get_object_or_404(
        CalendarFeed.objects.select_related("staff__user").filter(
            Q(staff__leaving_date__isnull=True) | Q(staff__leaving_date__gte=today)
        ),
        token=token,
        staff__user__is_active=True,
    )
    response = _calendar_response(ical.person_feed(calendar_feed.staff))
    response["Content-Disposition"] = 'inline; filename="supervision.ics"'
    # Calendar apps poll; five minutes of caching in the client only, never in a shared cache.
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


FEED_MESSAGES = {
    "create": "Your calendar feed is ready: copy its address into Outlook or Google Calendar.",
    "renew": "Your calendar feed has a new address. Any old address no longer works: subscribe with this one.",
    "revoke": "Your calendar feed is off. Calendars subscribed to it will stop updating.",
}


@staff_required
@require_http_methods(["GET", "POST"])
def feed_manage(request):
    staff = request.staff
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "renew":
            created = feed_for(staff) is None
            feed_renew(staff=staff, request=request)
            messages.success(request, FEED_MESSAGES["create" if created else "renew"])
        elif action == "revoke":
            feed_revoke(staff=staff, request=request)
            messages.success(request, FEED_MESSAGES["revoke"])
        else:
            messages.error(request, "Choose whether to renew the address or turn the feed off.")
        return redirect("supervision:feed-manage")
    calendar_feed = feed_for(staff)
    feed_url = None
    if calendar_feed is not None:
        feed_url = request.build_absolute_uri(reverse("supervision:feed", kwargs={"token": calendar_feed.token}))
    return render(request, "supervision/feed_manage.html", {"feed_url": feed_url})


@staff_required
@require_GET
def session_ics(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity in ("supervisor", "attendee"), "Only the people in the session can download its invite.")
    prefetch_related_objects([session], Prefetch("attendees", queryset=StaffMember.objects.select_related("user")))
    method = "CANCEL" if session.status == SessionStatus.CANCELLED else "REQUEST"
    response = _calendar_response(
        ical.session_invite(session, method), content_type=f"text/calendar; method={method}; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="invite.ics"'
    response["Cache-Control"] = "private, no-store"
    return response
