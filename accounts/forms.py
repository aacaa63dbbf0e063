import unicodedata

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Fieldset, Layout, Row, Submit
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.forms import PasswordChangeForm as DjangoPasswordChangeForm
from django.contrib.auth.forms import PasswordResetForm as DjangoPasswordResetForm
from django.contrib.auth.forms import SetPasswordForm as DjangoSetPasswordForm
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .email_change import ADDRESS_IN_USE
from .imports import EXPIRED, pending_import_get
from .models import EmploymentType, PendingImport, Role, StaffMember, User, Weekday
from .pickers import current_staff, offer_people
from .reauth import confirm_password
from .services import AUDITOR_AND_ADMIN_MESSAGE, StaffData
from .validators import TextForm

WORKDAYS = [Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def _attributes(attrs: dict) -> str:
    """HTML attributes as Django's `attrs.html` writes them, in the same order: True as a bare name, False
    left out, any other value escaped."""
    return mark_safe(  # noqa: S308 (each name and value escaped by format_html)
        "".join(
            format_html(" {}", k) if v is True else format_html(' {}="{}"', k, v)
            for k, v in attrs.items()
            if v is not False
        )
    )


class ManyOptionsSelect(forms.Select):
    """A select of many options (a setting's staff) written in one pass. Django's own renders a template
    for each option: about 3.5 ms for a school's 116 people, on every page of a record being written
    (issue 14). The same markup as Django's `select.html`, without its blank lines: optgroups kept, every
    name, value and label escaped."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"{}>', widget["name"], _attributes(widget["attrs"]))]
        for group_name, options, _ in widget["optgroups"]:
            rows = ((o["value"], _attributes(o["attrs"]), o["label"]) for o in options)
            options_html = format_html_join("", '<option value="{}"{}>{}</option>', rows)
            parts.append(
                format_html('<optgroup label="{}">{}</optgroup>', group_name, options_html)
                if group_name
                else options_html
            )
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 (each part escaped by format_html above)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class StyledSubmit(Submit):
    """A submit button of one colour. Crispy's Submit is always `btn btn-primary` and adds `css_class` on top,
    so a warning or danger button mixed our dark blue background with black text (2.5:1)."""

    def __init__(self, name, value, *, style: str = "btn-primary", **kwargs):
        super().__init__(name, value, **kwargs)
        self.field_classes = f"btn {style}"


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    # Our words, not Django's ("Please enter a correct email address and password... may be case-sensitive").
    error_messages = {
        "invalid_login": (
            "Enter the correct email address and password. The password must be typed exactly as it was set, "
            "capital letters included."
        ),
        "inactive": "This account can no longer sign in. Ask your organisation's administrator.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Sign in", css_class="w-100"))

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class PasswordResetForm(DjangoPasswordResetForm):
    def get_users(self, email):
        """Active people with this address. Unlike Django's form, this includes people who never set a
        password: an invitation that expired sends them here for a new link."""
        wanted = unicodedata.normalize("NFKC", email).casefold()
        for user in User.objects.filter(email__iexact=email, is_active=True):
            if unicodedata.normalize("NFKC", user.email).casefold() == wanted:
                yield user


# Django's default wording ("New password confirmation", "The two password fields didn't match") replaced.
NEW_PASSWORD_AGAIN = "Type the new password again"
PASSWORDS_DIFFER = "The two new passwords are not the same. Type the new password again."


def _new_password_wording(form):
    form.fields["new_password1"].label = "New password"
    form.fields["new_password2"].label = NEW_PASSWORD_AGAIN
    form.fields["new_password2"].help_text = "The same password, to be sure it was typed as meant."


class SetPasswordForm(DjangoSetPasswordForm):
    """Choosing a password from a reset or invitation link."""

    error_messages = {**DjangoSetPasswordForm.error_messages, "password_mismatch": PASSWORDS_DIFFER}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _new_password_wording(self)


class PasswordChangeForm(DjangoPasswordChangeForm):
    """The current password is re-confirmed through the sign-in lockout, like a signature."""

    error_messages = {
        **DjangoPasswordChangeForm.error_messages,
        "password_mismatch": PASSWORDS_DIFFER,
        "password_incorrect": "That is not your current password. Type it again.",
    }

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)
        self.fields["old_password"].label = "Current password"
        _new_password_wording(self)

    def clean_old_password(self):
        try:
            confirm_password(
                user=self.user,
                password=self.cleaned_data.get("old_password", ""),
                request=self.request,
                purpose="auth.password_change",
                password_only=True,
            )
        except ValidationError as error:
            raise forms.ValidationError(error.message_dict["password"]) from None
        return self.cleaned_data["old_password"]


class StaffForm(TextForm):
    """Add or edit a person. Working days come as a row per weekday: works, from, to."""

    full_name = forms.CharField(max_length=200)
    email = forms.EmailField(label="Email address", help_text="The person signs in with this address.")
    job_title = forms.CharField(max_length=200, required=False)
    settings = forms.ModelMultipleChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        label="Setting(s)",
        error_messages={"required": "Choose at least one setting."},
    )
    employment_type = forms.ChoiceField(choices=EmploymentType.choices)
    start_date = forms.DateField(widget=DateInput())
    leaving_date = forms.DateField(widget=DateInput(), required=False)
    new_to_post = forms.BooleanField(
        label="New to post or early career", required=False, help_text="They will be supervised more often."
    )
    supervisor = forms.ModelChoiceField(queryset=None, required=False, empty_label="No supervisor yet")
    send_invitation = forms.BooleanField(label="Email an invitation to set a password", required=False, initial=True)

    def __init__(self, *args, organisation, settings_qs, instance: StaffMember | None = None, **kwargs):
        self.organisation = organisation
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(instance)
        super().__init__(*args, **kwargs)
        self.fields["settings"].queryset = settings_qs
        supervisors = current_staff(organisation)
        if instance is not None:
            supervisors = supervisors.exclude(pk=instance.pk)
        self.fields["supervisor"].queryset = supervisors
        offer_people(self, "supervisor", "staff-supervisor", exclude=[instance] if instance is not None else [])
        for day in Weekday:
            self.fields[f"day_{day.value}_works"] = forms.BooleanField(
                label=day.label, required=False, initial=day in WORKDAYS and instance is None
            )
            self.fields[f"day_{day.value}_starts"] = forms.TimeField(
                label=f"{day.label} from", required=False, widget=TimeInput(attrs={"class": "form-control"})
            )
            self.fields[f"day_{day.value}_ends"] = forms.TimeField(
                label=f"{day.label} until", required=False, widget=TimeInput(attrs={"class": "form-control"})
            )
        if instance is not None:
            del self.fields["send_invitation"]
        email_waits = instance is not None and instance.user.has_signed_in
        if email_waits:
            self.fields["email"].help_text = (
                "The person signs in with this address. A new one takes effect only when they confirm it from "
                "their current address or signed in, and the new address is verified."
            )
            self.fields["old_address_gone"] = forms.BooleanField(
                label="Their current address no longer works: a second organisation admin approves instead",
                required=False,
            )
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Fieldset("Person", "full_name", "email", *(["old_address_gone"] if email_waits else []), "job_title"),
            Fieldset(
                "Employment",
                "settings",
                Row(Column("employment_type"), Column("start_date"), Column("leaving_date")),
                "new_to_post",
                "supervisor",
            ),
            Fieldset(
                "Working pattern",
                HTML(
                    '<p class="form-text">Tick the days the person works. Leave the times empty when they '
                    "work the setting's whole day. Part-time staff are supervised as often as full-time "
                    "staff, on the days they work.</p>"
                ),
                HTML('{% include "accounts/includes/working_pattern.html" %}'),
            ),
            *(["send_invitation"] if instance is None else []),
            Submit("submit", "Save" if instance is not None else "Add person"),
        )

    def working_pattern(self):
        return working_pattern_rows(self)

    @staticmethod
    def initial_from(staff: StaffMember) -> dict:
        initial = {
            "full_name": staff.user.full_name,
            "email": staff.user.email,
            "job_title": staff.job_title,
            "settings": list(staff.settings.all()),
            "employment_type": staff.employment_type,
            "start_date": staff.start_date,
            "leaving_date": staff.leaving_date,
            "new_to_post": staff.new_to_post,
            "supervisor": staff.supervisor_id,
        }
        for day in staff.working_days.all():
            initial[f"day_{day.weekday}_works"] = True
            initial[f"day_{day.weekday}_starts"] = day.starts
            initial[f"day_{day.weekday}_ends"] = day.ends
        return initial

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        others = User.objects.filter(email__iexact=email)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.user_id)
        if others.exists():
            # The same words whoever holds it, here or in another organisation: nothing about anyone else.
            raise forms.ValidationError(ADDRESS_IN_USE)
        return email

    def clean(self):
        cleaned = super().clean()
        start, leaving = cleaned.get("start_date"), cleaned.get("leaving_date")
        if start and leaving and leaving < start:
            self.add_error("leaving_date", "The leaving date cannot be before the start date.")
        elif leaving and self.instance is not None and leaving != self.instance.leaving_date:
            try:
                check_leaving_after_last_session(self.instance, leaving)
            except forms.ValidationError as error:
                self.add_error("leaving_date", error)
        worked = False
        for day in Weekday:
            works = cleaned.get(f"day_{day.value}_works")
            starts, ends = cleaned.get(f"day_{day.value}_starts"), cleaned.get(f"day_{day.value}_ends")
            if works:
                worked = True
                if (starts is None) != (ends is None):
                    self.add_error(f"day_{day.value}_ends", "Give both times, or neither for the setting's whole day.")
                elif starts and ends and ends <= starts:
                    self.add_error(f"day_{day.value}_ends", "The day must end after it starts.")
        if not worked:
            self.add_error("day_0_works", "Tick at least one working day.")
        return cleaned

    def to_data(self) -> StaffData:
        c = self.cleaned_data
        days = {}
        for day in Weekday:
            if c.get(f"day_{day.value}_works"):
                days[day.value] = (c.get(f"day_{day.value}_starts"), c.get(f"day_{day.value}_ends"))
        return StaffData(
            full_name=c["full_name"].strip(),
            email=c["email"],
            job_title=c["job_title"].strip(),
            employment_type=c["employment_type"],
            start_date=c["start_date"],
            leaving_date=c.get("leaving_date"),
            new_to_post=c["new_to_post"],
            supervisor=c.get("supervisor"),
            settings=list(c["settings"]) + self._settings_not_offered(),
            working_days=days,
        )

    def _settings_not_offered(self):
        """The person's settings that a setting admin does not manage: not on the form, so kept."""
        if self.instance is None:
            return []
        offered = set(self.fields["settings"].queryset)
        return [s for s in self.instance.settings.all() if s not in offered]


class LeaverForm(TextForm):
    leaving_date = forms.DateField(widget=DateInput(), help_text="Their last working day.")

    def __init__(self, *args, staff: StaffMember, **kwargs):
        self.staff = staff
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(StyledSubmit("submit", "Mark as leaver", style="btn-warning"))

    def clean_leaving_date(self):
        leaving = self.cleaned_data["leaving_date"]
        if leaving < self.staff.start_date:
            raise forms.ValidationError("The leaving date cannot be before the start date.")
        check_leaving_after_last_session(self.staff, leaving)
        return leaving


def check_leaving_after_last_session(staff: StaffMember, leaving) -> None:
    """A leaving date before a session held with the person is a mistake (a start date typed twice, say),
    and a costly one: the retention sweep counts from it and deletes the records of someone still here."""
    last_held = staff.last_held_session_on()
    if last_held is not None and leaving < last_held:
        raise forms.ValidationError(
            f"{staff.full_name} was in a supervision session held on {last_held:%a} {last_held.day} "
            f"{last_held:%b %Y}: the leaving date cannot be before their last held session."
        )


class LegalHoldForm(TextForm):
    """Set (hold=1) or release (hold=0) a legal hold; either way the reason goes into the audit trail."""

    hold = forms.TypedChoiceField(
        choices=[("1", "Set the hold"), ("0", "Release the hold")], coerce=lambda value: value == "1"
    )
    reason = forms.CharField(
        max_length=500,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A claim, a complaint or an investigation; or why it is over.",
        error_messages={"required": "Say why the legal hold is set or released."},
    )


ORGANISATION_SCOPE = "organisation"


class RolesForm(TextForm):
    """One group of tick boxes per role: the whole organisation, or particular settings."""

    def __init__(self, *args, staff: StaffMember, settings_qs, org_wide: bool, **kwargs):
        self.settings_by_id = {str(s.id): s for s in settings_qs}
        super().__init__(*args, **kwargs)
        choices = ([(ORGANISATION_SCOPE, "Whole organisation")] if org_wide else []) + [
            (str(s.id), s.name) for s in settings_qs
        ]
        held = {}
        for a in staff.role_assignments.all():
            held.setdefault(a.role, []).append(str(a.setting_id) if a.setting_id else ORGANISATION_SCOPE)
        for role in Role:
            self.fields[role.value] = forms.MultipleChoiceField(
                label=role.label,
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                initial=held.get(role.value, []),
            )
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Save roles"))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get(Role.AUDITOR.value) and cleaned.get(Role.ORG_ADMIN.value):
            self.add_error(Role.AUDITOR.value, AUDITOR_AND_ADMIN_MESSAGE)
        return cleaned

    def roles(self):
        result = []
        for role in Role:
            for scope in self.cleaned_data.get(role.value, []):
                result.append((role.value, None if scope == ORGANISATION_SCOPE else self.settings_by_id[scope]))
        return result


class StaffFilterForm(TextForm):
    q = forms.CharField(
        label="Search", required=False, widget=forms.TextInput(attrs={"placeholder": "Name, email or job title"})
    )
    setting = forms.ModelChoiceField(queryset=None, required=False, empty_label="All settings")
    role = forms.ChoiceField(choices=[("", "Any role")] + list(Role.choices), required=False)
    employment_type = forms.ChoiceField(choices=[("", "Any employment")] + list(EmploymentType.choices), required=False)
    status = forms.ChoiceField(
        choices=[
            ("current", "Current staff"),
            ("leavers", "Leavers"),
            ("listed", "Listed for deletion"),
            ("all", "Everyone"),
        ],
        required=False,
    )

    def __init__(self, *args, settings_qs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["setting"].queryset = settings_qs
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-control" if name == "q" else "form-select"


class CsvUploadForm(TextForm):
    """Upload a CSV file for a checked import. A checked file waits on the server (accounts/imports.py);
    the confirmation posts only its token, which works for its uploader alone."""

    file = forms.FileField(
        label="CSV file",
        required=False,
        help_text="Comma-separated, with a header row. Up to 5 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    MAX_BYTES = 5 * 1024 * 1024
    TOO_LARGE = "The file is larger than 5 MB."
    KIND = PendingImport.Kind.STAFF

    def __init__(self, *args, user=None, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.organisation = user, organisation

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        cleaned["pending"] = None
        if upload:
            if upload.size > self.MAX_BYTES:
                self.add_error("file", self.TOO_LARGE)
                return cleaned
            raw = upload.read()
            try:
                cleaned["text"] = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                # Spreadsheets saved on Windows often use this encoding.
                cleaned["text"] = raw.decode("cp1252", errors="replace")
            if "\x00" in cleaned["text"]:
                # A workbook (.xlsx) or another binary file: its rows would only read as nonsense.
                self.add_error("file", "This is not a CSV file. Save the spreadsheet as CSV and upload that.")
        elif cleaned.get("token"):
            pending = pending_import_get(
                token=cleaned["token"], kind=self.KIND, user=self.user, organisation=self.organisation
            )
            if pending is None:
                self.add_error("file", EXPIRED)
            else:
                cleaned["pending"], cleaned["text"] = pending, pending.text
        elif "file" not in self.errors:
            self.add_error("file", "Choose a CSV file to import.")
        return cleaned


class StaffImportForm(CsvUploadForm):
    send_invitations = forms.BooleanField(label="Email an invitation to each new person", required=False, initial=True)
    full_list = forms.BooleanField(
        label="This file is the whole staff list of the settings I manage",
        required=False,
        help_text="Then the check also lists anyone here who is missing from it. Nobody is removed by an import.",
    )


def working_pattern_rows(form):
    """(day label, works, starts, ends) bound fields for the working-pattern table."""
    return [
        (day.label, form[f"day_{day.value}_works"], form[f"day_{day.value}_starts"], form[f"day_{day.value}_ends"])
        for day in Weekday
    ]
