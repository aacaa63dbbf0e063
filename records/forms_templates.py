"""Forms of the record-template pages: the template's name, its sections (a formset), the defaults."""

from crispy_forms.helper import FormHelper
from django import forms
from django.forms.formsets import DELETION_FIELD_NAME, ORDERING_FIELD_NAME

from accounts.validators import TextForm

from .models import FunctionTag, RecordTemplate
from .template_services import SectionData

MAX_SECTIONS = 30


class TemplateForm(TextForm):
    """A new template's name and kind; its sections come in the formset below it."""

    name = forms.CharField(
        max_length=200,
        error_messages={"required": "Give the template a name."},
        help_text="As supervisors will see it, for example “Nursery 1-1 supervision”.",
    )
    for_groups = forms.BooleanField(
        label="For group supervision",
        required=False,
        help_text="Group forms are used for group sessions; other forms for 1:1 sessions.",
    )

    def __init__(self, *args, organisation, **kwargs):
        self.organisation = organisation
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the template a name.")
        if RecordTemplate.objects.filter(organisation=self.organisation, name__iexact=name).exists():
            raise forms.ValidationError("A template with this name already exists.")
        return name


class SectionForm(TextForm):
    title = forms.CharField(max_length=200, error_messages={"required": "Give the section a title."})
    prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    function = forms.ChoiceField(
        label="Function",
        choices=[("", "Choose…"), *FunctionTag.choices],
        error_messages={"required": "Choose what the section is for: performance, development or personal support."},
    )
    takes_actions = forms.BooleanField(label="Takes actions", required=False, initial=True)


class BaseSectionFormSet(forms.BaseFormSet):
    """Ordered, removable sections. Blank extra rows are ignored; the rest must be complete."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        form.fields[ORDERING_FIELD_NAME].label = "Order"
        form.fields[ORDERING_FIELD_NAME].widget.attrs["min"] = 1
        form.fields[DELETION_FIELD_NAME].label = "Remove"

    def kept_forms(self) -> list:
        """The sections to save, in the order asked for (rows without a number go last)."""
        kept = []
        for i, form in enumerate(self.forms):
            if i >= self.initial_form_count() and not form.has_changed():
                continue
            if self._should_delete_form(form):
                continue
            kept.append(form)
        return sorted(kept, key=_order_key)

    def clean(self):
        kept = self.kept_forms()
        if not kept:
            raise forms.ValidationError("Keep at least one section.", code="no_sections")
        seen = set()
        for form in kept:
            title = (form.cleaned_data.get("title") or "").strip().casefold()
            if not title:
                continue
            if title in seen:
                form.add_error("title", "Another section already has this title.")
            seen.add(title)

    def sections(self) -> list[SectionData]:
        return [
            SectionData(
                title=f.cleaned_data["title"],
                prompt=f.cleaned_data["prompt"],
                function=f.cleaned_data["function"],
                takes_actions=f.cleaned_data["takes_actions"],
            )
            for f in self.kept_forms()
        ]


def _order_key(form):
    order = form.cleaned_data.get(ORDERING_FIELD_NAME) if hasattr(form, "cleaned_data") else None
    return (order is None, order or 0)


SECTIONS_PREFIX = "sections"


def section_formset(data=None, *, initial=None, extra=1):
    formset_class = forms.formset_factory(
        SectionForm,
        formset=BaseSectionFormSet,
        extra=extra,
        can_order=True,
        can_delete=True,
        max_num=MAX_SECTIONS,
        validate_max=True,
    )
    return formset_class(data, initial=initial, prefix=SECTIONS_PREFIX)


def section_initial(sections) -> list[dict]:
    """Initial rows from a version's sections (TemplateSection or SectionData)."""
    return [
        {"title": s.title, "prompt": s.prompt, "function": s.function, "takes_actions": s.takes_actions}
        for s in sections
    ]


def with_another_row(formset):
    """The rows as submitted, put in their order and numbered, plus one blank row (the "Add a section"
    button): shown again without checking them, so a half-finished row shows no errors yet."""
    rows = []
    for i, form in enumerate(formset.forms):
        values = {name: form[name].value() for name in form.fields}
        if i >= formset.initial_form_count() and not form.has_changed():
            continue
        values["takes_actions"] = bool(values.get("takes_actions"))
        values[DELETION_FIELD_NAME] = bool(values.get(DELETION_FIELD_NAME))
        rows.append((_number(values.get(ORDERING_FIELD_NAME)), i, values))
    rows.sort(key=lambda r: (r[0] is None, r[0] or 0, r[1]))
    initial = []
    for position, (_order, _i, values) in enumerate(rows, start=1):
        values[ORDERING_FIELD_NAME] = position
        initial.append(values)
    return section_formset(initial=initial, extra=1)


def _number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class DefaultsForm(TextForm):
    """One choice per setting: the form its new 1:1 records use. Drawn by its page's own loop
    (`records/template_defaults.html`), in the markup crispy-forms gives a select: crispy and the select
    widget's templates drew each of a trust's 100 settings in 0.5 ms, most of the page (issue 14)."""

    def __init__(self, *args, settings, templates, current: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.current = current
        self.templates = {str(t.code): t for t in templates}
        choices = [(code, t.name) for code, t in self.templates.items()]
        for setting in settings:
            chosen = current.get(setting.pk)
            self.fields[self.field_name(setting)] = forms.ChoiceField(
                label=setting.name,
                choices=choices,
                initial=str(chosen.code) if chosen else None,
                error_messages={"required": "Choose a template.", "invalid_choice": "Choose one of the templates."},
            )

    @staticmethod
    def field_name(setting) -> str:
        return f"setting_{setting.pk}"

    def changes(self) -> list:
        """(setting, template) for each setting whose choice differs from its current default."""
        result = []
        for setting in self.settings:
            template = self.templates[self.cleaned_data[self.field_name(setting)]]
            current = self.current.get(setting.pk)
            if current is None or current.pk != template.pk:
                result.append((setting, template))
        return result
