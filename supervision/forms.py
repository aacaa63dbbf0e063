from datetime import datetime, timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row, Submit
from django import forms
from django.utils import timezone

from accounts.forms import DateInput, StyledSubmit, TimeInput
from accounts.models import Frequency
from accounts.pickers import offer_people
from accounts.reauth import apply_reconfirm_field
from accounts.validators import TextForm

from .models import SessionStatus
from .slots import LONDON


def _helper(submit: str, css_class: str = "btn-primary") -> FormHelper:
    helper = FormHelper()
    helper.add_input(StyledSubmit("submit", submit, style=css_class))
    return helper


class ContractForm(TextForm):
    supervisee = forms.ModelChoiceField(queryset=None)
    supervisor = forms.ModelChoiceField(queryset=None)
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.HALF_TERMLY)
    session_minutes = forms.IntegerField(label="Session length (minutes)", min_value=15, max_value=240, initial=30)
    venue = forms.CharField(
        label="Usual venue", max_length=200, required=False, help_text="A private room, free from interruptions."
    )
    start_date = forms.DateField(widget=DateInput())
    confidentiality_terms = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args, supervisees, supervisors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supervisee"].queryset = supervisees
        self.fields["supervisor"].queryset = supervisors
        offer_people(self, "supervisee", "agreement-supervisee")
        offer_people(self, "supervisor", "agreement-supervisor")
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Row(Column("supervisee"), Column("supervisor")),
            Row(Column("frequency"), Column("session_minutes"), Column("start_date")),
            "venue",
            "confidentiality_terms",
            Submit("submit", "Create the agreement"),
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("supervisee") and cleaned.get("supervisee") == cleaned.get("supervisor"):
            self.add_error("supervisor", "A person cannot supervise themselves.")
        return cleaned


class ListSearchForm(TextForm):
    """A list's search box: one optional line, `q`, with the label, hint and id each list gives it."""

    label = placeholder = field_id = ""

    q = forms.CharField(required=False, max_length=200, widget=forms.TextInput(attrs={"type": "search"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["q"]
        field.label = self.label
        field.widget.attrs.update({"class": "form-control", "id": self.field_id, "placeholder": self.placeholder})


class ContractSearchForm(ListSearchForm):
    """The agreements list's search: a supervisee or supervisor by name or email."""

    label, placeholder, field_id = "Person", "Supervisee or supervisor: name or email", "contract_q"


class GroupSearchForm(ListSearchForm):
    """The groups list's search: part of a group's or its setting's name."""

    label, placeholder, field_id = "Group or setting", "Part of a name", "group_q"


class ContractEditForm(TextForm):
    frequency = forms.ChoiceField(choices=Frequency.choices)
    session_minutes = forms.IntegerField(label="Session length (minutes)", min_value=15, max_value=240)
    venue = forms.CharField(label="Usual venue", max_length=200, required=False)
    confidentiality_terms = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper("Save changes")


class ContractTemplateForm(TextForm):
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}))
    supervisor_responsibilities = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}))
    supervisee_responsibilities = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}))
    confidentiality_terms = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper("Save the template")


class SignForm(TextForm):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Signing confirms it is you.",
    )
    agree = forms.BooleanField(label="I have read this and agree to it", required=True)

    def __init__(self, *args, submit="Sign", user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(submit)
        if user is not None:
            apply_reconfirm_field(self.fields["password"], user)


class OverrideForm(TextForm):
    frequency = forms.ChoiceField(choices=Frequency.choices, label="Raise the frequency to")
    reason = forms.CharField(max_length=300, help_text="For example: complex child-protection work this term.")
    starts = forms.DateField(widget=DateInput(), label="From")
    ends = forms.DateField(widget=DateInput(), label="Until", help_text="The override lapses by itself after this day.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper("Raise the frequency")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("starts") and cleaned.get("ends") and cleaned["ends"] < cleaned["starts"]:
            self.add_error("ends", "The override must end on or after the day it starts.")
        return cleaned


class ChangeSupervisorForm(TextForm):
    supervisor = forms.ModelChoiceField(queryset=None, label="New supervisor")
    on = forms.DateField(widget=DateInput(), label="From", help_text="The current agreement ends the day before.")

    def __init__(self, *args, supervisors, exclude=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supervisor"].queryset = supervisors
        offer_people(self, "supervisor", "agreement-supervisor", exclude=exclude)
        self.helper = _helper("Change supervisor")


class EndContractForm(TextForm):
    end_date = forms.DateField(widget=DateInput(), label="Last day of the agreement")
    reason = forms.CharField(max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper("End the agreement", "btn-danger")


class SessionTimeForm(TextForm):
    """A date, a time and a length, read in Europe/London."""

    date = forms.DateField(widget=DateInput())
    time = forms.TimeField(widget=TimeInput())
    minutes = forms.IntegerField(label="Length (minutes)", min_value=15, max_value=240, initial=30)
    venue = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, submit="Book the session", **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Row(Column("date"), Column("time"), Column("minutes")), "venue", Submit("submit", submit)
        )

    def starts_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["date"], self.cleaned_data["time"], tzinfo=LONDON)

    @staticmethod
    def initial_for(starts_at: datetime, minutes: int, venue: str) -> dict:
        local = timezone.localtime(starts_at, LONDON)
        return {"date": local.date(), "time": local.time(), "minutes": minutes, "venue": venue}


class CancelForm(TextForm):
    reason = forms.CharField(max_length=300, help_text="Both people see this. The session must then be rebooked.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper("Cancel the session", "btn-danger")


class MarkForm(TextForm):
    status = forms.ChoiceField(choices=[(SessionStatus.HELD, "Held"), (SessionStatus.MISSED, "Missed")])


class AgendaForm(TextForm):
    text = forms.CharField(
        label="Add an agenda item",
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Something to talk about"}),
    )


class RebookForm(TextForm):
    starts_at = forms.DateTimeField(widget=forms.HiddenInput)


class NoteForm(TextForm):
    supervisee = forms.ModelChoiceField(queryset=None, label="Who")
    occurred_on = forms.DateField(widget=DateInput(), label="When", initial=timezone.localdate)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    significant = forms.BooleanField(
        required=False, help_text="Significant issues are revisited at the next formal session (seed 001)."
    )

    def __init__(self, *args, supervisees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supervisee"].queryset = supervisees
        offer_people(self, "supervisee", "note-supervisee")
        self.helper = _helper("Record the note")

    def clean_occurred_on(self):
        day = self.cleaned_data["occurred_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("An informal note records something that has happened.")
        if day < timezone.localdate() - timedelta(days=366):
            raise forms.ValidationError("That is more than a year ago.")
        return day


class GroupForm(TextForm):
    name = forms.CharField(max_length=200)
    setting = forms.ModelChoiceField(queryset=None)
    supervisor = forms.ModelChoiceField(queryset=None)
    members = forms.ModelMultipleChoiceField(queryset=None, widget=forms.CheckboxSelectMultiple)
    confidentiality_boundaries = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the group agreed may and may not be shared outside it.",
    )

    def __init__(self, *args, settings_qs, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["setting"].queryset = settings_qs
        self.fields["supervisor"].queryset = people
        self.fields["members"].queryset = people
        offer_people(self, "supervisor", "group-supervisor")
        offer_people(self, "members", "group-members")
        self.helper = _helper("Create the group")
