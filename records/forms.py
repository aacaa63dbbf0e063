from django import forms
from django.utils import timezone

from accounts.forms import DateInput
from accounts.reauth import apply_reconfirm_field
from accounts.validators import TextForm

from .models import FlagKind


def _person_label(staff):
    return staff.user.full_name


class SectionForm(TextForm):
    discussion = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False)


class ReviewForm(TextForm):
    previous_notes_agreed = forms.BooleanField(required=False)


class ActionForm(TextForm):
    description = forms.CharField(max_length=500)
    owner = forms.ModelChoiceField(queryset=None)
    due_date = forms.DateField(widget=DateInput(), label="Due")
    section = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["owner"].label_from_instance = _person_label

    def clean_due_date(self):
        due = self.cleaned_data["due_date"]
        if due < timezone.localdate():
            raise forms.ValidationError("An action is due today or later.")
        return due


class PreviousActionForm(TextForm):
    outcome = forms.ChoiceField(
        choices=[("done", "Done"), ("carried_forward", "Carried forward"), ("dropped", "Dropped")]
    )


class DecisionForm(TextForm):
    child_reference = forms.CharField(
        max_length=100, help_text="As used in the setting's child-protection system. Never the child's name."
    )
    decision = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    key_person = forms.ModelChoiceField(queryset=None, help_text="Records the decision on the child's file.")

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key_person"].queryset = people
        self.fields["key_person"].label_from_instance = _person_label


class FlagForm(TextForm):
    kind = forms.ChoiceField(choices=FlagKind.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        max_length=500, required=False, help_text="A few words for the DSL and head, without detail."
    )


class SignForm(TextForm):
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    agree = forms.BooleanField(label="I have read the record and agree it is accurate", required=True)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            apply_reconfirm_field(self.fields["password"], user)


class CommentForm(TextForm):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Your comment")
    disagree = forms.BooleanField(
        required=False, label="I disagree with what is recorded", help_text="Your comment stays in the record."
    )


class RationaleForm(TextForm):
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Why this stays in the record",
        help_text="Where the supervisee disagrees but it must be recorded because of its possible impact (seed 002).",
    )


class FeedbackForm(TextForm):
    feedback = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Your feedback on the session",
        help_text="How you feel at the end, and how your supervisor could support you better.",
    )


class AddendumForm(TextForm):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Addendum")
