"""Record templates (organisation admins): the list, a new template, an edit (a new version), defaults."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import admin_settings, org_admin_required
from accounts.models import StaffMember
from accounts.queries import count_of
from supervision.models import SetupCheck
from supervision.setup import setup_check

from ..builtin import ensure_builtin_templates
from ..forms_templates import DefaultsForm, TemplateForm, section_formset, section_initial, with_another_row
from ..models import Record, RecordTemplate, RecordTemplateVersion, SettingDefaultTemplate, TemplateSection
from ..template_services import (
    BUILTIN_1_1,
    template_create,
    template_new_version,
    template_set_default,
    version_sections,
)

ADD_SECTION = "add_section"


def _get_template(admin: StaffMember, code) -> RecordTemplate:
    """A template of the admin's organisation, or 404."""
    return get_object_or_404(RecordTemplate, organisation_id=admin.organisation_id, code=code)


def _apply_errors(form, formset, error: ValidationError) -> None:
    """A service's refusal: on the form's field it names, else above the sections."""
    if form is not None and hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        formset.non_form_errors().extend(error.messages)


def _with_counts(templates):
    """Each template's current version number and its number of sections: two subqueries, not a query
    per template."""
    latest = RecordTemplateVersion.objects.filter(template=OuterRef("pk")).order_by("-number")
    sections = TemplateSection.objects.filter(version_id=OuterRef("current_version_id"))
    return templates.annotate(
        current_number=Subquery(latest.values("number")[:1]),
        current_version_id=Subquery(latest.values("pk")[:1]),
    ).annotate(section_count=count_of(sections))


@org_admin_required
@require_GET
def template_list(request):
    organisation = request.staff.organisation
    builtins = ensure_builtin_templates(organisation)
    templates = list(_with_counts(RecordTemplate.objects.filter(organisation=organisation)).order_by("name"))
    rows = SettingDefaultTemplate.objects.filter(setting__organisation=organisation)
    chosen = dict(rows.values_list("setting_id", "template_id"))
    used_by = {}
    for setting in organisation.settings.order_by("name"):
        # Without a default of its own a setting uses the built-in 1-1 record.
        used_by.setdefault(chosen.get(setting.pk, builtins[BUILTIN_1_1].pk), []).append(setting)
    for template in templates:
        template.default_in = used_by.get(template.pk, [])
    return render(request, "records/template_list.html", {"templates": templates})


@org_admin_required
@require_http_methods(["GET", "POST"])
def template_add(request):
    admin = request.staff
    form = TemplateForm(request.POST or None, organisation=admin.organisation)
    if request.method == "POST":
        formset = section_formset(request.POST)
        if ADD_SECTION in request.POST:
            # Shown again unchecked: the rows are not finished yet.
            form = TemplateForm(
                organisation=admin.organisation,
                initial={"name": request.POST.get("name", ""), "for_groups": bool(request.POST.get("for_groups"))},
            )
            formset = with_another_row(formset)
        elif all([form.is_valid(), formset.is_valid()]):
            try:
                template = template_create(
                    actor=admin,
                    organisation=admin.organisation,
                    name=form.cleaned_data["name"],
                    for_groups=form.cleaned_data["for_groups"],
                    sections=formset.sections(),
                    request=request,
                )
            except ValidationError as error:
                _apply_errors(form, formset, error)
            else:
                messages.success(request, f"“{template.name}” is saved as version 1.")
                return redirect("records:template-edit", code=template.code)
    else:
        source = _copied_template(admin, request.GET.get("from"))
        if source is not None:
            form = TemplateForm(
                organisation=admin.organisation,
                initial={"name": f"Copy of {source.name}", "for_groups": source.for_groups},
            )
            formset = section_formset(initial=section_initial(version_sections(source.current_version())))
        else:
            formset = section_formset(extra=3)
    return render(
        request, "records/template_form.html", {"form": form, "formset": formset, "title": "New record template"}
    )


@org_admin_required
@require_http_methods(["GET", "POST"])
def template_edit(request, code):
    admin = request.staff
    template = _get_template(admin, code)
    # Every version with the number of records written on it, newest first: one query. Counted a version
    # by the records' version index alone (`count_of`), not by joining every record to its version.
    used = Record.objects.filter(template_version_id=OuterRef("pk"))
    versions = list(template.versions.annotate(record_count=count_of(used)).order_by("-number"))
    current = versions[0] if versions else None
    if request.method == "POST":
        formset = section_formset(request.POST)
        if ADD_SECTION in request.POST:
            formset = with_another_row(formset)
        elif formset.is_valid():
            try:
                version = template_new_version(
                    actor=admin,
                    template=template,
                    sections=formset.sections(),
                    based_on=_int_or_none(request.POST.get("based_on")),
                    request=request,
                )
            except ValidationError as error:
                _apply_errors(None, formset, error)
            else:
                if version is None:
                    messages.info(request, "Nothing had changed, so no new version was made.")
                else:
                    kept = f" Records already written keep version {current.number}." if current else ""
                    messages.success(request, f"Saved as version {version.number}.{kept}")
                return redirect("records:template-edit", code=template.code)
    else:
        formset = section_formset(initial=section_initial(current.sections.all()) if current else [])
    context = {
        "template": template,
        "formset": formset,
        "current": current,
        "versions_in_use": [v for v in versions if v.record_count],
        "title": template.name,
    }
    return render(request, "records/template_form.html", context)


@org_admin_required
@require_http_methods(["GET", "POST"])
def template_defaults(request):
    admin = request.staff
    builtins = ensure_builtin_templates(admin.organisation)
    settings = list(admin_settings(admin).order_by("name"))
    templates = list(RecordTemplate.objects.filter(organisation=admin.organisation, for_groups=False).order_by("name"))
    chosen = {
        row.setting_id: row.template
        for row in SettingDefaultTemplate.objects.filter(setting__in=settings).select_related("template")
    }
    current = {s.pk: chosen.get(s.pk, builtins[BUILTIN_1_1]) for s in settings}
    form = DefaultsForm(request.POST or None, settings=settings, templates=templates, current=current)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        for setting, template in changes:
            template_set_default(actor=admin, setting=setting, template=template, request=request)
        if settings:
            # Saving the page, changed or not, is the admin's word that the forms are chosen (the setup checklist).
            setup_check(actor=admin, step=SetupCheck.Step.RECORD_FORMS, request=request)
        if changes:
            names = ", ".join(setting.name for setting, _template in changes)
            messages.success(request, f"Saved. New 1:1 records in {names} use the template you chose.")
        else:
            messages.info(request, "Nothing had changed.")
        return redirect("records:template-defaults")
    return render(request, "records/template_defaults.html", {"form": form, "settings": settings})


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _copied_template(admin: StaffMember, code: str | None) -> RecordTemplate | None:
    """The template a new one starts from (`?from=<code>`), when it is the admin's organisation's."""
    try:
        code = uuid.UUID(code or "")
    except ValueError:
        return None
    return RecordTemplate.objects.filter(organisation_id=admin.organisation_id, code=code).first()
