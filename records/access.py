"""Who may reach a record, and in which capacity. Strangers get 404.

- "supervisor", "supervisee": the people in the session (write, sign; read, comment, sign).
- "overseer": a head or DSL of the session's setting who is not in it. The record's metadata (date,
  people, status, counts, signatures, safeguarding decisions and flags), never the notes.
- "reader": the same head or DSL while a reason they gave (`RecordAccess`) is unexpired: the notes,
  read-only; every view is logged with the reason, and the supervisee sees who read and why.
- "auditor": someone holding the guardian permission `records.use_auditorgrant` on a live grant
  (approved by a second person, unrevoked, unexpired) whose settings and dates cover the session:
  signed records only, read-only, every view logged.

Organisation admins hold none of these: they never read a record (DESIGN.md section 6).
"""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Lower, Replace, TruncDate
from django.http import Http404
from django.utils import timezone
from guardian.utils import get_user_obj_perms_model

from accounts.models import Role, StaffMember
from accounts.queries import InArray, in_values
from config.compiled import compiled_rows
from config.prepared import prepared_plans
from supervision.models import Session, _scope_settings
from supervision.slots import LONDON

from .models import AuditorGrant, Record, RecordAccess, RecordStatus

# The people in the session: the only capacities that write, sign or comment.
PARTICIPANT = ("supervisor", "supervisee")

GRANT_PERMISSION = "records.use_auditorgrant"


def _holds_grant_permission(user_id, grant_pk):
    """Exists: the user holds `use_auditorgrant` on the grant `grant_pk` (a value or an OuterRef).

    Guardian's generic table keys objects by a text `object_pk`, hence the cast. Joins name the content
    type instead of looking it up, so the check is part of the caller's one query.
    """
    return Exists(
        get_user_obj_perms_model().objects.filter(
            user_id=user_id,
            permission__codename="use_auditorgrant",
            permission__content_type__app_label="records",
            content_type__app_label="records",
            content_type__model="auditorgrant",
            object_pk=Cast(grant_pk, CharField()),
        )
    )


def _live_grants(staff: StaffMember, now) -> QuerySet[AuditorGrant]:
    return _live_grants_of(organisation_id=staff.organisation_id, staff_id=staff.id, user_id=staff.user_id, now=now)


def _live_grants_of(*, organisation_id: int, staff_id: int, user_id: int, now) -> QuerySet[AuditorGrant]:
    return AuditorGrant.objects.filter(
        organisation_id=organisation_id,
        auditor_id=staff_id,
        approved_at__isnull=False,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).filter(_holds_grant_permission(user_id, OuterRef("pk")))


def live_grants_for(staff: StaffMember) -> QuerySet[AuditorGrant]:
    """The person's auditor grants that open records now: approved by a second person, unrevoked,
    unexpired, with the guardian permission, and the person still holds the auditor role. One query."""
    if staff is None or not staff.has_role(Role.AUDITOR):
        return AuditorGrant.objects.none()
    return _live_grants(staff, timezone.now())


def records_in_grant(grant: AuditorGrant) -> QuerySet[Record]:
    """Signed records of sessions held in the grant's settings between its dates (London days).

    Says what a grant covers, not whether it is live: callers reach the grant through
    `live_grants_for` (or an organisation admin's list) first.
    """
    # The settings' ids themselves (from the grant's prefetched settings where the caller loaded them),
    # not a subquery of them: PostgreSQL then reads their sessions by the setting index, where it
    # scanned all 84,000 sessions of the trust for a grant of ten settings (24 to 8 ms; issue 14).
    return Record.objects.filter(
        organisation_id=grant.organisation_id,
        status=RecordStatus.SIGNED,
        session__setting_id__in=_grant_setting_ids(grant),
        **_held_between(grant.covers_from, grant.covers_until),
    )


def _grant_setting_ids(grant: AuditorGrant) -> list[int]:
    """The grant's settings' ids, from its prefetched settings where the caller loaded them."""
    return [setting.pk for setting in grant.settings.all()]


def count_records_in_grant(grant: AuditorGrant) -> int:
    """How many records `records_in_grant` finds, counted from the settings' sessions inwards, a record
    by its session's index: as a join PostgreSQL hashed the sessions and scanned all 77,000 records of
    the trust (23 ms for a grant of ten settings, 13 ms so)."""
    sessions = Q(**_held_between(grant.covers_from, grant.covers_until, session=""))
    return (
        Record.objects.filter(organisation_id=grant.organisation_id, status=RecordStatus.SIGNED)
        .filter(in_values(Record, "session__setting_id", _grant_setting_ids(grant), where=sessions))
        .count()
    )


