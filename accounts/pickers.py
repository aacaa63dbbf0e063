"""Choosing people in a form without listing the whole organisation.

A form field that offers people (a supervisor, a group's members...) is listed in full when it holds
`PICKER_LIMIT` people or fewer: a nursery's staff fit on the page. Above that (a trust has thousands) the
field shows only the person or people chosen, and a search box that asks `accounts:person-search` for
the first `RESULTS` people matching a name or email, as radios or checkboxes of the same field.

Each search is a named picker of `PICKERS`, registered by the app whose form it serves (`pickers.py` in
each app, imported when Django starts): the same people the form accepts for the person asking, and the
same refusal as the form's page. The form still checks what is posted against its whole queryset.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.forms.renderers import TemplatesSetting
from django.urls import reverse

from .models import Role, StaffMember
from .validators import control_character_problem

# Up to this many people, a field lists them all (one query counts up to one more than this).
PICKER_LIMIT = 50
# A search shows this many people at most: typing more of the name finds the rest.
RESULTS = 20
QUERY_MAX_LENGTH = 100
# Values a search request may carry back as already chosen (a group's members): more are ignored.
CHOSEN_MAX = 500
START = "Type part of a name or email address to find someone."


def person_label(staff: StaffMember) -> str:
    return f"{staff.user.full_name} ({staff.job_title})" if staff.job_title else staff.user.full_name


@dataclass(frozen=True)
class Picker:
    name: str
    # The form field the search fills: its inputs carry this name.
    field: str
    # The people the form offers this person; raises PermissionDenied (or Http404) where the form's page does.
    people: Callable[[StaffMember], QuerySet]
    multiple: bool = False
    # The field's `to_field_name` (None: the primary key).
    to_field_name: str | None = None
    label: Callable[[StaffMember], str] = person_label


PICKERS: dict[str, Picker] = {}


def register(picker: Picker) -> Picker:
    assert picker.name not in PICKERS, f"two pickers named {picker.name}"
    PICKERS[picker.name] = picker
    return picker


def _key(picker_or_field) -> str:
    return picker_or_field.to_field_name or "pk"


def chosen_people(queryset: QuerySet, key: str, values: Iterable) -> list[StaffMember]:
    """The people of the queryset whose `key` is among the values; a value that is not one is ignored."""
    field = queryset.model._meta.pk if key == "pk" else queryset.model._meta.get_field(key)
    wanted = set()
    for value in list(values)[:CHOSEN_MAX]:
        if value in (None, ""):
            continue
        try:
            value = field.to_python(value)
        except ValidationError:
            continue
        # An id beyond the column's range matches nobody (PostgreSQL would refuse the query).
        if isinstance(value, int) and not 0 < value < 2**63:
            continue
        wanted.add(value)
    if not wanted:
        return []
    return list(queryset.filter(**{f"{key}__in": wanted}).order_by("user__full_name", "pk"))


def _values(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if value != "" else []


class PersonSearch(forms.Widget):
    """The chosen person or people of a large queryset, and a search for others (`person_picker.html`)."""

    template_name = "includes/person_picker.html"
    use_fieldset = True

    def __init__(self, *, picker: Picker, queryset: QuerySet, empty_label: str | None = None, exclude=(), attrs=None):
        super().__init__(attrs)
        self.picker = picker
        self.queryset = queryset
        self.empty_label = empty_label
        self.exclude = [str(code) for code in exclude]

    def use_required_attribute(self, initial):
        # The search box may stay empty: the server says when nobody was chosen.
        return False

    def render(self, name, value, attrs=None, renderer=None):
        # The template is the project's (templates/includes/), which the default form renderer does not read.
        return super().render(name, value, attrs, renderer=TemplatesSetting())

    def value_from_datadict(self, data, files, name):
        if self.picker.multiple:
            return data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        return data.get(name)

    def value_omitted_from_data(self, data, files, name):
        # An unticked checkbox sends nothing: it is not "omitted" (like CheckboxSelectMultiple).
        return False if self.picker.multiple else name not in data

    def search_url(self) -> str:
        url = reverse("accounts:person-search", kwargs={"picker": self.picker.name})
        return f"{url}?{urlencode({'exclude': self.exclude}, doseq=True)}" if self.exclude else url

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        # Crispy asks for `form-control`, and `is-invalid` when refused: the wrapper keeps only the latter,
        # which shows the error beside the field.
        classes = widget["attrs"].pop("class", "")
        widget["invalid"] = "is-invalid" in classes.split()
        widget["id"] = widget["attrs"].pop("id", f"id_{name}")
        people = chosen_people(self.queryset, _key(self.picker), _values(value))
        widget.update(
            choices=[(str(getattr(p, _key(self.picker))), self.picker.label(p), True) for p in people],
            multiple=self.picker.multiple,
            empty_label=self.empty_label,
            search_url=self.search_url(),
            status=START,
        )
        return context


def offer_people(form: forms.Form, field_name: str, picker_name: str, *, exclude: Iterable[StaffMember] = ()) -> None:
    """Label the field's people as the picker does, and search them instead of listing them when there are
    more than `PICKER_LIMIT` (one query). `exclude`: people the queryset leaves out (the person being edited),
    for the search to leave out too."""
    picker = PICKERS[picker_name]
    field = form.fields[field_name]
    assert picker.field == field_name and _key(picker) == _key(field), (picker, field_name)
    field.label_from_instance = picker.label
    # Unordered, ids only: the count stops at the first PICKER_LIMIT + 1 rows found.
    if field.queryset.order_by().values("pk")[: PICKER_LIMIT + 1].count() <= PICKER_LIMIT:
        return
    field.widget = PersonSearch(
        picker=picker,
        queryset=field.queryset,
        empty_label=None if field.required or picker.multiple else field.empty_label,
        exclude=[p.code for p in exclude],
    )
    field.widget.is_required = field.required


@dataclass
class Found:
    choices: list  # (value, label, checked)
    status: str


def search(picker: Picker, people: QuerySet, text: str, chosen: list[str], exclude: list[str]) -> Found:
    """The chosen people still offered (ticked) and up to `RESULTS` others matching the text: name or email,
    any part, any case."""
    key = _key(picker)
    kept = chosen_people(people, key, chosen)
    choices = [(str(getattr(p, key)), picker.label(p), True) for p in kept]
    text = text.strip()[:QUERY_MAX_LENGTH]
    if not text:
        return Found(choices, START)
    if control_character_problem(text):
        return Found(choices, "Type letters of a name or email address only.")
    codes = []
    for code in exclude[:CHOSEN_MAX]:
        try:
            codes.append(uuid.UUID(code))
        except ValueError:
            continue
    matches = list(
        people.filter(Q(user__full_name__icontains=text) | Q(user__email__icontains=text))
        .exclude(pk__in=[p.pk for p in kept])
        .exclude(code__in=codes)
        .order_by("user__full_name", "pk")[: RESULTS + 1]
    )
    choices += [(str(getattr(p, key)), picker.label(p), False) for p in matches[:RESULTS]]
    if not matches:
        status = f"Nobody matches “{text}”."
    elif len(matches) > RESULTS:
        status = f"More than {RESULTS} people match “{text}”: the first {RESULTS} are shown. Type more of the name."
    elif len(matches) == 1:
        status = f"1 person matches “{text}”."
    else:
        status = f"{len(matches)} people match “{text}”."
    return Found(choices, status)


def current_staff(organisation) -> QuerySet:
    """Who may be recorded as a person's supervisor: anyone in the organisation who has not left."""
    return StaffMember.objects.in_organisation(organisation).current().select_related("user")


def _staff_supervisors(staff: StaffMember) -> QuerySet:
    if not staff.has_role(Role.ORG_ADMIN):
        raise PermissionDenied("Your role does not give access to this page.")
    return current_staff(staff.organisation)


register(Picker("staff-supervisor", field="supervisor", people=_staff_supervisors))
