"""Each person's home (`/`): what needs them first, then what exists for them.

Reads across apps (accounts' people and roles, supervision's agreements, sessions and compliance figures,
records' records, decisions, flags and auditor grants), so it lives in records, the app that may import
the others. What needs the person, by what they do:

- everyone: records and agreements waiting for their signature, named ("Your supervision with Amy
  Hughes"), their open actions;
- a key person: the safeguarding decisions they must confirm on a child's file;
- a head: the names of the people of their settings whose supervision is overdue;
- a head or DSL: escalations (open confidentiality flags, decisions not yet on the child's file);
- an auditor: their live grants (which settings, which dates, until when) and those awaiting approval.

Cost: a fixed number of queries whatever the number of people, records or grants; each list reads at
most `HOME_LIST` rows (tests/accounts/test_home.py counts them at two sizes).
"""

from contextlib import suppress
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, When
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import staff_required
from accounts.audit_words import event_sentence
from accounts.email_change import open_change
from accounts.models import Role, Setting, StaffMember, WorkingDay
from accounts.queries import OneOf
from accounts.views_audit import newest_visible_events
from config.compiled import compiled_rows
from config.prepared import prepared_plans
from supervision.dashboard import Dashboard, half_term_name
from supervision.models import Contract, HalfTerm, Session, SessionStatus, _scope_settings, attended_session_ids
from supervision.setup import setup_checklist

from .. import follow_up
from ..access import live_grants_for
from ..models import Action, AuditorGrant, ConfidentialityFlag, Record, RecordStatus, SafeguardingDecision, Signature

# Each list on the home shows at most this many rows; the page behind it has them all.
HOME_LIST = 10


@staff_required
@require_GET
def home(request):
    staff = request.staff
    today = timezone.localdate()
    context = {"me": staff, "today": today}
    # The person's own rows, each found by an index on them: prepared, with plans PostgreSQL keeps.
    with prepared_plans():
        context.update(_my_supervision(staff))
        context["email_change"] = open_change(staff)
        context["decisions_to_confirm"] = _decisions_to_confirm(staff, today)
    led = _led_settings(staff, today) if staff.has_role(Role.HEAD, Role.DSL) else None
    if staff.has_role(Role.HEAD):
        context["overdue"] = _overdue(staff, today, led)
    if staff.has_role(Role.HEAD, Role.DSL):
        with prepared_plans():
            context["escalations"] = _escalations(staff, today)
    if staff.has_role(Role.AUDITOR):
        context["grants"] = _grants(staff)
    if staff.has_role(Role.SUPERVISOR):
        with prepared_plans():
            context["supervisees"] = _supervisees(staff)
    if staff.role_scope(Role.ORG_ADMIN) == "organisation":
        # Until every step is done; two queries whatever the size of the organisation.
        checklist = setup_checklist(staff.organisation)
        context["setup"] = None if checklist.complete else checklist
    if staff.has_role(Role.ORG_ADMIN):
        current = Q(leaving_date__isnull=True) | Q(leaving_date__gte=today)
        context["admin_counts"] = StaffMember.objects.manageable_by(staff).aggregate(
            current=Count("id", filter=current),
            leavers=Count("id", filter=Q(leaving_date__lt=today)),
            without_supervisor=Count("id", filter=Q(supervisor__isnull=True) & current),
        )
    if staff.has_role(Role.ORG_ADMIN, Role.AUDITOR):
        # An auditor sees only what a live grant covers, and nothing without one.
        with suppress(PermissionDenied):
            context["recent_events"] = [(e, event_sentence(e)) for e in newest_visible_events(staff, 8)]
    if led is not None:
        # The first ten by name, with their staff; a lead of more (a trust's head of every setting) is
        # told how many more, and finds each on the dashboard.
        context["led_settings"] = led[:HOME_LIST]
        context["led_settings_more"] = max(0, len(led) - HOME_LIST)
    return render(request, "accounts/home.html", context)


