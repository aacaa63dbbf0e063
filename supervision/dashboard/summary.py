"""The coverage of ended half terms, worked out once and kept until the data changes (issue 14).

The chart of a trust's dashboard counts, for six half terms, every agreement owed supervision and how it
went (`coverage.count_owed`): at 12,000 staff that is the rules of 20,000 agreements six times over, and
the sessions of a year read for each kind of set, about half a second of every dashboard. Five of the six
half terms have ended, and an ended half term's coverage changes only when someone changes its past: a
record signed late, a session moved or cancelled after the event, an agreement ended or backdated, a
person's start or leaving date or settings, a closure day, an override or the half term's own dates.

So a beat task (`refresh`) writes each ended half term's owed agreements with their held, booked and
covered flags to `AgreementCoverage` and marks its `CoverageState` fresh. Triggers in the database
(`PG_INSTALL`) mark a half term stale in the transaction of any write that could change its coverage,
through the views, a bulk update or raw SQL alike. The dashboard reads a half term from the summary only
while it is fresh; a stale or never summarised half term is worked out from the data as before, so a
page never shows coverage older than the data, and the next run of the task catches up.

Each trigger marks more than it must rather than less: a session one day either side of its start
(half terms end at local midnight, the database speaks UTC), an agreement's or person's changed date and
everything after it. On SQLite (the embedded default for small settings, where the live count is fast)
there are no triggers, and the summary is neither written nor read.

The task and a write cannot cross: every half term has its state row from the day it is made; the task
locks the row before it reads the data, and a write's trigger locks the same row (fresh or not) to mark
it, so a write the task's reading missed waits and marks the state stale after the task commits, and a
write that got there first is committed before the task reads.
"""

import logging
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ..models import AgreementCoverage, Contract, CoverageState, HalfTerm, SettingCoverage
from .coverage import COUNTED, OwedAgreements

logger = logging.getLogger(__name__)

# How far back the task keeps ended half terms: the chart shows the chosen half term and five before it,
# and the dashboard offers the half terms of the current and the previous academic year.
KEPT_FOR = timedelta(days=2 * 366)

# The ended half terms (of one organisation) that a change between two days could touch, marked stale:
# those ended by tomorrow (UTC), so that a write on a half term's last day marks it too. First each is
# locked, fresh or not, in the order of their ids: a write waits for the task summarising one of them to
# commit (see the module's docstring), and two writes that each touch several wait for each other rather
# than deadlock. Then, in a statement that sees what the task committed, those fresh are marked: a row is
# written once a transaction, however many of its rows touch the half term (a lock already held is not
# taken again). Half terms still to end are left alone: no write of the running one waits.
# The half terms a call of `coverage_stale` touches.
_TOUCHED = """h.id = state.half_term_id AND h.organisation_id = org
      AND h.ends >= first_day AND h.starts <= last_day AND h.ends <= CURRENT_DATE + 1"""

_STALE = f"""
CREATE OR REPLACE FUNCTION coverage_stale(org bigint, first_day date, last_day date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM supervision_coveragestate AS state, supervision_halfterm AS h
    WHERE {_TOUCHED}
    ORDER BY state.id
    FOR UPDATE OF state;
    UPDATE supervision_coveragestate AS state SET fresh = false
    FROM supervision_halfterm AS h
    WHERE state.fresh AND {_TOUCHED};
END
$$
"""  # noqa: S608 (our own constant, no input)


