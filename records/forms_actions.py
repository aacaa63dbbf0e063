"""Forms of the follow-up pages: marking an action done, confirming a safeguarding decision is on
the child's file, resolving a confidentiality flag."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils import timezone

from accounts.forms import DateInput
from accounts.validators import TextForm


class ActionDoneForm(TextForm):
    note = forms.CharField(max_length=500, required=False, help_text="How it was done, in a few words (optional).")


class DecisionConfirmForm(TextForm):
    recorded_on = forms.DateField(label="Date recorded on the child's file", widget=DateInput())
    external_reference = forms.CharField(
        label="Reference in the child-protection system",
        max_length=100,
        required=False,
        help_text="Such as the CPOMS or MyConcern incident number. Leave empty for a paper file without one.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recorded_on"].widget.attrs["max"] = timezone.localdate().isoformat()
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Confirm it is on the child's file"))

    def clean_recorded_on(self):
        day = self.cleaned_data["recorded_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date it went on the child's file cannot be in the future.")
        return day


class FlagResolveForm(TextForm):
    resolution = forms.CharField(
        label="What was done",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Such as: referred to HR, reported to the LADO, no further action and why.",
    )
