"""The half-term planner page: choose a half term and whose agreements (one's own supervisees first; a
setting or the organisation for heads, DSLs and admins), adjust, check, then book.

A page plans and shows a bounded part (issue 14): an organisation with more agreements than a page is
planned a setting at a time, and a plan longer than a page is shown (and booked) a page of rows at a time.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from accounts.access import staff_required
from accounts.models import Role, Setting, StaffMember
from accounts.validators import TextForm

from ..access import OVERSIGHT_ROLES, require
from ..dashboard.scope import object_url
from ..models import Contract, HalfTerm, _scope_settings
from ..planner import check_plan, confirm_plan, frequency_words, not_ended_before, plan_half_term
from ..services import ensure_calendar
from ..slots import LONDON

MINE = "mine"
WHOLE = "organisation"
# The organisation's plan's last part: agreements of people in no open setting (a closed one, or none).
OTHERS = "others"
# Rows a page shows and books. Four inputs a row: a full page's booking stays inside Django's
# DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000), with room for the form's own dozen fields.
PAGE_ROWS = 200


class PlanChoiceForm(TextForm):
    half_term = forms.ModelChoiceField(queryset=HalfTerm.objects.none(), to_field_name="code", empty_label=None)
    caseload = forms.ChoiceField(label="Agreements")

    def __init__(self, *args, half_terms, caseloads, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["half_term"].queryset = half_terms
        self.fields["half_term"].label_from_instance = lambda h: (
            f"{h} ({h.starts:%a} {h.starts.day} {h.starts:%b} to {h.ends:%a} {h.ends.day} {h.ends:%b %Y})"
        )
        self.fields["caseload"].choices = [(value, label) for value, label, _qs in caseloads]
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select"


class PlanRowForm(TextForm):
    contract = forms.UUIDField(widget=forms.HiddenInput)
    include = forms.BooleanField(required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"))
    time = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time", "step": 300, "class": "form-control"}, format="%H:%M")
    )


PlanRowFormSet = forms.formset_factory(PlanRowForm, extra=0)


@dataclass
class _Row:
    """A submitted row, shaped like a planner proposal for `confirm_plan`."""

    contract: Contract
    starts_at: datetime
    ends_at: datetime


def _caseloads(staff):
    """[(value, label, setting or None)]: the person's own supervisees first (where every planner
    opens: issue 16, fault 4), then the whole organisation and each setting they may plan for."""
    organisation = staff.organisation
    choices = []
    scope = _scope_settings(staff, *OVERSIGHT_ROLES)
    if scope or staff.has_role(Role.SUPERVISOR):
        choices.append((MINE, "My supervisees", None))
    if scope == "organisation":
        choices.append((WHOLE, f"Everyone in {organisation.name}", None))
    if scope:
        settings = Setting.objects.filter(organisation=organisation).open()
        if scope != "organisation":
            settings = settings.filter(id__in=scope)
        for setting in settings:
            choices.append((str(setting.code), setting.name, setting))
    return choices


def _agreements(staff, value: str, setting):
    """The agreements of a caseload, or of a part of the organisation's plan (a queryset). Built only for the
    one shown: building one for each of a trust's hundred settings cost more than planning a small caseload."""
    base = Contract.objects.filter(organisation=staff.organisation)
    # Membership read from the settings' link table, a semi-join: no join to every staff row, no DISTINCT.
    members = StaffMember.settings.through.objects
    if value == MINE:
        return base.filter(supervisor=staff)
    if value == OTHERS:
        open_settings = Setting.objects.filter(organisation=staff.organisation).open()
        return base.exclude(supervisee__in=members.filter(setting__in=open_settings).values("staffmember_id"))
    if setting is not None:
        return base.filter(supervisee__in=members.filter(setting=setting).values("staffmember_id"))
    return base


@dataclass
class _Part:
    """One part of the organisation's plan: a setting, or the people in no open setting."""

    value: str
    label: str
    people: int  # people with an agreement to plan in the half term
    setting: Setting | None = None


