"""The agreements owed supervision in a half term, and how each went: worked out in SQL (issue 14).

The rules are those of `supervision/rules.py`, the planner's and the reminders' too, written as
conditions on dates so the database can apply them to every agreement of a trust at once:

- the agreement started by the half term's end, had not ended before its start, and both had signed it
  before its end; an agreement replaced by a successor that also counts in the half term gives way to
  it, and the successor counts the sessions of both (one person, one row);
- the supervisee is owed supervision (`rules.why_not_due`, `rules.supervisable_window`): started, not
  left before the half term, agency and temporary staff 5 weeks after starting;
- from the first day owed (the latest of the half term's start, the day first due and the start of the
  chain of agreements) to the last (the earliest of its end, the leaving date and the agreement's end)
  there is at least one school day: a weekday on which neither the organisation nor any setting of the
  supervisee is closed. `rules.sessions_needed` asks for at least one session whenever there is one
  school week, except of a termly agreement in the second half of a term; and an agreement is termly
  there only if no override runs on its first day owed and the supervisee is not new to post.

Cost: each is a condition of one query over the agreements, no row loaded into Python. The school-day
test counts weekdays by arithmetic and subtracts the closure days only where a window is shorter than
the number of closure days in the half term (rare: an agreement starting or ending in its last days).
The sessions of a row (held, signed, booked, last held) are correlated subqueries that the foreign-key
and `session_org_time_idx` indexes answer; a count or a coverage total reads no row at all.
"""

from collections.abc import Callable
from datetime import date, timedelta

from django.db import connection, models
from django.db.models import Case, Exists, ExpressionWrapper, F, Func, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest, Least

from accounts.models import EmploymentType, Frequency, StaffMember
from accounts.queries import InArray
from records.models import Record, RecordStatus

from ..models import BUSY_STATUSES, ClosureDay, FrequencyOverride, HalfTerm, Session, SessionKind, SessionStatus
from ..rules import AGENCY_QUALIFYING_PERIOD, NEW_TO_POST_FREQUENCY
from .built import BUILT
from .scope import _midnight

# A Monday well before any agreement: weekdays are counted from it.
_EPOCH = date(2000, 1, 3)


class AddDays(Func):
    """A date `days` later (a whole number of days known in Python)."""

    output_field = models.DateField()

    def __init__(self, expression, days: int):
        super().__init__(expression)
        self.days = days

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} + {int(self.days)})", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '{int(self.days):+d} days')", params


def _day_number(sql: str, vendor: str) -> str:
    if vendor == "sqlite":
        return f"CAST(julianday({sql}) - julianday('{_EPOCH.isoformat()}') AS INTEGER)"
    return f"({sql} - DATE '{_EPOCH.isoformat()}')"


class WeekdaysBetween(Func):
    """How many weekdays (Monday to Friday) from one date to another, both included; 0 when the second
    is before the first. Weekdays up to day n since a Monday: 5 a whole week, then up to 5 more."""

    output_field = models.IntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        (first, first_params), (last, last_params) = (compiler.compile(e) for e in self.source_expressions)
        smallest = "MIN" if connection.vendor == "sqlite" else "LEAST"
        upto_last = _day_number(last, connection.vendor)  # days from the epoch to the last day
        before_first = _day_number(first, connection.vendor)  # ... to the first (excluded)
        sql = (
            f"((5 * ({upto_last} / 7) + {smallest}(({upto_last}) %% 7 + 1, 5))"
            f" - (5 * ({before_first} / 7) + {smallest}(({before_first}) %% 7, 5)))"
        )
        params = (*last_params, *last_params, *first_params, *first_params)
        return sql, params


def weekdays_between(first: date, last: date) -> int:
    """`WeekdaysBetween` in Python, for the tests."""
    return sum(1 for n in range((last - first).days + 1) if (first + timedelta(days=n)).weekday() < 5)


