"""The compliance dashboard, the list behind each figure, and the compliance CSV (issue 6).

The figures themselves live in the `supervision/dashboard/` package; these views choose the half term and the
settings, and lay the rows out.
"""

import csv
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import staff_required
from accounts.audit import audit_event
from accounts.models import Role, Setting
from accounts.templatetags.dates import day
from records.models import FunctionTag

from .. import services
from ..dashboard import (
    FIGURES,
    MAX_SETTING_LINES,
    Dashboard,
    auditor_windows,
    dashboard_scope,
    default_half_term,
    half_term_name,
    hours_label,
    settings_in_windows,
)
from ..forms_dashboard import DashboardFilterForm
from ..models import HalfTerm

# Tiles, in the order the page shows them.
HALF_TERM_TILES = ["coverage", "overdue", "cancellations"]
TODAY_TILES = [
    "awaiting-signature",
    "overdue-actions",
    "safeguarding-decisions",
    "escalations",
    "agreements-missing",
    "agreements-unsigned",
    "review-due",
    "review-overdue",
    "unsupervised-supervisors",
    "leavers-open-work",
    "caseloads",
]
# The dashboard shows at most this many overdue agreements; the list behind the tile has them all.
OVERDUE_PREVIEW = 8
# Above this many supervisors, each one's balance is on the list page rather than a chart.
MAX_SUPERVISOR_BARS = 25
# Above this many settings, the balance is on the list page too: a trust's year of sections is read there,
# not on every visit to its dashboard (about a third of the trust's page at 12,000 staff, issue 14).
MAX_SETTING_BARS = 25
# And above this many people in the settings in scope, however few settings: the count reads every section
# their records had written this year, about 9 ms a thousand people (an auditor over ten settings of the
# generated trust: 1,200 people, 12 ms of SQL and 15 ms of the page). One school keeps it on its dashboard.
MAX_BALANCE_PEOPLE = 500
LIST_PAGE_SIZE = 200


@dataclass
class Choice:
    """What the page is about: the figures, and the filter that chose them."""

    dashboard: Dashboard
    form: DashboardFilterForm
    setting: Setting | None
    scope_label: str
    query: str  # ?half_term=...&setting=... for the links

    @property
    def half_term(self):
        return self.dashboard.half_term


def _choose(request) -> Choice | None:
    """Heads and DSLs of some settings, and organisation-wide admins and auditors; anyone else 403."""
    staff = request.staff
    scope = dashboard_scope(staff)
    # An auditor sees only what a live grant covers: its settings, in the half terms its dates reach.
    windows = auditor_windows(staff) if scope != "organisation" else []
    if scope is None and not windows:
        if staff.has_role(Role.AUDITOR):
            raise PermissionDenied(
                "You have no live auditor grant: the dashboard shows only what a grant approved for you covers."
            )
        raise PermissionDenied("The compliance dashboard is for heads, DSLs, organisation admins and auditors.")
    today = timezone.localdate()
    organisation = staff.organisation
    services.ensure_calendar(organisation, today)
    settings = Setting.objects.filter(organisation=organisation).order_by("name")
    led = set(scope) if scope and scope != "organisation" else set()
    if scope != "organisation":
        settings = settings.filter(id__in=led | {i for ids, _, _ in windows for i in ids})
    settings = list(settings)
    half_terms = list(HalfTerm.objects.filter(organisation=organisation).select_related("academic_year"))
    if scope is None:
        half_terms = [h for h in half_terms if settings_in_windows(windows, h)]
    default = default_half_term(half_terms, today)
    if default is None:
        if scope is None:
            raise PermissionDenied("Your auditor grants cover no half term of the calendar.")
        return None
    offered = [h for h in half_terms if h.starts <= today] or [default]
    form = DashboardFilterForm(request.GET or None, half_terms=offered, settings=settings, default_half_term=default)
    half_term, setting = form.chosen()
    if windows:
        # The settings shown for this half term: those led, and those a grant covering it names.
        reach = led | settings_in_windows(windows, half_term)
        settings = [s for s in settings if s.id in reach]
        if setting is not None and setting.id not in reach:
            setting = None
        if scope is None:
            # The coverage history goes back only through half terms granted for every setting shown.
            shown = {setting.id} if setting else reach
            half_terms = [h for h in half_terms if shown <= settings_in_windows(windows, h)]
    # Shown as chosen, even when the request asked for something else.
    form = DashboardFilterForm(
        {"half_term": str(half_term.code), "setting": str(setting.code) if setting else ""},
        half_terms=offered,
        settings=settings,
        default_half_term=default,
    )
    dashboard = Dashboard(
        viewer=staff,
        half_term=half_term,
        settings=[setting] if setting else settings,
        whole_organisation=scope == "organisation" and setting is None,
        half_terms=half_terms,
        today=today,
    )
    if setting:
        scope_label = setting.name
    elif scope == "organisation":
        scope_label = f"{organisation.name}: every setting"
    else:
        scope_label = ", ".join(s.name for s in settings)
    query = {"half_term": half_term.code}
    if setting:
        query["setting"] = setting.code
    return Choice(dashboard=dashboard, form=form, setting=setting, scope_label=scope_label, query=urlencode(query))


