"""The organisation's settings page (/organisation/), its logo, and its settings (schools, nurseries, sites).

An organisation-wide admin changes the organisation and adds, closes and reopens settings; an admin of
some settings changes those (name, kind, school day, address). The second-factor rule and identity
providers have their own page (/staff/sign-in-rule/), and the signing certificate its own
(/organisation/signing-certificate/, in records): this page links to both.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .access import admin_settings, org_admin_required, staff_required
from .forms_organisation import OrganisationForm, SettingForm
from .models import OrganisationLogo, Role
from .organisation import organisation_update, setting_close, setting_create, setting_reopen, setting_update


def _require_organisation_wide(staff, what: str):
    if staff.role_scope(Role.ORG_ADMIN) != "organisation":
        raise PermissionDenied(f"Only an organisation-wide admin {what}.")


@org_admin_required
@require_http_methods(["GET", "POST"])
def organisation_settings(request):
    staff = request.staff
    _require_organisation_wide(staff, "changes the organisation's settings")
    organisation = staff.organisation
    logo = OrganisationLogo.objects.filter(organisation=organisation).only("sha256", "width", "height").first()
    form = OrganisationForm(
        request.POST or None, request.FILES or None, organisation=organisation, has_logo=logo is not None
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            changes = organisation_update(
                actor=staff,
                values={k: data[k] for k in data if k not in ("logo", "remove_logo")},
                logo=data.get("logo"),
                remove_logo=data.get("remove_logo", False),
                request=request,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            if changes:
                messages.success(request, "Saved: " + ", ".join(_LABELS.get(k, k) for k in changes) + ".")
            else:
                messages.info(request, "Nothing had changed.")
            return redirect("accounts:organisation-settings")
    context = {"form": form, "organisation": organisation, "logo": logo}
    return render(request, "accounts/organisation_settings.html", context)


_LABELS = {
    "name": "name",
    "address": "address",
    "logo": "logo",
    "default_frequency": "default frequency",
    "default_session_minutes": "session length",
    "retention_months": "retention period",
    "email_sender_name": "email sender name",
}


@staff_required
@require_GET
def organisation_logo(request, digest):
    """The logo of the signed-in person's organisation, by its SHA-256 (a new logo gets a new address).
    Like every response to a signed-in person it is sent `no-store` (config/middleware.py)."""
    logo = (
        OrganisationLogo.objects.filter(organisation_id=request.staff.organisation_id, sha256=digest)
        .only("image", "content_type")
        .first()
    )
    if logo is None:
        raise Http404("No such logo.")
    response = HttpResponse(bytes(logo.image), content_type=logo.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response


# --- Settings -----------------------------------------------------------------------------------------


@org_admin_required
@require_GET
def setting_list(request):
    staff = request.staff
    people = Count("staff", filter=Q(staff__leaving_date__isnull=True), distinct=True)
    settings = admin_settings(staff).annotate(people=people).order_by("closed_on", "name")
    context = {
        "settings": list(settings),
        "organisation_wide": staff.role_scope(Role.ORG_ADMIN) == "organisation",
    }
    return render(request, "accounts/setting_list.html", context)


@org_admin_required
@require_http_methods(["GET", "POST"])
def setting_add(request):
    staff = request.staff
    _require_organisation_wide(staff, "adds a setting")
    form = SettingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            setting = setting_create(actor=staff, data=form.data_object(), request=request)
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field, problems)
        else:
            messages.success(request, f"Added {setting.name}.")
            return redirect("accounts:setting-list")
    context = {"form": form, "title": "Add a setting"}
    return render(request, "accounts/setting_form.html", context)


def _setting_for_admin(staff, code):
    return get_object_or_404(admin_settings(staff), code=code)


@org_admin_required
@require_http_methods(["GET", "POST"])
def setting_edit(request, code):
    staff = request.staff
    setting = _setting_for_admin(staff, code)
    form = SettingForm(request.POST or None, instance=setting)
    if request.method == "POST" and form.is_valid():
        try:
            changes = setting_update(actor=staff, setting=setting, data=form.data_object(), request=request)
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field, problems)
        else:
            if changes:
                messages.success(request, f"Saved {form.cleaned_data['name']}.")
            else:
                messages.info(request, "Nothing had changed.")
            return redirect("accounts:setting-list")
    context = {
        "form": form,
        "setting": setting,
        "title": setting.name,
        "organisation_wide": staff.role_scope(Role.ORG_ADMIN) == "organisation",
    }
    return render(request, "accounts/setting_form.html", context)


@org_admin_required
@require_POST
def setting_close_view(request, code):
    """Close a setting (or, with reopen=1, open it again)."""
    staff = request.staff
    setting = _setting_for_admin(staff, code)
    _require_organisation_wide(staff, "closes or reopens a setting")
    if request.POST.get("reopen"):
        if setting_reopen(actor=staff, setting=setting, request=request):
            messages.success(request, f"{setting.name} is open again.")
        return redirect("accounts:setting-list")
    try:
        closed = setting_close(actor=staff, setting=setting, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("accounts:setting-edit", code=setting.code)
    if closed:
        messages.success(
            request,
            f"{setting.name} is closed: its people and records stay, and it is no longer offered for new "
            "sessions, groups or people.",
        )
    return redirect("accounts:setting-list")