def _parts(staff, half_term, caseloads) -> list[_Part]:
    """The organisation's plan a setting at a time once it has more agreements than a page: each open
    setting with the number of people it has to plan, then the people in no open setting, if any, so that
    every agreement of the organisation is on a part. [] when the whole plan fits one page. One query, or
    three (counted in the database)."""
    planned = not_ended_before(Contract.objects.filter(organisation=staff.organisation), half_term)
    if planned.count() <= PAGE_ROWS:
        return []
    settings = [(value, label, setting) for value, label, setting in caseloads if setting is not None]
    # A person is in a setting once: counting the links counts the people.
    people = dict(
        StaffMember.settings.through.objects.filter(
            setting_id__in=[setting.id for _v, _l, setting in settings],
            staffmember_id__in=planned.values("supervisee_id"),
        )
        .order_by()
        .values_list("setting_id")
        .annotate(people=Count("staffmember_id"))
    )
    parts = [_Part(value, label, people.get(setting.id, 0), setting) for value, label, setting in settings]
    others = not_ended_before(_agreements(staff, OTHERS, None), half_term)
    elsewhere = others.order_by().values("supervisee_id").distinct().count()
    if elsewhere:
        parts.append(_Part(OTHERS, "People in no open setting", elsewhere))
    return parts


def _plan_url(path: str, half_term, caseload: str, part: _Part | None, page: int = 1) -> str:
    params = {"half_term": half_term.code, "caseload": caseload}
    if part is not None:
        params["setting"] = part.value
    if page > 1:
        params["page"] = page
    return f"{path}?{urlencode(params)}"


def _page_number(data) -> int:
    try:
        return max(1, int(data.get("page") or 1))
    except ValueError:
        return 1


def _wider(caseloads) -> list[tuple[str, str]]:
    """The wider plans offered as links beside one's own: the whole organisation where the person may
    plan it (every setting is in the "Agreements" box), else their settings."""
    wider = [(value, label) for value, label, _qs in caseloads if value != MINE]
    whole = [(value, label) for value, label in wider if value == WHOLE]
    return whole or wider


def _default_half_term(half_terms):
    """The next half term that has not started, or the current one."""
    today = timezone.localdate()
    upcoming = [h for h in half_terms if h.starts > today]
    return upcoming[0] if upcoming else (half_terms[0] if half_terms else None)


def _attach_contracts(formset, contracts):
    """Put each submitted row's agreement on its form (two queries); None when out of reach."""
    codes = {f.cleaned_data.get("contract") for f in formset} - {None}
    found = (
        contracts.filter(code__in=codes)
        .select_related("supervisee__user", "supervisor__user")
        .prefetch_related(Prefetch("overrides", to_attr="override_list"))
    )
    by_code = {c.code: c for c in found}
    for form in formset:
        form.agreement = by_code.get(form.cleaned_data.get("contract"))


def _ticked_rows(request, formset) -> tuple[list[_Row], list] | None:
    """The ticked rows and their forms, or None with the problems put on the rows (or in a message)."""
    rows, row_forms = [], []
    for form in formset:
        data = form.cleaned_data
        if not data.get("include"):
            continue
        if form.agreement is None:
            form.add_error(None, "This agreement is not in the caseload you are planning.")
            continue
        starts_at = datetime.combine(data["date"], data["time"], tzinfo=LONDON)
        rows.append(_Row(form.agreement, starts_at, starts_at + timedelta(minutes=form.agreement.session_minutes)))
        row_forms.append(form)
    if any(form.errors for form in formset):
        return None
    if not rows:
        messages.error(request, "Tick at least one session to book.")
        return None
    return rows, row_forms


def _check_token(half_term, where: str, rows: list[_Row]) -> str:
    """A digest of exactly the sessions the check page showed, and of the plan and page they came from:
    the confirmation books only those, from there."""
    shown = ";".join(f"{row.contract.code}@{row.starts_at.isoformat()}" for row in rows)
    return salted_hmac("supervision.planner.check", f"{half_term.code}|{where}|{shown}").hexdigest()