def _supervisees(staff: StaffMember) -> list[StaffMember]:
    """The people the person supervises, by name: the four columns the table shows, and the settings'
    names and the days only (a head supervising twenty people built every field of sixty rows; issue 14)."""
    return compiled_rows("home: supervisees", _supervisees_of, staff_id=staff.id, today=timezone.localdate())


def _supervisees_of(*, staff_id: int, today):
    return (
        StaffMember.objects.current(on=today)
        .filter(supervisor_id=staff_id)
        .select_related("user")
        .only("user__full_name", "job_title", "new_to_post", "supervisor_id")
        .prefetch_related(
            Prefetch("settings", queryset=Setting.objects.only("name")),
            Prefetch("working_days", queryset=WorkingDay.objects.only("staff_id", "weekday")),
        )
        .order_by("user__full_name")
    )


def _led_settings(staff: StaffMember, today) -> list[Setting]:
    """The settings the head or DSL leads, by name; the first `HOME_LIST` (those the home shows) each with
    `people`: its current staff (not left before today). Counted from the link table alone, less the links
    of the organisation's leavers (a set of a few hundred, hashed once): joining every link to its person
    to read their leaving date took a lead of the whole trust's 100 settings and 12,000 links 9-11 ms, and
    counting all 100 this way 4.7, for a list the home cuts to ten (issue 14). Two queries."""
    scope = _scope_settings(staff, Role.HEAD, Role.DSL)
    settings = staff.organisation.settings.all()
    if scope != "organisation":
        settings = settings.filter(id__in=scope)
    settings = list(settings)
    shown = settings[:HOME_LIST]
    leavers = StaffMember.objects.filter(organisation_id=staff.organisation_id, leaving_date__lt=today).values("id")
    people = dict(
        StaffMember.settings.through.objects.filter(setting_id__in=[s.id for s in shown])
        .values("setting_id")
        .annotate(n=Count("id", filter=~Q(staffmember_id__in=leavers)))
        .values_list("setting_id", "n")
    )
    for setting in shown:
        setting.people = people.get(setting.id, 0)
    return settings


# --- What the person signs, attends and owes ----------------------------------------------------------


@dataclass
class ToSign:
    """A record waiting for the person's signature, named by the other person in it."""

    record: Record
    title: str  # "Your supervision with Amy Hughes" or "Group supervision: Reading team"
    url: str


def _my_supervision(staff: StaffMember) -> dict:
    """Next sessions, agreements and records to sign, open actions, and whether the person is supervised:
    a current agreement as supervisee, or a supervisor named by the organisation admin. Each list's SQL is
    compiled once a thread (`config.compiled`) and run with the person's ids."""
    mine = {"organisation_id": staff.organisation_id, "staff_id": staff.id}
    agreement = next(iter(compiled_rows("home: my agreement", _my_agreement, **mine)), None)
    my_supervisor = None
    if staff.supervisor_id:
        if agreement is not None and agreement.supervisor_id == staff.supervisor_id:
            # Most people's supervisor is the one their agreement names, loaded with it: no query of its own.
            my_supervisor = agreement.supervisor
        else:
            my_supervisor = StaffMember.objects.select_related("user").get(pk=staff.supervisor_id)
    upcoming = compiled_rows("home: upcoming sessions", _upcoming_sessions, **mine, now=timezone.now())
    contracts_to_sign = compiled_rows("home: agreements to sign", _agreements_to_sign, **mine)
    ids = compiled_rows("home: records to sign", _records_to_sign, **mine)
    # Nothing to sign (most homes, most days): no second query for rows.
    waiting = compiled_rows("home: records to sign, named", _records_named, ids=ids) if ids else []
    counted = compiled_rows("home: my actions", _my_actions, staff_id=staff.id, today=timezone.localdate())
    actions = counted[0] if counted else {"open": 0, "overdue": 0}
    return {
        "supervised": agreement is not None or my_supervisor is not None,
        "my_agreement": agreement,
        "my_supervisor": my_supervisor,
        "my_settings": compiled_rows("home: my settings", _my_settings, staff_id=staff.id),
        "my_days": staff.working_days_display,  # "" without working days: one query either way
        "upcoming_sessions": upcoming,
        "contracts_to_sign": contracts_to_sign[:HOME_LIST],
        "more_contracts_to_sign": len(contracts_to_sign) > HOME_LIST,
        "records_to_sign": waiting,
        "to_sign": [_to_sign(staff, r) for r in waiting],
        "my_actions": actions,
    }


