"""Group supervision and informal supervision notes."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import staff_required
from accounts.models import Role, StaffMember

from .. import services
from ..access import (
    OVERSIGHT_ROLES,
    get_group_for_user,
    group_people,
    group_settings,
    groups_visible_to,
    require,
    supervisees_in_reach,
)
from ..forms import GroupForm, GroupSearchForm, NoteForm
from ..models import InformalNote, Session, SessionStatus
from ..pickers import note_supervisees
from .contracts import _apply_errors

GROUP_PAGE_SIZE = 24
MEMBERS = StaffMember.objects.select_related("user").order_by("user__full_name", "id")


@staff_required
@require_GET
def group_list(request):
    """The groups the person may see, 24 a page in the database, searched by the group's or the setting's
    name: a trust's hundreds of groups (and their members) are never loaded whole (issue 14)."""
    form = GroupSearchForm(request.GET)
    groups = groups_visible_to(request.staff)
    searched = ""
    if form.is_valid() and (searched := form.cleaned_data["q"].strip()):
        groups = groups.filter(Q(name__icontains=searched) | Q(setting__name__icontains=searched))
    groups = (
        groups.select_related("supervisor__user", "setting")
        .prefetch_related(Prefetch("members", queryset=MEMBERS))
        .order_by("name", "id")
    )
    page = Paginator(groups, GROUP_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "groups": list(page.object_list),
        "page": page,
        "form": form,
        "searched": searched,
        "query": urlencode({"q": searched}) if searched else "",
        "can_add": request.staff.has_role(Role.SUPERVISOR, *OVERSIGHT_ROLES),
    }
    return render(request, "supervision/group_list.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def group_add(request):
    staff = request.staff
    require(staff.has_role(Role.SUPERVISOR, *OVERSIGHT_ROLES), "Supervisors and the setting's leaders set up groups.")
    settings_qs = group_settings(staff)
    people = group_people(staff, settings_qs)
    form = GroupForm(
        request.POST or None,
        settings_qs=settings_qs,
        people=people,
        initial={"supervisor": staff.id, "setting": settings_qs.first()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(actor=staff, request=request, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "The group is set up. Book its first session.")
            return redirect("supervision:group-detail", code=group.code)
    return render(request, "supervision/group_form.html", {"form": form})


@staff_required
@require_GET
def group_detail(request, code):
    group = get_group_for_user(request.staff, code)
    sessions = list(
        Session.objects.filter(group=group).exclude(status=SessionStatus.CANCELLED).order_by("-starts_at")[:20]
    )
    return render(
        request,
        "supervision/group_detail.html",
        {
            "group": group,
            "members": list(group.members.select_related("user")),
            "sessions": sessions,
            "is_supervisor": group.supervisor_id == request.staff.id,
        },
    )


@staff_required
@require_GET
def note_list(request):
    notes = list(
        InformalNote.objects.visible_to(request.staff).select_related(
            "supervisee__user", "recorded_by__user", "revisited_in"
        )[:200]
    )
    can_add = supervisees_in_reach(request.staff).exists()
    return render(request, "supervision/note_list.html", {"notes": notes, "can_add": can_add})


@staff_required
@require_http_methods(["GET", "POST"])
def note_add_view(request):
    staff = request.staff
    supervisees = note_supervisees(staff)
    form = NoteForm(request.POST or None, supervisees=supervisees, initial={"occurred_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        services.note_add(actor=staff, request=request, **form.cleaned_data)
        if form.cleaned_data["significant"]:
            messages.success(request, "Recorded. It will be on the agenda of their next formal session.")
        else:
            messages.success(request, "Recorded.")
        return redirect("supervision:note-list")
    return render(request, "supervision/note_form.html", {"form": form})
