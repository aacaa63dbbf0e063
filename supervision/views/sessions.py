from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import staff_required
from accounts.models import Role
from accounts.templatetags.dates import day, day_and_time

from .. import services
from ..access import get_contract_for_user, get_group_for_user, get_session_for_user, require
from ..forms import AgendaForm, CancelForm, MarkForm, RebookForm, SessionTimeForm
from ..models import Contract, FrequencyOverride, HalfTerm, InformalNote, Session, SessionKind, SessionStatus
from ..rules import frequency_wording, why_not_due
from ..slots import LONDON
from .contracts import _apply_errors


def _week_start(request):
    today = timezone.localdate()
    try:
        day = datetime.strptime(request.GET.get("week", ""), "%Y-%m-%d").date()
    except ValueError:
        # At the weekend, the coming week is the one that matters.
        day = today + timedelta(days=2) if today.weekday() >= 5 else today
    return day - timedelta(days=day.weekday())


@staff_required
@require_GET
def calendar(request):
    """A supervisor's week and caseload; everyone's next sessions."""
    staff = request.staff
    today = timezone.localdate()
    monday = _week_start(request)
    week_start = datetime.combine(monday, datetime.min.time(), tzinfo=LONDON)
    week_end = week_start + timedelta(days=7)
    session_qs = Session.objects.select_related("contract__supervisee__user", "group", "supervisor__user", "setting")
    context = {
        "today": today,
        "monday": monday,
        "prev_week": monday - timedelta(days=7),
        "next_week": monday + timedelta(days=7),
    }
    context["upcoming"] = list(
        session_qs.filter(attendees=staff, status=SessionStatus.SCHEDULED, ends_at__gte=timezone.now()).order_by(
            "starts_at"
        )[:10]
    )
    half_term = HalfTerm.objects.current_or_next(staff.organisation, today)
    context["half_term"] = half_term
    if staff.has_role(Role.SUPERVISOR) or staff.contracts_as_supervisor.exists():
        week = list(
            session_qs.filter(supervisor=staff, starts_at__gte=week_start, starts_at__lt=week_end)
            .annotate(agenda_count=Count("agenda_items"))
            .order_by("starts_at")
        )
        days = []
        for offset in range(5):
            day = monday + timedelta(days=offset)
            days.append((day, [s for s in week if timezone.localtime(s.starts_at, LONDON).date() == day]))
        context["week_days"] = days
        context["weekend_sessions"] = [s for s in week if timezone.localtime(s.starts_at, LONDON).date().weekday() > 4]
        context["caseload"] = caseload_status(staff, today, half_term)
        context["is_supervisor"] = True
    return render(request, "supervision/calendar.html", context)


def caseload_status(supervisor, today, half_term):
    """One row per current agreement the person supervises: a fixed number of queries, whatever the size."""
    term_start = half_term.starts if half_term else today
    term_end = half_term.ends if half_term else today
    contracts = list(
        Contract.objects.filter(supervisor=supervisor, end_date__isnull=True)
        .select_related("supervisee__user")
        .prefetch_related(Prefetch("overrides", queryset=FrequencyOverride.objects.filter(ends__gte=today)))
        .annotate(
            last_held=Max("sessions__starts_at", filter=Q(sessions__status=SessionStatus.HELD)),
            next_booked=Min(
                "sessions__starts_at",
                filter=Q(sessions__status=SessionStatus.SCHEDULED, sessions__starts_at__gte=timezone.now()),
            ),
            in_half_term=Count(
                "sessions",
                filter=Q(
                    sessions__status__in=[SessionStatus.SCHEDULED, SessionStatus.HELD],
                    sessions__starts_at__date__gte=term_start,
                    sessions__starts_at__date__lte=term_end,
                ),
            ),
        )
        .order_by("supervisee__user__full_name")
    )
    for c in contracts:
        c.status_today = c.status(today)
        c.frequency_today = frequency_wording(c, today, c.overrides.all())
        # Formatted once here, not by the template's date filter for each row of a large caseload.
        c.last_held_day = day(c.last_held) if c.last_held else "—"
        c.next_booked_when = day_and_time(c.next_booked) if c.next_booked else "—"
        # The planner's and the dashboard's rule (rules.why_not_due), in the planner's words.
        c.not_due = why_not_due(c.supervisee, term_start, term_end)
        if not c.is_signed:
            c.flag = ("secondary", "Agreement not signed")
        elif c.not_due:
            c.flag = ("secondary", c.not_due[0].upper() + c.not_due[1:])
        elif c.in_half_term:
            c.flag = ("success", "Booked this half term")
        else:
            c.flag = ("warning", "Not booked this half term")
    return contracts


