"""Forms of /exports/: an auditor exports one of their live grants; an organisation admin answers a
subject access request for someone they manage. The choices are the person's own, so a code from
elsewhere is simply not a valid choice."""

from django import forms

from accounts.models import StaffMember
from accounts.pickers import offer_people
from accounts.validators import TextForm

from .pickers import subject_access_people


class AuditExportForm(TextForm):
    kind = forms.CharField(widget=forms.HiddenInput, initial="audit_zip")
    grant = forms.ModelChoiceField(
        queryset=None,
        to_field_name="code",
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That grant has ended or was revoked."},
    )

    def __init__(self, *args, grants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grant"].queryset = grants


class SubjectAccessForm(TextForm):
    kind = forms.CharField(widget=forms.HiddenInput, initial="subject_access")
    subject = forms.ModelChoiceField(
        queryset=None,
        to_field_name="code",
        label="Member of staff",
        empty_label="Choose a person",
        error_messages={"invalid_choice": "Choose someone you manage."},
    )
    reference = forms.CharField(
        label="Request reference",
        max_length=200,
        required=False,
        help_text="Optional: how the request reached you and when (it goes into the audit trail, not the file).",
    )

    def __init__(self, *args, admin: StaffMember, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subject"].queryset = subject_access_people(admin)
        offer_people(self, "subject", "subject-access")