def _old_and_new(function: str, perform: str) -> str:
    """A trigger function that runs `perform` for the row as it was (unless inserted) and as it is
    (unless deleted): `{row}` in it stands for OLD, then NEW."""
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {perform.format(row="OLD")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {perform.format(row="NEW")};
    END IF;
    RETURN NULL;
END
$$
"""


# A session, an attendance, a record: the half term of the session's start (a day either side).
_SESSION = _old_and_new(
    "coverage_session_changed",
    "PERFORM coverage_stale({row}.organisation_id, {row}.starts_at::date - 1, {row}.starts_at::date + 1)",
)
_OF_SESSION = _old_and_new(
    "coverage_of_session_changed",
    "PERFORM coverage_stale(s.organisation_id, s.starts_at::date - 1, s.starts_at::date + 1)"
    " FROM supervision_session AS s WHERE s.id = {row}.session_id",
)

# An agreement: from its start on when it comes or goes or its terms change; from the earlier of an old and
# a new end or signature (less a day: UTC) when only those change. LEAST ignores the nulls.
_CONTRACT = """
CREATE OR REPLACE FUNCTION coverage_contract_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first_day date;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM coverage_stale(NEW.organisation_id, NEW.start_date, 'infinity');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM coverage_stale(OLD.organisation_id, OLD.start_date, 'infinity');
    ELSE
        IF OLD.start_date IS DISTINCT FROM NEW.start_date OR OLD.previous_id IS DISTINCT FROM NEW.previous_id
           OR OLD.frequency IS DISTINCT FROM NEW.frequency OR OLD.kind IS DISTINCT FROM NEW.kind
           OR OLD.supervisee_id IS DISTINCT FROM NEW.supervisee_id
           OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id THEN
            first_day := LEAST(OLD.start_date, NEW.start_date);
        ELSE
            first_day := LEAST(
                CASE WHEN OLD.end_date IS DISTINCT FROM NEW.end_date THEN
                    LEAST(COALESCE(OLD.end_date, 'infinity'), COALESCE(NEW.end_date, 'infinity')) END,
                CASE WHEN OLD.supervisee_signed_at IS DISTINCT FROM NEW.supervisee_signed_at THEN
                    LEAST(COALESCE(OLD.supervisee_signed_at::date, 'infinity'),
                          COALESCE(NEW.supervisee_signed_at::date, 'infinity')) - 1 END,
                CASE WHEN OLD.supervisor_signed_at IS DISTINCT FROM NEW.supervisor_signed_at THEN
                    LEAST(COALESCE(OLD.supervisor_signed_at::date, 'infinity'),
                          COALESCE(NEW.supervisor_signed_at::date, 'infinity')) - 1 END
            );
        END IF;
        PERFORM coverage_stale(OLD.organisation_id, first_day, 'infinity');
        PERFORM coverage_stale(NEW.organisation_id, first_day, 'infinity');
    END IF;
    RETURN NULL;
END
$$
"""

# A person: from the earlier start when the start or the kind of employment changes (agency staff are due
# five weeks in), from the earlier leaving date when that changes, everything when new to post changes.
_STAFF = """
CREATE OR REPLACE FUNCTION coverage_staff_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM coverage_stale(NEW.organisation_id, LEAST(
        CASE WHEN OLD.start_date IS DISTINCT FROM NEW.start_date
                  OR OLD.employment_type IS DISTINCT FROM NEW.employment_type THEN
            LEAST(OLD.start_date, NEW.start_date) END,
        CASE WHEN OLD.leaving_date IS DISTINCT FROM NEW.leaving_date THEN
            LEAST(COALESCE(OLD.leaving_date, 'infinity'), COALESCE(NEW.leaving_date, 'infinity')) END,
        CASE WHEN OLD.new_to_post IS DISTINCT FROM NEW.new_to_post THEN '-infinity'::date END
    ), 'infinity');
    RETURN NULL;
END
$$
"""

# A person joining or leaving a setting changes the setting's counts (and which closure days are theirs):
# from the start of their first agreement on.
_STAFF_SETTING = _old_and_new(
    "coverage_staff_setting_changed",
    "PERFORM coverage_stale(c.organisation_id, MIN(c.start_date), 'infinity') FROM supervision_contract AS c"
    " WHERE c.supervisee_id = {row}.staffmember_id GROUP BY c.organisation_id",
)
_CLOSURE = _old_and_new(
    "coverage_closure_changed", "PERFORM coverage_stale({row}.organisation_id, {row}.date, {row}.date)"
)
_OVERRIDE = _old_and_new(
    "coverage_override_changed",
    "PERFORM coverage_stale(c.organisation_id, {row}.starts, {row}.ends)"
    " FROM supervision_contract AS c WHERE c.id = {row}.contract_id",
)

_HALF_TERM = """
CREATE OR REPLACE FUNCTION coverage_half_term_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE supervision_coveragestate SET fresh = false WHERE half_term_id = NEW.id;
    RETURN NULL;
END
$$
"""

# Every half term has its state row from the start, long before it ends: a write can only mark a row
# that exists, and the task never summarises a half term whose row a running write could not see.
_HALF_TERM_ADDED = """
CREATE OR REPLACE FUNCTION coverage_half_term_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO supervision_coveragestate (half_term_id, fresh) VALUES (NEW.id, false)
    ON CONFLICT (half_term_id) DO NOTHING;
    RETURN NULL;
END
$$
"""


def _changed(*columns: str) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


# (trigger, table, function, events, condition on an update)
TRIGGERS = [
    ("coverage_session", "supervision_session", "coverage_session_changed", "INSERT OR DELETE", None),
    (
        "coverage_session_update",
        "supervision_session",
        "coverage_session_changed",
        "UPDATE",
        _changed("status", "starts_at", "kind", "contract_id", "organisation_id"),
    ),
    ("coverage_attendance", "supervision_session_attendees", "coverage_of_session_changed", "INSERT OR DELETE", None),
    (
        "coverage_attendance_update",
        "supervision_session_attendees",
        "coverage_of_session_changed",
        "UPDATE",
        _changed("session_id", "staffmember_id"),
    ),
    ("coverage_record", "records_record", "coverage_of_session_changed", "INSERT OR DELETE", None),
    (
        "coverage_record_update",
        "records_record",
        "coverage_of_session_changed",
        "UPDATE",
        _changed("status", "session_id"),
    ),
    ("coverage_contract", "supervision_contract", "coverage_contract_changed", "INSERT OR DELETE", None),
    (
        "coverage_contract_update",
        "supervision_contract",
        "coverage_contract_changed",
        "UPDATE",
        _changed(
            "start_date",
            "end_date",
            "supervisee_signed_at",
            "supervisor_signed_at",
            "previous_id",
            "frequency",
            "kind",
            "supervisee_id",
            "organisation_id",
        ),
    ),
    (
        "coverage_staff_update",
        "accounts_staffmember",
        "coverage_staff_changed",
        "UPDATE",
        _changed("start_date", "leaving_date", "employment_type", "new_to_post"),
    ),
    (
        "coverage_staff_setting",
        "accounts_staffmember_settings",
        "coverage_staff_setting_changed",
        "INSERT OR DELETE",
        None,
    ),
    (
        "coverage_staff_setting_update",
        "accounts_staffmember_settings",
        "coverage_staff_setting_changed",
        "UPDATE",
        _changed("setting_id", "staffmember_id"),
    ),
    ("coverage_closure", "supervision_closureday", "coverage_closure_changed", "INSERT OR DELETE OR UPDATE", None),
    (
        "coverage_override",
        "supervision_frequencyoverride",
        "coverage_override_changed",
        "INSERT OR DELETE OR UPDATE",
        None,
    ),
    ("coverage_half_term_added", "supervision_halfterm", "coverage_half_term_added", "INSERT", None),
    (
        "coverage_half_term_update",
        "supervision_halfterm",
        "coverage_half_term_changed",
        "UPDATE",
        _changed("starts", "ends", "half", "organisation_id"),
    ),
]
FUNCTIONS = [
    _STALE,
    _SESSION,
    _OF_SESSION,
    _CONTRACT,
    _STAFF,
    _STAFF_SETTING,
    _CLOSURE,
    _OVERRIDE,
    _HALF_TERM,
    _HALF_TERM_ADDED,
]


def _create_trigger(name, table, function, events, condition) -> str:
    when = f" WHEN ({condition})" if condition else ""
    return f"CREATE TRIGGER {name} AFTER {events} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {function}()"


PG_INSTALL = [
    *FUNCTIONS,
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in TRIGGERS),
    *(_create_trigger(*t) for t in TRIGGERS),
    # The half terms there already.
    """INSERT INTO supervision_coveragestate (half_term_id, fresh) SELECT id, false FROM supervision_halfterm
    ON CONFLICT (half_term_id) DO NOTHING""",
]
PG_UNINSTALL = [
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in TRIGGERS),
    *(f"DROP FUNCTION IF EXISTS {f}()" for f in sorted({function for _, _, function, *_ in TRIGGERS})),
    "DROP FUNCTION IF EXISTS coverage_stale(bigint, date, date)",
]


def install(schema_editor) -> None:
    """Install the triggers (a migration's forward step); nothing on SQLite."""
    if schema_editor.connection.vendor == "postgresql":
        for sql in PG_INSTALL:
            schema_editor.execute(sql)


def uninstall(schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for sql in PG_UNINSTALL:
            schema_editor.execute(sql)


def enabled() -> bool:
    return connection.vendor == "postgresql"


# --- Writing ---------------------------------------------------------------------------------------


def refresh(*, today: date | None = None) -> dict:
    """Summarise every ended half term of the last two years (every organisation) that is not fresh:
    newest first, each in its own transaction. Returns {"summarised": n, "agreements": n}."""
    done = {"summarised": 0, "agreements": 0}
    if not enabled():
        return done
    today = today or timezone.localdate()
    due = (
        HalfTerm.objects.filter(ends__lt=today, ends__gte=today - KEPT_FOR)
        .exclude(coverage_state__fresh=True)
        .order_by("-ends", "id")
        .values_list("id", flat=True)
    )
    for half_term_id in list(due):
        state, made = CoverageState.objects.get_or_create(half_term_id=half_term_id)
        if made:
            # Made with its half term by a trigger; one made here (none should be) is summarised next
            # time, once any write that began before it could be seen has ended.
            logger.warning("Coverage: half term %s had no state row; summarised next time.", half_term_id)
            continue
        done["agreements"] += summarise(half_term_id)
        done["summarised"] += 1
    return done


def summarise(half_term_id: int) -> int:
    """Work out one ended half term's coverage from the data and mark it fresh: the number of agreements
    owed supervision in it."""
    with transaction.atomic():
        state = CoverageState.objects.select_for_update().select_related("half_term").get(half_term_id=half_term_id)
        half_term = state.half_term
        AgreementCoverage.objects.filter(half_term_id=half_term_id).delete()
        owed = OwedAgreements(
            Contract.objects.filter(organisation_id=half_term.organisation_id),
            half_term,
            organisation_id=half_term.organisation_id,
        )
        rows = (
            owed.queryset()
            .order_by()
            .annotate(held_=owed.held_q(), booked_=owed.booked_q(), covered_=owed.signed_q())
            .values("id", "held_", "booked_", "covered_")
        )
        select, params = rows.query.sql_with_params()
        table = AgreementCoverage._meta.db_table
        with connection.cursor() as cursor:
            # Our own table and Django's compiled query; the half term is a parameter.
            cursor.execute(
                f"INSERT INTO {table} (half_term_id, contract_id, held, booked, covered)"  # noqa: S608
                f" SELECT %s, owed.* FROM ({select}) AS owed",
                (half_term_id, *params),
            )
            count = cursor.rowcount
        # The counts for the whole organisation and for each setting, for the charts that read them.
        SettingCoverage.objects.filter(half_term_id=half_term_id).delete()
        rows = AgreementCoverage.objects.filter(half_term_id=half_term_id).order_by()
        whole = rows.aggregate(**FIGURES)
        by_setting = rows.values(setting_id=F("contract__supervisee__settings")).filter(setting_id__isnull=False)
        SettingCoverage.objects.bulk_create(
            [
                SettingCoverage(half_term_id=half_term_id, setting_id=None, **whole),
                *(
                    SettingCoverage(half_term_id=half_term_id, **values)
                    for values in by_setting.annotate(**FIGURES).order_by()
                ),
            ]
        )
        state.fresh = True
        state.computed_at = timezone.now()
        state.save(update_fields=["fresh", "computed_at"])
    return count


# --- Reading ---------------------------------------------------------------------------------------


def fresh(half_term_ids) -> set[int]:
    """Those of the half terms whose summary is fresh (none on SQLite)."""
    if not enabled() or not half_term_ids:
        return set()
    return set(
        CoverageState.objects.filter(half_term_id__in=list(half_term_ids), fresh=True).values_list(
            "half_term_id", flat=True
        )
    )


FIGURES = {
    "owed": Count("id"),
    "held": Count("id", filter=Q(held=True)),
    "booked": Count("id", filter=Q(booked=True)),
    "covered": Count("id", filter=Q(covered=True)),
}


def count(contracts, half_term_ids, *, scope=None, setting_ids=(), held_in=()) -> dict:
    """`coverage.count_owed`'s counts for fresh half terms, from the summary, for the agreements of
    `contracts`, which are those of the organisation (`scope` None) or of the people of the settings
    `scope`: for the scope as a whole (key None) and for each of `setting_ids` (by the supervisee's
    settings). The whole organisation and each setting are counted already; only a scope of several
    settings (someone in two of them counts once) counts its agreements' rows."""
    half_term_ids = list(half_term_ids)
    result = {}

    def add(setting_id, half_term_id, values):
        counted = {k: values[k] for k in COUNTED}
        if half_term_id not in held_in:
            counted["held"] = counted["booked"] = 0
        result.setdefault(setting_id, {})[half_term_id] = counted

    setting_ids = list(setting_ids)
    # The scope as a whole has a row of its own: the organisation's (setting None) or its one setting's.
    counted_whole = scope is None or len(scope) == 1
    whole = scope[0] if counted_whole and scope else None
    if not counted_whole:
        rows = AgreementCoverage.objects.filter(half_term_id__in=half_term_ids, contract_id__in=contracts.values("id"))
        for values in rows.order_by().values("half_term_id").annotate(**FIGURES):
            add(None, values["half_term_id"], values)
    wanted = {*setting_ids, whole} if counted_whole else set(setting_ids)
    which = Q(setting_id__in=[s for s in wanted if s is not None])
    if None in wanted:
        which |= Q(setting__isnull=True)
    counts = SettingCoverage.objects.filter(which, half_term_id__in=half_term_ids)
    for values in counts.values("half_term_id", "setting_id", *COUNTED):
        if counted_whole and values["setting_id"] == whole:
            add(None, values["half_term_id"], values)
        if values["setting_id"] in setting_ids:
            add(values["setting_id"], values["half_term_id"], values)
    return result
