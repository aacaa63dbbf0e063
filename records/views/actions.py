"""Follow-up of records: my actions and my supervisees' (`/actions/`), the key person's confirmation
that a safeguarding decision is on the child's file, and the head's and DSL's safeguarding page.

Nothing here shows a record's sections or comments: only what was agreed (actions), what must reach
the child's file (decisions) and what was escalated (flags). Lists cost a fixed number of queries.
"""

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import role_required, staff_required
from accounts.models import Role, StaffMember
from accounts.queries import InArray, OneOf
from config.compiled import compiled_rows
from supervision.access import require
from supervision.dashboard.lists import Listing
from supervision.dashboard.scope import object_url
from supervision.models import Session
from supervision.views.contracts import _apply_errors

from .. import follow_up, services
from ..forms_actions import ActionDoneForm, DecisionConfirmForm, FlagResolveForm
from ..models import Action, ActionStatus, SafeguardingDecision, participant_record_ids

RECENTLY_DONE_DAYS = 30
# The safeguarding page's lists a page at a time, and the most recently resolved flags it shows.
FLAGS_PER_PAGE = 25
DECISIONS_PER_PAGE = 50
RESOLVED_SHOWN = 50


# --- Access ------------------------------------------------------------------------------------------


def _actions_in_reach(staff: StaffMember):
    """Actions the person may see: owned by them, set in a record they wrote, or in a session they were
    supervised in. `attends` says whether they were supervised in the action's session."""
    attends = Session.attendees.through.objects.filter(
        session_id=OuterRef("record__session_id"), staffmember_id=staff.id
    )
    # A UNION of three index scans (by owner; by the record's supervisor; by the sessions the attendees'
    # index lists for the person) rather than an OR across the record join tested on every action.
    # Each set's ids worked out first and looked up by key (`InArray`): as `IN (subquery)` PostgreSQL hashed
    # them against every action of the organisation, twice (a supervisor of 600 records: two scans of the
    # trust's 47,000 actions, 15 ms).
    owned = Action.objects.filter(owner_id=staff.id).order_by().values("pk")
    in_records = Action.objects.filter(InArray("record_id", participant_record_ids(staff))).order_by().values("pk")
    return (
        Action.objects.filter(InArray("pk", owned.union(in_records)), organisation_id=staff.organisation_id)
        .annotate(attends=Exists(attends))
        .select_related("owner__user", "record__session")
    )


def _get_action_for_user(staff: StaffMember, code) -> tuple[Action, bool]:
    """(action, can_mark_done): its owner and the record's supervisor act; other participants only see."""
    action = get_object_or_404(_actions_in_reach(staff), code=code)
    return action, staff.id in (action.owner_id, action.record.supervisor_id)


def _get_decision_for_user(staff: StaffMember, code) -> tuple[SafeguardingDecision, bool]:
    """(decision, can_confirm). The key person confirms; the record's supervisor, who made the decision,
    may follow it read-only. Anyone else, heads and DSLs included (they follow decisions on the
    safeguarding page), gets 404: the page shows the decision's wording about a child."""
    decision = get_object_or_404(
        SafeguardingDecision.objects.filter(organisation_id=staff.organisation_id)
        .filter(Q(key_person=staff) | Q(record__supervisor=staff))
        .select_related("key_person__user", "record__supervisor__user", "record__session__setting"),
        code=code,
    )
    return decision, decision.key_person_id == staff.id


# --- My actions --------------------------------------------------------------------------------------


# What `_decorate` and records/includes/action_row.html read of an action.
ACTION_ROW_FIELDS = (
    "code",
    "organisation_id",
    "record_id",
    "section_id",
    "description",
    "owner_id",
    "due_date",
    "status",
    "done_at",
    "done_note",
    "owner__user__full_name",
    "record__code",
    "record__supervisor_id",
    "record__session__starts_at",
)


def _decorate(action: Action, staff: StaffMember, today) -> Action:
    """What a row shows, from the row alone."""
    action.can_see_record = action.record.supervisor_id == staff.id or action.attends
    action.can_mark_done = action.status == ActionStatus.OPEN and staff.id in (
        action.owner_id,
        action.record.supervisor_id,
    )
    action.overdue_days = (today - action.due_date).days if action.is_overdue(today) else 0
    action.due_today = action.status == ActionStatus.OPEN and action.due_date == today
    return action


