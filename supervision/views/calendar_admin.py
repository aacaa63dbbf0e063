"""The academic calendar of an organisation: half terms and closure days, and how admins change them.

Organisation admins change it; heads and DSLs may read it (they plan around it). Half terms are the
same for every setting, so only an organisation-wide admin moves them or imports a calendar; an admin
of some settings adds and removes those settings' closure days.
"""

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import admin_settings, org_admin_required, role_required
from accounts.imports import pending_import_store
from accounts.models import PendingImport, Role, StaffMember

from .. import services
from ..forms_calendar import (
    COLUMNS,
    CalendarImportForm,
    ClosureFilterForm,
    ClosureForm,
    GenerateYearForm,
    HalfTermForm,
    parse_calendar,
)
from ..models import AcademicYear, ClosureDay, HalfTerm, SetupCheck
from ..school_calendar import academic_year_name, school_days
from ..setup import setup_check

# The import page shows this, with one of the organisation's settings: docs/calendar-import-sample.csv, shortened.
SAMPLE_CSV = """academic year,term,half,starts,ends,setting,name
2027/28,Autumn,1,2027-09-02,2027-10-22,,
2027/28,Autumn,2,2027-11-01,2027-12-17,,
2027/28,Spring,1,04/01/2028,11/02/2028,,
2027/28,Spring,2,21/02/2028,31/03/2028,,
2027/28,Summer,1,2028-04-18,2028-05-26,,
2027/28,Summer,2,2028-06-05,2028-07-21,,
2027/28,INSET,,2027-09-01,2027-09-01,,INSET day
2027/28,INSET,,2028-01-04,2028-01-04,{setting},INSET: safeguarding training"""


def org_wide_admin(staff: StaffMember) -> bool:
    return staff.role_scope(Role.ORG_ADMIN) == "organisation"


def require_org_wide_admin(staff: StaffMember) -> None:
    if not org_wide_admin(staff):
        raise PermissionDenied("Half terms are the same for every setting: an organisation-wide admin changes them.")


def _closure_in_reach(staff: StaffMember, closure: ClosureDay) -> bool:
    """An organisation-wide admin manages every closure day; an admin of some settings, theirs."""
    scope = staff.role_scope(Role.ORG_ADMIN)
    return scope == "organisation" or (closure.setting_id is not None and closure.setting_id in (scope or []))


def _year_window(year: AcademicYear):
    """Closure days are listed with the year whose 1 August to 31 July they fall in."""
    start_year = services.academic_start_year(year.starts)
    return date(start_year, 8, 1), date(start_year + 1, 7, 31)


def _calendar(staff: StaffMember, setting=None) -> list[dict]:
    """Every academic year with its half terms (and their school days) and closure days: three queries.

    Closure days outside every year come last, in an entry without a year.
    """
    organisation = staff.organisation
    years = list(AcademicYear.objects.filter(organisation=organisation).order_by("starts"))
    halves: dict[int, list[HalfTerm]] = {}
    for half in HalfTerm.objects.filter(organisation=organisation).order_by("starts"):
        halves.setdefault(half.academic_year_id, []).append(half)
    closures = ClosureDay.objects.filter(organisation=organisation).select_related("setting").order_by("date")
    if setting is not None:
        closures = closures.filter(Q(setting__isnull=True) | Q(setting=setting))
    closures = list(closures)
    for closure in closures:
        closure.can_delete = _closure_in_reach(staff, closure)
    # Without a setting chosen, school days count the closures of every setting only.
    closed = {c.date for c in closures if c.setting_id is None or setting is not None}
    today = timezone.localdate()
    listed = set()
    calendar = []
    for year in years:
        first, last = _year_window(year)
        year_halves = halves.get(year.id, [])
        for half in year_halves:
            half.academic_year = year
            half.school_days = len(school_days(half.starts, half.ends, closed))
            half.is_now = half.starts <= today <= half.ends
        year_closures = [c for c in closures if first <= c.date <= last and c.id not in listed]
        listed.update(c.id for c in year_closures)
        calendar.append(
            {
                "year": year,
                "half_terms": year_halves,
                "school_days": sum(h.school_days for h in year_halves),
                "closures": year_closures,
                "is_past": year.ends < today,
            }
        )
    others = [c for c in closures if c.id not in listed]
    if years and others:
        calendar.append({"year": None, "half_terms": [], "closures": others})
    return calendar


