"""Forms of oversight: the reason a head or DSL gives to read a record, and an auditor's grant."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row, Submit
from django import forms
from django.utils import timezone

from accounts.forms import DateInput
from accounts.validators import TextForm

from .oversight import REASON_MIN_LENGTH


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ReasonForm(TextForm):
    reason = forms.CharField(
        label="Why do you need to read this record?",
        min_length=REASON_MIN_LENGTH,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: a safeguarding concern about a child, or a complaint you are investigating. "
        "The people in the session will see your name and this reason.",
        error_messages={
            "required": "Say why you need to read this record.",
            "min_length": f"Say why in at least {REASON_MIN_LENGTH} characters.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.attrs = {"novalidate": ""}
        self.helper.add_input(Submit("submit", "Read the record"))


class GrantForm(TextForm):
    auditor = forms.ModelChoiceField(queryset=None, help_text="Staff who hold the auditor role.")
    settings = forms.ModelMultipleChoiceField(
        queryset=None, widget=forms.CheckboxSelectMultiple, help_text="Signed records of sessions held here."
    )
    covers_from = forms.DateField(label="Sessions from", widget=DateInput())
    covers_until = forms.DateField(label="Sessions until", widget=DateInput(), help_text="Inclusive.")
    expires_at = forms.DateTimeField(
        label="Access ends", widget=DateTimeInput(), help_text="After this the auditor sees nothing of this grant."
    )
    purpose = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Such as: Ofsted inspection, annual safeguarding audit. The people whose records are read see it.",
    )

    def __init__(self, *args, auditors, settings, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["auditor"].queryset = auditors
        self.fields["auditor"].label_from_instance = lambda staff: staff.user.full_name
        self.fields["settings"].queryset = settings
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "auditor",
            "settings",
            Row(Column("covers_from", css_class="col-sm-6"), Column("covers_until", css_class="col-sm-6")),
            "expires_at",
            "purpose",
        )

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at <= timezone.now():
            raise forms.ValidationError("The access must end in the future.")
        return expires_at

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("covers_from"), cleaned.get("covers_until")
        if start and end and end < start:
            self.add_error("covers_until", "The last day covered cannot be before the first.")
        return cleaned