def _split(actions):
    """Open ones (soonest due, so overdue, first), then those done recently (latest first)."""
    actions = list(actions)
    open_ = sorted((a for a in actions if a.status == ActionStatus.OPEN), key=lambda a: (a.due_date, a.id))
    done = sorted((a for a in actions if a.status != ActionStatus.OPEN), key=lambda a: a.done_at, reverse=True)
    return open_, done


@staff_required
@require_GET
def action_list(request):
    staff = request.staff
    today = timezone.localdate()
    since = timezone.now() - timedelta(days=RECENTLY_DONE_DAYS)
    # One query for both lists: mine, and those I set for others in the records I wrote.
    actions = [
        _decorate(a, staff, today)
        for a in _actions_in_reach(staff)
        .filter(Q(owner=staff) | Q(record__supervisor=staff))
        .filter(Q(status=ActionStatus.OPEN) | Q(status=ActionStatus.DONE, done_at__gte=since))
        # The action, and of its owner, record and session only what a row shows (not every column of
        # four joined tables for each of hundreds of rows).
        .only(*ACTION_ROW_FIELDS)
    ]
    mine_open, mine_done = _split(a for a in actions if a.owner_id == staff.id)
    theirs_open, theirs_done = _split(a for a in actions if a.owner_id != staff.id)
    decisions = list(
        SafeguardingDecision.objects.awaiting_confirmation()
        .filter(key_person=staff)
        .select_related("record__supervisor__user", "record__session__setting")
        .order_by("record__locked_at", "id")
    )
    follow_up.waiting_since_signed(decisions, today)
    context = {
        "mine_open": mine_open,
        "mine_done": mine_done,
        "theirs_open": theirs_open,
        "theirs_done": theirs_done,
        "show_supervisees": staff.has_role(Role.SUPERVISOR) or bool(theirs_open or theirs_done),
        "decisions": decisions,
        "recent_days": RECENTLY_DONE_DAYS,
    }
    return render(request, "records/action_list.html", context)


