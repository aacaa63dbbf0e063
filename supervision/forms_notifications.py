"""The notification preferences form: email on or off, one checkbox per kind of reminder."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Fieldset, Layout, Submit
from django import forms

from accounts.validators import TextForm

from .models import ALWAYS_EMAILED, NotificationKind

ALWAYS_EMAILED_HELP = "Safeguarding escalations are always emailed."
AUDIT_HELP = "A failed check of the audit trail is always emailed."


class NotificationPreferencesForm(TextForm):
    """A checkbox per kind, named after the kind. Kinds in ALWAYS_EMAILED are ticked and disabled, so
    Django ignores whatever a forged POST says about them and `cleaned_data` holds True."""

    def __init__(self, *args, current: dict[str, bool], **kwargs):
        super().__init__(*args, **kwargs)
        for kind in NotificationKind:
            always = kind in ALWAYS_EMAILED
            self.fields[kind.value] = forms.BooleanField(
                label=kind.label,
                required=False,
                initial=True if always else current.get(kind.value, True),
                disabled=always,
                help_text=(AUDIT_HELP if kind == NotificationKind.AUDIT_CHAIN_BROKEN else ALWAYS_EMAILED_HELP)
                if always
                else "",
            )
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Fieldset("Email me about", *(kind.value for kind in NotificationKind)),
            Submit("submit", "Save preferences"),
        )

    def email_choices(self) -> dict[str, bool]:
        """Email on or off per kind the person may choose: ALWAYS_EMAILED kinds are not a choice."""
        return {kind.value: self.cleaned_data[kind.value] for kind in NotificationKind if kind not in ALWAYS_EMAILED}
