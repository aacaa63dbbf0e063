"""The audit trail page: an organisation's events for its admins and auditors, filtered, 50 a page.

Looking at the trail is itself in the trail ("audit.viewed", once per visit with its filters), so an
auditor's activity is as visible as everyone else's.

Reads across apps (records): an auditor who is not an organisation admin sees only the events about
records their live grants cover, and nobody without a live grant sees any. Events about records keep
codes; what they say about safeguarding (child references, flag kinds, reasons for reading) is shown
only to a head or DSL of the session's setting and to an auditor whose live grant covers the record;
everyone else sees that it happened, with its code.
"""

import csv
import json
import re
import uuid
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_GET

from records.access import (
    audit_events_in_grants,
    live_grant_windows,
    newest_events_in_grants,
    records_whose_details_show,
)
from records.models import ConfidentialityFlag, SafeguardingDecision

from .access import role_required
from .audit import audit_event
from .audit_chain import scope_key
from .audit_words import event_sentence
from .forms_audit import AuditFilterForm, action_label, object_type_label
from .models import AuditChainHead, AuditEvent, Role, StaffMember
from .templatetags.dates import day_and_time

# Details of record events that say something about a child or a confidential matter.
SENSITIVE_DETAILS = {"child_reference", "key_person", "kind", "reference", "reason", "note", "resolution"}
WITHHELD = "withheld"

PAGE_SIZE = 50
# Reloading the page or paging through the same filters within this time is the same visit: not logged again.
VISIT_WINDOW = timedelta(minutes=30)
DETAIL_ITEMS = 6
DETAIL_WIDTH = 80


def partial_request(request) -> bool:
    # A history restore wants the whole page, although htmx sends it with HX-Request.
    return bool(request.htmx and not request.htmx.history_restore_request)


