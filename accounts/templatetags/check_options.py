"""`{% check_options field inline_class %}`: the options of a radio or checkbox list as crispy-bootstrap5
writes them (templates/bootstrap5/layout/radio_checkbox_select.html), built in Python (issue 14).

crispy-bootstrap5 renders each option with a dozen template tags and an include; a trust's 100 settings as
checkboxes were a third of the staff form's time (25 ms of 75). The markup is the same, tag for tag
(tests/accounts/test_check_options.py compares it with crispy's own template)."""

from crispy_forms.templatetags.crispy_forms_filters import optgroups
from django import template
from django.template.loader import get_template
from django.utils.html import format_html, format_html_join

register = template.Library()

# One option, as bootstrap5/layout/radio_checkbox_select.html writes it (whitespace included).
OPTION = (
    '\n      <div class="form-check{inline}">'
    '\n        <input type="{type}" class="form-check-input{invalid}"  name="{name}" value="{value}" {attrs}>'
    '\n        <label for="{id}" class="form-check-label">\n            {label}\n        </label>'
    "\n        {errors}\n     </div>"
)


def _attrs(attrs: dict):
    """bootstrap5/layout/attrs.html: ` name="value"`, ` name` for True, nothing for False."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value)),)
            for name, value in attrs.items()
            if value is not False
        ),
    )


@register.simple_tag(takes_context=True)
def check_options(context, field, inline_class=""):
    errors = field.errors
    groups = optgroups(field)
    parts = []
    for g, (group, options, _index) in enumerate(groups):
        if group:
            parts.append(format_html("<strong>{}</strong>", group))
        for n, option in enumerate(options):
            errors_block = ""
            if errors and not inline_class and n == len(options) - 1 and g == len(groups) - 1:
                # Rendered by its template: already safe HTML.
                errors_block = get_template("bootstrap5/layout/field_errors_block.html").render(context.flatten())
            parts.append(
                format_html(
                    OPTION,
                    inline=" form-check-inline" if inline_class else "",
                    type=option["type"],
                    invalid=" is-invalid" if errors else "",
                    name=field.html_name,
                    value=str(option["value"]),
                    attrs=_attrs(option["attrs"]),
                    id=option["attrs"].get("id", ""),
                    label=str(option["label"]),
                    errors=errors_block,
                )
            )
    return format_html_join("", "{}", ((part,) for part in parts))