@staff_required
@require_POST
def action_done(request, code):
    staff = request.staff
    action, can_mark_done = _get_action_for_user(staff, code)
    require(can_mark_done, "The action's owner, or the supervisor who set it, marks it done.")
    form = ActionDoneForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.action_mark_done(actor=staff, action=action, note=form.cleaned_data["note"], request=request)
        except ValidationError as e:
            error = " ".join(e.messages)
    else:
        error = " ".join(m for errors in form.errors.values() for m in errors)
    if request.htmx:
        action = _decorate(_actions_in_reach(staff).get(pk=action.pk), staff, timezone.localdate())
        return render(request, "records/includes/action_row.html", {"a": action, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Marked done: {action.description}")
    return redirect("records:action-list")


# --- The key person's confirmation -------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def decision_confirm_view(request, code):
    staff = request.staff
    decision, can_confirm = _get_decision_for_user(staff, code)
    form = None
    if can_confirm and not decision.confirmed_at:
        form = DecisionConfirmForm(request.POST or None, initial={"recorded_on": timezone.localdate()})
    if request.method == "POST":
        require(can_confirm, "Only the key person confirms the decision is on the child's file.")
        if form is None:
            messages.error(request, "This decision is already confirmed.")
            return redirect("records:decision-confirm", code=decision.code)
        if form.is_valid():
            try:
                services.decision_confirm(actor=staff, decision=decision, request=request, **form.cleaned_data)
            except ValidationError as error:
                _apply_errors(form, error)
            else:
                messages.success(request, f"Confirmed: the decision about {decision.child_reference} is on file.")
                return redirect("records:action-list")
    return render(
        request,
        "records/decision_confirm.html",
        {"decision": decision, "form": form, "can_confirm": can_confirm},
    )


# --- Safeguarding follow-up (heads and DSLs) ---------------------------------------------------------


# What templates/records/safeguarding.html shows of each flag and decision (and `record_url_for` needs).
# A flag's people and its session's agreement or group are read after its page (`_name_flags`): joined in,
# they made each list a join of ten tables that PostgreSQL took 4.5-5.5 ms to plan, against 1.5 ms.
FLAG_FIELDS = (
    "code",
    "kind",
    "note",
    "raised_at",
    "resolved_at",
    "resolution",
    "raised_by",
    "resolved_by",
    "record__session__starts_at",
    "record__session__group",
    "record__session__contract",
    "record__session__setting__name",
)
# A decision's two people (its key person, its record's supervisor) likewise, after its page
# (`_name_decisions`): joined in, a trust-wide lead's list joined eight tables for its 450 decisions before
# it kept 50 (3 ms to plan, 6.5 to run).
DECISION_FIELDS = (
    "code",
    "child_reference",
    "key_person",
    "record__code",
    "record__locked_at",
    "record__supervisor",
    "record__session__starts_at",
    "record__session__setting__name",
)


@role_required(Role.HEAD, Role.DSL)
@require_GET
def safeguarding(request):
    staff = request.staff
    today = timezone.localdate()
    since = timezone.now() - timedelta(days=RECENTLY_DONE_DAYS)
    # Each list a page at a time, counted with its page (a window function): a head or DSL of a whole
    # trust leads its whole backlog, hundreds of flags and decisions. Each row carries only what the page
    # shows: the records' and agreements' own texts stay in the database (issue 14).
    flags = follow_up.flags_led_by(staff).select_related("record__session__setting").only(*FLAG_FIELDS)
    open_flags = flags.filter(resolved_at__isnull=True).order_by("raised_at", "id")
    flags_page = Listing(queryset=open_flags, build=list).page(
        _page_wanted(request.GET, "flags")
        or _page_holding(open_flags, request.GET.get("flag"), "raised_at", FLAGS_PER_PAGE),
        FLAGS_PER_PAGE,
    )
    resolved = flags.filter(resolved_at__gte=since).order_by("-resolved_at", "-id")
    resolved_flags, resolved_count, _ = Listing(queryset=resolved, build=list).head_counted(RESOLVED_SHOWN)
    _name_flags(flags_page.object_list, resolved_flags)
    decisions = (
        follow_up.decisions_awaiting_led_by(staff)
        .select_related("record__session__setting")
        .only(*DECISION_FIELDS)
        .order_by("record__locked_at", "id")
    )
    decisions_page = Listing(queryset=decisions, build=list).page(
        _page_wanted(request.GET, "decisions")
        or _page_holding(decisions, request.GET.get("decision"), "record__locked_at", DECISIONS_PER_PAGE),
        DECISIONS_PER_PAGE,
    )
    shown = decisions_page.object_list
    _name_decisions(shown)
    follow_up.waiting_since_signed(shown, today)
    reminded = follow_up.reminders_since(shown, timezone.now() - follow_up.REMIND_AGAIN_AFTER)
    # Each row's addresses from one reverse() a name (`object_url`): a reverse() a row was a tenth of the page
    # (issue 14).
    for d in shown:
        d.record_url = follow_up.record_url_for(staff, d.record)
        d.remind_url = object_url("records:decision-remind", d.code)
        d.reminded_at = reminded.get(str(d.code))
    for f in flags_page.object_list:
        f.resolve_url = object_url("records:flag-resolve", f.code)
    context = {
        "flags_page": flags_page,
        "open_flags": flags_page.object_list,
        "resolved_flags": resolved_flags,
        "resolved_count": resolved_count,
        "decisions_page": decisions_page,
        "decisions": shown,
        # Each list's page links keep the other list's page.
        "flags_query": urlencode({"decisions": decisions_page.number}) if decisions_page.number > 1 else "",
        "decisions_query": urlencode({"flags": flags_page.number}) if flags_page.number > 1 else "",
        "resolve_form": FlagResolveForm(),
        "recent_days": RECENTLY_DONE_DAYS,
    }
    return render(request, "records/safeguarding.html", context)


def _name_flags(open_flags, resolved_flags) -> None:
    """The people of the flags shown (who raised and who resolved each) in one query, and the open flags'
    sessions' supervisee or group in another: a fixed number of queries, and each list's own query joins
    only the setting."""
    shown = [*open_flags, *resolved_flags]
    people = _people({i for f in shown for i in (f.raised_by_id, f.resolved_by_id) if i is not None})
    for f in shown:
        f.raised_by = people.get(f.raised_by_id)
        f.resolved_by = people.get(f.resolved_by_id)
    sessions = {f.record.session_id for f in open_flags}
    if not sessions:
        return
    found = {s.pk: s for s in compiled_rows("safeguarding: sessions named", _sessions_named, ids=sorted(sessions))}
    for f in open_flags:
        named = found.get(f.record.session_id)
        if named is not None:
            f.record.session.group, f.record.session.contract = named.group, named.contract


def _sessions_named(*, ids: list[int]):
    return (
        Session.objects.filter(OneOf("id", ids))
        .select_related("group", "contract__supervisee__user")
        .only("group__name", "contract__supervisee__user__full_name")
    )


def _people(ids) -> dict[int, StaffMember]:
    """The people with these ids, each with their name only; no query for none. Compiled once a thread
    (`config.compiled`), as the sessions' names are."""
    if not ids:
        return {}
    return {p.pk: p for p in compiled_rows("safeguarding: people named", _people_named, ids=sorted(ids))}


def _people_named(*, ids: list[int]):
    return StaffMember.objects.filter(OneOf("id", ids)).select_related("user").only("user__full_name")


def _name_decisions(decisions) -> None:
    """The key people and the records' supervisors of the decisions shown, by name, in one query."""
    people = _people({i for d in decisions for i in (d.key_person_id, d.record.supervisor_id)})
    for d in decisions:
        d.key_person = people[d.key_person_id]
        d.record.supervisor = people[d.record.supervisor_id]


def _page_wanted(params, name: str) -> int | None:
    """The page of a list named in `params` (the query, or a form that returns to it): a whole number from
    1, else None (the first page, or the one holding the item a link names)."""
    value = params.get(name, "")
    if not value.isascii() or not value.isdigit() or len(value) > 7:
        return None
    number = int(value)
    return number if number >= 1 else None


def _back_to(request, name: str) -> str:
    """The safeguarding page at the page of the list `name` that the form was sent from."""
    page = _page_wanted(request.POST, name)
    return reverse("records:safeguarding") + (f"?{name}={page}" if page else "")


def _page_holding(items, code, key: str, per_page: int) -> int | None:
    """The page of `items` (ordered by `key`, then id) that holds the one whose code a link names
    (`follow_up.safeguarding_url`), or None when it is not in the list (confirmed, resolved or not the
    viewer's): a link from an email or a notification opens the page with its row."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        return None
    item = items.filter(code=code).values(key, "id").first()
    if item is None or item[key] is None:
        return None
    before = items.filter(Q(**{f"{key}__lt": item[key]}) | Q(**{key: item[key], "id__lt": item["id"]})).count()
    return before // per_page + 1


@role_required(Role.HEAD, Role.DSL)
@require_POST
def decision_remind(request, code):
    """Remind the key person to confirm the decision: once a day, whoever presses (a second press says when)."""
    staff = request.staff
    decision = get_object_or_404(follow_up.decisions_led_by(staff).select_related("key_person__user"), code=code)
    name = decision.key_person.full_name
    try:
        reminder = follow_up.decision_remind(actor=staff, decision=decision, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        when = timezone.localtime(reminder.at)
        said = f"{when:%a} {when.day} {when:%b %Y} at {when:%H:%M}"
        if reminder.sent:
            messages.success(
                request,
                f"Reminder sent to {name}: a notification and an email asking them to confirm the decision about "
                f"{decision.child_reference} is on the child's file.",
            )
        else:
            messages.info(
                request,
                f"{name} was already reminded about {decision.child_reference} on {said}. "
                "A reminder goes at most once a day.",
            )
    return redirect(f"{_back_to(request, 'decisions')}#decision-{decision.code}")


@role_required(Role.HEAD, Role.DSL)
@require_POST
def flag_resolve(request, code):
    staff = request.staff
    flag = get_object_or_404(follow_up.flags_led_by(staff), code=code)
    form = FlagResolveForm(request.POST)
    if form.is_valid():
        try:
            follow_up.flag_resolve(actor=staff, flag=flag, resolution=form.cleaned_data["resolution"], request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Resolved: {flag.get_kind_display()}.")
    else:
        messages.error(request, "Say what was done before resolving the flag.")
    return redirect(_back_to(request, "flags"))