class OwedAgreements:
    """The agreements (of `contracts`, already scoped) owed supervision in one half term.

    `aliases()` and `q()` are the condition, with names of their own for each half term, so that one
    query can count several half terms at once (`count_owed`); `queryset()` is the agreements."""

    def __init__(
        self,
        contracts,
        half_term: HalfTerm,
        *,
        organisation_id: int,
        staff_scope=None,
        scope_size: "int | Callable[[], int]" = 0,
        closure_days: "int | Callable[[], int | None] | None" = None,
    ):
        self.contracts = contracts
        # The people in scope as a subquery of their ids (`Dashboard._scope_people`), or None for everyone;
        # and how many they are. Each of these two counts may be given as a function, called when first
        # needed: a list read from a fresh summary asks neither (issue 14).
        self.staff_scope = staff_scope
        self._scope_size = scope_size
        self.half_term = half_term
        self.organisation_id = organisation_id
        self.starts_at = _midnight(half_term.starts)
        self.ends_at = _midnight(half_term.ends + timedelta(days=1))
        self.suffix = f"_{half_term.id}"
        self._closures = closure_days

    def _in_scope(self, column: str) -> InArray:
        """Rows whose `column` is one of the people in scope."""
        return InArray(column, self.staff_scope)

    def _active(self) -> Q:
        h = self.half_term
        return Q(
            start_date__lte=h.ends, supervisee_signed_at__lt=self.ends_at, supervisor_signed_at__lt=self.ends_at
        ) & (Q(end_date__isnull=True) | Q(end_date__gte=h.starts))

    @property
    def scope_size(self) -> int:
        if callable(self._scope_size):
            self._scope_size = self._scope_size()
        return self._scope_size

    @property
    def closure_days(self) -> int:
        """Weekdays of the half term on which some setting (or all) is closed. One query, unless given."""
        if callable(self._closures):
            self._closures = self._closures()
        if self._closures is None:
            h = self.half_term
            self._closures = (
                ClosureDay.objects.filter(
                    organisation_id=self.organisation_id, date__range=(h.starts, h.ends), date__iso_week_day__lte=5
                )
                .values("date")
                .distinct()
                .count()
            )
        return self._closures

    def key(self) -> tuple:
        """What the rules of this half term are built from besides the agreements in scope: its dates,
        which half of the term it is, and its closure days (read from the database if not given)."""
        h = self.half_term
        return (h.id, h.starts, h.ends, h.half, self.closure_days)

    def name(self, what: str) -> str:
        return f"{what}{self.suffix}"

    def aliases(self) -> dict:
        h = self.half_term
        first_due = Case(
            When(
                supervisee__employment_type=EmploymentType.AGENCY,
                then=AddDays("supervisee__start_date", AGENCY_QUALIFYING_PERIOD.days),
            ),
            default=F("supervisee__start_date"),
            output_field=models.DateField(),
        )
        first_day = Greatest(
            Value(h.starts), first_due, Coalesce("previous__start_date", "start_date"), output_field=models.DateField()
        )
        last_day = Least(
            Value(h.ends),
            Coalesce("supervisee__leaving_date", Value(h.ends)),
            Coalesce("end_date", Value(h.ends)),
            output_field=models.DateField(),
        )
        aliases = {self.name("first_day"): first_day, self.name("last_day"): last_day}
        aliases[self.name("weekdays")] = WeekdaysBetween(F(self.name("first_day")), F(self.name("last_day")))
        return aliases

    def q(self) -> Q:
        """Owed supervision in the half term (the rules of the module's docstring)."""
        h = self.half_term
        first_day, last_day, weekdays = self.name("first_day"), self.name("last_day"), self.name("weekdays")
        replaced = self.contracts.filter(self._active(), previous_id__isnull=False).values("previous_id")
        owed = (
            self._active()
            & ~Q(id__in=replaced)
            # rules.why_not_due: started, not left before the half term, agency staff due by its end.
            & (Q(supervisee__leaving_date__isnull=True) | Q(supervisee__leaving_date__gte=h.starts))
            & Q(supervisee__start_date__lte=h.ends)
            & ~Q(
                supervisee__employment_type=EmploymentType.AGENCY,
                supervisee__start_date__gt=h.ends - AGENCY_QUALIFYING_PERIOD,
            )
            & Q(**{f"{first_day}__lte": F(last_day)})
        )
        # At least one school day from the first day owed to the last: certainly so when the window has
        # more weekdays than the half term has closure days; otherwise the closures are counted.
        if self.closure_days:
            settings = StaffMember.settings.through.objects.filter(
                staffmember_id=OuterRef(OuterRef("supervisee_id"))
            ).values("setting_id")
            closed = (
                ClosureDay.objects.filter(
                    organisation_id=self.organisation_id,
                    date__gte=OuterRef(first_day),
                    date__lte=OuterRef(last_day),
                    date__iso_week_day__lte=5,
                )
                .filter(Q(setting__isnull=True) | Q(setting_id__in=settings))
                .order_by()
                .values("organisation_id")
                .annotate(n=models.Count("date", distinct=True))
                .values("n")
            )
            owed &= Q(**{f"{weekdays}__gt": self.closure_days}) | Q(
                **{f"{weekdays}__gt": Coalesce(Subquery(closed), 0)}
            )
        else:
            owed &= Q(**{f"{weekdays}__gt": 0})
        if h.half != 1:
            # Termly: one a term, booked in the first half (rules.sessions_needed), unless raised by an
            # override running on the first day owed, or new to post (never termly).
            assert NEW_TO_POST_FREQUENCY != Frequency.TERMLY
            raised = FrequencyOverride.objects.filter(
                contract_id=OuterRef("pk"), starts__lte=OuterRef(first_day), ends__gte=OuterRef(first_day)
            ).exclude(frequency=Frequency.TERMLY)
            owed &= ~Q(frequency=Frequency.TERMLY) | Q(supervisee__new_to_post=True) | Exists(raised)
        return owed

    def queryset(self):
        return self.contracts.alias(**self.aliases()).filter(self.q())

    # The sessions of each row ------------------------------------------------------------------------

    def _sessions(self, *, held_only: bool, anytime: bool = False):
        """Sessions of the agreement, or the one it replaced (1:1), or of its supervisee's groups: `one`
        gives those of the agreement the outer query's `field` names ("pk" or "previous_id"), `group` those
        of its supervisee's groups; the right one is chosen by the agreement's kind. One agreement a
        subquery, where "this one or the one it replaced" made PostgreSQL combine two index scans for every
        row; each is answered by `session_held_contract_idx`."""
        sessions = Session.objects.filter(organisation_id=self.organisation_id).order_by()
        sessions = (
            sessions.filter(status=SessionStatus.HELD) if held_only else sessions.filter(status__in=BUSY_STATUSES)
        )
        if not anytime:
            sessions = sessions.filter(starts_at__gte=self.starts_at, starts_at__lt=self.ends_at)

        def one(field):
            qs = sessions.filter(contract_id=OuterRef(field))
            if not anytime:
                # In the half term only 1:1 sessions count for a 1:1 agreement (any kind for "last held").
                qs = qs.filter(kind=SessionKind.ONE_TO_ONE)
            return qs

        group = sessions.filter(kind=SessionKind.GROUP, attendees=OuterRef("supervisee_id"))
        return one, group

    def _in_sessions(
        self, *, held_only: bool, signed: bool = False, sets: "SharedSets | None" = None, cut: bool = True
    ) -> Q:
        """Whether the agreement (1:1, or the one it replaced) or its supervisee (group) has a session of
        the half term: membership of one set of ids each, worked out once for every agreement (a hashed
        subquery), not a subquery a row. With `sets` (`count_owed`, several half terms in one query), the
        sessions of all its half terms are read once and each half term's set is cut from them once,
        where the agreement and the one it replaced would otherwise each build it."""
        starts_at, ends_at = (sets.starts_at, sets.ends_at) if sets is not None else (self.starts_at, self.ends_at)
        sessions = Session.objects.filter(
            organisation_id=self.organisation_id, starts_at__gte=starts_at, starts_at__lt=ends_at
        ).order_by()
        # A session's record status is a subquery a session, by the record's unique session index: as
        # EXISTS, PostgreSQL hashed every signed record of the trust (70,000) for an auditor's ten settings
        # (126 ms, now 55), and for each set the trust's CSV tests (40 ms each).
        record_status = Subquery(Record.objects.filter(session_id=OuterRef("pk")).order_by().values("status")[:1])
        if sets is not None:
            # One base of sessions a kind (1:1 or group) for held, booked and signed alike, read once: held
            # and signed are its columns, and each set picks its rows by them.
            sessions = (
                sessions.filter(status__in=BUSY_STATUSES)
                .alias(record_status=record_status)
                .annotate(
                    shared_held=ExpressionWrapper(Q(status=SessionStatus.HELD), output_field=models.BooleanField()),
                    shared_signed=ExpressionWrapper(
                        Q(status=SessionStatus.HELD, record_status=RecordStatus.SIGNED),
                        output_field=models.BooleanField(),
                    ),
                )
            )
        else:
            sessions = sessions.filter(status__in=[SessionStatus.HELD] if held_only else BUSY_STATUSES)
            if signed:
                # From the half term's sessions to their records (by the unique session index), not from
                # every signed record of the organisation to its session.
                sessions = sessions.alias(record_status=record_status).filter(record_status=RecordStatus.SIGNED)
        one = sessions.filter(kind=SessionKind.ONE_TO_ONE, contract_id__isnull=False)
        if self.staff_scope is not None and (cut or cuts_sets(self.scope_size)):
            # A setting's dashboard: the sessions of its people's agreements, not the whole trust's.
            one = one.filter(self._in_scope("contract__supervisee_id"))
        # Its attendees, never a null: a group session with nobody in it would put one in the set, and
        # `x IN (a set holding a null)` is unknown, not false, so `exclude()` dropped every agreement
        # not in it from the overdue list. One condition on the attendees, so one join to them: a second
        # filter() on a many-to-many relation joins it again.
        in_scope = Q(attendees__isnull=False) if self.staff_scope is None else self._in_scope("attendees")
        group = sessions.filter(Q(kind=SessionKind.GROUP), in_scope)
        if sets is not None:
            flags = {"held": held_only or signed, "signed": signed}
            columns = ("starts_at", "shared_held", "shared_signed")
            one = sets.within("one", one.values("contract_id", *columns), self.starts_at, self.ends_at, **flags)
            group = sets.within("group", group.values("attendees", *columns), self.starts_at, self.ends_at, **flags)
            in_one, previous_in_one = Q(InSharedSet(F("id"), one)), Q(InSharedSet(F("previous_id"), one))
            in_group = Q(InSharedSet(F("supervisee_id"), group))
        else:
            one, group = one.values("contract_id"), group.values("attendees")
            in_one, previous_in_one, in_group = Q(id__in=one), Q(previous_id__in=one), Q(supervisee_id__in=group)
        return (Q(kind=SessionKind.GROUP) & in_group) | (
            ~Q(kind=SessionKind.GROUP) & (in_one | (Q(previous_id__isnull=False) & previous_in_one))
        )

    def held_q(self, sets: "SharedSets | None" = None, *, cut: bool = True) -> Q:
        return self._in_sessions(held_only=True, sets=sets, cut=cut)

    def signed_q(self, sets: "SharedSets | None" = None) -> Q:
        return self._in_sessions(held_only=True, signed=True, sets=sets)

    def booked_q(self, sets: "SharedSets | None" = None, *, cut: bool = True) -> Q:
        return self._in_sessions(held_only=False, sets=sets, cut=cut)

    def held(self):
        return self.sessions_counted(held_only=True)

    def signed(self):
        return ExpressionWrapper(self.signed_q(), output_field=models.BooleanField())

    def booked(self):
        return ExpressionWrapper(self.booked_q(), output_field=models.BooleanField())

    def sessions_counted(self, *, held_only: bool, signed: bool = False):
        """How many sessions the agreement has in the half term, held only or held and booked, or held with
        a signed record: `signed()` and `booked()` (when more than none) as a subquery a row, each
        answered by an index (`session_held_contract_idx`, the attendees' index, the record's unique
        session), as `held()` is. For the rows a page shows: PostgreSQL works out such a column after
        the sort, for the rows kept only, where the sets of `_in_sessions` each read the half term's
        every session (twice: for an agreement and the one it replaced) to answer for eight rows. A count,
        not EXISTS: PostgreSQL may turn an EXISTS back into a set of the whole half term when it expects
        many rows (issue 14)."""
        one, group = self._sessions(held_only=held_only)
        covered = Q(record__status=RecordStatus.SIGNED) if signed else Q()

        def count(qs):
            qs = qs.filter(covered)
            return Coalesce(Subquery(qs.values("organisation_id").annotate(n=models.Count("id")).values("n")), 0)

        # A session belongs to one agreement, so those of the agreement and of the one it replaced add up.
        return Case(
            When(kind=SessionKind.GROUP, then=count(group)), default=count(one("pk")) + count(one("previous_id"))
        )

    def last_held(self, *, after: bool = False):
        """The last held session at any time; with `after`, the first held once the half term ended."""
        one, group = self._sessions(held_only=True, anytime=True)
        if after:
            group = group.filter(starts_at__gte=self.ends_at)
        order = "starts_at" if after else "-starts_at"

        def moment(qs):
            return Subquery(qs.order_by(order).values("starts_at")[:1], output_field=models.DateTimeField())

        def of_agreement(field):
            qs = one(field)
            return moment(qs.filter(starts_at__gte=self.ends_at) if after else qs)

        pick = EarliestKnown if after else LatestKnown
        return Case(
            When(kind=SessionKind.GROUP, then=moment(group)),
            default=pick(of_agreement("pk"), of_agreement("previous_id")),
            output_field=models.DateTimeField(),
        )