def _no_calendar(request):
    return render(request, "supervision/dashboard.html", {"no_calendar": True})


@staff_required
@require_GET
def dashboard(request):
    choice = _choose(request)
    if choice is None:
        return _no_calendar(request)
    dash = choice.dashboard
    # The coverage chart first: it loads the six half terms in one go, the chosen one among them.
    coverage_chart, coverage_table, coverage_summary = _coverage_chart(choice)
    # Counted in the database for the figures as of today; the half term's rows are worked out once.
    dash.count_together(TODAY_TILES)
    tiles = {slug: dash.tile_for(slug) for slug in HALF_TERM_TILES + TODAY_TILES}
    overdue = dash.overdue_listing()
    preview = overdue.head(OVERDUE_PREVIEW)
    dash.fill_links(preview)
    # The settings first: a trust's people are not counted to know that its balance is elsewhere.
    balance_people = None if len(dash.settings) > MAX_SETTING_BARS else dash.people_count()
    balance_elsewhere = balance_people is None or balance_people > MAX_BALANCE_PEOPLE
    by_setting = [] if balance_elsewhere else dash.balance_by_setting()
    by_supervisor = [] if balance_elsewhere else dash.balance_by_supervisor()
    context = {
        "choice": choice,
        "half_term": dash.half_term,
        "half_term_name": half_term_name(dash.half_term),
        "running": dash.running,
        "previous_overdue": _previous_overdue(choice),
        "today": dash.today,
        "half_term_tiles": [(slug, tiles[slug]) for slug in HALF_TERM_TILES],
        "today_tiles": [(slug, tiles[slug]) for slug in TODAY_TILES],
        "overdue": preview,
        "overdue_count": overdue.count,
        "progress": dash.progress() if dash.running else None,
        "cancellations": _cancellations_context(dash.cancellation_summary()),
        "coverage_chart": coverage_chart,
        "coverage_table": coverage_table,
        "coverage_summary": coverage_summary,
        "functions": FunctionTag.labels,
        "balance_elsewhere": balance_elsewhere,
        "balance_people": balance_people,
        "balance_settings": by_setting,
        "balance_settings_chart": _balance_chart(by_setting),
        "balance_settings_summary": _balance_summary(by_setting, "setting"),
        "balance_supervisors": by_supervisor,
        "balance_supervisors_chart": _balance_chart(by_supervisor)
        if len(by_supervisor) <= MAX_SUPERVISOR_BARS
        else None,
        "balance_supervisors_summary": _balance_summary(by_supervisor, "supervisor"),
        "academic_year": dash.half_term.academic_year,
    }
    return render(request, "supervision/dashboard.html", context)


@staff_required
@require_GET
def dashboard_list(request, figure):
    choice = _choose(request)
    if choice is None:
        return _no_calendar(request)
    if figure not in FIGURES:
        raise Http404("No such figure")
    dash = choice.dashboard
    # A page of the list, read from the database where it is a queryset; the tile counts it there.
    listing = dash.listing(figure)
    page = listing.page(request.GET.get("page"), LIST_PAGE_SIZE)
    if figure in ("coverage", "overdue"):
        dash.fill_links(page.object_list)
    context = {
        "choice": choice,
        "figure": FIGURES[figure],
        "tile": dash.tile_for(figure, listing),
        "rows": page.object_list,
        "page": page,
        "count": listing.count,
        "half_term": dash.half_term,
        "half_term_name": half_term_name(dash.half_term),
        "today": dash.today,
        "include": f"supervision/includes/dashboard_{figure.replace('-', '_')}.html",
        "functions": FunctionTag.labels,
    }
    if figure == "cancellations":
        context["cancellations"] = _cancellations_context(dash.cancellation_summary())
    if figure == "balance":
        context["balance_settings"] = dash.balance_by_setting()
    return render(request, "supervision/dashboard_list.html", context)


def _previous_overdue(choice: Choice):
    """While a half term runs, how the last one ended: who had no session held in it."""
    dash = choice.dashboard
    ended = [h for h in dash.history if h.ends < dash.today]
    if not dash.running or not ended:
        return None
    previous = ended[-1]
    query = {"half_term": previous.code}
    if choice.setting:
        query["setting"] = choice.setting.code
    return {"name": half_term_name(previous), "count": dash.overdue_count(previous), "query": urlencode(query)}


