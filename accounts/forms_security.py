"""Forms of the second-factor pages."""

from django import forms


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def __init__(self, *args, app_only=False, **kwargs):
        super().__init__(*args, **kwargs)
        if app_only:
            self.fields["code"].help_text = "The 6-digit code your authenticator app shows now."

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if not code:
            raise forms.ValidationError("Type the code your app shows.")
        return code


class SecondFactorRuleForm(forms.Form):
    require_second_factor = forms.BooleanField(
        required=False,
        label="Organisation admins, heads, DSLs and auditors must sign in with an authenticator app",
        help_text="They are asked to set one up at their next sign-in and cannot skip it. Everyone else may add one.",
    )