def _my_agreement(*, organisation_id: int, staff_id: int):
    """The person's current agreement as supervisee (the latest to start), with their supervisor's name."""
    return (
        Contract.objects.current()
        .filter(organisation_id=organisation_id, supervisee_id=staff_id)
        .select_related("supervisor__user")
        .order_by("-start_date")[:1]
    )


def _upcoming_sessions(*, organisation_id: int, staff_id: int, now):
    """The person's next three scheduled sessions, not yet ended."""
    return (
        Session.objects.filter(organisation_id=organisation_id, attendees=staff_id)
        .filter(status=SessionStatus.SCHEDULED, ends_at__gte=now)
        .select_related("supervisor__user", "group")
        .order_by("starts_at")[:3]
    )


def _agreements_to_sign(*, organisation_id: int, staff_id: int):
    """Agreements not ended that wait for the person's signature, as supervisee or supervisor: their own
    first, then their supervisees' by name; one more than is shown, to know whether to point to the
    agreements page for the rest (a new supervisor may have dozens)."""
    return (
        Contract.objects.filter(organisation_id=organisation_id, end_date__isnull=True)
        .filter(
            Q(supervisee_id=staff_id, supervisee_signed_at__isnull=True)
            | Q(supervisor_id=staff_id, supervisor_signed_at__isnull=True)
        )
        .select_related("supervisee__user", "supervisor__user")
        .order_by(Case(When(supervisee_id=staff_id, then=0), default=1), "supervisee__user__full_name", "pk")[
            : HOME_LIST + 1
        ]
    )


def _my_actions(*, staff_id: int, today):
    """The person's open actions and how many of them are overdue: one row, or none without any."""
    return (
        Action.objects.open()
        .filter(owner_id=staff_id)
        .order_by()
        .values("owner_id")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_date__lt=today)))
        .values("open", "overdue")
    )


def _my_settings(*, staff_id: int):
    """The settings the person works in, by name."""
    return Setting.objects.filter(staff=staff_id)


def _records_to_sign(*, organisation_id: int, staff_id: int):
    """The ids of the first records waiting for the person's signature, by session.

    A UNION of two index scans in the person's organisation: records of the sessions the attendees'
    index lists for them, awaiting them with no standing signature of theirs (one probe of the
    standing-signature index a record), and records awaiting their signature as supervisor. A negated
    join on signatures tests each condition against any signature (three NOT IN subqueries), hiding a
    record from a group participant whose own signature was voided while another's stands. The page's
    ids first, then their rows (`_records_named`): with the joins for the names in the same query,
    PostgreSQL joins every record of the organisation before it applies the person's few (past its
    collapse limit)."""
    signed = Signature.objects.filter(
        record_id=OuterRef("pk"), signer_id=staff_id, voided_at__isnull=True, addendum__isnull=True
    )
    as_participant = Record.objects.filter(
        session_id__in=attended_session_ids(staff_id), status=RecordStatus.AWAITING_SUPERVISEE
    ).filter(~Exists(signed))
    as_supervisor = Record.objects.filter(supervisor_id=staff_id, status=RecordStatus.AWAITING_SUPERVISOR)
    return (
        Record.objects.filter(
            organisation_id=organisation_id,
            pk__in=as_participant.order_by().values("pk").union(as_supervisor.order_by().values("pk")),
        )
        .order_by("session__starts_at")
        .values_list("pk", flat=True)[:HOME_LIST]
    )