def _cancellations_context(summary):
    return {
        **summary,
        "median": hours_label(summary["median_hours"]),
        "longest": hours_label(summary["longest_hours"]),
    }


# --- Charts: the data for static/js/charts.js, a table and a sentence for each ------------------------


def _percent(covered, owed):
    return round(100 * covered / owed) if owed else None


def _cell(covered, owed):
    return f"{_percent(covered, owed)}% ({covered} of {owed})" if owed else "–"


def _coverage_chart(choice: Choice):
    """Coverage per half term: one line for the scope as a whole (when it has several settings) and one
    per setting. A chart with a hundred lines says nothing, so above a few settings only the total is
    drawn; the table keeps every setting."""
    dash = choice.dashboard
    points = dash.coverage_history()
    labels = [half_term_name(p["half_term"]) for p in points]
    series = []  # (label, [(covered, owed) per half term])
    if len(dash.settings) != 1:
        series.append(("All settings" if dash.settings else "All staff", [p["overall"] for p in points]))
    series += [(s.name, [tuple(p["by_setting"][s.id]) for p in points]) for s in dash.settings]
    drawn = series[:1] if len(dash.settings) > MAX_SETTING_LINES else series
    chart = {
        "labels": labels,
        "series": [{"label": label, "values": [_percent(*v) for v in values]} for label, values in drawn],
    }
    table = {
        "columns": [label for label, _ in series],
        "rows": [(labels[i], [_cell(*values[i]) for _, values in series]) for i in range(len(points))],
    }
    return chart, table, _coverage_sentence(dash, points)


def _coverage_sentence(dash: Dashboard, points) -> str:
    if not points:
        return "No half term has started yet."
    now = points[-1]
    covered, owed = now["overall"]
    name = half_term_name(now["half_term"])
    before = points[-2] if len(points) > 1 and points[-2]["overall"][1] else None
    if not owed:
        return f"No agreement was owed supervision in {name}."
    if dash.running:
        # Held or booked and not signed: what is neither covered nor "not booked".
        under_way = owed - covered - dash.overdue_listing().count
        sentence = (
            f"{name} is under way. Of {owed} agreement{pluralize(owed)} owed supervision: {covered} held with "
            f"a signed record so far ({_percent(covered, owed)}%), {under_way} held or booked and not signed yet, "
            f"{owed - covered - under_way} with nothing booked."
        )
        if before:
            sentence += f" {half_term_name(before['half_term'])} ended at {_percent(*before['overall'])}%."
        return sentence
    now_percent = _percent(covered, owed)
    sentence = (
        f"In {name}, {now_percent}% of the agreements owed supervision had a held session with a signed record "
        f"({covered} of {owed})."
    )
    if before:
        before_percent = _percent(*before["overall"])
        change = "up from" if now_percent > before_percent else "down from" if now_percent < before_percent else "as"
        sentence += f" That is {change} {before_percent}% in {half_term_name(before['half_term'])}."
    by_setting = [(s.name, now["by_setting"][s.id]) for s in dash.settings if now["by_setting"][s.id][1]]
    if len(by_setting) > 1:
        lowest = min(by_setting, key=lambda item: item[1][0] / item[1][1])
        sentence += f" Lowest: {lowest[0]}, {_percent(*lowest[1])}%."
    return sentence


def _balance_chart(rows):
    return {
        "labels": [r.name for r in rows],
        "series": [
            {"label": label, "values": [r.percent(function) for r in rows]} for function, label in FunctionTag.choices
        ],
    }


# Below this share of a person's or setting's written sections, a function is "seldom discussed".
SELDOM_PERCENT = 15


def _balance_summary(rows, kind: str) -> str:
    total = sum(r.total for r in rows)
    if not total:
        return "No record of this academic year has a section written yet."
    shares = ", ".join(
        f"{label.lower()} {round(100 * sum(r.counts.get(function, 0) for r in rows) / total)}%"
        for function, label in FunctionTag.choices
    )
    sentence = f"Of {total} sections written this academic year: {shares}."
    seldom = [
        f"{label.lower()} at {r.name} ({percent}%)"
        for r, r_total in ((r, r.total) for r in rows)
        if r_total
        for function, label in FunctionTag.choices
        if (percent := r.percent(function, r_total)) < SELDOM_PERCENT
    ]
    if seldom and len(rows) > 1:
        more = f"; and {len(seldom) - 5} more" if len(seldom) > 5 else ""
        sentence += f" Seldom discussed (under {SELDOM_PERCENT}% for a {kind}): " + "; ".join(seldom[:5]) + more + "."
    return sentence