@role_required(Role.ORG_ADMIN, Role.AUDITOR)
@require_GET
def audit_list(request):
    viewer = request.staff
    # An auditor's live grants, read once for the page (which events it lists, and which show their
    # details), not once for each of those (six queries more; issue 14). 403 without one.
    windows = None if viewer.has_role(Role.ORG_ADMIN) else _live_windows(viewer)
    visible = visible_events(viewer, windows=windows)
    form = AuditFilterForm(request.GET, organisation=viewer.organisation, whole_trail=viewer.has_role(Role.ORG_ADMIN))
    valid = form.is_valid()
    events = form.filter(visible) if valid else visible.none()
    filters = form.applied() if valid else {}
    if valid and request.GET.get("format") == "csv":
        return _csv_download(request, events, filters, windows)

    # The last link of the organisation's hash chain, to write down off the system (audit_verify).
    chain_head = AuditChainHead.objects.filter(scope=scope_key(viewer.organisation_id)).first()
    if valid and not viewer.has_role(Role.ORG_ADMIN):
        # An auditor: the page's rows read newest first, each tested against the covered records (a set
        # hashed once), stopping at the page. Filtered, counted once by the join; the whole of what the
        # grants cover is not counted (`UncountedPaginator`).
        newest = form.filter(visible_events(viewer, newest_few=True, windows=windows))
        if filters:
            paginator = Paginator(newest, PAGE_SIZE)
            paginator.count = events.count()
        else:
            paginator = UncountedPaginator(newest, PAGE_SIZE)
    else:
        paginator = Paginator(events, PAGE_SIZE)
        if valid and not filters:
            # An admin's whole trail: its chain numbers every event from 1 without a gap (each insert is
            # linked, the database refuses deletes), so the head's number is the count, not a scan.
            paginator.count = chain_head.sequence if chain_head else 0
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    _describe(rows, viewer, windows)
    if valid:
        _log_visit(request, filters)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    context = {
        "form": form,
        "valid": valid,
        "filtered": bool(filters),
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        # Read again: viewing the trail has just written an event of its own, the new head.
        "chain_head": None
        if partial_request(request)
        else AuditChainHead.objects.filter(scope=scope_key(viewer.organisation_id)).first(),
    }
    partial = partial_request(request)
    response = render(request, "accounts/includes/audit_table.html" if partial else "accounts/audit_list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


class UncountedPage(Page):
    """A page of `UncountedPaginator`: whether an older page follows is known from the row read beyond it."""

    def has_next(self):
        return self.more


class UncountedPaginator(Paginator):
    """Pages of a list read newest first, without counting the list: each page reads one row more than
    it shows, to know whether an older page follows. For an auditor's whole trail, whose count was one
    index probe for each of the thousands of records the grants cover, then the events of each (60 ms of
    a 110 ms page for a grant of ten settings at 12,000 staff; issue 14): the page says how far it is
    ("Page 3"), not how many there are. `count` is None, and a page past the end is the first page."""

    @property
    def count(self):
        return None

    def validate_number(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer.") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1.")
        return number

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results.")
        page = UncountedPage(rows[: self.per_page], number, self)
        page.more = len(rows) > self.per_page
        return page

    def get_page(self, number):
        try:
            return self.page(number)
        except (PageNotAnInteger, EmptyPage):
            return self.page(1)


def visible_events(viewer, *, newest_few: bool = False, windows=None):
    """The events the viewer may list. An auditor who is not an organisation admin: only those about
    records their live grants cover (`windows`, when the caller has read them), and 403 without a live
    grant. `newest_few`: the caller keeps only a few of the newest (`audit_events_in_grants`)."""
    visible = AuditEvent.objects.visible_to(viewer)
    if viewer.has_role(Role.ORG_ADMIN):
        return visible
    windows = _live_windows(viewer) if windows is None else windows
    return audit_events_in_grants(viewer, visible, newest_few=newest_few, windows=windows)


def newest_visible_events(viewer, count: int) -> list:
    """The `count` newest events the viewer may list (the home's recent activity), as `visible_events`
    would list them first, and 403 likewise; an auditor's read by `newest_events_in_grants`."""
    visible = AuditEvent.objects.visible_to(viewer)
    if viewer.has_role(Role.ORG_ADMIN):
        return list(visible[:count])
    return newest_events_in_grants(viewer, visible, count, windows=_live_windows(viewer))


def _live_windows(viewer) -> list:
    """The auditor's live grants (`live_grant_windows`), and 403 without one (for an auditor who is not an
    organisation admin): nothing of the trail is theirs."""
    windows = live_grant_windows(viewer)
    if not windows:
        raise PermissionDenied(
            "You have no live auditor grant: the audit trail shows only what a grant approved for you covers."
        )
    return windows


def disclose(rows, viewer, windows=None) -> None:
    """Set `e.shown_details` on each event: its details, with safeguarding details withheld from a viewer
    who may not read them and, for one who may, child references and flag kinds looked up from the codes.
    Three queries at most, whatever the number of rows, and an auditor's grants unless given."""
    record_codes = {e.object_code for e in rows if e.object_type == "record" and e.action.startswith("record.")}
    readable = records_whose_details_show(viewer, record_codes, windows)
    decisions, flags = set(), set()
    for e in rows:
        if _canonical(e.object_code) in readable and isinstance(e.details, dict):
            decisions.add(e.details.get("decision"))
            flags.add(e.details.get("flag"))
    decisions = _codes(decisions)
    flags = _codes(flags)
    child_refs = dict(
        SafeguardingDecision.objects.filter(code__in=decisions).values_list("code", "child_reference")
    ) if decisions else {}  # fmt: skip
    kinds = dict(ConfidentialityFlag.objects.filter(code__in=flags).values_list("code", "kind")) if flags else {}
    child_refs = {str(k): v for k, v in child_refs.items()}
    kinds = {str(k): v for k, v in kinds.items()}
    for e in rows:
        details = e.details
        if e.object_type == "record" and e.action.startswith("record.") and isinstance(details, dict):
            if _canonical(e.object_code) in readable:
                details = dict(details)
                if details.get("decision") in child_refs and "child_reference" not in details:
                    details["child_reference"] = child_refs[details["decision"]]
                if details.get("flag") in kinds and "kind" not in details:
                    details["kind"] = kinds[details["flag"]]
            else:
                details = {k: (WITHHELD if k in SENSITIVE_DETAILS else v) for k, v in details.items()}
        e.shown_details = details


def _codes(values) -> list[str]:
    return [v for v in values if isinstance(v, str) and _is_code(v)]


def _describe(rows, viewer, windows=None):
    """What each row shows beyond its fields; a fixed number of queries (the staff the viewer may open,
    and what `disclose` looks up), whatever the page."""
    disclose(rows, viewer, windows)
    linkable = set()
    if viewer.has_role(Role.ORG_ADMIN):
        codes = {e.object_code for e in rows if e.object_type == "staffmember" and _is_code(e.object_code)}
        if codes:
            manageable = StaffMember.objects.manageable_by(viewer).filter(code__in=codes)
            linkable = {str(code) for code in manageable.values_list("code", flat=True)}
    for e in rows:
        e.action_label = action_label(e.action)
        e.sentence = event_sentence(e, with_time=False)
        e.object_label = object_type_label(e.object_type) if e.object_type else ""
        e.object_url = ""
        if e.object_code in linkable:
            e.object_url = reverse("accounts:staff-edit", kwargs={"code": e.object_code})
        e.detail_items, e.detail_more = detail_items(e.shown_details)


def _canonical(code: str) -> str:
    """A record's code as `records_whose_details_show` names it (lower case, with dashes), whatever form the
    trail keeps it in; other text as it is (it names no record, so shows no details)."""
    try:
        return str(uuid.UUID(code))
    except ValueError:
        return code


def _is_code(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _log_visit(request, filters):
    details = {"filters": filters}
    last = (
        AuditEvent.objects.filter(
            actor=request.user, action="audit.viewed", created_at__gte=timezone.now() - VISIT_WINDOW
        )
        .values_list("details", flat=True)
        .first()
    )
    if last != details:
        audit_event(
            action="audit.viewed",
            actor=request.user,
            organisation=request.staff.organisation,
            request=request,
            details=details,
        )


# The details column


def detail_items(details) -> tuple[list[tuple[str, str]], int]:
    """(key, value) pairs for the table and how many were left out. Nested objects are flattened one
    level ("changes" shows old → new); every value is cut short, so no long text reaches the page."""
    if not isinstance(details, dict):
        return ([("value", _short(details))] if details not in (None, "", []) else []), 0
    items = []
    for key, value in details.items():
        if isinstance(value, dict) and value:
            for sub, subvalue in value.items():
                if key == "changes" and isinstance(subvalue, list) and len(subvalue) == 2:
                    items.append((sub, f"{_short(subvalue[0], 38)} → {_short(subvalue[1], 38)}"))
                else:
                    items.append((sub if key == "changes" else f"{key}.{sub}", _short(subvalue)))
        else:
            items.append((key, _short(value)))
    return items[:DETAIL_ITEMS], max(0, len(items) - DETAIL_ITEMS)


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# SHA-256 and similar digests: the first characters are enough to tell them apart on screen (the CSV has them whole).
_DIGEST = re.compile(r"^[0-9a-f]{40,}$")


def _short(value, width=DETAIL_WIDTH) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value == {}:
        return "none"
    if isinstance(value, list):
        text = ", ".join(_short(v, width) for v in value) or "—"
    elif isinstance(value, dict):
        text = "; ".join(f"{k}: {_short(v, width)}" for k, v in value.items()) or "—"
    elif isinstance(value, str) and _ISO_DATETIME.match(value):
        text = _local_time(value)
    elif isinstance(value, str) and _DIGEST.match(value):
        text = value[:12] + "…"
    else:
        text = str(value)
    return Truncator(text).chars(width)


def _local_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(moment):
        return value
    return day_and_time(moment)


# The CSV download of the filtered trail


class _Echo:
    def write(self, value):
        return value


CSV_HEADER = [
    "when (Europe/London)",
    "who",
    "action",
    "action label",
    "object type",
    "object code",
    "object",
    "ip address",
    "user agent",
    "details",
]


def _cell(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_download(request, events, filters, windows=None):
    """Every event the filters match, streamed; the download is in the trail (and not in itself)."""
    logged = audit_event(
        action="audit.exported",
        actor=request.user,
        organisation=request.staff.organisation,
        request=request,
        details={"filters": filters, "events": events.count()},
    )
    writer = csv.writer(_Echo())

    def chunks(size=2000):
        """Events a chunk at a time, each chunk disclosed as the page does (a few queries a chunk)."""
        chunk = []
        for e in events.exclude(pk=logged.pk).iterator(chunk_size=size):
            chunk.append(e)
            if len(chunk) == size:
                disclose(chunk, request.staff, windows)
                yield from chunk
                chunk = []
        disclose(chunk, request.staff, windows)
        yield from chunk

    def lines():
        yield writer.writerow(CSV_HEADER)
        for e in chunks():
            row = [
                timezone.localtime(e.created_at).strftime("%a %-d %b %Y %H:%M:%S"),
                e.actor_name or "System",
                e.action,
                action_label(e.action),
                e.object_type,
                e.object_code,
                e.object_repr,
                e.ip_address,
                e.user_agent,
                json.dumps(e.shown_details, ensure_ascii=False, sort_keys=True) if e.shown_details else "",
            ]
            yield writer.writerow([_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return response
