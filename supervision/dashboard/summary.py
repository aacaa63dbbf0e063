"""The coverage of the running and ended half terms, worked out once and kept up to the data (issue 14).

The chart of a trust's dashboard counts, for six half terms, every agreement owed supervision and how it
went (`coverage.count_owed`): at 12,000 staff that is the rules of 20,000 agreements six times over, and
the sessions of a year read for each kind of set, about half a second of every dashboard. Who is owed
supervision in a half term changes only with its rarely written inputs: an agreement made, ended or
backdated, a person's start or leaving date or settings, a closure day, an override or the half term's own
dates. How each agreement went there changes with sessions, attendances and records, written all day in
the running half term and now and then (a record signed late, a session moved after the event) in an
ended one.

So a beat task (`refresh`) writes the running half term's and each ended half term's owed agreements with
their held, booked and covered flags, the supervisee's name, their last held session and the first held
since the half term ended to `AgreementCoverage`, and their counts to `SettingCoverage`, and marks its
`CoverageState` fresh. Triggers in the database (`PG_INSTALL`) keep it exact in the transaction of every
write, through the views, a bulk update or raw SQL alike:

- a write to a rare input marks the half terms it could touch stale (the running one too), and so does
  a person's new name;
- a session, attendance or record of an ended half term marks it stale;
- and every one of those names its people in `CoverageTouched` in every half term kept (their last
  held sessions change anywhere), taking no lock, and the next read of a half term (`fresh`) works
  their agreements out again under the state's lock and adds the differences to the counts (`catch_up`).

The dashboard reads a half term from the summary only while it is fresh; a stale or never summarised half
term is worked out from the data as before, so a page never shows coverage older than the data, and the
next run of the task catches up.

Each trigger marks more than it must rather than less: a session one day either side of its start
(half terms end at local midnight, the database speaks UTC), an agreement's or person's changed date and
everything after it. On SQLite (the embedded default for small settings, where the live count is fast)
there are no triggers, and the summary is neither written nor read.

The task and a write cannot cross: every half term has its state row from the day it is made; the task
locks the row before it reads the data, and a write's trigger that marks locks the same row (fresh or not),
so a write the task's reading missed waits and marks the state stale after the task commits, and a write
that got there first is committed before the task reads. A name is taken away before the data is read
(by the task or a read catching up), so a write committed after that leaves its name for the next read.
"""

import logging
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import StaffMember

from ..models import AgreementCoverage, Contract, CoverageState, CoverageTouched, HalfTerm, SettingCoverage
from .coverage import COUNTED, OwedAgreements

logger = logging.getLogger(__name__)

# How far back the task keeps ended half terms: the chart shows the chosen half term and five before it,
# and the dashboard offers the half terms of the current and the previous academic year.
KEPT_FOR = timedelta(days=2 * 366)


# The half terms (of one organisation) that a change between two days could touch, marked stale: for a
# change to who is owed supervision (`coverage_stale`: an agreement, a person, a closure day, an override),
# those started by tomorrow (UTC), the running one too; for a session, an attendance or a record
# (`coverage_stale_ended`), those ended by tomorrow, so that a write on a half term's last day marks it
# too. First each is locked, fresh or not, in the order of their ids: a write waits for the task
# summarising one of them to commit (see the module's docstring), and two writes that each touch several
# wait for each other rather than deadlock. Then, in a statement that sees what the task committed, those
# fresh are marked: a row is written once a transaction, however many of its rows touch the half term (a
# lock already held is not taken again). Half terms still to start are left alone.
def _stale_function(name: str, which: str) -> str:
    touched = f"""h.id = state.half_term_id AND h.organisation_id = org
      AND h.ends >= first_day AND h.starts <= last_day AND {which}"""
    return f"""
CREATE OR REPLACE FUNCTION {name}(org bigint, first_day date, last_day date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM supervision_coveragestate AS state, supervision_halfterm AS h
    WHERE {touched}
    ORDER BY state.id
    FOR UPDATE OF state;
    UPDATE supervision_coveragestate AS state SET fresh = false
    FROM supervision_halfterm AS h
    WHERE state.fresh AND {touched};
END
$$
"""  # noqa: S608 (our own constants, no input)


_STALE = _stale_function("coverage_stale", "h.starts <= CURRENT_DATE + 1")
_STALE_ENDED = _stale_function("coverage_stale_ended", "h.ends <= CURRENT_DATE + 1")