def _held_between(first: date, last: date, session: str = "session__") -> dict:
    """Sessions starting on London days `first` to `last`, as bounds on `starts_at` itself: the planner
    has statistics for the column, none for its date in London, and guessed a few rows for thousands
    (nested loops over every covered record of a grant, 1.7 s at 12,000 staff). `session`: the path to
    the session ("" on sessions themselves)."""
    return {
        f"{session}starts_at__gte": datetime.combine(first, time.min, tzinfo=LONDON),
        f"{session}starts_at__lt": datetime.combine(last + timedelta(days=1), time.min, tzinfo=LONDON),
    }


def leads_setting(staff: StaffMember, setting_id) -> bool:
    """Head or DSL of the setting, or of the whole organisation (roles are prefetched: no query)."""
    scope = _scope_settings(staff, Role.HEAD, Role.DSL)
    return scope == "organisation" or bool(scope and setting_id in scope)


def record_in_reach(staff: StaffMember, record: Record) -> bool:
    """Whether the person may know which record this is (its metadata, DESIGN.md section 6): anyone
    `get_record_for_user` lets in, in any capacity, and an organisation admin of the session's setting
    (who sees record metadata in scope, never the notes). `record.session` is loaded by the caller."""
    if record.organisation_id != staff.organisation_id:
        return False
    admin_scope = staff.role_scope(Role.ORG_ADMIN)
    if admin_scope == "organisation" or (admin_scope and record.session.setting_id in admin_scope):
        return True
    try:
        get_record_for_user(staff, record.code)
    except Http404:
        return False
    return True


GRANT_COLUMNS = (("grant_code", "code"), ("grant_purpose", "purpose"))


def _record_for(
    *, organisation_id: int, staff_id: int, code, leads_any: bool, auditor: bool, now=None, user_id: int | None = None
):
    """The record `get_record_for_user` reads: what the page header needs, and whether the person is in
    the session, holds an unexpired reason (asked of a head or DSL), or a live grant covering it (asked of
    an auditor)."""
    attends = Session.attendees.through.objects.filter(session_id=OuterRef("session_id"), staffmember_id=staff_id)
    none = Value(None, output_field=CharField())
    reason = {"access_reason": none, "access_expires_at": Value(None, output_field=DateTimeField())}
    if leads_any:
        access = RecordAccess.objects.filter(record_id=OuterRef("pk"), viewer_id=staff_id, expires_at__gt=now)
        access = access.order_by("-expires_at")
        reason = {
            "access_reason": Subquery(access.values("reason")[:1]),
            "access_expires_at": Subquery(access.values("expires_at")[:1]),
        }
    grant = {"grant_code": none, "grant_purpose": none}
    if auditor:
        grants = _live_grants_of(organisation_id=organisation_id, staff_id=staff_id, user_id=user_id, now=now).filter(
            settings=OuterRef("session__setting_id"),
            covers_from__lte=OuterRef("session_date"),
            covers_until__gte=OuterRef("session_date"),
        )
        grant = {name: Subquery(grants.values(column)[:1]) for name, column in GRANT_COLUMNS}
    return (
        Record.objects.filter(organisation_id=organisation_id, code=code)
        .select_related(
            "session__setting",
            "session__group",
            "session__contract__supervisee__user",
            "supervisor__user",
            "template_version__template",
            "organisation",
        )
        .annotate(session_date=TruncDate("session__starts_at"), attends=Exists(attends), **reason, **grant)
        # The code is unique: no order to ask for (`.first()` sorted by the model's ordering).
        .order_by()[:1]
    )