# --- The compliance CSV ------------------------------------------------------------------------------


# Rows of the compliance CSV sent at a time.
CSV_CHUNK = 500


class _Echo:
    """A file for csv.writer that hands each line back instead of keeping it."""

    def write(self, value):
        return value


def _safe(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@staff_required
@require_GET
def compliance_csv(request):
    """The dashboard's figures for the chosen half term and setting, then one row per agreement owed
    supervision in it. Every download is in the audit trail."""
    choice = _choose(request)
    if choice is None:
        return _no_calendar(request)
    dash = choice.dashboard
    half_term = dash.half_term
    # The figures as of today are counted in the database; the half term's rows are worked out once.
    # (Not the balance: the file does not give it, and its GROUP BY reads a year of sections.)
    dash.count_together(TODAY_TILES)
    count = {slug: dash.count(slug) for slug in TODAY_TILES}
    cancelled = dash.cancellation_summary()
    coverage = dash.coverage_values()
    covered = sum(bool(r["signed"]) for r in coverage)

    def hours(value):
        return "" if value is None else f"{value:.1f}"

    figures = [
        ("Organisation", request.staff.organisation.name),
        ("Settings", choice.scope_label),
        (
            "Half term",
            f"{half_term_name(half_term)} ({day(half_term.starts)} to {day(half_term.ends)})",
        ),
        ("As of", day(dash.today)),
        ("Coverage: agreements owed supervision", len(coverage)),
        ("Coverage: with a held session and a signed record", covered),
        ("Coverage (%)", _percent(covered, len(coverage)) if coverage else ""),
        ("Overdue" if half_term.ends < dash.today else "Not booked", dash.overdue_count_of(coverage)),
        ("Cancellations", cancelled["cancelled"]),
        ("Cancellations rebooked", cancelled["rebooked"]),
        ("Cancellations not rebooked yet", cancelled["not_rebooked"]),
        ("Median hours to rebook", hours(cancelled["median_hours"])),
        ("Longest hours to rebook", hours(cancelled["longest_hours"])),
        ("Records awaiting a signature", count["awaiting-signature"]),
        ("Overdue actions", count["overdue-actions"]),
        ("Safeguarding decisions not yet on the child's file", count["safeguarding-decisions"]),
        ("Open confidentiality escalations", count["escalations"]),
        ("Staff without an agreement", count["agreements-missing"]),
        ("Agreements not signed by both", count["agreements-unsigned"]),
        ("Agreements due for review within 30 days", count["review-due"]),
        ("Agreements past their review date", count["review-overdue"]),
        ("Supervisors", count["caseloads"]),
        ("Largest caseload", dash.largest_caseload()),
        ("Supervisors without supervision of their own", count["unsupervised-supervisors"]),
        ("Leavers with work to reassign", count["leavers-open-work"]),
    ]

    # The zone looked up once, and each day written once, not for each of a trust's 12,000 rows.
    zone = timezone.get_current_timezone()
    days = {}

    def day_cell(moment) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(zone).date()
        if local not in days:
            days[local] = day(local)
        return days[local]

    def lines():
        """The file a chunk of rows at a time: the first bytes leave before the last row is written."""
        buffer = _Echo()
        writer = csv.writer(buffer)
        # A byte-order mark, so Excel reads the names as UTF-8.
        yield "\ufeff" + writer.writerow(["figure", "value"])
        yield "".join(writer.writerow([_safe(name), _safe(value)]) for name, value in figures)
        yield writer.writerow([])
        yield writer.writerow(
            [
                "supervisee",
                "supervisor",
                "setting",
                "status",
                "last held session",
                "held this half term",
                "record signed",
            ]
        )
        for start in range(0, len(coverage), CSV_CHUNK):
            yield "".join(
                writer.writerow(
                    [
                        _safe(r["supervisee__user__full_name"]),
                        _safe(r["supervisor__user__full_name"]),
                        _safe("; ".join(r["settings"])),
                        r["status"],
                        day_cell(r["last_held"]),
                        r["held"],
                        "yes" if r["signed"] else "no",
                    ]
                )
                for r in coverage[start : start + CSV_CHUNK]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"compliance-{half_term.academic_year.name.replace('/', '-')}-{half_term.term}-{half_term.half}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    audit_event(
        action="export.compliance_csv",
        actor=request.user,
        organisation=request.staff.organisation,
        request=request,
        details={
            "half_term": str(half_term.code),
            "setting": str(choice.setting.code) if choice.setting else None,
            "agreements": len(coverage),
        },
    )
    return response