# A session, an attendance or a record changes only how the agreements of the people in it went: whether
# they had a session held, booked or signed in its half term, and their last held session and the first
# since each earlier half term ended. Written all day in the running half term, so it marks nothing stale
# there and waits for no lock: it names the people (the supervisee of the session's agreement, and everyone
# attending) in `CoverageTouched` in every half term the task keeps, in the writing transaction, and the next
# read of a half term works out their agreements again (`catch_up`). An ended half term holding the session
# (a day either side) is also marked stale, as before. Only rows found by their primary or unique keys are
# read. A half term is kept while it ended within `KEPT_FOR` (here in days, with a day either side).
_NAMED = f"""
CREATE OR REPLACE FUNCTION coverage_people_touched(org bigint, day date, session bigint, contract bigint, person bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM coverage_stale_ended(org, day - 1, day + 1);
    INSERT INTO supervision_coveragetouched (half_term_id, person_id)
    SELECT h.id, people.id
    FROM supervision_halfterm AS h, (
        SELECT person AS id WHERE person IS NOT NULL
        UNION SELECT c.supervisee_id FROM supervision_contract AS c WHERE c.id = contract
        UNION SELECT a.staffmember_id FROM supervision_session_attendees AS a
              WHERE person IS NULL AND a.session_id = session
    ) AS people
    WHERE h.organisation_id = org AND h.starts <= CURRENT_DATE + 1 AND h.ends >= CURRENT_DATE - {KEPT_FOR.days + 1}
    ON CONFLICT (half_term_id, person_id) DO NOTHING;
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


# A session, an attendance, a record: the half term of the session's start (a day either side). A session
# or its record names the supervisee of its agreement and everyone attending; an attendance, its person.
_SESSION = _old_and_new(
    "coverage_session_changed",
    "PERFORM coverage_people_touched({row}.organisation_id, {row}.starts_at::date, {row}.id, {row}.contract_id, NULL)",
)
_OF_SESSION = _old_and_new(
    "coverage_of_session_changed",
    "PERFORM coverage_people_touched(s.organisation_id, s.starts_at::date, s.id, s.contract_id, NULL)"
    " FROM supervision_session AS s WHERE s.id = {row}.session_id",
)
_ATTENDANCE = _old_and_new(
    "coverage_attendance_changed",
    "PERFORM coverage_people_touched(s.organisation_id, s.starts_at::date, s.id, NULL, {row}.staffmember_id)"
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
        CASE WHEN OLD.new_to_post IS DISTINCT FROM NEW.new_to_post
                  OR OLD.user_id IS DISTINCT FROM NEW.user_id THEN '-infinity'::date END
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

# A person's new name (the summary keeps it, for the overdue list's order): every half term of their
# organisation. Rare, so marked stale rather than named.
_USER = """
CREATE OR REPLACE FUNCTION coverage_user_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM coverage_stale(s.organisation_id, '-infinity', 'infinity')
    FROM accounts_staffmember AS s WHERE s.user_id = NEW.id;
    RETURN NULL;