def _records_named(*, ids: list[int]):
    """The records with these ids, by session, with the names their titles need."""
    return (
        Record.objects.filter(OneOf("pk", ids))
        .select_related("session__group", "session__contract__supervisee__user", "supervisor__user")
        .only(
            "code",
            "supervisor_id",
            "supervisor__user__full_name",
            "session__starts_at",
            "session__group__name",
            "session__contract__supervisee__user__full_name",
        )
        .order_by("session__starts_at")
    )


def _to_sign(staff: StaffMember, record: Record) -> ToSign:
    session = record.session
    if session.group_id:
        title = f"Group supervision: {session.group.name}"
    elif record.supervisor_id == staff.id and session.contract_id:
        title = f"Your supervision with {session.contract.supervisee.user.full_name}"
    else:
        title = f"Your supervision with {record.supervisor.user.full_name}"
    return ToSign(record=record, title=title, url=reverse("records:record-detail", kwargs={"code": record.code}))


def _decisions_to_confirm(staff: StaffMember, today) -> list[SafeguardingDecision]:
    """The key person's decisions of signed records, not yet confirmed on the child's file; oldest first."""
    decisions = compiled_rows(
        "home: decisions to confirm", _decisions_of, organisation_id=staff.organisation_id, staff_id=staff.id
    )
    follow_up.waiting_since_signed(decisions, today)
    return decisions


def _decisions_of(*, organisation_id: int, staff_id: int):
    return (
        SafeguardingDecision.objects.awaiting_confirmation()
        .filter(organisation_id=organisation_id, key_person_id=staff_id)
        .select_related("record__supervisor__user", "record__session")
        # What the list shows, and the record's signing day: five columns, not every column of five tables.
        .only(
            "code",
            "child_reference",
            "record__locked_at",
            "record__session__starts_at",
            "record__supervisor__user__full_name",
        )
        .order_by("record__locked_at", "id")[:HOME_LIST]
    )


# --- A head's overdue names ---------------------------------------------------------------------------


@dataclass
class Overdue:
    """In the settings the head leads: who had no session held in the last half term to end (and has had
    none since), and who has nothing held or booked in the half term running today."""

    half_term: HalfTerm | None  # the last to end
    name: str
    rows: list  # the dashboard's AgreementRow, those not caught up since
    more: int  # not caught up, beyond the rows shown
    caught_up: int  # overdue in that half term, but a session was held since
    list_url: str
    running: HalfTerm | None = None
    running_name: str = ""
    not_booked: list = field(default_factory=list)
    not_booked_more: int = 0
    running_url: str = ""