class LatestKnown(Func):
    """The later of two moments, either of which may be unknown (null): null only when both are.
    PostgreSQL's GREATEST ignores nulls; SQLite's MAX of several does not."""

    function = "GREATEST"
    sqlite_function = "MAX"
    arity = 2
    output_field = models.DateTimeField()

    def as_sqlite(self, compiler, connection, **extra_context):
        (a, a_params), (b, b_params) = (compiler.compile(e) for e in self.source_expressions)
        sql = f"{self.sqlite_function}(COALESCE({a}, {b}), COALESCE({b}, {a}))"
        return sql, (*a_params, *b_params, *b_params, *a_params)


class EarliestKnown(LatestKnown):
    """The earlier of two moments, either of which may be unknown (null)."""

    function = "LEAST"
    sqlite_function = "MIN"


# A scope of up to this many people (a school or two) has its 1:1 session sets cut to its people's
# agreements, found from them by index. Above it, `cut=False` leaves a set whole (see `_unseen`).
SCOPE_CUTS_SETS = 400


def cuts_sets(scope_size: int) -> bool:
    """Whether a scope of `scope_size` people has its session sets cut to them (`SCOPE_CUTS_SETS`)."""
    return scope_size <= SCOPE_CUTS_SETS


class SharedSets:
    """Sets of ids that one query tests membership of more than once, written once each as materialised
    common table expressions. PostgreSQL builds a hashed subplan for every `IN (subquery)`, even for the
    same subquery, and an agreement's sessions serve both it and its successor; and the chart's six half
    terms would each join their sessions to the records again. Here the sessions of every half term are
    read once (a base a kind of session, 1:1 or group, with whether each was held and whether held with
    a signed record), then each half term's set (held, booked or signed) is cut from its base once. Only
    `count_owed` writes its own SQL around Django's, so only it uses them."""

    def __init__(self, starts_at, ends_at):
        self.starts_at, self.ends_at = starts_at, ends_at  # from the first half term's start to the last's end
        self.bases = {}  # key -> (name, queryset of (member, starts_at, held, signed))
        self.sets = []  # (base name, starts_at, ends_at, held only, signed only)

    def within(self, key, queryset, starts_at, ends_at, *, held: bool = False, signed: bool = False) -> str:
        """The name of the set of members of `queryset` (four columns: the member, the session's start,
        whether it was held and whether held with a signed record) whose session starts from `starts_at`
        to before `ends_at`, held only or signed only if asked. Querysets of the same `key` must be the
        same."""
        if key not in self.bases:
            self.bases[key] = (f"shared_sessions_{len(self.bases) + 1}", queryset)
        self.sets.append((self.bases[key][0], starts_at, ends_at, held, signed))
        return f"shared_set_{len(self.sets)}"

    def sql(self) -> tuple[str, tuple]:
        """The `WITH` clause's entries (to precede the query's own) and their parameters."""
        parts, params = [], []
        for name, queryset in self.bases.values():
            sql, more = queryset.query.sql_with_params()
            parts.append(f"{name}(member, starts_at, held, signed) AS MATERIALIZED ({sql})")
            params.extend(more)
        for n, (base, starts_at, ends_at, held, signed) in enumerate(self.sets, start=1):
            select = f"SELECT member FROM {base} WHERE starts_at >= %s AND starts_at < %s"  # noqa: S608 (our names)
            select += " AND held" if held else ""
            select += " AND signed" if signed else ""
            parts.append(f"shared_set_{n}(member) AS MATERIALIZED ({select})")
            params.extend(connection.ops.adapt_datetimefield_value(t) for t in (starts_at, ends_at))
        return ", ".join(parts), tuple(params)