def booked_message(session, verb: str) -> str:
    """What booking did, in words for a pair or a group; a time in the past is recorded, not invited."""
    day = day_and_time(session.starts_at)
    if session.status == SessionStatus.HELD:
        return f"Recorded as held on {day}; no invitation sent, as the session is in the past."
    if session.starts_at <= timezone.now():
        return f"{verb} for {day}, which has passed: no invitation sent. Mark it held or missed from its page."
    if session.kind == SessionKind.GROUP:
        return f"{verb}. Each of you has a calendar invitation by email."
    return f"{verb}. Both of you have a calendar invitation by email."


def _chosen_time(query) -> dict:
    """A suggested free time chosen without JavaScript (`?date=...&time=...`, see
    supervision/includes/free_times.html): filled into the form, never booked until it is submitted."""
    try:
        return {"date": date.fromisoformat(query.get("date", "")), "time": time.fromisoformat(query.get("time", ""))}
    except ValueError:
        return {}


@staff_required
@require_http_methods(["GET", "POST"])
def session_book_view(request):
    staff = request.staff
    contract = group = None
    if request.GET.get("contract"):
        contract, can_manage = get_contract_for_user(staff, request.GET["contract"])
        require(contract.supervisor_id == staff.id, "The supervisor books the sessions of an agreement.")
        require(not contract.end_date, "This agreement has ended.")
        minutes, venue = contract.session_minutes, contract.venue
    elif request.GET.get("group"):
        group = get_group_for_user(staff, request.GET["group"])
        require(group.supervisor_id == staff.id, "The group's supervisor books its sessions.")
        minutes, venue = staff.organisation.default_session_minutes, ""
    else:
        messages.info(request, "Choose an agreement or a group to book a session for.")
        return redirect("supervision:calendar")
    initial = {"minutes": minutes, "venue": venue, **_chosen_time(request.GET)}
    form = SessionTimeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            session = services.session_book(
                actor=staff,
                contract=contract,
                group=group,
                starts_at=form.starts_at(),
                minutes=form.cleaned_data["minutes"],
                venue=form.cleaned_data["venue"],
                request=request,
                past_as_held=True,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, booked_message(session, "Booked"))
            return redirect("supervision:session-detail", code=session.code)
    supervisor, attendees, setting = services.session_people(contract=contract, group=group)
    suggestions = services.free_times(supervisor=supervisor, attendees=attendees, setting=setting, minutes=minutes)
    return render(
        request,
        "supervision/session_book.html",
        {"form": form, "contract": contract, "group": group, "suggestions": suggestions, "attendees": attendees},
    )


def _agenda_context(session, capacity):
    items = list(session.agenda_items.select_related("added_by__user"))
    return {
        "session": session,
        "agenda_items": items,
        # Only the pair of a 1:1 reaches here (overseers never get the agenda); a group's is always empty.
        "significant_notes": list(
            InformalNote.objects.to_revisit_in(session).select_related("recorded_by__user")
            if capacity in ("supervisor", "attendee")
            else []
        ),
        "agenda_form": AgendaForm() if session.is_open else None,
        "capacity": capacity,
    }


