"""Forms of the organisation's settings page and of its settings (schools, nurseries, sites)."""

from email.headerregistry import Address

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row, Submit
from django import forms
from django.core.exceptions import ValidationError

from .forms import TimeInput
from .models import Frequency, Organisation, Setting
from .organisation import LOGO_MAX_BYTES, SettingData, logo_from_upload
from .validators import TextForm

SESSION_MINUTES = (15, 180)
# Records are kept at least a year after the person leaves (seed 000); more than seven years is longer
# than any claim period the policies name.
RETENTION_MONTHS = (12, 84)


class OrganisationForm(TextForm):
    name = forms.CharField(max_length=200, help_text="As it appears on every page and in every record's PDF.")
    address = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Printed under the name in the header of every record's PDF.",
    )
    logo = forms.FileField(
        required=False,
        label="Logo",
        help_text=f"A PNG or JPEG of at most {LOGO_MAX_BYTES // 1024} KB, for the header of record PDFs.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg"}),
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the logo")
    default_frequency = forms.ChoiceField(
        choices=Frequency.choices, help_text="How often new agreements meet unless they say otherwise."
    )
    default_session_minutes = forms.IntegerField(
        label="Session length (minutes)",
        help_text=f"The length of a new agreement's sessions: {SESSION_MINUTES[0]} to {SESSION_MINUTES[1]} minutes.",
    )
    retention_months = forms.IntegerField(
        label="Retention period (months)",
        help_text=(
            "How long a leaver's records are kept after their leaving date, from 12 months (the policies' "
            "minimum) to 84 (seven years)."
        ),
    )
    email_sender_name = forms.CharField(
        required=False,
        max_length=80,
        label="Email sender name",
        help_text="The name the product's emails come from, such as “Riverside Learning Trust”. Empty: the default.",
    )

    def __init__(self, *args, organisation: Organisation, has_logo: bool, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "name": organisation.name,
                "address": organisation.address,
                "default_frequency": organisation.default_frequency,
                "default_session_minutes": organisation.default_session_minutes,
                "retention_months": organisation.retention_months,
                "email_sender_name": organisation.email_sender_name,
            },
        )
        super().__init__(*args, **kwargs)
        if not has_logo:
            del self.fields["remove_logo"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset("Name and PDF header", "name", "address", "logo", *(["remove_logo"] if has_logo else [])),
            Fieldset(
                "Defaults",
                Row(Column("default_frequency"), Column("default_session_minutes")),
                "retention_months",
            ),
            Fieldset("Email", "email_sender_name"),
        )

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError("Give the organisation a name.")
        return name

    def clean_address(self):
        return "\n".join(line.strip() for line in self.cleaned_data["address"].strip().splitlines() if line.strip())

    def clean_logo(self):
        upload = self.cleaned_data.get("logo")
        if not upload:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise ValidationError(
                f"The logo is {upload.size // 1024:,} KB: the largest allowed is {LOGO_MAX_BYTES // 1024} KB."
            )
        return logo_from_upload(upload.read())

    def _in_range(self, field, bounds, unit):
        value = self.cleaned_data[field]
        low, high = bounds
        if not low <= value <= high:
            raise ValidationError(f"Choose between {low} and {high} {unit}.")
        return value

    def clean_default_session_minutes(self):
        return self._in_range("default_session_minutes", SESSION_MINUTES, "minutes")

    def clean_retention_months(self):
        return self._in_range("retention_months", RETENTION_MONTHS, "months")

    def clean_email_sender_name(self):
        name = " ".join(self.cleaned_data["email_sender_name"].split())
        if any(ch in name for ch in '<>@"\\'):
            raise ValidationError("Use a plain name: no email address, quotation marks, <, > or backslashes.")
        try:
            str(Address(display_name=name, addr_spec="check@example.org"))
        except (ValueError, TypeError):
            raise ValidationError("This name cannot be used as an email sender name.") from None
        return name

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("logo") and cleaned.get("remove_logo"):
            self.add_error("remove_logo", "Either upload a new logo or remove it, not both.")
        return cleaned


class SettingForm(TextForm):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Setting.Kind.choices)
    day_starts = forms.TimeField(
        label="School day starts", widget=TimeInput(), help_text="Sessions are booked from then."
    )
    day_ends = forms.TimeField(label="School day ends", widget=TimeInput(), help_text="Sessions end by then.")
    address = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, instance: Setting | None = None, **kwargs):
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "kind": instance.kind,
                    "day_starts": instance.day_starts,
                    "day_ends": instance.day_ends,
                    "address": instance.address,
                },
            )
        else:
            defaults = Setting()
            kwargs.setdefault("initial", {"day_starts": defaults.day_starts, "day_ends": defaults.day_ends})
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.layout = Layout("name", "kind", Row(Column("day_starts"), Column("day_ends")), "address")
        self.helper.add_input(Submit("submit", "Save the setting" if instance is not None else "Add the setting"))

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError("Give the setting a name.")
        return name

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("day_starts"), cleaned.get("day_ends")
        if starts and ends and ends <= starts:
            self.add_error("day_ends", "The day ends after it starts.")
        return cleaned

    def data_object(self) -> SettingData:
        c = self.cleaned_data
        return SettingData(
            name=c["name"], kind=c["kind"], day_starts=c["day_starts"], day_ends=c["day_ends"], address=c["address"]
        )
