"""A synthetic trust for the benchmark (issue 14; `make bench`, bin/bench).

`generate(staff=12000, settings=100)` builds one organisation of that size with more than an academic
year of history in the states the product meets: agreements signed (some not, some renewed at review),
sessions held, booked, cancelled and rebooked, records in every state with their sections and
signatures (some voided and signed again), actions open, done and overdue, safeguarding decisions,
confidentiality flags, groups, notifications, an approved auditor grant, and the audit events all of
that would have written, linked into the organisation's hash chain in time order.

Everything goes in with `bulk_create` in large batches (the audit events through
`AuditEvent.objects.bulk_create`, which links each into the chain and moves the chain's head, so
`audit_verify` passes and the append-only triggers are never switched off). The few singular objects
(the calendar, the built-in forms, the auditor grant) go through the services, audited as in use.
The same seed gives the same trust.
"""

import csv
import enum
import hashlib
import io
import json
import random
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone

from accounts import audit_chain
from accounts.models import (
    AuditChainHead,
    AuditEvent,
    EmploymentType,
    Organisation,
    Role,
    RoleAssignment,
    Setting,
    StaffMember,
    User,
    WorkingDay,
)
from records.builtin import ensure_builtin_templates
from records.models import (
    Action,
    ActionStatus,
    AuditorGrant,
    ConfidentialityFlag,
    FlagKind,
    Record,
    RecordSection,
    RecordStatus,
    SafeguardingDecision,
    Signature,
    SignatureCapacity,
    TemplateSection,
)
from records.oversight import auditor_grant_approve, auditor_grant_create

from . import services
from .dashboard import summary
from .models import (
    Contract,
    HalfTerm,
    Notification,
    NotificationKind,
    Session,
    SessionKind,
    SessionStatus,
    SupervisionGroup,
)
from .slots import LONDON

BATCH = 5000
# Rows a COPY statement sends (PostgreSQL).
CSV_ROWS = 50000
# Everyone signs in with this password (bin/bench's load test does); hashed once for them all.
BENCH_PASSWORD = "bench-password-1"
EMAIL_DOMAIN = "bench.example"
FIRST = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Femi",
    "Grace",
    "Hari",
    "Isla",
    "Jack",
    "Kofi",
    "Lena",
    "Maya",
    "Noah",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Vik",
    "Will",
    "Xena",
    "Yusuf",
    "Zoe",
    "Aled",
    "Bea",
    "Cian",
    "Dora",
    "Ewan",
    "Faye",
    "Gus",
    "Hana",
    "Ivo",
    "Jade",
    "Kit",
    "Leo",
    "Mia",
    "Ned",
]
LAST = [
    "Adams",
    "Baker",
    "Clarke",
    "Davies",
    "Evans",
    "Foster",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morgan",
    "Nowak",
    "Owen",
    "Patel",
    "Quayle",
    "Reid",
    "Shah",
    "Taylor",
    "Umar",
    "Vaughan",
    "Walsh",
    "Young",
    "Zielinski",
    "Ahmed",
    "Brown",
    "Carter",
    "Dunn",
    "Ellis",
]
SETTING_KINDS = [Setting.Kind.PRIMARY] * 6 + [Setting.Kind.SECONDARY] * 2 + [Setting.Kind.NURSERY, Setting.Kind.SPECIAL]
DISCUSSION = (
    "Talked through workload and wellbeing; agreed to look again at planning time next half term.",
    "Reviewed a concern about a pupil's attendance and what the family support worker has offered.",
    "Discussed the new behaviour policy and how it has gone in the classroom so far.",
    "Went over the training plan for the year and the observation feedback from last month.",
)


# The tables loaded in bulk, whose non-unique indexes are set aside while they load (PostgreSQL).
LOADED = [
    AuditEvent,
    Action,
    Contract,
    Notification,
    Record,
    RecordSection,
    Session,
    Session.attendees.through,
    Signature,
    WorkingDay,
]


@dataclass
class Trust:
    """What `generate` made, for the benchmark to pick real ids from."""

    organisation: Organisation
    people: dict = field(default_factory=dict)  # role name -> StaffMember
    counts: dict = field(default_factory=dict)


def _code() -> uuid.UUID:
    return uuid.uuid4()