def get_record_for_user(staff: StaffMember, code) -> tuple[Record, str]:
    """(record, capacity); 404 for anyone the module docstring does not name.

    One query whoever asks: the record with what the page header needs, and whether the person is in
    the session, holds an unexpired reason, or holds a live grant covering it. A reader's record carries
    `access_reason` and `access_expires_at`; an auditor's carries `grant_code` and `grant_purpose`.
    """
    # A reason is only asked of a head or DSL, and a grant only of an auditor (below): for anyone else
    # those subqueries are left out, which PostgreSQL would otherwise plan for every read (about two
    # thirds of a supervisor's 10 ms for this query, nearly all of it planning: issue 14).
    leads_any = _scope_settings(staff, Role.HEAD, Role.DSL) is not None
    auditor = staff.has_role(Role.AUDITOR)
    try:
        code = code if isinstance(code, uuid.UUID) else uuid.UUID(str(code))
    except ValueError:
        raise Http404("No such record.") from None
    # The same statement for every record a person of these roles opens, found by its unique code: its
    # SQL compiled once a thread (`config.compiled`) and its plan kept (`config.prepared`). A join of
    # eleven tables, PostgreSQL took 7 ms to plan what it ran in 0.4 (issue 14).
    with prepared_plans():
        # The moment only for a reason's or a grant's expiry, the user only for a grant's permission.
        more = {"now": timezone.now()} if leads_any or auditor else {}
        found = compiled_rows(
            ("record for user", leads_any, auditor),
            partial(_record_for, leads_any=leads_any, auditor=auditor),
            organisation_id=staff.organisation_id,
            staff_id=staff.id,
            code=code,
            **more,
            **({"user_id": staff.user_id} if auditor else {}),
        )
    if not found:
        raise Http404("No such record.")
    record = found[0]
    # The session's supervisor names the session in the audit event of every read. It is the record's
    # own in all but a reassigned session's records: shared here rather than joined again (two more
    # tables were 2 ms of this query's planning; issue 14), and read on its own only when it differs.
    if record.session.supervisor_id == record.supervisor_id:
        record.session.supervisor = record.supervisor
    if record.supervisor_id == staff.id:
        return record, "supervisor"
    if record.attends:
        return record, "supervisee"
    leads = leads_setting(staff, record.session.setting_id)
    if leads and record.access_expires_at is not None:
        return record, "reader"
    if record.grant_code is not None and record.status == RecordStatus.SIGNED and auditor:
        return record, "auditor"
    if leads:
        return record, "overseer"
    raise Http404("No such record.")


# --- The audit trail: which record events a viewer sees, and which details ----------------------------


def _normalised_code(expression):
    """A UUID as 32 hex digits whatever the database: PostgreSQL casts it with dashes, SQLite stores it
    without, and the audit trail keeps it as text with dashes."""
    return Replace(Lower(expression), Value("-"), Value(""))


def live_grant_windows(staff: StaffMember) -> list[tuple[list[int], date, date]]:
    """Each live grant of the person as (its settings' ids, first day, last day); empty without one. One
    query for the grants and one for their settings: a page reads them once and passes them on."""
    return [
        ([s.id for s in grant.settings.all()], grant.covers_from, grant.covers_until)
        for grant in live_grants_for(staff).prefetch_related("settings")
    ]


def _windows_q(windows, session: str) -> Q:
    """Sessions (`session` the path to them) in the settings and days of any of the windows; empty Q for none."""
    q = Q()
    for setting_ids, first, last in windows:
        q |= Q(**{f"{session}setting_id__in": setting_ids}, **_held_between(first, last, session=session))
    return q


def records_in_live_grants(staff: StaffMember, windows=None) -> QuerySet[Record]:
    """Signed records any of the person's live grants covers (`windows`: `live_grant_windows`, when the
    caller has read them). One query for the grants."""
    q = _windows_q(live_grant_windows(staff) if windows is None else windows, session="")
    if not q:
        return Record.objects.none()
    # The grants' sessions first (by the setting index), then their records by the session index: joined
    # the other way, PostgreSQL read all 77,000 records of a 12,000-staff trust to keep 7,000 (issue 14).
    sessions = Session.objects.filter(q, organisation_id=staff.organisation_id).values("id")
    return Record.objects.filter(organisation_id=staff.organisation_id, status=RecordStatus.SIGNED).filter(
        InArray("session_id", sessions)
    )


def audit_events_in_grants(staff: StaffMember, events, *, newest_few: bool = False, windows=None):
    """The events about records the person's live grants cover: all an auditor sees of the trail.

    `newest_few`: the caller keeps a few of the newest (the home's eight). Inside a CASE the IN stays a
    set hashed once and tested on the events read newest first, stopping after those few; as a bare IN
    PostgreSQL joins every event of every covered record (28,000 at 12,000 staff) and sorts them, which
    is the better plan to count or filter the whole trail, worse for eight rows."""
    covered = (
        records_in_live_grants(staff, windows).annotate(hex=_normalised_code(Cast("code", CharField()))).values("hex")
    )
    events = events.filter(object_type="record").alias(hex=_normalised_code("object_code"))
    if newest_few:
        in_grant = Case(When(Q(hex__in=covered), then=Value(True)), default=Value(False))
        return events.alias(in_grant=in_grant).filter(in_grant=True)
    return events.filter(hex__in=covered)


