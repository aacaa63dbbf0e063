"""Forms of the second-factor pages."""

import re
import uuid

from django import forms
from django_otp_webauthn.models import WebAuthnCredential

from .passkeys import NAME_MAX_LENGTH, passkeys
from .validators import TextForm

# Personal Google accounts carry no Workspace domain (`hd`), so naming these would sign nobody in.
CONSUMER_GOOGLE_DOMAINS = {"gmail.com", "googlemail.com"}
DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


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


class IdentityProvidersForm(forms.Form):
    """The organisation's Microsoft Entra tenant and Google Workspace domain, for "Sign in with ..."."""

    microsoft_tenant_id = forms.CharField(
        required=False,
        max_length=64,
        label="Microsoft Entra tenant ID",
        help_text=(
            "The Directory (tenant) ID on the Overview page of Microsoft Entra admin centre, like "
            "9a8b7c6d-1234-4e5f-a6b7-c8d9e0f1a2b3. Empty: no Microsoft sign-in."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    google_domain = forms.CharField(
        required=False,
        max_length=253,
        label="Google Workspace domain",
        help_text="Your Workspace's primary domain, like school.org.uk. Empty: no Google sign-in.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    trust_provider_mfa = forms.BooleanField(
        required=False,
        label="Trust the provider's multi-factor sign-in",
        help_text=(
            "When Microsoft says the person used multi-factor authentication, they need no code from their "
            "authenticator app here. Google does not say so, so its sign-ins always need our code where one "
            "is required."
        ),
    )

    def clean_microsoft_tenant_id(self):
        value = self.cleaned_data["microsoft_tenant_id"].strip().lower()
        if not value:
            return ""
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise forms.ValidationError(
                "Enter the Directory (tenant) ID: 32 letters and digits in groups, like "
                "9a8b7c6d-1234-4e5f-a6b7-c8d9e0f1a2b3 (not a domain name)."
            ) from None

    def clean_google_domain(self):
        value = self.cleaned_data["google_domain"].strip().lower().removeprefix("@")
        if not value:
            return ""
        if value in CONSUMER_GOOGLE_DOMAINS:
            raise forms.ValidationError("That is Google's own domain for personal accounts: enter your Workspace's.")
        if not DOMAIN.fullmatch(value):
            raise forms.ValidationError("Enter a domain name only, like school.org.uk.")
        return value


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