def _overdue(staff: StaffMember, today, led: list[Setting] | None = None) -> Overdue | None:
    """The dashboard's overdue figure for the head's settings (the same rule and the same rows), for the
    last half term to end and the one running: the ten names shown and the counts, each read in the
    database; a fixed number of queries whatever the number of agreements. `led`: the settings the
    person leads as head or DSL (`_led_settings`), read already, which are the head's unless they are
    also the DSL of others."""
    scope = _scope_settings(staff, Role.HEAD)
    if scope is None:
        return None
    recent = list(
        HalfTerm.objects.filter(organisation_id=staff.organisation_id, starts__lte=today)
        .select_related("academic_year")
        .order_by("-starts")[:2]
    )
    last = next((h for h in recent if h.ends < today), None)
    running = next((h for h in recent if h.ends >= today), None)
    list_url = reverse("supervision:dashboard-list", kwargs={"figure": "overdue"})
    overdue = Overdue(half_term=last, name="", rows=[], more=0, caught_up=0, list_url=list_url)
    if last is None and running is None:
        return overdue
    if led is not None and scope == _scope_settings(staff, Role.HEAD, Role.DSL):
        settings = led
    else:
        settings = Setting.objects.filter(organisation_id=staff.organisation_id)
        if scope != "organisation":
            settings = settings.filter(id__in=scope)
    dashboard = Dashboard(
        viewer=staff,
        half_term=running or last,
        settings=list(settings),
        whole_organisation=scope == "organisation",
        half_terms=[h for h in (last, running) if h],
        today=today,
    )
    # Only the names shown and their counts, one query a half term (the counts as window functions over
    # every row found): not the dashboard's rows.
    if last is not None:
        # A session held since the half term ended: caught up, so no longer the head's to chase. Those
        # still to chase come first; the caught-up ones only count.
        still_first = dashboard.still_first_listing(last)
        rows, total, counts = still_first.head_counted(HOME_LIST, also={"still": Q(caught_up__isnull=True)})
        overdue.name = half_term_name(last)
        overdue.rows = [r for r in rows if r.caught_up is None]
        overdue.more = max(0, counts["still"] - HOME_LIST)
        overdue.caught_up = total - counts["still"]
        overdue.list_url = f"{list_url}?half_term={last.code}"
    if running is not None:
        rows, total, _ = dashboard.overdue_listing(running).head_counted(HOME_LIST)
        overdue.running = running
        overdue.running_name = half_term_name(running)
        overdue.not_booked = rows
        overdue.not_booked_more = max(0, total - HOME_LIST)
        overdue.running_url = f"{list_url}?half_term={running.code}"
    return overdue


# --- A head's or DSL's escalations --------------------------------------------------------------------


@dataclass
class Escalations:
    flags: list[ConfidentialityFlag]
    decisions: list[SafeguardingDecision]

    def __bool__(self):
        return bool(self.flags or self.decisions)


def _escalations(staff: StaffMember, today) -> Escalations:
    """Open confidentiality flags and decisions not yet on the child's file, in the settings the person
    leads (as the safeguarding follow-up page shows them): kind, setting and dates, never the wording."""
    # Each flag's and decision's setting is the one it keeps (its session's), joined directly: through the
    # record and the session, PostgreSQL took longer to plan the join of seven tables than to run it (a
    # head's decisions: 1.5 ms to plan, 0.2 ms to run; issue 14).
    flags = list(
        follow_up.flags_led_by(staff)
        .filter(resolved_at__isnull=True)
        .select_related("setting")
        .only("code", "kind", "raised_at", "setting__name")
        .order_by("raised_at", "id")[:HOME_LIST]
    )
    # The ten to show found first (each joined to its record for the order only), then their names: with the
    # names in the same query, a trust-wide lead's 470 decisions were each joined to their session, setting,
    # key person and user before ten were kept (5.5 ms, 3.1 this way; issue 14).
    shown = follow_up.decisions_awaiting_led_by(staff).order_by("record__locked_at", "id").values("id")[:HOME_LIST]
    decisions = list(
        SafeguardingDecision.objects.filter(pk__in=shown)
        .select_related("key_person__user", "record", "setting")
        .only("code", "child_reference", "key_person__user__full_name", "record__locked_at", "setting__name")
        .order_by("record__locked_at", "id")[:HOME_LIST]
    )
    follow_up.waiting_since_signed(decisions, today)
    return Escalations(flags=flags, decisions=decisions)


# --- An auditor's grants ------------------------------------------------------------------------------


@dataclass
class Grants:
    live: list[AuditorGrant]
    pending: list[AuditorGrant]


def _grants(staff: StaffMember) -> Grants:
    """The auditor's live grants (what opens records now) and those waiting for a second person's approval.
    Four queries: the grants of each kind, and their settings."""
    live = list(live_grants_for(staff).prefetch_related("settings").order_by("expires_at")[:HOME_LIST])
    pending = list(
        AuditorGrant.objects.filter(
            organisation_id=staff.organisation_id,
            auditor=staff,
            approved_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .prefetch_related("settings")
        .order_by("expires_at")[:HOME_LIST]
    )
    return Grants(live=live, pending=pending)
