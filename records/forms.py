from django import forms
from django.utils import timezone

from accounts.forms import DateInput, ManyOptionsSelect
from accounts.reauth import apply_reconfirm_field
from accounts.validators import TextForm

from .models import FlagKind

# A person as the selects name them: their full name (the column `read_choices_once` reads).
PERSON_LABEL = "user__full_name"


def _person_label(staff):
    return staff.user.full_name


def read_choices_once(field: forms.ModelChoiceField, *, label: str) -> None:
    """A model choice field's options read now, in one plain query of two columns, and kept as its
    choices: a page may list them more than once (an action's owner under every section of a record),
    and Django reads them by counting them and then fetching whole rows through a server-side cursor,
    three round trips and a model a person for each reading (issue 14). `label` is the column each option
    shows, as the field's `label_from_instance` does. The queryset stays, to check what is posted."""
    options = list(field.queryset.values_list("pk", label))
    field.choices = ([("", field.empty_label)] if field.empty_label is not None else []) + options


class SectionForm(TextForm):
    discussion = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False)


class ReviewForm(TextForm):
    previous_notes_agreed = forms.BooleanField(required=False)


class ActionForm(TextForm):
    description = forms.CharField(max_length=500)
    owner = forms.ModelChoiceField(queryset=None, widget=ManyOptionsSelect)
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
    key_person = forms.ModelChoiceField(
        queryset=None, widget=ManyOptionsSelect, help_text="Records the decision on the child's file."
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key_person"].queryset = people
        self.fields["key_person"].label_from_instance = _person_label


class FlagForm(TextForm):
    kind = forms.ChoiceField(choices=FlagKind.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        max_length=500, required=False, help_text="A few words for the DSL and head, without detail."
    )


AGREE_MISSING = "Tick to say you have read the record and agree it is accurate."
# A refused signature shows the page again with the password box empty, which is deliberate.
RETYPE = "For your security, enter your password again."


class SignForm(TextForm):
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    agree = forms.BooleanField(
        label="I have read the record and agree it is accurate", required=True,
        error_messages={"required": AGREE_MISSING},
    )  # fmt: skip

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            apply_reconfirm_field(self.fields["password"], user)
        password = self.fields["password"]
        if password.widget.input_type == "password":
            password.error_messages["required"] = "Enter your password."
        else:
            password.error_messages["required"] = "Enter the code from your authenticator app."

    def retype_note(self) -> None:
        """Called when the page comes back with errors: the password box is empty again (never echoed
        back), and the note beside it says so."""
        password = self.fields["password"]
        if password.widget.input_type == "password":
            # The bound field keeps its own copy of the help text from when it was first used.
            password.help_text = self["password"].help_text = RETYPE


class SuperviseeSignForm(SignForm):
    """The supervisee signs with their end-of-session feedback (seed 000, step 8) in the same form, so
    nothing typed in the box is lost at signing: it is saved, and signed, with the signature."""

    field_order = ["feedback", "password", "agree"]

    feedback = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Your feedback on the session (optional)",
        help_text="How you feel at the end, and how your supervisor could support you better. It is signed "
        "with the record.",
    )


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