END
$$
"""

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
    ("coverage_attendance", "supervision_session_attendees", "coverage_attendance_changed", "INSERT OR DELETE", None),
    (
        "coverage_attendance_update",
        "supervision_session_attendees",
        "coverage_attendance_changed",
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
        _changed("start_date", "leaving_date", "employment_type", "new_to_post", "user_id"),
    ),
    ("coverage_user_update", "accounts_user", "coverage_user_renamed", "UPDATE", _changed("full_name")),
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
    _STALE_ENDED,
    _NAMED,
    _SESSION,
    _OF_SESSION,
    _ATTENDANCE,
    _CONTRACT,
    _STAFF,
    _STAFF_SETTING,
    _CLOSURE,
    _OVERRIDE,
    _USER,
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
    "DROP FUNCTION IF EXISTS coverage_people_touched(bigint, date, bigint, bigint, bigint)",
    "DROP FUNCTION IF EXISTS coverage_stale_ended(bigint, date, date)",
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
    """Summarise the running half term and every ended half term of the last two years (every
    organisation) that is not fresh: newest first, each in its own transaction. Returns
    {"summarised": n, "agreements": n}."""
    done = {"summarised": 0, "agreements": 0}
    if not enabled():
        return done
    today = today or timezone.localdate()
    due = (
        HalfTerm.objects.filter(starts__lte=today, ends__gte=today - KEPT_FOR)
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


# The columns the overdue list sorts by and shows, as `summarise` and `catch_up` work them out.
ORDER_COLUMNS = ("name_", "last_held_", "caught_up_")
# A summary row's columns that `catch_up` works out again: the three flags, then those.
KEPT = ("held", "booked", "covered", "name", "last_held", "caught_up")


def _order_columns(owed: OwedAgreements) -> dict:
    return {
        "name_": F("supervisee__user__full_name"),
        "last_held_": owed.last_held(),
        "caught_up_": owed.last_held(after=True),
    }


def summarise(half_term_id: int) -> int:
    """Work out one half term's coverage from the data and mark it fresh: the number of agreements owed
    supervision in it."""
    with transaction.atomic():
        state = (
            CoverageState.objects.select_for_update(of=("self",))
            .select_related("half_term")
            .get(half_term_id=half_term_id)
        )
        half_term = state.half_term
        # The people named so far are worked out with everyone else below; those named by a write that
        # commits once this statement has run stay named, for the next read (`catch_up`).
        CoverageTouched.objects.filter(half_term_id=half_term_id).delete()
        AgreementCoverage.objects.filter(half_term_id=half_term_id).delete()
        owed = OwedAgreements(
            Contract.objects.filter(organisation_id=half_term.organisation_id),
            half_term,
            organisation_id=half_term.organisation_id,
        )
        rows = (
            owed.queryset()
            .order_by()
            .annotate(
                held_=owed.held_q(),
                booked_=owed.booked_q(),
                covered_=owed.signed_q(),
                **_order_columns(owed),
            )
            .values("id", "held_", "booked_", "covered_", *ORDER_COLUMNS)
        )
        select, params = rows.query.sql_with_params()
        table = AgreementCoverage._meta.db_table
        with connection.cursor() as cursor:
            # Our own table and Django's compiled query; the half term is a parameter.
            cursor.execute(
                f"INSERT INTO {table} (half_term_id, contract_id, held, booked, covered, name, last_held, caught_up)"  # noqa: S608
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
    """Those of the half terms whose summary is fresh (none on SQLite), each brought up to the data first
    when a write has named people in it since (`catch_up`). One query when none has."""
    half_term_ids = list(half_term_ids)
    if not enabled() or not half_term_ids:
        return set()
    states = CoverageState.objects.filter(half_term_id__in=half_term_ids, fresh=True)
    touched = CoverageTouched.objects.filter(half_term_id=OuterRef("half_term_id"))
    found = states.annotate(touched=Exists(touched)).values_list("half_term_id", "touched")
    return {half_term_id for half_term_id, named in found if not named or catch_up(half_term_id)}


def catch_up(half_term_id: int) -> bool:
    """Work out again, from the data, the flags (and the overdue list's columns) of the agreements of the
    people named in a fresh half term (`CoverageTouched`), and add the differences to its counts. False
    when the half term is no longer fresh (then it is read from the data).

    Under the state's lock, as the task summarises: two reads catch up in turn, and a write that marks
    the half term stale waits. The names are taken first, in a statement of their own: a write that
    commits after it leaves its name for the next read, and its rows, if committed before the flags are
    read, are counted now and again then (the same flags: nothing is added twice). Its own transaction
    when called outside one, as every view does: inside a caller's, the lock is held until that ends."""
    with transaction.atomic():
        state = (
            CoverageState.objects.select_for_update(of=("self",))
            .select_related("half_term")
            .get(half_term_id=half_term_id)
        )
        if not state.fresh:
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {CoverageTouched._meta.db_table} WHERE half_term_id = %s RETURNING person_id",  # noqa: S608
                [half_term_id],
            )
            people = {person for (person,) in cursor.fetchall()}
        if not people:
            return True
        half_term = state.half_term
        rows = AgreementCoverage.objects.filter(half_term_id=half_term_id).filter(
            Q(contract__supervisee_id__in=people) | Q(contract__previous__supervisee_id__in=people)
        )
        before = {c: (row_id, tuple(values)) for row_id, c, *values in rows.values_list("id", "contract_id", *KEPT)}
        if not before:
            return True
        owed = OwedAgreements(
            Contract.objects.filter(organisation_id=half_term.organisation_id),
            half_term,
            organisation_id=half_term.organisation_id,
        )
        now = Contract.objects.filter(id__in=list(before)).annotate(
            held_=owed.sessions_counted(held_only=True),
            booked_=owed.sessions_counted(held_only=False),
            covered_=owed.sessions_counted(held_only=True, signed=True),
            **_order_columns(owed),
        )
        changed = {}  # summary row id -> (supervisee id, columns before, columns now)
        for contract_id, supervisee_id, held, booked, covered, *order in now.values_list(
            "id", "supervisee_id", "held_", "booked_", "covered_", *ORDER_COLUMNS
        ):
            row_id, was = before[contract_id]
            columns = (held > 0, booked > 0, covered > 0, *order)
            if columns != was:
                changed[row_id] = (supervisee_id, was, columns)
        if changed:
            _apply(half_term_id, changed)
    return True