def _hash(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def _weekday_in(rng: random.Random, first: date, last: date) -> date | None:
    """A random Monday to Friday in [first, last], or None when there is none."""
    if first > last:
        return None
    for _ in range(12):
        day = first + timedelta(days=rng.randint(0, (last - first).days))
        if day.weekday() < 5:
            return day
    day = first
    while day <= last:
        if day.weekday() < 5:
            return day
        day += timedelta(days=1)
    return None


class _Events:
    """Audit events to write, sorted by time at the end and linked into the chain then."""

    def __init__(self, organisation):
        self.organisation = organisation
        self.now = timezone.now()
        self.items = []

    def add(self, when, user, action, object_type="", code="", text="", details=None):
        when = min(when, self.now)  # nothing was done in the future
        self.items.append((when, user, action, object_type, str(code), text[:255], details or {}))

    def write(self) -> int:
        self.items.sort(key=lambda item: item[0])
        if connection.vendor == "postgresql":
            return self._copy()
        total = 0
        for start in range(0, len(self.items), BATCH):
            events = [
                AuditEvent(
                    organisation=self.organisation,
                    actor_id=user.id if user else None,
                    actor_name=user.full_name if user else "",
                    action=action,
                    object_type=object_type,
                    object_code=code,
                    object_repr=text,
                    details=details,
                    created_at=when,
                )
                for when, user, action, object_type, code, text, details in self.items[start : start + BATCH]
            ]
            AuditEvent.objects.bulk_create(events, batch_size=BATCH)
            total += len(events)
        return total

    def _copy(self) -> int:
        """The events linked in one pass, with the chain module's own hash, and written with COPY: no model
        instance an event. The chain's head is locked and moved once (as `AuditEvent.objects.bulk_create`
        does, a batch at a time), so `audit_verify` passes and the append-only triggers stay on."""
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(
            scope=audit_chain.scope_key(self.organisation.id)
        )
        sequence, previous = head.sequence, head.hash
        organisation_id = self.organisation.id
        values = dict.fromkeys(audit_chain.HASHED_FIELDS)
        values.update(organisation_id=organisation_id, ip_address=None, user_agent="")
        rows = []
        for when, user, action, object_type, code, text, details in self.items:
            sequence += 1
            values.update(
                sequence=sequence,
                prev_hash=previous,
                created_at=when,
                actor_id=user.id if user else None,
                actor_name=user.full_name if user else "",
                action=action,
                object_type=object_type,
                object_code=code,
                object_repr=text,
                details=details,
            )
            digest = audit_chain.content_hash(values)
            rows.append(
                (
                    organisation_id,
                    values["actor_id"],
                    values["actor_name"],
                    action,
                    object_type,
                    code,
                    text,
                    None,
                    "",
                    json.dumps(details),
                    when,
                    sequence,
                    previous,
                    digest,
                )
            )
            previous = digest
        columns = [
            "organisation_id", "actor_id", "actor_name", "action", "object_type", "object_code", "object_repr",
            "ip_address", "user_agent", "details", "created_at", "sequence", "prev_hash", "hash",
        ]  # fmt: skip
        _copy_rows(AuditEvent._meta.db_table, columns, rows)
        if self.items:
            head.sequence, head.hash, head.created_at = sequence, previous, self.items[-1][0]
            head.save(update_fields=["sequence", "hash", "created_at"])
        return len(rows)


def _bulk(model, objs):
    """Insert, with COPY on PostgreSQL (ids drawn from the table's sequence first, so later rows can point
    at these); elsewhere with `bulk_create` in batches."""
    objs = list(objs)
    if connection.vendor == "postgresql":
        return _copy(model, objs)
    for start in range(0, len(objs), BATCH):
        model.objects.bulk_create(objs[start : start + BATCH], batch_size=BATCH)
    return objs


def _copy(model, objs):
    if not objs:
        return objs
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not getattr(f, "generated", False)]
    pk = meta.pk
    fresh = [o for o in objs if o.pk is None]
    if fresh:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(fresh)],
            )
            for obj, (pk_value,) in zip(fresh, cursor.fetchall(), strict=True):
                obj.pk = pk_value
    stamped = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    for obj in objs:
        for f in stamped:
            f.pre_save(obj, True)
        obj._state.adding, obj._state.db = False, connection.alias
    as_json = {i for i, f in enumerate(fields) if isinstance(f, models.JSONField)}
    names = [f.attname for f in fields]
    if as_json:
        rows = (
            tuple(json.dumps(v) if i in as_json else v for i, v in enumerate(getattr(o, n) for n in names))
            for o in objs
        )
    else:
        rows = (tuple(getattr(o, n) for n in names) for o in objs)
    _copy_rows(meta.db_table, [f.column for f in fields], rows)
    return objs


