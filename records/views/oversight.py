"""Oversight pages: a head or DSL gives a reason to read a record's notes; organisation admins ask for
auditors to read signed records, and a second person (a head or DSL of the grant's settings, or another
organisation admin) approves; auditors see their live grants and the records they cover."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import admin_settings, org_admin_required, role_required, staff_required
from accounts.models import Role, Setting, StaffMember
from supervision.models import _scope_settings
from supervision.views.contracts import _apply_errors

from ..access import count_records_in_grant, get_record_for_user, live_grants_for, records_in_grant
from ..forms_oversight import GrantForm, ReasonForm
from ..models import AuditorGrant
from ..oversight import (
    auditor_grant_approve,
    auditor_grant_create,
    auditor_grant_revoke,
    can_approve_grant,
    can_manage_grant,
    record_access_grant,
)

COVERED_PAGE_SIZE = 25


# --- Reasoned access -----------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def record_access(request, code):
    """The form a head or DSL fills in before reading the notes. Anyone who may already read them goes
    straight to the record; anyone who may not see the record at all gets 404."""
    record, capacity = get_record_for_user(request.staff, code)
    if capacity != "overseer":
        return redirect("records:record-detail", code=record.code)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record_access_grant(
                viewer=request.staff, record=record, reason=form.cleaned_data["reason"], request=request
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect("records:record-detail", code=record.code)
    attendees = list(record.session.attendees.select_related("user"))
    return render(request, "records/record_access.html", {"record": record, "form": form, "attendees": attendees})


# --- Auditor grants ------------------------------------------------------------------------------------


def _grants_led_by(staff: StaffMember):
    """Grants a head or DSL may approve or see: every setting they cover is one the person leads."""
    scope = _scope_settings(staff, Role.HEAD, Role.DSL)
    grants = AuditorGrant.objects.filter(organisation_id=staff.organisation_id)
    if scope == "organisation":
        return grants
    return grants.exclude(settings__in=Setting.objects.exclude(id__in=scope)).filter(settings__in=scope)


@role_required(Role.ORG_ADMIN, Role.AUDITOR, Role.HEAD, Role.DSL)
@require_GET
def grant_list(request):
    """Organisation admins: every grant they manage, in any state. Heads and DSLs: the grants covering
    only settings they lead, so they can approve those awaiting a second person. Auditors: their live
    grants, and the signed records the chosen one covers, a page at a time. A fixed number of queries."""
    staff = request.staff
    now = timezone.now()
    context = {"now": now, "managed": None, "mine": None}
    if staff.has_role(Role.ORG_ADMIN, Role.HEAD, Role.DSL):
        grants = AuditorGrant.objects.none()
        if staff.has_role(Role.ORG_ADMIN):
            grants = AuditorGrant.objects.filter(organisation_id=staff.organisation_id)
            scope = staff.role_scope(Role.ORG_ADMIN)
            if scope != "organisation":
                grants = grants.filter(settings__in=scope)
        if staff.has_role(Role.HEAD, Role.DSL):
            grants = grants | _grants_led_by(staff)
        managed = list(
            AuditorGrant.objects.filter(pk__in=grants.values("pk"))
            .select_related("auditor__user", "granted_by__user", "approved_by__user")
            .prefetch_related("settings")
        )
        for grant in managed:
            grant.current_state = grant.state(now)
            grant.can_revoke = grant.current_state in ("live", "pending") and can_manage_grant(staff, grant)
            grant.can_approve = can_approve_grant(staff, grant, now)
        context["managed"] = managed
        context["can_add"] = staff.has_role(Role.ORG_ADMIN)
    if staff.has_role(Role.AUDITOR):
        mine = list(live_grants_for(staff).prefetch_related("settings"))
        chosen = next((g for g in mine if str(g.code) == request.GET.get("grant")), mine[0] if len(mine) == 1 else None)
        context.update(mine=mine, chosen=chosen)
        if chosen is not None:
            covered = (
                records_in_grant(chosen)
                .select_related("session__setting", "session__group", "supervisor__user")
                .prefetch_related("session__attendees__user")
                .order_by("-session__starts_at", "-id")
            )
            paginator = Paginator(covered, COVERED_PAGE_SIZE)
            paginator.count = count_records_in_grant(chosen)
            context["page"] = paginator.get_page(request.GET.get("page"))
    return render(request, "records/grant_list.html", context)


def _auditors(staff: StaffMember):
    return (
        StaffMember.objects.filter(organisation_id=staff.organisation_id, role_assignments__role=Role.AUDITOR)
        .current()
        .select_related("user")
        .distinct()
    )


@org_admin_required
@require_http_methods(["GET", "POST"])
def grant_add(request):
    staff = request.staff
    form = GrantForm(request.POST or None, auditors=_auditors(staff), settings=admin_settings(staff))
    if request.method == "POST" and form.is_valid():
        try:
            grant = auditor_grant_create(actor=staff, request=request, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(
                request,
                f"Access for {grant.auditor.full_name} is awaiting approval. It starts when a head or DSL of "
                "the chosen settings, or another organisation admin, approves it on this page.",
            )
            return redirect("records:grant-list")
    return render(request, "records/grant_form.html", {"form": form})


def _organisation_grant(request, code) -> AuditorGrant:
    """A grant of the person's organisation (another organisation's is not found); the service decides
    whether this person may act on it."""
    return get_object_or_404(
        AuditorGrant.objects.filter(organisation_id=request.staff.organisation_id).select_related("auditor__user"),
        code=code,
    )


@org_admin_required
@require_POST
def grant_revoke(request, code):
    grant = _organisation_grant(request, code)
    try:
        auditor_grant_revoke(actor=request.staff, grant=grant, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Revoked: {grant.auditor.full_name} no longer reads the records of this grant.")
    return redirect("records:grant-list")


@role_required(Role.ORG_ADMIN, Role.HEAD, Role.DSL)
@require_POST
def grant_approve(request, code):
    """The second person's approval: the grant starts now. Anyone else who may not approve it gets 403."""
    grant = _organisation_grant(request, code)
    try:
        auditor_grant_approve(actor=request.staff, grant=grant, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Approved: {grant.auditor.full_name} can read signed records of this grant until "
            f"{timezone.localtime(grant.expires_at):%a %-d %b %Y, %H:%M}. Every view is logged.",
        )
    return redirect("records:grant-list")
