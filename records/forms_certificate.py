"""The form of /organisation/signing-certificate/: a PKCS#12 file and its password, checked on upload."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.core.exceptions import ValidationError

from accounts.validators import TextForm

from .certificates import PKCS12_MAX_BYTES, CheckedCertificate, check_pkcs12


class SigningCertificateForm(TextForm):
    file = forms.FileField(
        label="Certificate file (PKCS#12)",
        help_text="A .p12 or .pfx file holding the certificate, its private key and the issuing certificates.",
        widget=forms.ClearableFileInput(attrs={"accept": ".p12,.pfx,application/x-pkcs12"}),
    )
    password = forms.CharField(
        required=False,
        strip=False,
        max_length=1000,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="The password the file was exported with. It opens the file here and is not kept.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checked: CheckedCertificate | None = None
        self.helper = FormHelper()
        self.helper.form_enctype = "multipart/form-data"
        self.helper.add_input(Submit("submit", "Check and use this certificate"))

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None or self.errors:
            return cleaned
        if upload.size > PKCS12_MAX_BYTES:
            self.add_error("file", "That file is too large for a certificate (the limit is 64 KB).")
            return cleaned
        try:
            self.checked = check_pkcs12(upload.read(), cleaned.get("password") or "")
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                self.add_error(field, problems)
        return cleaned
