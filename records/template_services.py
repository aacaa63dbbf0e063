"""Writing record templates: create one, save an edit as a new version, choose a setting's default.

An edit never changes a version in place: records point at the version they were written on, so the
sections as edited become version N+1 and every record already written keeps rendering with its own.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import audit_event
from accounts.models import Organisation, Setting, StaffMember

from .models import RecordTemplate, RecordTemplateVersion, SettingDefaultTemplate, TemplateSection

# The built-in form a setting uses until its admin picks another (records.services.template_for).
BUILTIN_1_1 = "kcc-1-1"


@dataclass(frozen=True)
class SectionData:
    title: str
    prompt: str
    function: str
    takes_actions: bool


def _check_sections(sections: list[SectionData]) -> None:
    """The rules the forms check first, held here too so no caller can save a broken form."""
    if not sections:
        raise ValidationError("A template needs at least one section.")
    titles = [s.title.strip().casefold() for s in sections]
    if not all(titles):
        raise ValidationError("Every section needs a title.")
    if len(set(titles)) != len(titles):
        raise ValidationError("Two sections have the same title.")


def _add_version(*, template: RecordTemplate, number: int, actor: StaffMember, sections: list[SectionData]):
    version = RecordTemplateVersion.objects.create(template=template, number=number, created_by=actor)
    TemplateSection.objects.bulk_create(
        TemplateSection(
            version=version,
            order=i,
            title=s.title.strip(),
            prompt=s.prompt.strip(),
            function=s.function,
            takes_actions=s.takes_actions,
        )
        for i, s in enumerate(sections, start=1)
    )
    return version


def version_sections(version: RecordTemplateVersion | None) -> list[SectionData]:
    if version is None:
        return []
    return [
        SectionData(title=s.title, prompt=s.prompt, function=s.function, takes_actions=s.takes_actions)
        for s in version.sections.order_by("order")
    ]


@transaction.atomic
def template_create(
    *,
    actor: StaffMember,
    organisation: Organisation,
    name: str,
    for_groups: bool,
    sections: list[SectionData],
    request=None,
) -> RecordTemplate:
    """A new template of the organisation, with its sections as version 1."""
    _check_sections(sections)
    name = name.strip()
    if RecordTemplate.objects.filter(organisation=organisation, name__iexact=name).exists():
        raise ValidationError({"name": "A template with this name already exists."})
    template = RecordTemplate.objects.create(organisation=organisation, name=name, for_groups=for_groups)
    _add_version(template=template, number=1, actor=actor, sections=sections)
    audit_event(
        action="template.created",
        actor=actor.user,
        obj=template,
        request=request,
        details={"version": 1, "sections": [s.title.strip() for s in sections], "for_groups": for_groups},
    )
    return template


@transaction.atomic
def template_new_version(
    *,
    actor: StaffMember,
    template: RecordTemplate,
    sections: list[SectionData],
    based_on: int | None = None,
    request=None,
) -> RecordTemplateVersion | None:
    """Save the sections as edited as the next version; None when nothing changed.

    `based_on` is the version the editor started from: if someone saved another version meanwhile,
    saving would silently undo their edit, so it is refused.
    """
    _check_sections(sections)
    # Lock the template row so two editors cannot both take number N+1.
    RecordTemplate.objects.select_for_update().filter(pk=template.pk).get()
    current = template.versions.order_by("-number").first()
    number = current.number if current else 0
    if based_on is not None and based_on != number:
        raise ValidationError(
            f"Someone saved version {number} while you were editing. Your changes were not saved: "
            "look at the new version and make them again."
        )
    cleaned = [
        SectionData(title=s.title.strip(), prompt=s.prompt.strip(), function=s.function, takes_actions=s.takes_actions)
        for s in sections
    ]
    if cleaned == version_sections(current):
        return None
    version = _add_version(template=template, number=number + 1, actor=actor, sections=cleaned)
    audit_event(
        action="template.versioned",
        actor=actor.user,
        obj=template,
        request=request,
        details={"version": version.number, "previous": number, "sections": [s.title for s in cleaned]},
    )
    return version


@transaction.atomic
def template_set_default(*, actor: StaffMember, setting: Setting, template: RecordTemplate, request=None) -> bool:
    """Make `template` the setting's default form for 1:1 records. False when it already was."""
    if template.organisation_id != setting.organisation_id:
        raise ValidationError("The template belongs to another organisation.")
    if template.for_groups:
        raise ValidationError("A group form cannot be the default for 1:1 records.")
    row = SettingDefaultTemplate.objects.select_for_update().select_related("template").filter(setting=setting).first()
    builtin = RecordTemplate.objects.filter(organisation_id=setting.organisation_id, builtin_key=BUILTIN_1_1).first()
    # Without a row of its own the setting uses the built-in 1-1 record.
    previous = row.template if row is not None else builtin
    if previous is not None and previous.pk == template.pk:
        return False
    SettingDefaultTemplate.objects.update_or_create(setting=setting, defaults={"template": template})
    audit_event(
        action="template.default_set",
        actor=actor.user,
        obj=template,
        request=request,
        details={
            "setting": setting.name,
            "setting_code": str(setting.code),
            "previous": previous.name if previous is not None else None,
        },
    )
    return True