def _put_problems(request, error: ValidationError, row_forms) -> None:
    if not hasattr(error, "error_dict"):
        messages.error(request, " ".join(error.messages))
        return
    for key, problems in error.message_dict.items():
        if key.isdigit():
            row_forms[int(key)].add_error(None, problems)
        else:
            messages.error(request, " ".join(problems))


def _book_or_check(request, formset, half_term, caseload: str, part: _Part | None, page: int):
    """A response: the bookings made (from the check page's own confirmation), or the check page; None
    when a row is refused (the problems are on the rows)."""
    ticked = _ticked_rows(request, formset)
    if ticked is None:
        return None
    rows, row_forms = ticked
    staff = request.staff
    token = _check_token(half_term, f"{caseload}|{part.value if part else ''}|{page}", rows)
    confirmed = request.POST.get("action") == "confirm" and constant_time_compare(
        request.POST.get("checked", ""), token
    )
    try:
        if confirmed:
            sessions = confirm_plan(actor=staff, organisation=staff.organisation, half_term=half_term, rows=rows)
        else:
            check = check_plan(organisation=staff.organisation, half_term=half_term, rows=rows)
    except ValidationError as error:
        _put_problems(request, error, row_forms)
        return None
    if confirmed:
        booked = len(sessions)
        messages.success(request, f"{booked} session{pluralize(booked)} booked; invitations are on their way.")
        return redirect("supervision:calendar")
    sessions = [
        {"contract": row.contract, "starts_at": row.starts_at, "frequency": frequency_words(row.contract, half_term)}
        for row in sorted(rows, key=lambda r: (r.starts_at, r.contract.supervisor.full_name))
    ]
    # Every row goes back as it was (ticked or not), so "Go back and change" shows the plan as it was left.
    hidden = [_inputs(form) for form in formset]
    return render(
        request,
        "supervision/planner_check.html",
        {
            "half_term": half_term,
            "caseload": caseload,
            "part": part,
            "page": page,
            "formset": formset,
            "check": check,
            "sessions": sessions,
            "checked": token,
            "hidden": hidden,
            "management_form": formset.management_form,
        },
    )


# One row of the plan's table. Written here rather than in the template: a whole trust's plan has 12,000
# rows, and Django's template engine (a lookup, a localisation and an escape a variable, two dozen
# variables a row) took most of the page's time. `format_html` escapes every value all the same.
_ROW_HTML = (
    '<tr id="{anchor}"{danger}><td>'
    '<input type="hidden" name="{prefix}-contract" value="{code}" id="id_{prefix}-contract">'
    '<label class="visually-hidden" for="id_{prefix}-include">Book a session for {name_or_this}</label>'
    '<input type="checkbox" name="{prefix}-include" class="form-check-input" id="id_{prefix}-include"{checked}>'
    "</td><td>{name_or_unknown}{job}</td><td>{supervisor}</td><td>"
    '<label class="visually-hidden" for="id_{prefix}-date">Date for {name}</label>'
    '<input type="date" name="{prefix}-date" value="{date_value}" class="form-control" required id="id_{prefix}-date">'
    "{day_words}</td><td>"
    '<label class="visually-hidden" for="id_{prefix}-time">Time for {name}</label>'
    '<input type="time" name="{prefix}-time" value="{time_value}" step="300" class="form-control" required'
    ' id="id_{prefix}-time"></td><td>{minutes} min</td><td>{frequency}</td></tr>'
)
_JOB_HTML = '<div class="small text-body-secondary">{}</div>'
_ERRORS_HTML = (
    '<tr class="table-danger"><td></td><td colspan="6"><ul class="mb-0 small text-danger-emphasis">{}</ul></td></tr>'
)


