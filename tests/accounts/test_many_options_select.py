"""`ManyOptionsSelect` writes a select in one pass (issue 14): the same markup as Django's own `Select`,
whatever the labels, values, groups and attributes."""

import re

from django import forms
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.forms import ManyOptionsSelect


def _same(widget_attrs, choices, value):
    ours = ManyOptionsSelect(attrs=widget_attrs, choices=choices).render("person", value, attrs={"id": "id_person"})
    django = forms.Select(attrs=widget_attrs, choices=choices).render("person", value, attrs={"id": "id_person"})
    # Django's templates put each option on a line of its own; the markup is otherwise the same. Only the
    # templates' own spaces go (before a tag: a label is escaped, so never holds one), not a label's.
    assert ours == re.sub(r">[ \n]+(?=<(?:option|optgroup|/optgroup|/select)\b)", ">", django.strip(" \n"))
    return ours


def test_the_same_markup_as_djangos_select_with_groups_a_choice_and_hostile_labels():
    choices = [
        ("", "---------"),
        (1, 'Amy "Mac" O\'Neil <script>alert(1)</script>'),
        ("Reading team", [(2, "Bea & Co"), (3, "Cai")]),
        ('4"><b>', "Dee"),
    ]
    html = _same({"class": "form-select", "required": True, "disabled": False}, choices, 3)
    assert '<option value="3" selected>Cai</option>' in html
    assert '<optgroup label="Reading team">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'value="4&quot;&gt;&lt;b&gt;"' in html
    assert " required" in html and "disabled" not in html


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.one_of(st.text(max_size=20), st.sampled_from([" ", "\n", " a "])), max_size=8),
    chosen=st.integers(min_value=-1, max_value=8),
    attrs=st.dictionaries(
        st.sampled_from(["class", "aria-describedby", "required", "data-x"]),
        st.one_of(st.booleans(), st.text(max_size=10)),
        max_size=3,
    ),
)
def test_the_same_markup_as_djangos_select_whatever_the_options(labels, chosen, attrs):
    _same(attrs, list(enumerate(labels)), chosen)