def _cell(value):
    if value is None:
        return NULL
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


NULL = "\\N"


def _copy_rows(table: str, columns: list[str], rows) -> None:
    """COPY rows (tuples of Python values, in `columns` order) into `table`, CSV_ROWS at a time."""
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f"COPY \"{table}\" ({names}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')"
    cursor = connection.cursor().cursor
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def send():
        with cursor.copy(sql) as copy:
            copy.write(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()

    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(v) for v in row])
        if count % CSV_ROWS == 0:
            send()
    if buffer.tell():
        send()


def vacuum() -> None:
    """What autovacuum does to a production database within minutes of a bulk load or of many rows
    rewritten: the tables' visibility maps set, so an index can answer a count alone, and dead rows gone.
    The benchmark machine's server runs with autovacuum off (as CI's does), which left every count reading
    the rows (issue 14). Not inside a caller's transaction (the tests'), where VACUUM cannot run."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")


def generate(*, staff: int = 12000, settings: int = 100, seed: int = 14, today: date | None = None, log=print) -> Trust:
    """Build the synthetic trust in one transaction and return what the benchmark needs of it."""
    assert staff >= 20 and settings >= 1 and staff >= 10 * settings, "at least 10 staff a setting, 20 in all"
    with transaction.atomic():
        with _indexes_set_aside(log):
            trust = _generate(staff, settings, random.Random(seed), today or timezone.localdate(), log)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    vacuum()
    # What beat's `refresh_coverage` has done within five minutes of the data changing: the coverage of the
    # running half term and the ended ones summarised (dashboard/summary.py). Its own time is measured
    # with the beat jobs.
    start = timezone.now()
    done = summary.refresh(today=today or timezone.localdate())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE supervision_agreementcoverage, supervision_settingcoverage")
    seconds = (timezone.now() - start).total_seconds()
    log(f"  {done['summarised']} half terms' coverage summarised ({done['agreements']} owed) in {seconds:.0f} s")
    return trust


@contextmanager
def _indexes_set_aside(log):
    """On PostgreSQL, the non-unique indexes of the big tables are dropped while they load and made again
    after (each built once from sorted data rather than kept up to date a row at a time); in the same
    transaction, so a failed run leaves them as they were. Unique indexes and constraints stay."""
    if connection.vendor != "postgresql":
        yield
        return
    tables = [m._meta.db_table for m in LOADED]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY(%s) AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    start = timezone.now()
    with connection.cursor() as cursor:
        # The foreign keys are checked at commit; an index cannot be made while those checks wait.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)
    log(f"  {len(indexes)} indexes made again in {(timezone.now() - start).total_seconds():.0f} s")


def _generate(n_staff: int, n_settings: int, rng: random.Random, today: date, log) -> Trust:
    now = timezone.now()
    tag = f"{n_staff}-{now:%Y%m%d%H%M%S}"
    # No second factor asked of anyone: the benchmark's client signs people in without a code.
    organisation = Organisation.objects.create(name=f"Bench Trust ({n_staff} staff)", require_second_factor=False)
    trust = Trust(organisation=organisation)
    events = _Events(organisation)

    # The calendar: last academic year, this one and the next (services audit them as in use).
    this_year = today.year if today.month >= 8 else today.year - 1
    for start_year in (this_year - 1, this_year, this_year + 1):
        services.calendar_generate_default(organisation=organisation, start_year=start_year)
    half_terms = list(HalfTerm.objects.filter(organisation=organisation).order_by("starts"))
    history = [h for h in half_terms if h.starts <= today]
    history_start = history[0].starts
    templates = ensure_builtin_templates(organisation)
    one_to_one = next(t for t in templates.values() if not t.for_groups)
    for_groups = next((t for t in templates.values() if t.for_groups), one_to_one)
    versions = {}
    for template in (one_to_one, for_groups):
        version = template.versions.order_by("-number").first()
        versions[template.id] = (version, list(TemplateSection.objects.filter(version=version).order_by("order")))

    # Settings and people.
    setting_objs = _bulk(
        Setting,
        (
            Setting(
                organisation=organisation, name=f"Bench School {i + 1:03d}", kind=SETTING_KINDS[i % len(SETTING_KINDS)]
            )
            for i in range(n_settings)
        ),
    )
    password = make_password(BENCH_PASSWORD)
    users = _bulk(
        User,
        (
            User(
                email=f"bench{i:05d}.{tag}@{EMAIL_DOMAIN}",
                full_name=f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i:05d}",
                password=password,
                date_joined=now,
            )
            for i in range(n_staff)
        ),
    )
    people = []
    for i, user in enumerate(users):
        setting = setting_objs[i % n_settings]
        if rng.random() < 0.8:
            start = history_start - timedelta(days=rng.randint(30, 3000))
        else:
            start = history_start + timedelta(days=rng.randint(0, max(1, (today - history_start).days - 10)))
        leaving = None
        roll = rng.random()
        if roll < 0.04:
            leaving = max(start, today - timedelta(days=rng.randint(1, 200)))
        elif roll < 0.05:
            leaving = today + timedelta(days=rng.randint(1, 25))
        people.append(
            StaffMember(
                user=user,
                organisation=organisation,
                job_title="Teacher" if i % 3 else "Teaching assistant",
                employment_type=EmploymentType.AGENCY if rng.random() < 0.04 else EmploymentType.PERMANENT,
                start_date=start,
                leaving_date=leaving,
                new_to_post=rng.random() < 0.05,
                created_at=now,
            )
        )
    _bulk(StaffMember, people)
    for person, user in zip(people, users, strict=True):
        person.user = user
    through = StaffMember.settings.through
    memberships = [
        through(staffmember_id=p.id, setting_id=setting_objs[i % n_settings].id) for i, p in enumerate(people)
    ]
    # One in fifty works in a second setting too.
    memberships += [
        through(staffmember_id=p.id, setting_id=setting_objs[(i + 1) % n_settings].id)
        for i, p in enumerate(people)
        if n_settings > 1 and i % 50 == 7
    ]
    _bulk(through, memberships)
    _bulk(WorkingDay, (WorkingDay(staff=p, weekday=d) for p in people for d in range(5)))
    setting_of = {p.id: setting_objs[i % n_settings] for i, p in enumerate(people)}

    # Roles: per setting a head, a DSL and a supervisor for about every eight staff; across the trust two
    # organisation admins, an auditor, and a head and a DSL of the whole trust (an executive head and a
    # trust safeguarding lead: roles without a setting, who lead every setting's follow-up).
    by_setting = {s.id: [] for s in setting_objs}
    for i, p in enumerate(people):
        by_setting[setting_objs[i % n_settings].id].append(p)
    roles, heads, dsls, supervisors_of = [], {}, {}, {}
    admins = [people[0], people[1]]
    auditor = people[2]
    trust_head, trust_dsl = people[3], people[4]
    leaders = (*admins, auditor, trust_head, trust_dsl)
    for p in leaders:
        p.leaving_date = None
    StaffMember.objects.filter(id__in=[p.id for p in leaders]).update(leaving_date=None)
    roles += [RoleAssignment(staff=a, role=Role.ORG_ADMIN) for a in admins]
    roles.append(RoleAssignment(staff=auditor, role=Role.AUDITOR))
    roles += [
        RoleAssignment(staff=trust_head, role=Role.HEAD, setting=None),
        RoleAssignment(staff=trust_dsl, role=Role.DSL, setting=None),
    ]
    special = {p.id for p in leaders}
    for s in setting_objs:
        members = [p for p in by_setting[s.id] if p.id not in special and p.leaving_date is None]
        head, dsl = members[0], members[1]
        heads[s.id], dsls[s.id] = head, dsl
        count = max(1, len(by_setting[s.id]) // 8)
        supervisors_of[s.id] = [head, dsl, *members[2 : 2 + count]]
        roles += [
            RoleAssignment(staff=head, role=Role.HEAD, setting=s),
            RoleAssignment(staff=dsl, role=Role.DSL, setting=s),
        ]
        roles += [RoleAssignment(staff=p, role=Role.SUPERVISOR, setting=s) for p in supervisors_of[s.id]]
    _bulk(RoleAssignment, roles)
    supervisor_ids = {p.id for ps in supervisors_of.values() for p in ps}

    # Who supervises whom: staff by a supervisor of their setting; supervisors and heads by the head
    # (a head by an organisation admin); the admins by each other, and the trust-wide head and DSL by an admin.
    supervisor_of = {
        admins[0].id: admins[1],
        admins[1].id: admins[0],
        trust_head.id: admins[0],
        trust_dsl.id: admins[1],
    }
    for s in setting_objs:
        pool = supervisors_of[s.id]
        for p in by_setting[s.id]:
            if p.id in special:
                continue
            if p.id == heads[s.id].id:
                supervisor_of[p.id] = admins[0]
            elif p.id in supervisor_ids:
                supervisor_of[p.id] = heads[s.id]
            else:
                supervisor_of[p.id] = pool[rng.randrange(len(pool))]
    for p in people:
        p.supervisor = supervisor_of.get(p.id)
    StaffMember.objects.bulk_update([p for p in people if p.supervisor], ["supervisor"], batch_size=BATCH)
    for p in people:
        events.add(
            _at(max(p.start_date, history_start - timedelta(days=30)), 8),
            admins[0].user,
            "staff.created",
            "staffmember",
            p.code,
            p.user.full_name,
        )

    # Agreements: most people have had one since before the history began, renewed at its annual review
    # (the old one ends, the new one follows it); a few have none; a few are not signed by both yet.
    contracts, successors = [], []
    for p in people:
        supervisor = supervisor_of.get(p.id)
        if supervisor is None or p.id == supervisor.id or rng.random() < 0.03:
            continue
        start = max(p.start_date, history_start - timedelta(days=rng.randint(0, 120)))
        ends = p.leaving_date if p.leaving_date and p.leaving_date < today and rng.random() < 0.7 else None
        if ends is not None and ends < start:
            ends = start
        contracts.append(_contract(organisation, p, supervisor, start, ends, rng, today))
    _bulk(Contract, contracts)
    for c in contracts:
        review = c.review_date
        if review < today - timedelta(days=10) and (c.end_date is None or c.end_date > review) and rng.random() < 0.9:
            successor = _contract(organisation, c.supervisee, c.supervisor, review, c.end_date, rng, today)
            successor.previous = c
            c.end_date, c.end_reason = review - timedelta(days=1), "Renewed at its annual review"
            successors.append(successor)
    Contract.objects.bulk_update([c for c in contracts if c.end_reason], ["end_date", "end_reason"], batch_size=BATCH)
    _bulk(Contract, successors)
    contracts += successors
    for c in contracts:
        created = _at(c.start_date, 9)
        events.add(created, c.supervisor.user, "contract.created", "contract", c.code, f"Agreement of {c.supervisee}")
        for who, at in ((c.supervisee, c.supervisee_signed_at), (c.supervisor, c.supervisor_signed_at)):
            if at:
                events.add(at, who.user, "contract.signed", "contract", c.code, f"Agreement of {c.supervisee}")
    log(f"  {len(people)} staff in {n_settings} settings, {len(contracts)} agreements")

    # Groups: one a setting, led by its DSL, of six of its staff.
    groups = _bulk(
        SupervisionGroup,
        (
            SupervisionGroup(
                organisation=organisation,
                setting=s,
                name=f"Reflective group {s.name}",
                supervisor=dsls[s.id],
                confidentiality_boundaries="What is said stays in the room.",
            )
            for s in setting_objs
        ),
    )
    group_members = {}
    for g in groups:
        pool = [p for p in by_setting[g.setting_id] if p.id != g.supervisor_id and p.id not in special][:6]
        group_members[g.id] = pool
    _bulk(
        SupervisionGroup.members.through,
        (
            SupervisionGroup.members.through(supervisiongroup_id=g.id, staffmember_id=p.id)
            for g in groups
            for p in group_members[g.id]
        ),
    )

    # Sessions: one an agreement a half term, in the half terms so far.
    sessions, attendees, rebooks = [], [], []

    def session(setting, supervisor, day, status, *, contract=None, group=None, created=None):
        starts = _at(day, rng.choice((9, 10, 11, 13, 14, 15)), rng.choice((0, 30)))
        s = Session(
            organisation=organisation,
            setting=setting,
            supervisor=supervisor,
            kind=SessionKind.GROUP if group else SessionKind.ONE_TO_ONE,
            contract=contract,
            group=group,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=60 if group else 30),
            status=status,
            created_at=min(created or starts - timedelta(days=rng.randint(7, 30)), now),
            created_by=supervisor,
        )
        sessions.append(s)
        return s

    for c in contracts:
        person = c.supervisee
        setting = setting_of[person.id]
        for h in history:
            first = max(h.starts, c.start_date)
            last = min(h.ends, c.end_date or h.ends, person.leaving_date or h.ends, today + timedelta(days=40))
            day = _weekday_in(rng, first, last)
            if day is None:
                continue
            roll = rng.random()
            if day > today:
                if roll < 0.75:
                    session(setting, c.supervisor, day, SessionStatus.SCHEDULED, contract=c)
                continue
            if roll < 0.07:
                continue  # nothing held: overdue
            if roll < 0.12:
                cancelled = session(setting, c.supervisor, day, SessionStatus.CANCELLED, contract=c)
                cancelled.cancelled_at = cancelled.starts_at - timedelta(hours=rng.randint(2, 72))
                cancelled.cancelled_by = c.supervisor
                cancelled.cancel_reason = "Cover needed"
                if roll < 0.105:
                    again = _weekday_in(rng, day + timedelta(days=1), min(last + timedelta(days=14), today))
                    if again is not None:
                        rebooked = session(
                            setting,
                            c.supervisor,
                            again,
                            SessionStatus.HELD,
                            contract=c,
                            created=cancelled.cancelled_at + timedelta(hours=rng.randint(1, 96)),
                        )
                        rebooks.append((cancelled, rebooked))
                continue
            if roll < 0.14:
                session(setting, c.supervisor, day, SessionStatus.MISSED, contract=c)
                continue
            status = SessionStatus.HELD if day < today else SessionStatus.SCHEDULED
            session(setting, c.supervisor, day, status, contract=c)
    for g in groups:
        for h in history:
            day = _weekday_in(rng, h.starts, min(h.ends, today - timedelta(days=1)))
            if day is not None:
                session(g.setting, g.supervisor, day, SessionStatus.HELD, group=g)
    _bulk(Session, sessions)
    for cancelled, rebooked in rebooks:
        rebooked.rebooked_from = cancelled
    Session.objects.bulk_update([r for _, r in rebooks], ["rebooked_from"], batch_size=BATCH)
    through = Session.attendees.through
    for s in sessions:
        people_in = group_members[s.group_id] if s.group_id else [s.contract.supervisee]
        attendees += [through(session_id=s.id, staffmember_id=p.id) for p in people_in]
        events.add(
            s.created_at, s.supervisor.user, "session.booked", "session", s.code, f"Session {s.starts_at:%Y-%m-%d}"
        )
        if s.status == SessionStatus.CANCELLED:
            events.add(
                s.cancelled_at,
                s.supervisor.user,
                "session.cancelled",
                "session",
                s.code,
                f"Session {s.starts_at:%Y-%m-%d}",
            )
    _bulk(through, attendees)
    log(f"  {len(sessions)} sessions, {len(attendees)} attendances")

    # Records of held sessions: signed once a few weeks old, in every state before that.
    records, record_people = [], {}
    for s in sessions:
        if s.status != SessionStatus.HELD:
            continue
        age = (today - s.starts_at.date()).days
        roll = rng.random()
        if age > 21:
            status = (
                RecordStatus.SIGNED
                if roll < 0.96
                else RecordStatus.AWAITING_SUPERVISEE
                if roll < 0.98
                else RecordStatus.AWAITING_SUPERVISOR
            )
        else:
            status = (
                RecordStatus.DRAFT,
                RecordStatus.AWAITING_SUPERVISEE,
                RecordStatus.AWAITING_SUPERVISOR,
                RecordStatus.SIGNED,
            )[int(roll * 4)]
        template = for_groups if s.group_id else one_to_one
        written = min(s.ends_at + timedelta(hours=rng.randint(1, 48)), now - timedelta(hours=3))
        submitted = written + timedelta(hours=1) if status != RecordStatus.DRAFT else None
        signed = status == RecordStatus.SIGNED
        locked = min(submitted + timedelta(days=rng.randint(1, 9)), now - timedelta(minutes=5)) if signed else None
        r = Record(
            organisation=organisation,
            session=s,
            setting_id=s.setting_id,
            template_version=versions[template.id][0],
            supervisor=s.supervisor,
            status=status,
            submitted_at=submitted,
            locked_at=locked,
            content_hash=_hash("record", s.code) if signed else "",
            created_at=written,
        )
        records.append(r)
        record_people[id(r)] = group_members[s.group_id] if s.group_id else [s.contract.supervisee]
    _bulk(Record, records)
    sections, signatures, actions, decisions, flags = [], [], [], [], []
    for r in records:
        s = r.session
        version, template_sections = versions[r.template_version.template_id]
        title = f"Record of {s.starts_at:%Y-%m-%d}"
        user = r.supervisor.user
        events.add(r.created_at, user, "record.started", "record", r.code, title)
        for ts in template_sections:
            sections.append(RecordSection(record=r, template_section=ts, discussion=rng.choice(DISCUSSION)))
        if r.submitted_at:
            events.add(r.submitted_at, user, "record.submitted", "record", r.code, title)
        attending = record_people[id(r)]
        capacity = SignatureCapacity.PARTICIPANT if s.group_id else SignatureCapacity.SUPERVISEE
        signers = []
        if r.status in (RecordStatus.AWAITING_SUPERVISOR, RecordStatus.SIGNED):
            signers = [(p, capacity) for p in attending]
        if r.status == RecordStatus.SIGNED:
            signers.append((r.supervisor, SignatureCapacity.SUPERVISOR))
        if signers and rng.random() < 0.03:
            # Signed once, the content changed, signed again: the first signature voided.
            p, cap = signers[0]
            signatures.append(
                Signature(
                    record=r,
                    signer=p,
                    signer_name=p.user.full_name,
                    capacity=cap,
                    signed_at=r.submitted_at + timedelta(minutes=10),
                    content_hash=_hash("old", r.code),
                    revision=1,
                    voided_at=r.submitted_at + timedelta(minutes=20),
                )
            )
            r.revision = 2
        for k, (p, cap) in enumerate(signers):
            at = (r.locked_at or min(r.submitted_at + timedelta(days=2), now)) - timedelta(minutes=len(signers) - k)
            signatures.append(
                Signature(
                    record=r,
                    signer=p,
                    signer_name=p.user.full_name,
                    capacity=cap,
                    signed_at=at,
                    content_hash=r.content_hash or _hash("rev", r.code),
                    revision=r.revision,
                )
            )
            events.add(at, p.user, "record.signed", "record", r.code, title)
        owner = attending[0]
        if rng.random() < 0.6:
            due = s.starts_at.date() + timedelta(days=rng.randint(7, 42))
            done = due < today - timedelta(days=14) and rng.random() < 0.85
            actions.append(
                Action(
                    organisation=organisation,
                    record=r,
                    setting_id=r.setting_id,
                    description="Follow up what was agreed",
                    owner=owner,
                    due_date=due,
                    status=ActionStatus.DONE if done else ActionStatus.OPEN,
                    done_at=_at(due, 12) if done else None,
                    created_at=r.created_at,
                )
            )
        if rng.random() < 0.03:
            confirmed = r.status == RecordStatus.SIGNED and rng.random() < 0.8
            decisions.append(
                SafeguardingDecision(
                    organisation=organisation,
                    record=r,
                    setting_id=r.setting_id,
                    child_reference=f"CP-{rng.randint(1000, 9999)}",
                    decision="Refer to early help",
                    key_person=dsls[s.setting_id],
                    confirmed_at=r.locked_at + timedelta(days=2) if confirmed else None,
                    recorded_on=(r.locked_at + timedelta(days=2)).date() if confirmed else None,
                    created_at=r.created_at,
                )
            )
        if rng.random() < 0.005:
            resolved = rng.random() < 0.6
            flags.append(
                ConfidentialityFlag(
                    organisation=organisation,
                    record=r,
                    setting_id=r.setting_id,
                    kind=rng.choice(FlagKind.values),
                    note="See the DSL",
                    raised_by=r.supervisor,
                    raised_at=r.created_at,
                    resolved_at=r.created_at + timedelta(days=3) if resolved else None,
                    resolved_by=dsls[s.setting_id] if resolved else None,
                    resolution="Dealt with" if resolved else "",
                )
            )
    Record.objects.bulk_update([r for r in records if r.revision != 1], ["revision"], batch_size=BATCH)
    _bulk(RecordSection, sections)
    _bulk(Signature, signatures)
    _bulk(Action, actions)
    _bulk(SafeguardingDecision, decisions)
    _bulk(ConfidentialityFlag, flags)
    for a in actions:
        events.add(a.created_at, a.record.supervisor.user, "record.action_added", "action", a.code, a.description)
    log(f"  {len(records)} records, {len(sections)} sections, {len(signatures)} signatures, {len(actions)} actions")

    # Notifications: about one a person, of the kinds the reminders send.
    kinds = [
        NotificationKind.SIGNATURE_PENDING,
        NotificationKind.ACTION_OVERDUE,
        NotificationKind.SESSION_OVERDUE,
        NotificationKind.CONTRACT_REVIEW_DUE,
        NotificationKind.AGENDA_PROMPT,
    ]
    notifications = []
    for i, p in enumerate(people):
        kind = kinds[i % len(kinds)]
        notifications.append(
            Notification(
                organisation=organisation,
                recipient=p,
                kind=kind,
                object_type="staffmember",
                object_code=str(p.code),
                period=str(today),
                key=f"{kind}:bench:{p.code}:{today}",
                title=NotificationKind(kind).label,
                body="Synthetic notification of the benchmark.",
                url="/",
                created_at=now - timedelta(days=rng.randint(0, 30)),
            )
        )
    _bulk(Notification, notifications)

    # Signing in: a few times a week a person, over the history.
    span = (today - history_start).days
    for p in people:
        for _ in range(max(1, span // 30)):
            day = history_start + timedelta(days=rng.randint(0, span))
            events.add(_at(day, 8, rng.randint(0, 59)), p.user, "auth.signed_in", "user", p.user.id, p.user.full_name)

    written = events.write()
    # The auditor's grant, through the services (audited, and the per-object permission given).
    grant = auditor_grant_create(
        actor=admins[0],
        auditor=auditor,
        settings=setting_objs[: max(1, n_settings // 10)],
        covers_from=history_start,
        covers_until=today,
        expires_at=now + timedelta(days=30),
        purpose="Benchmark inspection",
    )
    auditor_grant_approve(actor=admins[1], grant=grant)

    first_setting = setting_objs[0]
    ordinary = next(
        p
        for p in by_setting[first_setting.id]
        if p.id not in special
        and p.id not in supervisor_ids
        and p.leaving_date is None
        and Contract.objects.filter(supervisee=p, end_date__isnull=True).exists()
    )
    _own_group_and_decision(organisation, ordinary, next(g for g in groups if g.setting_id == first_setting.id))
    trust.people = {
        "supervisee": ordinary,
        "supervisor": supervisor_of[ordinary.id],
        "head": heads[first_setting.id],
        "dsl": dsls[first_setting.id],
        "org_admin": admins[0],
        "auditor": auditor,
        "trust_head": trust_head,
        "trust_dsl": trust_dsl,
    }
    trust.counts = {
        "staff": len(people),
        "settings": n_settings,
        "agreements": len(contracts),
        "sessions": len(sessions),
        "records": len(records),
        "signatures": len(signatures),
        "actions": len(actions),
        "decisions": len(decisions),
        "flags": len(flags),
        "notifications": len(notifications),
        "audit events": written,
        "auditor grants": AuditorGrant.objects.filter(organisation=organisation).count(),
    }
    return trust


def _own_group_and_decision(organisation, supervisee, group) -> None:
    """The benchmark's supervisee is a member of their setting's group and the key person of a decision
    waiting to be confirmed, on the latest record of their own sessions (which their supervisor wrote): so
    the group's page and the decision's confirmation are timed as the supervisee and the supervisor see
    them, not as the 404 someone else's would be."""
    group.members.add(supervisee)
    record = Record.objects.filter(session__contract__supervisee=supervisee).order_by("-id").first()
    if record is not None:
        SafeguardingDecision.objects.create(
            organisation=organisation,
            record=record,
            child_reference="CP-0001",
            decision="Refer to early help",
            key_person=supervisee,
            created_at=record.created_at,
        )


def _contract(organisation, supervisee, supervisor, start, ends, rng, today) -> Contract:
    signed = rng.random() < 0.95 or start < today - timedelta(days=60)
    now = timezone.now()
    supervisee_at = min(_at(start, 10) + timedelta(days=rng.randint(0, 5)), now - timedelta(hours=2))
    supervisor_at = min(supervisee_at + timedelta(hours=rng.randint(1, 30)), now - timedelta(hours=1))
    return Contract(
        organisation=organisation,
        supervisee=supervisee,
        supervisor=supervisor,
        start_date=start,
        review_date=start + timedelta(days=365),
        end_date=ends,
        end_reason="Left" if ends else "",
        purpose="Regular supervision as set out in the trust's policy.",
        supervisor_responsibilities="Prepare, listen, record and follow up.",
        supervisee_responsibilities="Prepare, take part and carry out the actions agreed.",
        confidentiality_terms="Confidential except where a child or adult is at risk.",
        supervisee_signed_at=supervisee_at if signed or rng.random() < 0.5 else None,
        supervisor_signed_at=supervisor_at if signed else None,
        signed_hash=_hash("contract", supervisee.id, start) if signed else "",
        created_by=supervisor,
        created_at=_at(start, 9),
    )
