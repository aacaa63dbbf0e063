"""Refusing control characters in what people type (and import).

A line break in a name, a child reference or a venue breaks more than its own page: email headers,
iCalendar lines, CSV exports and PDFs all take one line. Single-line text refuses every C0 and C1
control character (and DEL and the Unicode line and paragraph separators) except tab; multi-line text
keeps line breaks and tabs and refuses the rest. `TextForm` applies the right one to every text field
of a form, by its widget, so a new field is covered without anyone remembering to.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
CONTROL = frozenset(chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]) | {"\u2028", "\u2029"}
SINGLE_LINE_FORBIDDEN = CONTROL - {"\t"}
MULTI_LINE_FORBIDDEN = CONTROL - {"\t", "\n", "\r"}

LINE_BREAK_MESSAGE = "Keep this to one line: remove the line break."
CONTROL_MESSAGE = "Remove the invisible control character (%(code)s)."


def control_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """The message for the first character the text may not hold, or None when it is clean."""
    forbidden = MULTI_LINE_FORBIDDEN if multiline else SINGLE_LINE_FORBIDDEN
    for char in value:
        if char in forbidden:
            if char in LINE_BREAKS and not multiline:
                return LINE_BREAK_MESSAGE
            return CONTROL_MESSAGE % {"code": f"U+{ord(char):04X}"}
    return None


@deconstructible
class ControlCharacterValidator:
    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, value):
        if not isinstance(value, str):
            return
        message = control_character_problem(value, multiline=self.multiline)
        if message is not None:
            raise ValidationError(message, code="control_character")

    def __eq__(self, other):
        return isinstance(other, ControlCharacterValidator) and other.multiline == self.multiline


validate_single_line = ControlCharacterValidator(multiline=False)
validate_multi_line = ControlCharacterValidator(multiline=True)

# Secrets are compared, never shown or sent anywhere: a password keeps whatever its owner typed.
UNCHECKED_WIDGETS = (forms.PasswordInput, forms.HiddenInput)


def add_control_character_validators(form: forms.BaseForm) -> None:
    """Give every text field of the form the validator its widget calls for."""
    for field in form.fields.values():
        if not isinstance(field, forms.CharField) or isinstance(field.widget, UNCHECKED_WIDGETS):
            continue
        validator = validate_multi_line if isinstance(field.widget, forms.Textarea) else validate_single_line
        if validator not in field.validators:
            field.validators.append(validator)


class TextForm(forms.Form):
    """A form whose text fields refuse control characters (single line) or keep only line breaks and
    tabs (text areas). The base of every form people type into."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_control_character_validators(self)