def _apply(half_term_id: int, changed: dict) -> None:
    """Write the changed flags, and add their differences to the counts of the whole organisation and of
    each setting of the agreement's supervisee (as `summarise` counts them)."""
    settings_of = {}
    for person, setting in StaffMember.settings.through.objects.filter(
        staffmember_id__in={person for person, _, _ in changed.values()}
    ).values_list("staffmember_id", "setting_id"):
        settings_of.setdefault(person, []).append(setting)
    # The rows in one statement, however many a bulk write changed.
    AgreementCoverage.objects.bulk_update(
        [AgreementCoverage(id=row_id, **dict(zip(KEPT, now, strict=True))) for row_id, (_, _, now) in changed.items()],
        KEPT,
    )
    deltas = {}  # setting id (None: the whole organisation) -> [held, booked, covered]
    for person, before, now in changed.values():
        difference = [int(n) - int(b) for b, n in zip(before[:3], now[:3], strict=True)]
        for setting_id in [None, *settings_of.get(person, [])]:
            total = deltas.setdefault(setting_id, [0, 0, 0])
            for n, d in enumerate(difference):
                total[n] += d
    for setting_id, (held, booked, covered) in deltas.items():
        counts = SettingCoverage.objects.filter(half_term_id=half_term_id)
        counts = counts.filter(setting__isnull=True) if setting_id is None else counts.filter(setting_id=setting_id)
        counts.update(held=F("held") + held, booked=F("booked") + booked, covered=F("covered") + covered)


FIGURES = {
    "owed": Count("id"),
    "held": Count("id", filter=Q(held=True)),
    "booked": Count("id", filter=Q(booked=True)),
    "covered": Count("id", filter=Q(covered=True)),
}


def count(half_term_ids, *, scope=None, setting_ids=(), held_in=()) -> dict:
    """`coverage.count_owed`'s counts for fresh half terms, from the summary, for the agreements of the
    organisation (`scope` None) or of the people of the settings `scope`: for the scope as a whole (key
    None) and for each of `setting_ids` (by the supervisee's settings). The whole organisation and each
    setting are counted already; a scope of several settings is the sum of its settings, less the
    agreements of the people in more than one of them counted again (`_counted_again`)."""
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
    # A scope of several settings: the sum of its settings' counts, less what that sum counts twice.
    summed = {h: dict.fromkeys(COUNTED, 0) for h in half_term_ids} if not counted_whole else None
    if summed is not None:
        for half_term_id, values in _counted_again(scope, half_term_ids).items():
            for k in COUNTED:
                summed[half_term_id][k] -= values[k]
    wanted = {*setting_ids, whole} if counted_whole else {*setting_ids, *scope}
    which = Q(setting_id__in=[s for s in wanted if s is not None])
    if None in wanted:
        which |= Q(setting__isnull=True)
    counts = SettingCoverage.objects.filter(which, half_term_id__in=half_term_ids)
    for values in counts.values("half_term_id", "setting_id", *COUNTED):
        if counted_whole and values["setting_id"] == whole:
            add(None, values["half_term_id"], values)
        if summed is not None and values["setting_id"] in scope:
            for k in COUNTED:
                summed[values["half_term_id"]][k] += values[k]
        if values["setting_id"] in setting_ids:
            add(values["setting_id"], values["half_term_id"], values)
    for half_term_id, values in (summed or {}).items():
        add(None, half_term_id, values)
    return result


def _counted_again(scope, half_term_ids) -> dict:
    """What the sum of the counts of the settings `scope` counts more than once, by half term: each
    setting counts the rows of the agreements of its people (`summarise`), so an agreement of someone in
    k of the settings is in the sum k times, and taken off k - 1 times here. Only the people in two or
    more of the settings are read, and their agreements' rows.

    Rather than count the rows of the scope's agreements: an auditor's ten settings' 1,300 people and
    2,000 agreements, each looked up in the summary for six half terms, took 6.2 ms of every dashboard in
    PostgreSQL; their 120 people in two of the ten settings and the settings' counts take 3.2 ms, in
    three statements (issue 14). The summary is exact for a fresh half term (a change to anyone's
    settings marks it stale), so the two ways agree."""
    extra = dict(
        StaffMember.settings.through.objects.filter(setting_id__in=scope)
        .values("staffmember_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("staffmember_id", "n")
    )
    again = {}
    if not extra:
        return again
    rows = AgreementCoverage.objects.filter(half_term_id__in=half_term_ids, contract__supervisee_id__in=list(extra))
    for values in rows.order_by().values("half_term_id", "contract__supervisee_id").annotate(**FIGURES):
        times = extra[values["contract__supervisee_id"]] - 1
        total = again.setdefault(values["half_term_id"], dict.fromkeys(COUNTED, 0))
        for k in COUNTED:
            total[k] += times * values[k]
    return again