class InSharedSet(models.Expression):
    """`column IN (the shared set)`: true or false, never null (the sets hold no nulls and a null
    column is simply not in them)."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, expression, name: str):
        super().__init__()
        self.expression = expression
        self.name = name

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        name = connection.ops.quote_name(self.name)
        return f"COALESCE({sql} IN (SELECT member FROM {name}), FALSE)", params  # noqa: S608 (our own names)


COUNTED = ("owed", "held", "booked", "covered")


def count_owed(
    contracts,
    owed: list[OwedAgreements],
    *,
    scope=None,
    setting_ids=(),
    held_in=(),
    key: tuple | None = None,
    fresh: set[int] | None = None,
) -> dict:
    """For each half term, how many agreements were owed supervision, how many had a session held in it
    and how many one held or booked (both for the half terms of `held_in` only, 0 for the others) and
    how many a held session with a signed record; for the scope as a whole (key None) and for each of
    `setting_ids` (by the supervisee's settings). `contracts` are the organisation's (`scope` None) or
    those of the people of the settings `scope`. An ended half term whose summary is fresh is read from
    it (`summary`); the others in one query: the rules are worked out once an agreement and half term
    (inside), then counted twice (outside). With `key` (everything `contracts` is built from, as
    `Dashboard._scope_key` gives it), that query's SQL is built once a thread (`built`). `fresh`: the
    half terms whose summary is fresh when the caller has asked already (`Dashboard._fresh_ids`).

    {setting id or None: {half term id: {"owed": n, "held": n, "booked": n, "covered": n}}}"""
    from . import summary

    summarised = summary.fresh(o.half_term.id for o in owed) if fresh is None else fresh
    live = [o for o in owed if o.half_term.id not in summarised]
    result = {}
    if live:
        if key is not None:
            # The statement is fixed by the scope's key, each live half term's dates and closure days, and
            # the settings and half terms asked about.
            key = (
                "count owed",
                *key,
                tuple(o.key() for o in live),
                tuple(setting_ids),
                tuple(sorted(held_in)),
            )
        result = _count_owed(contracts, live, setting_ids=setting_ids, held_in=held_in, key=key)
    if summarised:
        for setting_id, counts in summary.count(
            summarised, scope=scope, setting_ids=setting_ids, held_in=held_in
        ).items():
            result.setdefault(setting_id, {}).update(counts)
    # Every key has every half term (none owed: zeros).
    result.setdefault(None, {})
    for counts in result.values():
        for o in owed:
            counts.setdefault(o.half_term.id, dict.fromkeys(COUNTED, 0))
    return result


def _count_owed(contracts, owed: list[OwedAgreements], *, setting_ids=(), held_in=(), key=None) -> dict:
    def build():
        return _count_owed_sql(contracts, owed, setting_ids=setting_ids, held_in=held_in)

    sql, params = build() if key is None else BUILT.get(key, build)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = {None: {o.half_term.id: dict.fromkeys(COUNTED, 0) for o in owed}}
    width = len(COUNTED)
    for setting_id, *values in rows:
        result[setting_id] = {
            o.half_term.id: dict(zip(COUNTED, values[width * n : width * (n + 1)], strict=True))
            for n, o in enumerate(owed)
        }
    return result


def _count_owed_sql(contracts, owed: list[OwedAgreements], *, setting_ids=(), held_in=()) -> tuple[str, tuple]:
    """`_count_owed`'s statement and its parameters: a row for the whole scope, then one a setting."""
    qs = contracts.order_by()
    columns = {}
    sets = SharedSets(min(o.starts_at for o in owed), max(o.ends_at for o in owed))
    for o in owed:
        qs = qs.alias(**o.aliases())
        columns[o.name("owed")] = ExpressionWrapper(o.q(), output_field=models.BooleanField())
        # Held and booked are wanted only for the half terms `held_in` (the running one's progress, the
        # last one's overdue).
        progress = o.half_term.id in held_in
        held = o.held_q(sets) if progress else Value(False)
        booked = o.booked_q(sets) if progress else Value(False)
        columns[o.name("held")] = ExpressionWrapper(held, output_field=models.BooleanField())
        columns[o.name("booked")] = ExpressionWrapper(booked, output_field=models.BooleanField())
        columns[o.name("covered")] = ExpressionWrapper(o.signed_q(sets), output_field=models.BooleanField())
    inner, params = qs.annotate(**columns).values("supervisee_id", *columns).query.sql_with_params()
    shared, shared_params = sets.sql()
    params = (*shared_params, *params)

    def counted(o):
        owed_ = connection.ops.quote_name(o.name("owed"))
        return ", ".join(
            f"COUNT(CASE WHEN {owed_} THEN 1 END)"
            if k == "owed"
            else f"COUNT(CASE WHEN {owed_} AND {connection.ops.quote_name(o.name(k))} THEN 1 END)"
            for k in COUNTED
        )

    counts = ", ".join(counted(o) for o in owed)
    link = StaffMember.settings.through._meta.db_table
    setting_ids = list(setting_ids)
    # Only names of our own (columns, the link table) and Django's compiled query go into the text;
    # every value is a parameter.
    shared = f"{shared}, " if shared else ""
    # MATERIALIZED: the rules worked out once a row. Inlined into the counts, each of a half term's four
    # counted columns repeated them (and built their hashed subplans) again: 171 ms for the trust, now 88.
    sql = f"WITH {shared}owed AS MATERIALIZED ({inner}) SELECT NULL, {counts} FROM owed"  # noqa: S608
    if setting_ids:
        sql += (
            f" UNION ALL SELECT link.setting_id, {counts} FROM owed INNER JOIN {link} link"  # noqa: S608
            " ON link.staffmember_id = owed.supervisee_id"
            f" WHERE link.setting_id IN ({', '.join(['%s'] * len(setting_ids))}) GROUP BY link.setting_id"
        )
        params = (*params, *setting_ids)
    return sql, params
