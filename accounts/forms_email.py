"""Forms for a change of sign-in address: the person's decision, and an admin's approval or withdrawal."""

from django import forms


class EmailChangeDecisionForm(forms.Form):
    """The person confirms or refuses. Signed in, confirming takes their password (it counts in the lockout)."""

    decision = forms.ChoiceField(choices=[("confirm", "Confirm"), ("refuse", "Refuse")])
    password = forms.CharField(
        label="Your password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, needs_password: bool, **kwargs):
        self.needs_password = needs_password
        super().__init__(*args, **kwargs)
        if not needs_password:
            del self.fields["password"]

    def clean(self):
        cleaned = super().clean()
        if self.needs_password and cleaned.get("decision") == "confirm" and not cleaned.get("password"):
            self.add_error("password", "Enter your password to confirm the change.")
        return cleaned


class EmailChangeAdminForm(forms.Form):
    action = forms.ChoiceField(choices=[("approve", "Approve"), ("cancel", "Cancel")])