def _row(index: int, contract, day, errors, half_term, inputs) -> dict:
    """One row of the plan's table: its values, and its HTML."""
    supervisee = contract.supervisee if contract else None
    name = supervisee.full_name if supervisee else ""
    day_words = f"{day:%a} {day.day} {day:%b %Y}" if day else ""
    row = {
        "contract": contract,
        "day": day,
        "anchor": f"plan-row-{index}",
        "errors": errors,
        "frequency": frequency_words(contract, half_term) if contract else "",
        **inputs,
    }
    html = format_html(
        _ROW_HTML,
        anchor=row["anchor"],
        danger=mark_safe(' class="table-danger"') if errors else "",
        prefix=inputs["prefix"],
        code=inputs["code"],
        checked=mark_safe(" checked") if inputs["include"] else "",
        name=name,
        name_or_this=name or "this agreement",
        name_or_unknown=name or "Unknown agreement",
        job=format_html(_JOB_HTML, supervisee.job_title) if supervisee and supervisee.job_title else "",
        supervisor=contract.supervisor.full_name if contract else "",
        date_value=inputs["date_value"],
        day_words=format_html(_JOB_HTML, day_words) if day_words else "",
        time_value=inputs["time_value"],
        minutes=contract.session_minutes if contract else "",
        frequency=row["frequency"],
    )
    if errors:
        html += format_html(_ERRORS_HTML, format_html_join("", "<li>{}</li>", ((e,) for e in errors)))
    row["html"] = html
    return row


def _initial_inputs(index: int, initial: dict) -> dict:
    return {
        "prefix": f"rows-{index}",
        "code": str(initial["contract"]),
        "date_value": initial["date"].isoformat(),
        "time_value": initial["time"].strftime("%H:%M"),
        "include": initial["include"],
    }


def _inputs(form) -> dict:
    """A submitted row's input names and values as plain strings. The template writes the four inputs
    itself: Django renders each widget through a template of its own, which for a whole trust's plan
    (12,000 rows, four inputs each) took most of the page's time."""
    if not form.is_bound:
        return _initial_inputs(int(form.prefix.rsplit("-", 1)[1]), form.initial)
    data, name = form.data, form.add_prefix
    return {
        "prefix": form.prefix,
        "code": data.get(name("contract"), ""),
        "date_value": data.get(name("date"), ""),
        "time_value": data.get(name("time"), ""),
        "include": form.fields["include"].widget.value_from_datadict(data, None, name("include")),
    }


def _row_errors(form) -> list[str]:
    """A row's problems in words, for the row and for the summary at the top of the page."""
    if not form.is_bound:
        return []
    errors = list(form.non_field_errors())
    for field in form:
        errors += [f"{field.label}: {error}" for error in field.errors]
    return errors