@staff_required
@require_GET
def session_detail(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    context = {"session": session, "capacity": capacity, "attendees": list(session.attendees.select_related("user"))}
    if capacity != "overseer":
        context.update(_agenda_context(session, capacity))
    if capacity == "supervisor":
        now = timezone.now()
        context["can_mark"] = session.is_open and session.starts_at <= now
        context["can_rebook"] = session.status in (SessionStatus.CANCELLED, SessionStatus.MISSED) and not hasattr(
            session, "rebooked_as"
        )
        context["cancel_form"] = CancelForm() if session.is_open else None
    rebooked = Session.objects.filter(rebooked_from=session).first()
    context["rebooked_as"] = rebooked
    # The reverse side of records.Record.session: None until the supervisor starts the record. Heads and
    # DSLs reach its metadata from here, and give a reason there to read the notes.
    record = getattr(session, "record", None)
    context["record"] = record
    context["can_start_record"] = (
        capacity == "supervisor"
        and record is None
        and session.status in (SessionStatus.SCHEDULED, SessionStatus.HELD)
        and session.starts_at <= timezone.now()
    )
    return render(request, "supervision/session_detail.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def session_reschedule_view(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity == "supervisor", "The supervisor moves a session.")
    require(session.is_open, "Only a scheduled session can be moved.")
    form = SessionTimeForm(
        request.POST or None,
        initial=SessionTimeForm.initial_for(session.starts_at, session.duration_minutes, session.venue),
        submit="Move the session",
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.session_reschedule(
                actor=request.staff,
                session=session,
                starts_at=form.starts_at(),
                minutes=form.cleaned_data["minutes"],
                venue=form.cleaned_data["venue"],
                request=request,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Moved. Updated calendar invitations are on their way.")
            return redirect("supervision:session-detail", code=session.code)
    return render(request, "supervision/session_reschedule.html", {"form": form, "session": session})


@staff_required
@require_POST
def session_cancel_view(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity == "supervisor", "The supervisor cancels a session, and rebooks it.")
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.session_cancel(
                actor=request.staff, session=session, reason=form.cleaned_data["reason"], request=request
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("supervision:session-detail", code=session.code)
        messages.warning(request, "Cancelled. Now rebook it: here are the nearest free times.")
        return redirect("supervision:session-rebook", code=session.code)
    messages.error(request, "Say why the session is cancelled.")
    return redirect("supervision:session-detail", code=session.code)


@staff_required
@require_http_methods(["GET", "POST"])
def session_rebook(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity == "supervisor", "The supervisor rebooks a session.")
    existing = Session.objects.filter(rebooked_from=session).first()
    if existing is not None:
        messages.info(request, "This session has already been rebooked.")
        return redirect("supervision:session-detail", code=existing.code)
    if session.status not in (SessionStatus.CANCELLED, SessionStatus.MISSED):
        messages.info(request, "Only a cancelled or missed session is rebooked; move this one instead.")
        return redirect("supervision:session-detail", code=session.code)
    if request.method == "POST":
        form = RebookForm(request.POST)
        if form.is_valid():
            try:
                new = services.session_book(
                    actor=request.staff,
                    contract=session.contract,
                    group=session.group,
                    starts_at=form.cleaned_data["starts_at"],
                    minutes=session.duration_minutes,
                    venue=session.venue,
                    rebooked_from=session,
                    request=request,
                )
            except ValidationError as error:
                messages.error(request, "That time is no longer free: " + " ".join(error.messages))
            else:
                messages.success(request, booked_message(new, "Rebooked"))
                return redirect("supervision:session-detail", code=new.code)
    offers = services.rebook_offers(session)
    return render(request, "supervision/session_rebook.html", {"session": session, "offers": offers})


@staff_required
@require_POST
def session_mark_view(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity == "supervisor", "The supervisor marks a session held or missed.")
    form = MarkForm(request.POST)
    if form.is_valid():
        try:
            services.session_mark(
                actor=request.staff, session=session, status=form.cleaned_data["status"], request=request
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            if form.cleaned_data["status"] == SessionStatus.MISSED:
                messages.warning(request, "Marked missed. Rebook it: here are the nearest free times.")
                return redirect("supervision:session-rebook", code=session.code)
            messages.success(request, "Marked held.")
    return redirect("supervision:session-detail", code=session.code)


def _agenda_response(request, session, capacity, form=None):
    context = _agenda_context(session, capacity)
    if form is not None:
        context["agenda_form"] = form
    if request.htmx:
        return render(request, "supervision/includes/agenda.html", context)
    return redirect("supervision:session-detail", code=session.code)


@staff_required
@require_POST
def agenda_add_view(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity in ("supervisor", "attendee"), "Only the people in the session add to its agenda.")
    form = AgendaForm(request.POST)
    if form.is_valid():
        try:
            services.agenda_add(actor=request.staff, session=session, text=form.cleaned_data["text"], request=request)
        except ValidationError as error:
            _apply_errors(form, error)
            return _agenda_response(request, session, capacity, form)
        return _agenda_response(request, session, capacity)
    if not request.htmx:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return _agenda_response(request, session, capacity, form)


@staff_required
@require_POST
def agenda_remove_view(request, code, item_id):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity in ("supervisor", "attendee"), "Only the people in the session change its agenda.")
    item = get_object_or_404(session.agenda_items, pk=item_id)
    require(capacity == "supervisor" or item.added_by_id == request.staff.id, "You can remove only your own items.")
    try:
        services.agenda_remove(actor=request.staff, item=item, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return _agenda_response(request, session, capacity)
