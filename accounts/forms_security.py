"""Forms of the second-factor pages."""

from django import forms
from django_otp_webauthn.models import WebAuthnCredential

from .passkeys import NAME_MAX_LENGTH, passkeys
from .validators import TextForm


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


class PasskeyNameForm(TextForm):
    name = forms.CharField(
        label="Name this passkey",
        max_length=NAME_MAX_LENGTH,
        help_text="So you can tell your passkeys apart, for example “MacBook Touch ID” or “Work phone”.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the passkey a name.")
        return name


class PasskeyRemoveForm(forms.Form):
    """Only the person's own passkeys are choices: another person's is "not one of the available choices"."""

    passkey = forms.ModelChoiceField(queryset=WebAuthnCredential.objects.none(), to_field_name="credential_id_sha256")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["passkey"].queryset = passkeys(user)
