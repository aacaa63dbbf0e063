"""`{% check_options %}` (accounts/templatetags/check_options.py, issue 14) writes a radio or checkbox list
as crispy-bootstrap5's own template does: the same markup, whitespace aside, with and without errors,
inline or not, grouped or not, and the labels escaped."""

import re

import pytest
from crispy_forms.bootstrap import InlineCheckboxes, InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from crispy_forms.utils import render_crispy_form
from django import forms
from django.conf import settings
from django.test import override_settings

NAMES = [(str(i), f'Setting <{i}> & "co"') for i in range(5)]


class Choices(forms.Form):
    many = forms.MultipleChoiceField(choices=NAMES, widget=forms.CheckboxSelectMultiple, help_text="Pick some.")
    one = forms.ChoiceField(choices=[("a", "A"), ("b", "B")], widget=forms.RadioSelect)
    grouped = forms.MultipleChoiceField(
        choices=[("North", [("n1", "N1"), ("n2", "N2")]), ("South", [("s1", "S1")])],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    inline_many = forms.MultipleChoiceField(choices=NAMES[:3], widget=forms.CheckboxSelectMultiple)
    inline_one = forms.ChoiceField(choices=[("x", "X"), ("y", "Y")], widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "many", "one", "grouped", InlineCheckboxes("inline_many"), InlineRadios("inline_one")
        )


def crispy_only():
    """The template settings without the project's own folder: crispy-bootstrap5's template is used."""
    return override_settings(TEMPLATES=[dict(t, DIRS=[]) for t in settings.TEMPLATES])


def normalised(html: str) -> str:
    return re.sub(r"\s+", " ", html).strip()


@pytest.mark.parametrize(
    "data",
    [
        None,  # unbound: nothing ticked
        {"many": ["9"], "one": "z", "inline_many": ["8"], "inline_one": "q"},  # every field in error
        {"many": ["1", "3"], "one": "b", "grouped": ["n2"], "inline_many": ["0"], "inline_one": "y"},  # ticked
    ],
)
def test_the_options_are_written_as_crispy_writes_them(data):
    form = Choices(data)
    if data:
        form.is_valid()
    ours = render_crispy_form(form)
    with crispy_only():
        theirs = render_crispy_form(Choices(data) if not data else _validated(Choices(data)))
    assert normalised(ours) == normalised(theirs)
    assert "form-check-input" in ours and "&lt;1&gt; &amp; &quot;co&quot;" in ours
    if data and data["one"] == "z":
        assert "is-invalid" in ours and "invalid-feedback" in ours


def _validated(form):
    form.is_valid()
    return form