@role_required(Role.ORG_ADMIN, Role.HEAD, Role.DSL)
@require_http_methods(["GET", "POST"])
def terms(request):
    staff = request.staff
    organisation = staff.organisation
    if request.method == "POST":
        require_org_wide_admin(staff)
        action = request.POST.get("action")
        if action == "defaults":
            added = services.calendar_add_default_years(actor=staff, organisation=organisation)
            if added:
                names = " and ".join(y.name for y in added)
                messages.success(
                    request, f"The default calendar for {names} is added. Check its dates and add your INSET days."
                )
            else:
                messages.info(request, "This year and next are already in the calendar.")
            return redirect("supervision:terms")
        if action == "generate":
            form = GenerateYearForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Choose an academic year within ten years of this one.")
                return redirect("supervision:terms")
            start_year = form.cleaned_data["start_year"]
            year = services.calendar_generate_default(
                organisation=organisation, start_year=start_year, actor=request.user
            )
            if year is None:
                messages.info(request, f"{academic_year_name(start_year)} is already in the calendar.")
            else:
                messages.success(
                    request,
                    f"The default calendar for {year.name} is added, with England's bank holidays. "
                    "Check its dates and add your INSET days.",
                )
            return redirect("supervision:terms")
        if action == "checked":
            if not HalfTerm.objects.filter(organisation=organisation).exists():
                messages.error(request, "There are no term dates to check yet: add the default calendar first.")
                return redirect("supervision:terms")
            setup_check(actor=staff, step=SetupCheck.Step.TERM_DATES, request=request)
            messages.success(request, "Thank you: the term dates are marked as checked.")
            return redirect("supervision:terms")
        messages.error(request, "Choose what to add to the calendar.")
        return redirect("supervision:terms")

    settings_qs = organisation.settings.all()
    filter_form = ClosureFilterForm(request.GET or None, settings_qs=settings_qs)
    setting = filter_form.cleaned_data["setting"] if filter_form.is_valid() else None
    calendar = _calendar(staff, setting)
    years = [entry["year"] for entry in calendar if entry["year"]]
    this_year = services.academic_start_year(timezone.localdate())
    next_start_year = services.academic_start_year(years[-1].starts) + 1 if years else this_year
    reach = staff.role_scope(Role.ORG_ADMIN)
    context = {
        "calendar": calendar,
        "filter_form": filter_form,
        "setting": setting,
        "can_edit_terms": org_wide_admin(staff),
        "can_add_closures": reach is not None,
        "next_start_year": next_start_year,
        "next_year_name": academic_year_name(next_start_year),
        "default_years": f"{academic_year_name(this_year)} and {academic_year_name(this_year + 1)}",
        "terms_checked": SetupCheck.objects.filter(organisation=organisation, step=SetupCheck.Step.TERM_DATES)
        .select_related("checked_by__user")
        .first(),
    }
    return render(request, "supervision/terms.html", context)


@org_admin_required
@require_http_methods(["GET", "POST"])
def half_term_edit(request, code):
    half_term = get_object_or_404(
        HalfTerm.objects.filter(organisation=request.staff.organisation).select_related(
            "academic_year", "organisation"
        ),
        code=code,
    )
    require_org_wide_admin(request.staff)
    form = HalfTermForm(request.POST or None, initial={"starts": half_term.starts, "ends": half_term.ends})
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.half_term_update(
                actor=request.staff,
                half_term=half_term,
                starts=form.cleaned_data["starts"],
                ends=form.cleaned_data["ends"],
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if changed:
                messages.success(
                    request,
                    f"{half_term} now runs from {date_format(half_term.starts)} to {date_format(half_term.ends)}.",
                )
            else:
                messages.info(request, "Nothing had changed.")
            return redirect("supervision:terms")
    previous, following = services.half_term_neighbours(half_term)
    context = {"form": form, "half_term": half_term, "previous": previous, "following": following}
    return render(request, "supervision/half_term_form.html", context)


@org_admin_required
@require_http_methods(["GET", "POST"])
def closure_add(request):
    staff = request.staff
    every_setting = org_wide_admin(staff)
    form = ClosureForm(request.POST or None, settings_qs=admin_settings(staff).open(), every_setting=every_setting)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            closure = services.closure_add(
                actor=staff,
                organisation=staff.organisation,
                day=data["date"],
                kind=data["kind"],
                name=data["name"],
                setting=data["setting"],
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            where = closure.setting.name if closure.setting_id else "every setting"
            messages.success(request, f"{closure} is a closure day for {where}: no session is booked on it.")
            return redirect("supervision:terms")
    return render(request, "supervision/closure_form.html", {"form": form, "can_import": every_setting})


@org_admin_required
@require_POST
def closure_delete(request, code):
    staff = request.staff
    closure = get_object_or_404(
        ClosureDay.objects.filter(organisation=staff.organisation).select_related("setting"), code=code
    )
    if not _closure_in_reach(staff, closure):
        raise PermissionDenied("This closure day belongs to a setting you do not manage.")
    description = str(closure)
    services.closure_delete(actor=staff, closure=closure, request=request)
    messages.success(request, f"{description} is no longer a closure day.")
    return redirect("supervision:terms")


@org_admin_required
@require_http_methods(["GET", "POST"])
def terms_import(request):
    staff = request.staff
    require_org_wide_admin(staff)
    settings_list = list(staff.organisation.settings.all())
    sample = SAMPLE_CSV.format(setting=settings_list[0].name if settings_list else "Name of a setting")
    context = {"columns": COLUMNS, "settings": settings_list, "sample": sample}
    owner = {"user": request.user, "organisation": staff.organisation}
    form = CalendarImportForm(request.POST or None, request.FILES or None, **owner)
    if request.method == "POST" and form.is_valid():
        result = parse_calendar(
            form.cleaned_data["text"], organisation=staff.organisation, allowed_settings=settings_list, org_wide=True
        )
        pending = form.cleaned_data["pending"]
        if result.ok and "confirm" in request.POST and pending is not None:
            try:
                summary = services.calendar_import(
                    actor=staff,
                    organisation=staff.organisation,
                    half_terms=[line.data for line in result.half_terms],
                    closures=result.closures(),
                    request=request,
                    pending=pending,
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect(reverse("supervision:terms"))
            if any(summary.values()):
                messages.success(
                    request,
                    f"Calendar imported: {summary['years_added']} academic year(s) added, "
                    f"{summary['half_terms_added']} half term(s) added, {summary['half_terms_changed']} moved, "
                    f"{summary['closures_added']} INSET day(s) added.",
                )
            else:
                messages.info(request, "The calendar already matched the file: nothing changed.")
            return redirect(reverse("supervision:terms"))
        context["result"] = result
        context["problems"] = result.problems
        context["counts"] = {action: result.count(action) for action in ("new", "update", "unchanged")}
        token = ""
        if result.ok:
            token = pending_import_store(kind=PendingImport.Kind.CALENDAR, text=form.cleaned_data["text"], **owner)
        form = CalendarImportForm(initial={"token": token}, **owner)
    context["form"] = form
    return render(request, "supervision/terms_import.html", context)
