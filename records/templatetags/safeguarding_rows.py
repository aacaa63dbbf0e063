"""The safeguarding page's rows, built in Python (`{% flag_row f page %}`, `{% decision_row d page %}`):
a trust-wide lead's page of 25 open flags and 50 decisions, each with its form, spent about a third of
its time in the template engine, a dozen lookups and filters a row (issue 14). The same HTML as the
template's rows gave (less the whitespace between tags), escaped by `format_html`."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.templatetags.dates import day, day_and_time
from supervision.templatetags.dashboard_badges import decision_waiting

register = template.Library()

_FLAG = (
    '<li class="list-group-item" id="flag-{code}">'
    '<div class="d-flex justify-content-between flex-wrap gap-2"><div>'
    '<div class="fw-semibold">{kind}</div>'
    '<div class="small text-body-secondary">{setting} · raised by {raised_by} on {raised_at} · session of '
    "{held} ({who})</div>"
    "{note}"
    "</div></div>"
    '<details class="mt-2">'
    '<summary class="small">Resolve<span class="visually-hidden"> the flag “{kind}”</span></summary>'
    '<form class="mt-2" method="post" action="{resolve_url}">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<input type="hidden" name="flags" value="{page}">'
    '<label class="form-label small" for="resolution-{code}">{label}</label>'
    '<textarea class="form-control form-control-sm" name="resolution" id="resolution-{code}" rows="2" '
    'maxlength="500" required></textarea>'
    '<div class="form-text">{help_text}</div>'
    '<button class="btn btn-sm btn-primary mt-2" type="submit">Mark resolved</button>'
    "</form></details></li>"
)


@register.simple_tag(takes_context=True)
def flag_row(context, f, page: int) -> SafeString:
    """An open confidentiality flag, with the form that resolves it (the page's `resolve_form`)."""
    session = f.record.session
    if session.group_id:
        who = format_html("group: {}", session.group.name)
    else:
        who = session.contract.supervisee.user.full_name if session.contract is not None else ""
    field = context["resolve_form"]["resolution"]
    return format_html(
        _FLAG,
        code=f.code,
        kind=f.get_kind_display(),
        setting=session.setting.name,
        raised_by=f.raised_by.user.full_name if f.raised_by is not None else "",
        raised_at=day_and_time(f.raised_at),
        held=day(session.starts_at),
        who=who,
        note=format_html('<p class="mb-0 mt-1">{}</p>', f.note) if f.note else "",
        resolve_url=f.resolve_url,
        csrf=context.get("csrf_token", ""),
        page=page,
        label=field.label,
        help_text=field.help_text,
    )


_ROW = (
    '<tr id="decision-{code}">'
    '<td class="fw-semibold">{child}</td>'
    "<td>{key_person}</td>"
    "<td>{signed_on}</td>"
    "<td>{waiting}</td>"
    "<td>{session}</td>"
    "<td>{setting}</td>"
    "<td>{supervisor}</td>"
    '<td><form method="post" action="{remind_url}">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<input type="hidden" name="decisions" value="{page}">'
    '<button class="btn btn-sm btn-primary text-nowrap" type="submit">Remind<span class="visually-hidden"> '
    "{key_person} about {child}</span></button>"
    "</form>{reminded}</td>"
    "</tr>"
)


@register.simple_tag(takes_context=True)
def decision_row(context, d, page: int) -> SafeString:
    """A decision waiting for its key person, with the button that reminds them (the page's `decisions`)."""
    record = d.record
    held = day(record.session.starts_at)
    if d.record_url:
        session = format_html(
            '<a href="{}">{}<span class="visually-hidden">: the record of the decision about {}</span></a>',
            d.record_url, held, d.child_reference,
        )  # fmt: skip
    else:
        session = held
    reminded = (
        format_html('<div class="small text-body-secondary mt-1">Reminded {}</div>', day_and_time(d.reminded_at))
        if d.reminded_at
        else ""
    )
    return format_html(
        _ROW,
        code=d.code,
        child=d.child_reference,
        key_person=d.key_person.user.full_name,
        signed_on=day(d.signed_on),
        waiting=decision_waiting(d.days_waiting),
        session=session,
        setting=record.session.setting.name,
        supervisor=record.supervisor.user.full_name,
        remind_url=d.remind_url,
        csrf=context.get("csrf_token", ""),
        page=page,
        reminded=reminded,
    )