# A record's code as the audit trail keeps it (text: with dashes or without, in either case), which
# PostgreSQL's uuid input reads; other text is never cast (a failed cast would fail the whole query).
UUID_TEXT = r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
# How many of the trail's newest record events `newest_events_in_grants` tests one by one before it falls
# back to the set of every covered record.
NEWEST_WINDOW = 2000


def newest_events_in_grants(staff: StaffMember, events, count: int, windows=None) -> list:
    """The `count` newest events about records the person's live grants cover (the home's recent activity):
    the rows `audit_events_in_grants(..., newest_few=True)` gives, newest first, in one statement.

    Building the set of every covered record is most of that query's time (a grant of ten settings at
    12,000 staff: 7,000 records read by their sessions, 20-28 ms) while the newest events are usually
    about covered records. So on PostgreSQL the statement first reads the trail's newest record events,
    back to the NEWEST_WINDOW-th, testing each by a probe of its record's code (about 1 ms), and only when
    fewer than `count` of them are covered (an auditor of last year's records) falls back to the set:
    a one-time filter on the first part's count, so the set is built only then, and the rows are the
    same either way (the newest `count` are within the window whenever the window holds `count`)."""
    windows = live_grant_windows(staff) if windows is None else windows
    fallback = audit_events_in_grants(staff, events, newest_few=True, windows=windows).order_by("-created_at", "-id")
    if connection.vendor != "postgresql" or not windows:
        return list(fallback[:count])
    record_events = events.filter(object_type="record")
    horizon = record_events.order_by("-created_at").values("created_at")[NEWEST_WINDOW - 1 : NEWEST_WINDOW]
    code = Case(When(object_code__iregex=UUID_TEXT, then=Cast("object_code", UUIDField())), default=None)
    covered = Record.objects.filter(
        _windows_q(windows, session="session__"),
        organisation_id=staff.organisation_id,
        status=RecordStatus.SIGNED,
        code=OuterRef("record_code"),
    )
    newest = (
        record_events.alias(record_code=code)
        .filter(created_at__gte=Coalesce(Subquery(horizon), Value(datetime.min.replace(tzinfo=UTC))))
        .filter(Exists(covered))
        .order_by("-created_at", "-id")
    )
    newest_sql, newest_params = newest[:count].query.sql_with_params()
    fallback_sql, fallback_params = fallback[:count].query.sql_with_params()
    sql = (
        f"WITH newest AS MATERIALIZED ({newest_sql}) "  # noqa: S608 (both compiled by the ORM, values as parameters)
        "SELECT * FROM newest WHERE (SELECT COUNT(*) FROM newest) >= %s "
        f"UNION ALL SELECT * FROM ({fallback_sql}) AS fallback WHERE (SELECT COUNT(*) FROM newest) < %s "
        "ORDER BY created_at DESC, id DESC"
    )
    return list(events.model.objects.raw(sql, (*newest_params, count, *fallback_params, count)))


def records_whose_details_show(staff: StaffMember, codes, windows=None) -> set[str]:
    """Of these record codes, those whose safeguarding details (child references, flag kinds, reasons)
    the person may see in the trail: a head or DSL of the session's setting, or an auditor whose live
    grant covers the record (`windows`: `live_grant_windows`, when the caller has read them). Two queries,
    whatever the number of codes, and the grants' two unless given."""
    codes = [c for c in codes if _is_uuid(c)]
    if not codes:
        return set()
    rows = Record.objects.filter(organisation_id=staff.organisation_id, code__in=codes)
    covered = set()
    if staff.has_role(Role.AUDITOR) and (
        in_grants := _windows_q(live_grant_windows(staff) if windows is None else windows, session="session__")
    ):
        # Each code's record, its session joined by key and tested against the grants: a page's 50 codes,
        # where `records_in_live_grants` (made for thousands) built the grants' 8,000 sessions and PostgreSQL
        # then read every one of their records to keep the page's (22 ms; issue 14).
        covered = {str(c) for c in rows.filter(in_grants, status=RecordStatus.SIGNED).values_list("code", flat=True)}
    return covered | {
        str(code)
        for code, setting_id in rows.values_list("code", "session__setting_id")
        if leads_setting(staff, setting_id)
    }


def _is_uuid(text) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True