@staff_required
@require_http_methods(["GET", "POST"])
def planner(request):
    staff = request.staff
    organisation = staff.organisation
    caseloads = _caseloads(staff)
    require(bool(caseloads), "Supervisors plan their own caseload; heads and DSLs plan a setting.")
    ensure_calendar(organisation)
    half_terms = HalfTerm.objects.filter(organisation=organisation, ends__gte=timezone.localdate()).select_related(
        "academic_year"
    )
    data = request.POST if request.method == "POST" else request.GET
    initial = {"half_term": _default_half_term(list(half_terms)), "caseload": caseloads[0][0]}
    bound = None
    if "half_term" in data or "caseload" in data:
        # Either alone will do (a link to "?caseload=organisation"): the other keeps its default.
        default_code = initial["half_term"].code if initial["half_term"] else ""
        bound = {"half_term": data.get("half_term") or default_code, "caseload": data.get("caseload") or MINE}
    choice = PlanChoiceForm(bound, initial=initial, half_terms=half_terms, caseloads=caseloads)
    half_term, caseload = initial["half_term"], caseloads[0]
    if choice.is_bound and choice.is_valid():
        half_term = choice.cleaned_data["half_term"]
        caseload = next(c for c in caseloads if c[0] == choice.cleaned_data["caseload"])
    value, label, setting = caseload
    context = {
        "choice": choice,
        "caseload_options": [(value, label) for value, label, _setting in caseloads],
        "caseload_selected": str(choice["caseload"].value()),
        "half_term": half_term,
        "caseload": value,
        "caseload_label": label,
        # Heads, DSLs and admins open on their own supervisees and may widen the plan.
        "wider": _wider(caseloads) if value == MINE else [],
    }
    if half_term is None:
        return render(request, "supervision/planner.html", context)
    parts = _parts(staff, half_term, caseloads) if value == WHOLE else []
    part = None
    if parts:
        index = next((i for i, p in enumerate(parts) if p.value == data.get("setting")), 0)
        part = parts[index]
        for other in parts:
            other.url = _plan_url(request.path, half_term, value, other)
        context.update(
            parts=parts,
            part=part,
            part_number=index + 1,
            previous_part=parts[index - 1] if index else None,
            next_part=parts[index + 1] if index + 1 < len(parts) else None,
            caseload_label=f"{label}: {part.label}",
        )
        contracts = _agreements(staff, part.value, part.setting)
    else:
        contracts = _agreements(staff, value, setting)
    page = _page_number(data)

    formset = None
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("check", "confirm", "back"):
        formset = PlanRowFormSet(request.POST, prefix="rows")
        valid = formset.is_valid()
        _attach_contracts(formset, contracts)
        if action != "back":
            # Booking is two steps: the plan's button (and Enter in any of its boxes) only shows the check
            # page; the check page's own button books (issue 16, fault 4).
            response = _book_or_check(request, formset, half_term, value, part, page) if valid else None
            if response is not None:
                return response
            context["refused"] = True

    plan = plan_half_term(organisation=organisation, half_term=half_term, contracts=contracts)
    # A page of rows at a time: the plan is worked out whole (its proposals must not clash with each other),
    # and shown, posted and booked a page at a time.
    pages = max(1, -(-len(plan.proposals) // PAGE_ROWS))
    page = min(page, pages)
    first = (page - 1) * PAGE_ROWS
    context.update(page=page, proposals_total=len(plan.proposals))
    if pages > 1:
        context["pager"] = {
            "page": page,
            "pages": pages,
            "total": len(plan.proposals),
            "first": first + 1,
            "last": min(first + PAGE_ROWS, len(plan.proposals)),
            "previous_url": _plan_url(request.path, half_term, value, part, page - 1) if page > 1 else None,
            "next_url": _plan_url(request.path, half_term, value, part, page + 1) if page < pages else None,
        }
    # One reverse() for every agreement the plan could not place (a trust's plan lists thousands).
    for item in plan.unplaced:
        item.url = object_url("supervision:contract-detail", item.contract.code)
    if formset is None:
        shown = plan.proposals[first : first + PAGE_ROWS]
        initial = [
            {
                "contract": p.contract.code,
                "include": True,
                "date": p.starts_at.astimezone(LONDON).date(),
                "time": p.starts_at.astimezone(LONDON).time(),
            }
            for p in shown
        ]
        # The rows are written from the proposals: the formset gives the management form only, and builds
        # no form a row (a form deep-copies its fields; a trust's plan has 12,000 rows).
        formset = PlanRowFormSet(prefix="rows", initial=initial)
        rows = [
            _row(index, proposal.contract, values["date"], [], half_term, _initial_inputs(index, values))
            for index, (proposal, values) in enumerate(zip(shown, initial, strict=True))
        ]
    else:
        rows = [
            _row(index, form.agreement, form.cleaned_data.get("date"), _row_errors(form), half_term, _inputs(form))
            for index, form in enumerate(formset)
        ]
    # Handed over apart: a template's `formset.x` tries `formset["x"]` first, which builds every row's form.
    context.update(management_form=formset.management_form, non_form_errors=formset.non_form_errors())
    context.update(plan=plan, formset=formset, rows=rows, refused_rows=[r for r in rows if r["errors"]])
    return render(request, "supervision/planner.html", context)
