"""The `Dashboard`: every figure for one viewer, half term and set of settings."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import cached_property
from types import SimpleNamespace

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, Setting, StaffMember
from accounts.queries import InArray, OneOf, count_of
from records.models import (
    Action,
    ConfidentialityFlag,
    Record,
    RecordSection,
    RecordStatus,
    SafeguardingDecision,
    Signature,
    SignatureCapacity,
    TemplateSection,
)

from ..models import (
    AgreementCoverage,
    ClosureDay,
    Contract,
    HalfTerm,
    Session,
    SessionKind,
    SessionStatus,
    _scope_settings,
)
from ..slots import LONDON
from . import summary
from .built import BUILT, kept_queryset, kept_variant
from .coverage import OwedAgreements, SharedSets, count_owed, cuts_sets
from .figures import FIGURES, HISTORY_HALF_TERMS, LEAVING_SOON_DAYS, REVIEW_DUE_DAYS
from .lists import Keys, Listing, cancellation_summary, hours_label, summarise_hours
from .rows import (
    SUPERVISEE_NAME,
    SUPERVISOR_NAME,
    ActionRow,
    AgreementRow,
    BalanceRow,
    CancellationRow,
    CaseloadRow,
    ContractRow,
    DecisionRow,
    FlagRow,
    LeaverRow,
    RecordRow,
    StaffRow,
    Tile,
)
from .scope import CONTRACT_WORDING, _local_day, _midnight, _without_wording, object_url

# What an agreement's row reads: dates, names and kinds, never the agreement's wording. The agreement
# alone is built, its two people's names read as columns of it (`ROW_NAMES`): a page of 200 rows built
# the two people and their two users as well, 1,000 model objects (issue 14).
AGREEMENT_ROW_FIELDS = (
    "id",
    "code",
    "organisation_id",
    "kind",
    "frequency",
    "start_date",
    "review_date",
    "end_date",
    "previous_id",
    "supervisee_id",
    "supervisor_id",
    "supervisee_signed_at",
    "supervisor_signed_at",
    "created_at",
)
ROW_NAMES = {
    SUPERVISEE_NAME: F("supervisee__user__full_name"),
    SUPERVISOR_NAME: F("supervisor__user__full_name"),
}


def _name_of(person: str) -> Subquery:
    return Subquery(StaffMember.objects.filter(pk=OuterRef(person)).order_by().values("user__full_name")[:1])


# The same names as a subquery a row, for a list sorted by columns of its own (the overdue list read from
# a summary): PostgreSQL then reads them for the rows it returns only, not for every row it sorts.
KEPT_ROW_NAMES = {SUPERVISEE_NAME: _name_of("supervisee_id"), SUPERVISOR_NAME: _name_of("supervisor_id")}


# What a row of overdue actions shows (templates/supervision/includes/dashboard_overdue_actions.html) and
# its link needs (`_session_link`), as plain values; the names are read by key after (`_names_of`). Built
# as models, with the names joined in, a page of 200 was 2,400 model objects from a join of eleven tables.
OVERDUE_ACTION_ROW_VALUES = (
    "id",
    "due_date",
    "owner_id",
    "record__supervisor_id",
    "record__session__code",
    "record__session__starts_at",
    "record__session__setting_id",
    "record__session__supervisor_id",
    "record__session__group_id",
    "record__session__group__name",
    "record__session__setting__name",
    "record__session__contract__supervisee_id",
)


# What a row of records awaiting signature shows and links (`RecordRow`, `Dashboard._session_url`): every
# column of seven joined tables made a page of 200 rows twice as slow to read and build (issue 14).
AWAITING_ROW_FIELDS = (
    "id",
    "status",
    "supervisor__user__full_name",
    "session__code",
    "session__starts_at",
    "session__setting_id",
    "session__supervisor_id",
    "session__setting__name",
    "session__group__name",
    "session__contract__supervisee_id",
    "session__contract__supervisee__user__full_name",
)


class Dashboard:
    """The figures for one viewer, half term and set of settings.

    `settings` are the settings the page covers; `whole_organisation` also takes in people and
    agreements with no setting (only for organisation-wide viewers with no setting chosen).
    """

    def __init__(
        self,
        *,
        viewer: StaffMember,
        half_term: HalfTerm,
        settings: list[Setting],
        whole_organisation: bool,
        half_terms: list[HalfTerm] | None = None,
        today: date | None = None,
    ):
        self.viewer = viewer
        self.organisation_id = viewer.organisation_id
        self.half_term = half_term
        self.settings = sorted(settings, key=lambda s: s.name)
        self.setting_ids = None if whole_organisation else [s.id for s in settings]
        self.setting_names = {s.id: s.name for s in settings}
        self.today = today or timezone.localdate()
        self._half_terms = half_terms
        self._owed_cache: dict[int, OwedAgreements] = {}
        self._counts_cache: dict[int, dict] = {}
        self._held_counted: set[int] = set()  # the half terms of _counts_cache whose "held" was counted
        self._listings: dict[str, Listing] = {}
        self._summaries: dict[str, dict] = {}
        self._fresh: dict[int, bool] = {}  # half term id -> whether its coverage summary is fresh
        # What the viewer may open (the same rules as Contract/Session.visible_to), for the links.
        self._contract_reach = _scope_settings(viewer, Role.HEAD, Role.DSL, Role.ORG_ADMIN)
        self._session_reach = _scope_settings(viewer, Role.HEAD, Role.DSL)

    # Scoping ----------------------------------------------------------------------------------

    @cached_property
    def _scope_people(self):
        """The people of the settings in scope, for SQL: their link rows, worked out once a query and looked
        up by key (`InArray`), so PostgreSQL starts from their few hundred agreements and sessions by
        index (a plain `IN (subquery)` had it scan the trust's and filter late). Not the ids as a list:
        an auditor's 1,000 people written three times into a query took PostgreSQL 5 ms to plan and
        were searched one by one for each row (the overdue preview: 25 ms to run, 13 ms this way)."""
        return StaffMember.settings.through.objects.filter(setting_id__in=self.setting_ids).values("staffmember_id")

    @cached_property
    def _scope_size(self) -> int:
        """How many people the settings in scope have (whether their session sets are cut to them,
        `coverage.SCOPE_CUTS_SETS`): one count on the settings' index of the link table, no ids read."""
        return self._scope_people.order_by().distinct().count()

    def people_count(self) -> int:
        """How many people the settings in scope have: those chosen, or all the organisation's (one count of
        the settings' index of the link table, as `_scope_size`)."""
        if self.setting_ids is not None:
            return self._scope_size
        people = StaffMember.settings.through.objects.filter(setting_id__in=[s.id for s in self.settings])
        return people.values("staffmember_id").order_by().distinct().count()

    def _of_scope(self, column: str) -> InArray:
        """Rows whose `column` is one of the people of the settings in scope."""
        return InArray(column, self._scope_people)

    @cached_property
    def _scoped_contracts(self):
        qs = Contract.objects.filter(organisation_id=self.organisation_id)
        if self.setting_ids is not None:
            qs = qs.filter(self._of_scope("supervisee_id"))
        return qs

    def _contracts(self):
        """The organisation's agreements in scope: built once a dashboard, a clone each use (a page used
        them seven times or more: the chart's half terms, the lists, the counts)."""
        return self._scoped_contracts.all()

    def _in_settings(self, qs):
        """Rows of the organisation in the settings in scope, by the setting each keeps: sessions have
        theirs, and records, with their actions, decisions and flags, keep their session's (by index),
        rather than reach it through every session of the settings (an auditor's ten settings' 8,600
        sessions and 7,800 records, read inwards, took 6-13 ms a tile; issue 14)."""
        qs = qs.filter(organisation_id=self.organisation_id)
        if self.setting_ids is not None:
            qs = qs.filter(setting_id__in=self.setting_ids)
        return qs

    def _names(self, setting_ids) -> list[str]:
        return sorted(self.setting_names[i] for i in setting_ids if i in self.setting_names)

    def _reaches(self, reach, setting_ids) -> bool:
        return reach == "organisation" or bool(reach and set(setting_ids) & reach)

    def _contract_url(self, contract: Contract, setting_ids) -> str | None:
        mine = self.viewer.id in (contract.supervisee_id, contract.supervisor_id)
        if mine or self._reaches(self._contract_reach, setting_ids):
            return object_url("supervision:contract-detail", contract.code)
        return None

    def _session_url(self, session: Session) -> str | None:
        supervisee_id = session.contract.supervisee_id if session.contract_id is not None else None
        return self._session_link(
            session.code,
            supervisor_id=session.supervisor_id,
            supervisee_id=supervisee_id,
            setting_id=session.setting_id,
        )

    def _session_link(self, code, *, supervisor_id: int, supervisee_id: int | None, setting_id: int) -> str | None:
        """The session's page for its supervisor and its 1:1 supervisee, and for the heads and DSLs of its
        setting (`Session.visible_to`); None for anyone else."""
        mine = self.viewer.id in (supervisor_id, supervisee_id)
        if mine or self._reaches(self._session_reach, [setting_id]):
            return object_url("supervision:session-detail", code)
        return None

    def fill_links(self, rows) -> None:
        """Look up, in one query, the record each row's "last held" date links to: for the rows a page
        shows, never the whole list."""
        self._last_records.fill(rows)

    def _safeguarding_url(self, setting_id: int) -> str | None:
        if self._reaches(self._session_reach, [setting_id]):
            return reverse("records:safeguarding")
        return None

    # Agreements owed supervision in a half term (coverage, overdue, the CSV, the chart) ----------------
    # Worked out in SQL by `coverage.OwedAgreements`: a tile or the chart counts, a list reads a page.

    def _owed(self, half_term: HalfTerm) -> OwedAgreements:
        if half_term.id not in self._owed_cache:
            self._owed_cache[half_term.id] = OwedAgreements(
                self._contracts(),
                half_term,
                organisation_id=self.organisation_id,
                staff_scope=None if self.setting_ids is None else self._scope_people,
                # Each read when first needed (not by a list read from a fresh summary).
                scope_size=0 if self.setting_ids is None else lambda: self._scope_size,
                closure_days=lambda: self._closure_days.get(half_term.id),
            )
        return self._owed_cache[half_term.id]

    @cached_property
    def _closure_days(self) -> dict[int, int]:
        """For the chosen half term and those the chart shows: how many of its weekdays some setting (or
        all) is closed. One query for them all (the organisation's closed weekdays from the first to the
        last), rather than one a half term."""
        half_terms = {h.id: h for h in [*self.history, self.half_term]}.values()
        closed = set(
            ClosureDay.objects.filter(
                organisation_id=self.organisation_id,
                date__range=(min(h.starts for h in half_terms), max(h.ends for h in half_terms)),
                date__iso_week_day__lte=5,
            )
            .values_list("date", flat=True)
            .distinct()
        )
        return {h.id: sum(1 for day in closed if h.starts <= day <= h.ends) for h in half_terms}

    def _summarised(self, half_term: HalfTerm) -> bool:
        """Whether the half term has started and its coverage summary is fresh (one query a half term; never
        on SQLite): its agreements owed, and which had a session held or booked, are then read from the
        summary."""
        return half_term.id in self._fresh_ids([half_term])

    def _fresh_ids(self, half_terms) -> set[int]:
        """Those of the half terms that have started whose coverage summary is fresh (`summary.fresh`). Asked
        once a dashboard, in one query with every other half term it shows (those it was given, and its
        history once drawn), rather than one query a half term (a head's home asked twice, a dashboard up
        to three times)."""
        if any(h.starts <= self.today and h.id not in self._fresh for h in half_terms):
            shown = [*half_terms, *(self._half_terms or ()), self.half_term, *self.__dict__.get("history", ())]
            ids = {h.id for h in shown if h.starts <= self.today and h.id not in self._fresh}
            found = summary.fresh(ids)
            self._fresh.update({i: i in found for i in ids})
        return {h.id for h in half_terms if h.starts <= self.today and self._fresh[h.id]}

    def _owed_qs(
        self,
        half_term: HalfTerm,
        *,
        every_row: bool = False,
        overdue: bool = False,
        unseen_only: bool = False,
        sets: SharedSets | None = None,
    ):
        """The agreements owed supervision in the half term, with their sessions there. For a page, each
        as a subquery a row, answered by an index: PostgreSQL works them out after the sort, for the rows
        the page shows only, where a set of the half term's sessions was built whole (twice: for an
        agreement and the one it replaced) for a page of eight (an auditor's dashboard over ten settings:
        150 ms; issue 14). For `every_row` (the CSV), signed and booked as those sets, built once. For the
        `overdue` list, what its own rule (`_unseen`) already says is not asked again: none of its rows
        had a session held, so none a signed record, and while the half term runs none has one booked.
        With `sets` (every row, on PostgreSQL), signed and booked test shared sets the caller writes as
        the query's `WITH` clause (`coverage_values`). With a fresh summary (`_summarised`), the agreements,
        their signed and booked flags and their last held sessions are its rows', joined (`coverage`)."""
        owed = self._owed(half_term)
        # A fresh summary has the half term's agreements owed (the rules worked out for each) and, for every
        # row, whether it was signed and booked (the sets of its sessions) and its last held session.
        summarised = self._summarised(half_term)
        if overdue:
            held = signed = Value(0, output_field=IntegerField())
            booked = owed.sessions_counted(held_only=False) if half_term.ends < self.today else held
        elif summarised:
            # The flags of the summary's row, joined below: as they are (the CSV), or as the counts a page's
            # rows otherwise have (1 or 0).
            held = owed.held()
            signed, booked = F("coverage__covered"), F("coverage__booked")
            if not every_row:
                signed, booked = Cast(signed, IntegerField()), Cast(booked, IntegerField())
        elif every_row and sets is not None:
            held = owed.held()
            signed = ExpressionWrapper(owed.signed_q(sets), output_field=BooleanField())
            booked = ExpressionWrapper(owed.booked_q(sets), output_field=BooleanField())
        elif every_row:
            held, signed, booked = owed.held(), owed.signed(), owed.booked()
        else:
            held = owed.held()
            signed, booked = owed.sessions_counted(held_only=True, signed=True), owed.sessions_counted(held_only=False)
        if unseen_only:
            # The half term's agreements owed supervision and not seen in it (`_unseen`), from its fresh
            # summary: the rules and the sets of its sessions were worked out there (issue 14).
            # Joined to its row (one a half term), whose columns the list sorts by (`_build_overdue_qs`).
            not_seen = Q(coverage__half_term_id=half_term.id, coverage__held=False)
            if half_term.ends >= self.today:
                not_seen &= Q(coverage__booked=False)
            agreements = self._contracts().filter(not_seen)
        elif summarised:
            # Joined to its row in the summary (one a half term), whose columns it reads and sorts by.
            agreements = self._contracts().filter(coverage__half_term_id=half_term.id)
        else:
            agreements = owed.queryset()
        # The last held session: kept in a fresh summary (with the first held once the half term ended), and
        # then, for a page, the names read for the rows shown only (`KEPT_ROW_NAMES`).
        if summarised:
            # Every row (the CSV): the supervisee's name as the summary keeps it, so no row is joined to the
            # person and their user (an auditor's 1,132 rows: 2,264 lookups; issue 14).
            last_held = F("coverage__last_held")
            names = {**ROW_NAMES, SUPERVISEE_NAME: F("coverage__name")} if every_row else KEPT_ROW_NAMES
        else:
            last_held, names = owed.last_held(), ROW_NAMES
        return (
            agreements.only(*AGREEMENT_ROW_FIELDS)
            .annotate(**names)
            .annotate(held=held, signed=signed, booked=booked, last_held=last_held)
        )

    def _scope_key(self, *, sets: bool = True) -> tuple:
        """What the organisation's agreements in scope (`_contracts`) are built from: the organisation, the
        settings in scope (in their order) and whether they have few enough people for their session sets
        to be cut to them (`coverage.cuts_sets`, from their number read on every request). Without `sets`,
        for a query that asks for no set of sessions, their number is neither read nor part of the key."""
        return (
            self.organisation_id,
            None if self.setting_ids is None else tuple(self.setting_ids),
            None if self.setting_ids is None or not sets else cuts_sets(self._scope_size),
        )

    def _shape(self, half_term: HalfTerm, *, summary: bool = False) -> tuple:
        """Everything a query of the half term's agreements owed supervision is built from, as the key
        it is kept under (`built`): the scope (`_scope_key`), the day, the half term's dates and, as read
        from the database on every request, its closure days (for the rules) and, with `summary`,
        whether its coverage summary is fresh (the overdue list then reads it rather than the rules)."""
        fresh = self._summarised(half_term) if summary else None
        closures = None if fresh else self._owed(half_term).closure_days
        return (
            # Read from a fresh summary, the list asks for no set of sessions: its scope's size is not counted.
            *self._scope_key(sets=not fresh),
            self.today,
            half_term.id,
            half_term.starts,
            half_term.ends,
            half_term.half,
            closures,
            fresh,
        )

    def _coverage_qs(
        self, half_term: HalfTerm | None = None, *, every_row: bool = False, sets: SharedSets | None = None
    ):
        half_term = half_term or self.half_term
        if every_row:
            return self._build_coverage_qs(half_term, every_row=True, sets=sets)
        key = ("coverage", *self._shape(half_term, summary=True))
        return kept_queryset(key, lambda: self._build_coverage_qs(half_term))

    def _build_coverage_qs(self, half_term: HalfTerm, *, every_row: bool = False, sets: SharedSets | None = None):
        qs = self._owed_qs(half_term, every_row=every_row, sets=sets)
        # From a summary, by the name kept there (the same as the person's: a new name marks it stale).
        name = "coverage__name" if self._summarised(half_term) else "supervisee__user__full_name"
        return qs.order_by(name, "id")

    def _unseen(self, half_term: HalfTerm) -> Q:
        """Not on the overdue list: once the half term has ended, a session held in it; while it runs,
        one held or booked."""
        owed = self._owed(half_term)
        # The set whole for a wide scope: it is only asked about the scope's agreements, so the others
        # change nothing, and cutting it to an auditor's 1,000 people joined the half term's 10,000
        # sessions to the trust's 20,000 agreements, once for an agreement and once for the one it replaced.
        return owed.held_q(cut=False) if half_term.ends < self.today else owed.booked_q(cut=False)

    def _overdue_qs(self, half_term: HalfTerm | None = None):
        """Once the half term has ended, those with no session held in it; while it runs, those with none
        held or booked. Supervised longest ago (or never) first."""
        half_term = half_term or self.half_term
        key = ("overdue", *self._shape(half_term, summary=True))
        return kept_queryset(key, lambda: self._build_overdue_qs(half_term))

    def _build_overdue_qs(self, half_term: HalfTerm):
        summarised = self._summarised(half_term)
        if summarised:
            qs = self._owed_qs(half_term, overdue=True, unseen_only=True)
        else:
            qs = self._owed_qs(half_term, overdue=True).exclude(self._unseen(half_term))
        if half_term.ends < self.today:
            caught_up = F("coverage__caught_up") if summarised else self._owed(half_term).last_held(after=True)
            qs = qs.annotate(caught_up=caught_up)
        # From a summary, the name kept there: the people's names are then read for the rows shown only.
        name = "coverage__name" if summarised else "supervisee__user__full_name"
        return qs.order_by(F("last_held").asc(nulls_first=True), name, "id")

    def _agreement_rows(self, contracts, half_term: HalfTerm, *, overdue: bool = False) -> list[AgreementRow]:
        contracts = list(contracts)
        settings_of = self._settings_of(c.supervisee_id for c in contracts)
        days = None
        if overdue:
            days = (self.today - half_term.ends).days if half_term.ends < self.today else 0
        rows = []
        for c in contracts:
            setting_ids = sorted(settings_of.get(c.supervisee_id, []))
            rows.append(
                AgreementRow(
                    contract=c,
                    half_term=half_term,
                    settings=self._names(setting_ids),
                    setting_ids=setting_ids,
                    held=c.held,
                    signed=bool(c.signed),
                    booked=bool(c.booked),
                    url=self._contract_url(c, setting_ids),
                    last_held=c.last_held,
                    days_overdue=days,
                    caught_up=getattr(c, "caught_up", None),
                    links=self._last_records,
                )
            )
        return rows

    def _coverage_rows(self, contracts) -> list[AgreementRow]:
        return self._agreement_rows(contracts, self.half_term)

    def coverage_values(self) -> list[dict]:
        """Every agreement owed supervision in the half term as plain values, for the CSV: one query for
        the rows and one for everyone's settings, and no model built a row (12,000 rows of five models
        each cost seconds)."""
        fields = (
            "supervisee_id",
            "supervisee__user__full_name",
            "supervisor__user__full_name",
            "end_date",
            "supervisee_signed_at",
            "supervisor_signed_at",
            "review_date",
            "last_held",
            "held",
            "signed",
            "booked",
        )
        summarised = self._summarised(self.half_term)
        if connection.vendor == "postgresql" and not summarised:
            rows = self._coverage_values_shared(fields)
        elif summarised:
            # The supervisee's name as the summary keeps it (the same: a new name marks it stale), rather than
            # a join of every row to the person and their user.
            kept = [f if f != "supervisee__user__full_name" else "coverage__name" for f in fields]
            if connection.vendor == "postgresql":
                # Its SQL built once a thread for the same shape (`built`), as the live rows' is: the query
                # of the summary's rows and their sessions took 5 ms to build and compile (issue 14).
                sql, params = BUILT.get(
                    ("coverage values", tuple(kept), *self._shape(self.half_term, summary=True)),
                    lambda: self._coverage_qs(every_row=True).values(*kept).query.sql_with_params(),
                )
                rows = _dict_rows(sql, params)
            else:
                rows = list(self._coverage_qs(every_row=True).values(*kept))
            for r in rows:
                r["supervisee__user__full_name"] = r.pop("coverage__name")
        else:
            rows = list(self._coverage_qs(every_row=True).values(*fields))
        settings_of = self._settings_of(r["supervisee_id"] for r in rows)
        for r in rows:
            # Contract.status over the four dates it reads: building a Contract costs more than the rest.
            dates = SimpleNamespace(
                end_date=r["end_date"],
                is_signed=r["supervisee_signed_at"] is not None and r["supervisor_signed_at"] is not None,
                review_date=r["review_date"],
            )
            r["status"] = Contract.status(dates, self.today)
            r["settings"] = self._names(settings_of.get(r["supervisee_id"], []))
        return rows

    def _coverage_values_shared(self, fields) -> list[dict]:
        """`coverage_values`' rows on PostgreSQL, with the half term's sessions read once for signed and
        booked: as `IN (subquery)` tests, an agreement and the one it replaced each built the same hashed
        set of sessions again (four sets, 12 ms each for an auditor's ten settings; issue 14). Here the
        sessions are a materialised `WITH` entry (`SharedSets`, as `count_owed` writes them) and the two
        sets are cut from it once. Django's own SQL for the rows, run as it is after the `WITH` clause;
        PostgreSQL's driver gives the same values Django would (aware datetimes, dates, booleans)."""

        def build():
            owed = self._owed(self.half_term)
            sets = SharedSets(owed.starts_at, owed.ends_at)
            sql, params = self._coverage_qs(every_row=True, sets=sets).values(*fields).query.sql_with_params()
            shared, shared_params = sets.sql()
            return f"WITH {shared} {sql}", (*shared_params, *params)

        sql, params = BUILT.get(("coverage values", fields, *self._shape(self.half_term)), build)
        return _dict_rows(sql, params)

    @cached_property
    def _last_records(self) -> "_LastRecords":
        return _LastRecords(self)

    @cached_property
    def history(self) -> list[HalfTerm]:
        """The chosen half term and up to five before it, oldest first."""
        half_terms = self._half_terms
        if half_terms is None:
            half_terms = list(
                HalfTerm.objects.filter(organisation_id=self.organisation_id, starts__lte=self.half_term.starts)
                .select_related("academic_year")
                .order_by("-starts")[:HISTORY_HALF_TERMS]
            )
        earlier = sorted((h for h in half_terms if h.starts <= self.half_term.starts), key=lambda h: h.starts)
        return earlier[-HISTORY_HALF_TERMS:]

    def coverage(self) -> list[AgreementRow]:
        """Agreements owed supervision in the half term; `signed` says whether each is covered: a session
        held inside the half term whose record is signed. Every row: the CSV's; a page reads `listing`."""
        return self.listing("coverage").all()

    def overdue(self, half_term: HalfTerm | None = None) -> list[AgreementRow]:
        """Once the half term has ended: owed agreements with no session held in it, overdue by the days
        since it ended. While it runs: those with no session held or booked in it ("not booked").
        Those supervised longest ago (or never) first."""
        return self.overdue_listing(half_term).all()

    def overdue_listing(self, half_term: HalfTerm | None = None) -> "Listing":
        half_term = half_term or self.half_term
        key = f"overdue {half_term.id}"
        if key not in self._listings:
            self._listings[key] = Listing(
                queryset=lambda: self._overdue_qs(half_term),
                build=lambda contracts: self._agreement_rows(contracts, half_term, overdue=True),
                # From the chart's counts when it has counted them; a list page counts it with its rows.
                counted=lambda: self._overdue_counted(half_term) if half_term.id in self._held_counted else None,
                count_alone=lambda: self._overdue_counted(half_term),
                keys=lambda: self._summary_keys(half_term, overdue=True),
            )
        return self._listings[key]

    def still_first_listing(self, half_term: HalfTerm) -> "Listing":
        """An ended half term's overdue agreements, those still to chase (no session held since it ended,
        no "caught up" date) first, each part in the overdue list's order."""
        key = f"still first {half_term.id}"
        if key not in self._listings:
            overdue = self.overdue_listing(half_term)

            def queryset():
                order = (F("caught_up").asc(nulls_first=True), *overdue.queryset.query.order_by)
                return kept_variant(overdue.queryset, "still first", lambda qs: qs.order_by(*order))

            self._listings[key] = Listing(
                queryset=queryset,
                build=overdue.build,
                keys=lambda: self._summary_keys(half_term, overdue=True, still_first=True),
            )
        return self._listings[key]

    def _summary_keys(self, half_term: HalfTerm, *, overdue: bool = False, still_first: bool = False) -> Keys | None:
        """The coverage or overdue list of a half term as its fresh summary's rows (`AgreementCoverage`),
        in the list's order, for a page to find its agreements there first (`Listing._read_keyed`): the
        same rows, as the list reads them from the summary (`_owed_qs`), in the same order, by the kept
        last held date, name and "caught up" date. For the whole organisation only: every row of its half
        term's summary is one of its agreements. A scope of settings finds its agreements first and
        looks each up in the summary, as the list's own query does."""
        if self.setting_ids is not None or not self._summarised(half_term):
            return None
        rows = AgreementCoverage.objects.filter(half_term_id=half_term.id)
        if overdue:
            rows = rows.filter(held=False)
            if half_term.ends >= self.today:
                rows = rows.filter(booked=False)
            order = [F("last_held").asc(nulls_first=True), "name", "contract_id"]
            if still_first:
                order.insert(0, F("caught_up").asc(nulls_first=True))
        else:
            order = ["name", "contract_id"]
        also = {"still": Q(caught_up__isnull=True), "covered": Q(covered=True)}
        return Keys(queryset=rows.order_by(*order), column="contract_id", also=also)

    @property
    def running(self) -> bool:
        return self.half_term.starts <= self.today <= self.half_term.ends

    def coverage_counts(self, half_term: HalfTerm | None = None) -> dict:
        """How many agreements were owed supervision in the half term, how many of them had a session
        held in it, and how many a held session with a signed record. Counted in the database, with the
        rest of the chart's half terms when the chart is drawn."""
        half_term = half_term or self.half_term
        if half_term.id not in self._counts_cache or half_term.id not in self._held_counted:
            counts = count_owed(
                self._contracts(),
                [self._owed(half_term)],
                scope=self.setting_ids,
                held_in={half_term.id},
                key=self._scope_key(),
                fresh=self._fresh_ids([half_term]),
            )
            self._counts_cache[half_term.id] = counts[None][half_term.id]
            self._held_counted.add(half_term.id)
        return self._counts_cache[half_term.id]

    def overdue_count_of(self, coverage: list[dict]) -> int:
        """The chosen half term's overdue count from its rows (`coverage_values`), as the list counts it:
        once it has ended, those with no session held in it; while it runs, none held or booked."""
        ended = self.half_term.ends < self.today
        return sum(1 for r in coverage if not (r["held"] if ended else r["booked"]))

    def overdue_count(self, half_term: HalfTerm | None = None) -> int:
        """How many agreements are on the half term's overdue list (see `_overdue_counted`)."""
        return self.overdue_listing(half_term).count

    def _overdue_counted(self, half_term: HalfTerm) -> int:
        """The overdue list's length: those owed supervision with no session held in the half term once
        it has ended (owed less held), with none held or booked before (owed less booked). From the
        chart's counts when it has counted them."""
        if half_term.id not in self._held_counted:
            # Counted without the rows' sessions and order, which the count needs not build.
            return self._owed(half_term).queryset().exclude(self._unseen(half_term)).count()
        counts = self._counts_cache[half_term.id]
        return counts["owed"] - counts["held" if half_term.ends < self.today else "booked"]

    def progress(self) -> dict:
        """The running half term so far: agreements owed supervision with a session held, with one booked
        (and none held yet), and with nothing booked."""
        counts = self.coverage_counts()
        not_booked = self.overdue_count() if self.running else None
        held = counts["held"]
        return {
            "owed": counts["owed"],
            "held": held,
            "booked": counts["owed"] - held - not_booked if not_booked is not None else None,
            "not_booked": not_booked,
        }

    def coverage_history(self) -> list[dict]:
        """Coverage in each half term of `history`, for the scope as a whole and for each setting: one
        query for the six half terms, whatever the number of agreements."""
        owed = [self._owed(h) for h in self.history]
        # Held is counted for the chosen half term (its progress) and the last one to end (its overdue).
        ended = [h.id for h in self.history if h.ends < self.today]
        held_in = {self.half_term.id, *ended[-1:]}
        counts = count_owed(
            self._contracts(),
            owed,
            scope=self.setting_ids,
            setting_ids=[s.id for s in self.settings],
            held_in=held_in,
            key=self._scope_key(),
            fresh=self._fresh_ids(self.history),
        )
        self._held_counted |= held_in
        points = []
        for o in owed:
            h = o.half_term.id
            self._counts_cache[h] = counts[None][h]
            by_setting = {s.id: [0, 0] for s in self.settings}
            for s in self.settings:
                if s.id in counts:
                    by_setting[s.id] = [counts[s.id][h]["covered"], counts[s.id][h]["owed"]]
            points.append(
                {
                    "half_term": o.half_term,
                    "overall": (counts[None][h]["covered"], counts[None][h]["owed"]),
                    "by_setting": by_setting,
                }
            )
        return points

    # As of today ---------------------------------------------------------------------------------
    # Each figure is a queryset ordered in the database (`_<figure>_qs`) and a function that turns a
    # page of it into rows (`_<figure>_rows`): the tile counts the queryset, the list reads a page.

    def _current(self):
        return Q(end_date__isnull=True) | Q(end_date__gte=self.today)

    def _awaiting_signature_qs(self):
        last_signature = (
            Signature.objects.filter(record_id=OuterRef("pk"), voided_at__isnull=True, addendum__isnull=True)
            .exclude(capacity=SignatureCapacity.SUPERVISOR)
            .order_by("-signed_at")
            .values("signed_at")[:1]
        )
        # Waiting for the supervisor since the last supervisee signature, else since submission.
        since = Case(
            When(
                status=RecordStatus.AWAITING_SUPERVISOR,
                then=Coalesce(Subquery(last_signature), "submitted_at", "created_at"),
            ),
            default=Coalesce("submitted_at", "created_at"),
        )
        # The page's records and waiting times first, then their rows (`_awaiting_signature_rows`): with the
        # names the rows show joined into the same query, PostgreSQL joined every record awaiting a
        # signature to five more tables before sorting them for a page (the trust's 5,100: 82 ms).
        return (
            self._in_settings(Record.objects.all())
            .filter(status__in=[RecordStatus.AWAITING_SUPERVISEE, RecordStatus.AWAITING_SUPERVISOR])
            .annotate(since=since, since_day=TruncDate(since, tzinfo=LONDON))
            .order_by("since_day", "session__starts_at", "id")
            .values("id", "since")
        )

    def _awaiting_signature_rows(self, page) -> list[RecordRow]:
        page = list(page)
        found = (
            Record.objects.select_related(
                "session__setting", "session__contract__supervisee__user", "session__group", "supervisor__user"
            )
            .only(*AWAITING_ROW_FIELDS)
            .in_bulk([item["id"] for item in page])
        )
        rows = []
        for item in page:
            record = found.get(item["id"])
            if record is None:  # deleted (by the retention job) between the two queries
                continue
            record.since = item["since"]
            if record.status == RecordStatus.AWAITING_SUPERVISOR:
                waiting_for = "the supervisor"
            else:
                waiting_for = "the group" if record.session.group_id else "the supervisee"
            since_day = _local_day(record.since)
            rows.append(
                RecordRow(
                    record=record,
                    waiting_for=waiting_for,
                    since=since_day,
                    days=(self.today - since_day).days,
                    url=self._session_url(record.session),
                )
            )
        return rows

    def awaiting_signature(self) -> list[RecordRow]:
        """Records submitted and not yet signed by all: waiting for the supervisee(s) since submission,
        or for the supervisor since the last supervisee signature. Longest waiting first."""
        return self.listing("awaiting-signature").all()

    def _overdue_actions_qs(self):
        # The page's actions first, by due date, then their rows (`_overdue_actions_rows`): with the names
        # the rows show joined into the same query, PostgreSQL joined every overdue action in scope to nine
        # more tables before cutting a page (an auditor's 802 over ten settings: 33 ms; issue 14).
        return self._in_settings(Action.objects.overdue(self.today)).order_by("due_date", "id").values("id")

    def _overdue_actions_rows(self, page) -> list[ActionRow]:
        ids = [item["id"] for item in page]
        found = {a["id"]: a for a in Action.objects.filter(pk__in=ids).values(*OVERDUE_ACTION_ROW_VALUES)}
        # An action gone between the two queries (its record deleted by the retention job) is left out.
        actions = [found[i] for i in ids if i in found]
        names = _names_of(
            {a[key] for a in actions for key in ("owner_id", "record__supervisor_id")}
            | {a["record__session__contract__supervisee_id"] for a in actions if not a["record__session__group_id"]}
        )
        rows = []
        for a in actions:
            group = a["record__session__group_id"]
            supervisee = a["record__session__contract__supervisee_id"]
            rows.append(
                ActionRow(
                    action_id=a["id"],
                    owner_name=names[a["owner_id"]],
                    due_date=a["due_date"],
                    days_overdue=(self.today - a["due_date"]).days,
                    url=self._session_link(
                        a["record__session__code"],
                        supervisor_id=a["record__session__supervisor_id"],
                        supervisee_id=supervisee,
                        setting_id=a["record__session__setting_id"],
                    ),
                    session_starts_at=a["record__session__starts_at"],
                    who=f"Group: {a['record__session__group__name']}" if group else names[supervisee],
                    supervisor_name=names[a["record__supervisor_id"]],
                    setting_name=a["record__session__setting__name"],
                )
            )
        return rows

    def overdue_actions(self) -> list[ActionRow]:
        """Open actions past their due date, of records of sessions in scope. Most overdue first."""
        return self.listing("overdue-actions").all()

    def _safeguarding_decisions_qs(self):
        return (
            self._in_settings(SafeguardingDecision.objects.awaiting_confirmation())
            .select_related("key_person__user", "record__supervisor__user", "record__session__setting")
            .defer("record__supervisee_feedback", "record__disagreement_rationale", "record__names_as_signed")
            .order_by("record__locked_at", "id")
        )

    def _safeguarding_decisions_rows(self, decisions) -> list[DecisionRow]:
        rows = []
        for d in decisions:
            signed_on = _local_day(d.record.locked_at)
            rows.append(
                DecisionRow(
                    decision=d,
                    signed_on=signed_on,
                    days=(self.today - signed_on).days,
                    url=self._safeguarding_url(d.record.session.setting_id),
                )
            )
        return rows

    def safeguarding_decisions(self) -> list[DecisionRow]:
        """Decisions of signed records that the key person has not confirmed on the child's file, waiting
        since the record was signed. Longest waiting first."""
        return self.listing("safeguarding-decisions").all()

    def _escalations_qs(self):
        return (
            self._in_settings(ConfidentialityFlag.objects.all())
            .filter(resolved_at__isnull=True)
            .exclude(record__session__attendees=self.viewer)
            .select_related("record__session__setting")
            .defer("record__supervisee_feedback", "record__disagreement_rationale", "record__names_as_signed")
            .order_by("raised_at", "id")
        )

    def _escalations_rows(self, flags) -> list[FlagRow]:
        return [
            FlagRow(
                kind=f.get_kind_display(),
                setting=f.record.session.setting.name,
                url=self._safeguarding_url(f.record.session.setting_id),
            )
            for f in flags
        ]

    def escalations(self) -> list[FlagRow]:
        """Unresolved confidentiality flags: their kind and setting only. A flag on a record of a session
        the viewer was supervised in is not theirs to see (records/follow_up.py)."""
        return self.listing("escalations").all()

    def _cancellations_qs(self):
        """Sessions of the half term that were cancelled, in the order they were booked for."""
        start, end = _midnight(self.half_term.starts), _midnight(self.half_term.ends + timedelta(days=1))
        return (
            self._in_settings(Session.objects.all())
            .filter(status=SessionStatus.CANCELLED, starts_at__gte=start, starts_at__lt=end)
            .select_related(
                "setting",
                "supervisor__user",
                "contract__supervisee__user",
                "group",
                "cancelled_by__user",
                "rebooked_as__contract",
            )
            .defer(*_without_wording("contract"), *_without_wording("rebooked_as__contract"))
            .order_by("starts_at", "id")
        )

    def _cancellations_rows(self, sessions) -> list[CancellationRow]:
        rows = []
        for s in sessions:
            rebooked = getattr(s, "rebooked_as", None)
            rows.append(
                CancellationRow(
                    session=s,
                    rebooked=rebooked,
                    hours=_hours_to_rebook(s.cancelled_at, rebooked.created_at if rebooked else None),
                    url=self._session_url(s),
                    rebooked_url=self._session_url(rebooked) if rebooked else None,
                )
            )
        return rows

    def cancellations(self) -> list[CancellationRow]:
        """Sessions of the half term that were cancelled, with how long rebooking took: the hours from
        the cancellation to the creation of the session that replaced it."""
        return self.listing("cancellations").all()

    def cancellation_summary(self) -> dict:
        """How many were cancelled and rebooked, and how long rebooking took (median, longest): from two
        dates a cancellation, not a row of five models each."""
        if "cancellations" not in self._summaries:
            moments = self._cancellations_qs().values_list("cancelled_at", "rebooked_as__created_at")
            self._summaries["cancellations"] = summarise_hours([_hours_to_rebook(*m) for m in moments])
        return self._summaries["cancellations"]

    def _current_contracts_qs(self):
        """Agreements not ended today, in scope."""
        return (
            self._contracts()
            .filter(self._current())
            .select_related("supervisee__user", "supervisor__user")
            .defer(*CONTRACT_WORDING)
        )

    def _contract_rows(self, contracts) -> list[ContractRow]:
        contracts = list(contracts)
        settings_of = self._settings_of(c.supervisee_id for c in contracts)
        rows = []
        for c in contracts:
            setting_ids = settings_of.get(c.supervisee_id, [])
            rows.append(
                ContractRow(
                    contract=c,
                    settings=self._names(setting_ids),
                    status=c.status(self.today),
                    url=self._contract_url(c, setting_ids),
                )
            )
        return rows

    def _settings_of(self, staff_ids) -> dict[int, list[int]]:
        """The settings of each of a page's people: one query (for a long list, such as the CSV's, rather
        than thousands of ids: the links of everyone in scope, all of each one's settings, or of the whole
        organisation when that is the scope)."""
        settings_of = defaultdict(list)
        staff_ids = set(staff_ids)
        links = StaffMember.settings.through.objects.all()
        if len(staff_ids) > 1000 and self.setting_ids is None:
            links = links.filter(staffmember__organisation_id=self.organisation_id)
        elif len(staff_ids) > 1000:
            # An auditor's ten settings: their 1,300 people's links, not the trust's 12,000 (every row's
            # supervisee is one of them).
            links = links.filter(self._of_scope("staffmember_id"))
        else:
            links = links.filter(OneOf("staffmember_id", staff_ids))
        for staff_id, setting_id in links.values_list("staffmember_id", "setting_id"):
            settings_of[staff_id].append(setting_id)
        return settings_of

    def _unsigned(self):
        return Q(supervisee_signed_at__isnull=True) | Q(supervisor_signed_at__isnull=True)

    def _review_due(self):
        return Q(review_date__gte=self.today, review_date__lte=self.today + timedelta(days=REVIEW_DUE_DAYS))

    def _review_overdue(self):
        return Q(review_date__lt=self.today)

    def _agreements_unsigned_qs(self):
        return self._current_contracts_qs().filter(self._unsigned()).order_by("created_at", "id")

    def agreements_unsigned(self) -> list[ContractRow]:
        """Current agreements that one or both have not signed, oldest first."""
        return self.listing("agreements-unsigned").all()

    def _review_due_qs(self):
        """Signed (the status "review due" of `Contract.status`), review today or within 30 days."""
        return (
            self._current_contracts_qs()
            .exclude(self._unsigned())
            .filter(self._review_due())
            .order_by("review_date", "supervisee__user__full_name", "id")
        )

    def review_due(self) -> list[ContractRow]:
        """Signed current agreements whose annual review is today or within the next 30 days."""
        return self.listing("review-due").all()

    def _review_overdue_qs(self):
        return (
            self._current_contracts_qs()
            .exclude(self._unsigned())
            .filter(self._review_overdue())
            .order_by("review_date", "supervisee__user__full_name", "id")
        )

    def review_overdue(self) -> list[ContractRow]:
        """Signed current agreements whose review date has passed."""
        return self.listing("review-overdue").all()

    def _agreements_missing_qs(self):
        staff = (
            StaffMember.objects.filter(organisation_id=self.organisation_id, start_date__lte=self.today)
            .current(self.today)
            # The organisation's agreements (every agreement is its supervisee's organisation's): each
            # person is then looked up in the agreements' scope index alone, not the table (issue 14).
            .exclude(
                Exists(
                    Contract.objects.filter(organisation_id=self.organisation_id, supervisee_id=OuterRef("pk")).filter(
                        self._current()
                    )
                )
            )
            .select_related("user", "supervisor__user")
            .order_by("user__full_name", "id")
        )
        if self.setting_ids is not None:
            staff = staff.filter(self._of_scope("id"))
        return staff

    def _agreements_missing_rows(self, staff) -> list[StaffRow]:
        staff = list(staff)
        settings_of = self._settings_of(p.id for p in staff)
        add = reverse("supervision:contract-add")
        rows = []
        for person in staff:
            setting_ids = settings_of.get(person.id, [])
            can_add = self._reaches(self._contract_reach, setting_ids)
            add_url = f"{add}?supervisee={person.code}" if can_add else None
            rows.append(StaffRow(staff=person, settings=self._names(setting_ids), add_url=add_url))
        return rows

    def agreements_missing(self) -> list[StaffRow]:
        """Current staff in scope (started, not left) with no agreement that has not ended."""
        return self.listing("agreements-missing").all()

    def _leavers_open_work_qs(self):
        today = self.today
        unsigned = Record.objects.exclude(status=RecordStatus.SIGNED)
        people = (
            StaffMember.objects.filter(
                organisation_id=self.organisation_id, leaving_date__lt=today + timedelta(days=LEAVING_SOON_DAYS)
            )
            .annotate(
                open_supervisees=count_of(
                    StaffMember.objects.filter(supervisor=OuterRef("pk")).current(today).exclude(pk=OuterRef("pk"))
                ),
                open_agreements=count_of(
                    Contract.objects.filter(Q(supervisor=OuterRef("pk")) | Q(supervisee=OuterRef("pk"))).filter(
                        Q(end_date__isnull=True) | Q(end_date__gte=today)
                    )
                ),
                # Records they write, plus those of sessions they attend and do not write: two index
                # scans (supervisor; attendee), where an OR across the attendees join hashed them all.
                open_records=count_of(unsigned.filter(supervisor=OuterRef("pk")))
                + count_of(unsigned.filter(session__attendees=OuterRef("pk")).exclude(supervisor=OuterRef("pk"))),
                open_actions=count_of(Action.objects.open().filter(owner=OuterRef("pk"))),
            )
            .filter(
                Q(open_supervisees__gt=0) | Q(open_agreements__gt=0) | Q(open_records__gt=0) | Q(open_actions__gt=0)
            )
            .select_related("user")
            .order_by("leaving_date", "user__full_name", "id")
        )
        if self.setting_ids is not None:
            people = people.filter(self._of_scope("id"))
        return people

    def _leavers_open_work_rows(self, people) -> list[LeaverRow]:
        people = list(people)
        settings_of = self._settings_of(p.id for p in people)
        admin_reach = _scope_settings(self.viewer, Role.ORG_ADMIN)
        rows = []
        for person in people:
            setting_ids = settings_of.get(person.id, [])
            if self._reaches(admin_reach, setting_ids):
                url = object_url("accounts:staff-edit", person.code)
            elif self._reaches(self._contract_reach, setting_ids):
                url = reverse("supervision:contract-list")
            else:
                url = None
            rows.append(
                LeaverRow(
                    staff=person,
                    settings=self._names(setting_ids),
                    has_left=person.leaving_date < self.today,
                    supervisees=person.open_supervisees,
                    agreements=person.open_agreements,
                    records=person.open_records,
                    actions=person.open_actions,
                    url=url,
                )
            )
        return rows

    def leavers_open_work(self) -> list[LeaverRow]:
        """People in scope who have left, or leave within LEAVING_SOON_DAYS, with supervisees still assigned
        to them, agreements not ended, records not signed (as supervisor or supervised) or open actions.
        The counts are subqueries of one query; the settings of a page one more."""
        return self.listing("leavers-open-work").all()

    def _supervisors_qs(self):
        """People supervising a current agreement in scope: how many, how many unsigned, and whether they
        have a current agreement of their own as supervisee. Counted in the database."""
        led = self._contracts().filter(self._current()).filter(supervisor_id=OuterRef("pk"))
        own = self._own_agreement("pk")
        return (
            StaffMember.objects.filter(organisation_id=self.organisation_id)
            .filter(Exists(led))
            .annotate(
                agreements=count_of(led),
                unsigned=count_of(led.filter(self._unsigned())),
                has_own_supervision=Exists(own),
            )
            .select_related("user")
        )

    def _own_agreement(self, person):
        """A current agreement of the organisation with `person` as supervisee (an outer reference's name, or
        an expression): whether a supervisor has supervision of their own."""
        person = OuterRef(person) if isinstance(person, str) else person
        return Contract.objects.filter(organisation_id=self.organisation_id, supervisee_id=person).filter(
            self._current()
        )

    def largest_caseload(self) -> int:
        """The most current agreements in scope one supervisor has (the first row of the caseloads list)."""
        return self._together_counts("supervisors")["largest"]

    def _supervisor_count_sql(self, source: str | None = None) -> tuple[str, tuple]:
        """The lengths of the caseloads list and of the unsupervised supervisors list (`_supervisors_qs`,
        whose conditions these are) and the largest caseload, as one row: the scope's current agreements
        grouped by supervisor, then counted. Each was a query reading the scope's agreements (an auditor's
        over ten settings, 4-10 ms each), and the list's order counts three figures a supervisor."""
        # Grouped first, then each supervisor (a few hundred) asked whether they are of the organisation and
        # have an agreement of their own: asked of each agreement (an auditor's 1,140) before grouping, both
        # were looked up a thousand times (issue 14).
        # From `source` when given: a name the statement defines, with the agreements' supervisor_id.
        q = connection.ops.quote_name
        supervisor = RawSQL(f"c.{q('supervisor_id')}", ())  # noqa: S611 (our own names)
        if source:
            rows, params = f"SELECT {q('supervisor_id')}, COUNT(*) AS {q('n')} FROM {source} GROUP BY 1", ()  # noqa: S608
        else:
            per_supervisor = (
                self._contracts().filter(self._current()).order_by().values("supervisor_id").annotate(n=Count("id"))
            )
            rows, params = per_supervisor.query.sql_with_params()
        ours, ours_params = (
            StaffMember.objects.filter(organisation_id=self.organisation_id, pk=supervisor)
            .order_by()
            .values("pk")
            .query.sql_with_params()
        )
        own, own_params = self._own_agreement(supervisor).order_by().values("pk").query.sql_with_params()
        counts = (
            f"COUNT(c.{q('supervisor_id')}), COUNT(CASE WHEN NOT EXISTS ({own}) THEN 1 END), "
            f"COALESCE(MAX(c.{q('n')}), 0)"
        )
        sql = f"SELECT {counts} FROM ({rows}) AS c WHERE EXISTS ({ours})"  # noqa: S608 (Django's SQL and our names)
        return sql, (*own_params, *params, *ours_params)

    def _caseloads_qs(self):
        return self._supervisors_qs().order_by("-agreements", "user__full_name", "id")

    def _caseloads_rows(self, people) -> list[CaseloadRow]:
        return [
            CaseloadRow(
                supervisor=p, agreements=p.agreements, unsigned=p.unsigned, has_own_supervision=p.has_own_supervision
            )
            for p in people
        ]

    def caseloads(self) -> list[CaseloadRow]:
        """Current agreements (signed or not) in scope per supervisor, largest caseload first."""
        return self.listing("caseloads").all()

    def _unsupervised_supervisors_qs(self):
        return self._supervisors_qs().filter(has_own_supervision=False).order_by("user__full_name", "id")

    def unsupervised_supervisors(self) -> list[CaseloadRow]:
        """People supervising a current agreement in scope who have no current agreement as supervisee."""
        return self.listing("unsupervised-supervisors").all()

    # Lists, a page at a time ----------------------------------------------------------------------

    def listing(self, slug: str) -> "Listing":
        """The rows behind a figure: a queryset paged in the database (the balance and the cancellations,
        short lists of a GROUP BY or of one half term, are worked out whole). One listing a figure, so its
        count is counted once."""
        if slug == "overdue":
            return self.overdue_listing()
        if slug not in self._listings:
            self._listings[slug] = self._make_listing(slug)
        return self._listings[slug]

    def _figure_inputs(self) -> tuple:
        """What the figures' querysets are built from (`_make_listing`): the organisation, the settings in
        scope, the day, the half term (the cancellations') and the viewer (the escalations leave out the
        viewer's own records). None reads the database to be built."""
        h, scope = self.half_term, None if self.setting_ids is None else tuple(self.setting_ids)
        return (self.organisation_id, scope, self.today, h.id, h.starts, h.ends, self.viewer.id)

    def count_together(self, slugs) -> None:
        """Count in one statement (`_counted_together`) the figures of `slugs` whose tiles would each count
        their list with a statement of its own (not counted elsewhere, nor with their rows), and the counts
        of the lists counted together (`COUNTED_TOGETHER`) they need. A tile then reads its count without
        a query."""
        alone, summaries = [], []
        for slug in slugs:
            listing = self.listing(slug)
            together = COUNTED_TOGETHER.get(slug)
            if together is not None:
                if together not in self._summaries and together not in summaries:
                    summaries.append(together)
            elif listing.rows is None and listing.counted is None and listing.count_alone is None and not listing.known:
                alone.append(slug)
        if len(alone) + len(summaries) > 1:
            self._counted_together(summaries, alone)

    def _make_listing(self, slug: str) -> "Listing":
        name = FIGURES[slug].method
        build_queryset = getattr(self, f"_{name}_qs", None)
        if build_queryset is None:
            return Listing(rows=getattr(self, name)())
        if slug == "coverage":
            queryset = build_queryset  # kept by its own key (`_coverage_qs`)
        else:
            # Built once a thread (`built`) from what every figure's query is built from.
            key = ("figure", slug, *self._figure_inputs())

            def queryset():
                return kept_queryset(key, build_queryset)

        builders = {
            "agreements_unsigned": self._contract_rows,
            "review_due": self._contract_rows,
            "review_overdue": self._contract_rows,
            "unsupervised_supervisors": self._caseloads_rows,
        }

        build = builders.get(name) or getattr(self, f"_{name}_rows")
        if slug == "coverage":
            # As long as the agreements owed: the chart's count when it has counted them, else the page's,
            # with the covered ones for the tile (`tile_for`), as window functions over the rows it reads.
            # The chart's count of the half term alone (`count_owed`) was a second query as costly as the
            # rows: a head's list 43 to 30 ms, an auditor's 82 to 51 ms (issue 14).
            half_term = self.half_term.id
            return Listing(
                queryset=queryset,
                build=build,
                counted=lambda: self._counts_cache[half_term]["owed"] if half_term in self._counts_cache else None,
                count_alone=lambda: self.coverage_counts()["owed"],
                also={"covered": Q(signed__gt=0)},
                keys=lambda: self._summary_keys(self.half_term),
            )
        together = COUNTED_TOGETHER.get(slug)
        # Lists counted together with others read their shared count; any other is counted with its page,
        # or on its own.
        counted = (lambda: self._together_counts(together)[slug]) if together else None
        return Listing(queryset=queryset, build=build, counted=counted)

    def _contract_flags(self) -> dict:
        """The conditions of the three lists of current agreements (`_agreements_unsigned_qs`,
        `_review_due_qs`, `_review_overdue_qs`), by the name of the column that holds each."""
        signed = ~self._unsigned()
        return {
            "on_unsigned": self._unsigned(),
            "on_review_due": signed & self._review_due(),
            "on_review_overdue": signed & self._review_overdue(),
        }

    def _current_rows_sql(self, *columns: str) -> tuple[str, tuple]:
        """The scope's current agreements as rows of `columns` and the three lists' flags (no order)."""
        on = self._contract_flags()
        return (
            self._current_contracts_qs()
            .order_by()
            .annotate(**{name: ExpressionWrapper(q, output_field=BooleanField()) for name, q in on.items()})
            .values(*columns, *on)
            .query.sql_with_params()
        )

    def _contract_count_sql(self, source: str | None = None) -> tuple[str, tuple]:
        """The lengths of the three lists of current agreements, whose conditions these are, as one row:
        each read the scope's agreements again, a scan of the trust's 20,000 for an auditor's 1,000 people
        (8-9 ms each). From `source` when given (a name the statement defines, with the flags' columns)."""
        params = ()
        if source is None:
            rows, params = self._current_rows_sql()
            source = f"({rows})"
        q = connection.ops.quote_name
        counts = ", ".join(f"COUNT(CASE WHEN c.{q(name)} THEN 1 END)" for name in self._contract_flags())
        return f"SELECT {counts} FROM {source} AS c", params  # noqa: S608 (Django's SQL and our names)

    def _current_count_sql(self) -> tuple[str, tuple]:
        """Both statements of `TOGETHER` as one row, reading the scope's current agreements once: the
        dashboard and the compliance CSV count both, and each read the same agreements by the scope's index
        (an auditor's ten settings: 1,140 agreements, about 2.6 ms each time; issue 14)."""
        rows, params = self._current_rows_sql("supervisor_id")
        contracts, _ = self._contract_count_sql(source="scope_agreements")
        supervisors, more = self._supervisor_count_sql(source="scope_agreements")
        sql = (
            f"WITH scope_agreements AS MATERIALIZED ({rows}) "  # noqa: S608 (Django's SQL and our names)
            f"SELECT * FROM ({contracts}) AS c CROSS JOIN ({supervisors}) AS s"
        )
        return sql, (*params, *more)

    def _together_counts(self, name: str) -> dict[str, int]:
        """The counts of `TOGETHER[name]`: counted with the tiles' other counts when the page asked for
        them together (`count_together`), else now."""
        if name not in self._summaries:
            self._counted_together([name])
        return self._summaries[name]

    def _counted_together(self, summaries, listings=()) -> None:
        """Count in one statement, built once a thread (`built`): the lists of `listings` (slugs), each a
        scalar `COUNT(*)` subquery over the list's own SQL (its `values("pk")`, so each counts exactly the
        rows its list has), and the counts of `summaries` (`TOGETHER`), each a one-row statement joined in."""

        # Both of `TOGETHER`'s statements read the scope's current agreements: asked for together, they are
        # one statement reading them once (`_current_count_sql`), its row in `TOGETHER`'s order.
        if set(summaries) == set(TOGETHER):
            summaries, statements = list(TOGETHER), [("_current_count_sql", 0)]
        else:
            statements = [(TOGETHER[name][0], n) for n, name in enumerate(summaries)]

        def build():
            parts, params, tables = [], [], []
            for n, slug in enumerate(listings):
                sql, more = self.listing(slug).queryset.order_by().values("pk").query.sql_with_params()
                parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted_{n})")  # noqa: S608 (Django's SQL)
                params.extend(more)
            for method, n in statements:
                sql, more = getattr(self, method)()
                tables.append(f"({sql}) AS together_{n}")
                parts.append(f"together_{n}.*")
                params.extend(more)
            joined = f" FROM {' CROSS JOIN '.join(tables)}" if tables else ""
            return f"SELECT {', '.join(parts)}{joined}", tuple(params)

        key = ("counts", tuple(listings), tuple(summaries), *self._figure_inputs())
        sql, params = BUILT.get(key, build)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = list(cursor.fetchone())
        for slug in listings:
            self.listing(slug).count_is(row.pop(0))
        for name in summaries:
            names = TOGETHER[name][1]
            self._summaries[name] = {k: row.pop(0) for k in names}

    # The three functions over the academic year ----------------------------------------------------

    def _sections(self):
        year = self.half_term.academic_year
        starts_at, ends_at = _midnight(year.starts), _midnight(year.ends + timedelta(days=1))
        sections = RecordSection.objects.filter(record__organisation_id=self.organisation_id)
        if self.setting_ids is None:
            sections = sections.filter(
                record__session__starts_at__gte=starts_at, record__session__starts_at__lt=ends_at
            )
        else:
            # The settings' sessions of the year first (by the setting index), then their records by the
            # session index and the records' sections by the record index: joined from the sessions,
            # PostgreSQL hashed them and read every record of the trust to find theirs (an auditor over
            # ten settings: 27 of the count's 45 ms; issue 14). Not the records' ids as an array: it then
            # expected 20 sections and looked up the record, session and supervisor of each of 10,000.
            sessions = Session.objects.filter(
                organisation_id=self.organisation_id,
                setting_id__in=self.setting_ids,
                starts_at__gte=starts_at,
                starts_at__lt=ends_at,
            ).values("id")
            # Those sessions are the year's already: no record is joined to its session again (issue 14).
            sections = sections.filter(InArray("record__session_id", sessions))
        # `written`: kept by the database with the text, which is not read (a fifth of the trust's count).
        return sections.filter(written=True).order_by()

    def _function_of_section(self):
        """The function a record section serves, from its template section's id: the organisation's
        template sections are read first (a few dozen), so the count groups by function without joining
        them to every section it counts."""
        by_function = defaultdict(list)
        sections = TemplateSection.objects.filter(version__template__organisation_id=self.organisation_id)
        for section_id, function in sections.order_by("id").values_list("id", "function"):
            by_function[function].append(section_id)
        return Case(
            *(When(template_section_id__in=ids, then=Value(f)) for f, ids in sorted(by_function.items())),
            default=Value(None),
            output_field=CharField(),
        )

    def _balance_counts(self) -> list[dict]:
        """Sections written this academic year, by setting, supervisor and function: one GROUP BY for
        both charts (a few thousand groups at most), rather than one scan of the sections each. By the
        setting each record keeps (its session's), read without a join."""
        if "balance" not in self._summaries:
            self._summaries["balance"] = list(
                self._sections()
                .annotate(function=self._function_of_section())
                .values("record__setting_id", "record__supervisor_id", "function")
                .annotate(n=Count("id"))
            )
        return self._summaries["balance"]

    def _supervisor_names(self) -> dict[int, str]:
        """The names of the supervisors in the balance's counts, read once they are counted: joined into the
        count, every written section of the year carried its writer's name into the grouping (the trust's
        100,000 sorted on disk by name)."""
        if "balance names" not in self._summaries:
            ids = {item["record__supervisor_id"] for item in self._balance_counts()}
            self._summaries["balance names"] = _names_of(ids)
        return self._summaries["balance names"]

    def balance_by_setting(self) -> list[BalanceRow]:
        """Sections written this academic year, by the function their template section serves, per setting."""
        rows = {s.id: BalanceRow(name=s.name) for s in self.settings}
        for item in self._balance_counts():
            row = rows.get(item["record__setting_id"])
            if row is not None:
                function = item["function"]
                row.counts[function] = row.counts.get(function, 0) + item["n"]
        return [r for r in rows.values() if r.total]

    def balance_by_supervisor(self) -> list[BalanceRow]:
        """The same per supervisor (who wrote the record), by name."""
        rows: dict[int, BalanceRow] = {}
        names = self._supervisor_names()
        for item in self._balance_counts():
            supervisor_id = item["record__supervisor_id"]
            row = rows.setdefault(supervisor_id, BalanceRow(name=names[supervisor_id]))
            function = item["function"]
            row.counts[function] = row.counts.get(function, 0) + item["n"]
        return sorted(rows.values(), key=lambda r: r.name)

    # Tiles ------------------------------------------------------------------------------------

    def rows(self, slug: str):
        return getattr(self, FIGURES[slug].method)()

    def count(self, slug: str) -> int:
        return self.listing(slug).count

    def tile(self, slug: str, rows) -> Tile:
        """The number on a figure's tile, worked out from the rows of its list."""
        return self.tile_for(slug, Listing(rows=rows))

    def tile_for(self, slug: str, listing: "Listing | None" = None) -> Tile:
        """The number on a figure's tile, from the listing of its rows: counted in the database for the
        figures as of today."""
        if slug == "coverage":
            if listing is not None and listing.rows is not None:
                n, covered = len(listing.rows), sum(r.signed for r in listing.rows)
            elif listing is not None and listing.also_counts is not None:
                n, covered = listing.count, listing.also_counts["covered"]
            else:
                counts = self.coverage_counts()
                n, covered = counts["owed"], counts["covered"]
            if not n:
                return Tile("–", "of agreements held and signed (none owed)")
            percent = round(100 * covered / n)
            if self.running:
                # Mid-term a low share is the calendar, not a failing: "not booked" carries the warning.
                return Tile(
                    f"{percent}%", f"held and signed so far ({covered} of {n} agreement{'s' if n != 1 else ''})"
                )
            tone = "good" if percent >= 90 else "warn" if percent >= 70 else "bad"
            return Tile(f"{percent}%", f"held and signed ({covered} of {n} agreement{'s' if n != 1 else ''})", tone)
        listing = listing or self.listing(slug)
        if slug == "cancellations":
            # Counted by its summary (the hours to rebook need the rows' times), not by a count of its own.
            if listing.rows is not None:
                summary = cancellation_summary(listing.rows)
            else:
                summary = self.cancellation_summary()
            n = summary["cancelled"]
            if not n:
                return Tile("0", "sessions cancelled")
            if summary["median_hours"] is None:
                label = "cancelled, none rebooked yet"
            else:
                label = f"cancelled; rebooked in {hours_label(summary['median_hours'])} (median)"
            return Tile(str(n), label, "warn" if summary["not_rebooked"] else "")
        n = listing.count
        if slug == "overdue":
            label = "not booked yet" if self.running else "with no session held"
            return Tile(str(n), label, "bad" if n else "good")
        if slug == "caseloads":
            if not n:
                return Tile("0", "supervisors")
            largest = self.largest_caseload() if listing.rows is None else listing.rows[0].agreements
            return Tile(str(largest), f"largest caseload ({n} supervisor{'s' if n != 1 else ''})")
        s = "" if n == 1 else "s"  # "1 record awaiting a signature", "2 records ..."
        labels = {
            "awaiting-signature": f"record{s} awaiting a signature",
            "overdue-actions": f"action{s} overdue",
            "safeguarding-decisions": f"safeguarding decision{s} not on the child's file",
            "escalations": f"open confidentiality escalation{s}",
            "agreements-missing": "staff without an agreement",
            "agreements-unsigned": f"agreement{s} not signed by both",
            "review-due": f"review{s} due within {REVIEW_DUE_DAYS} days",
            "review-overdue": f"review{s} overdue",
            "unsupervised-supervisors": f"supervisor{s} without supervision",
            "leavers-open-work": f"leaver{s} with work to reassign",
            "balance": f"supervisor{s} writing records this year",
        }
        urgent = {"safeguarding-decisions", "escalations", "review-overdue", "agreements-missing", "leavers-open-work"}
        tone = ("bad" if slug in urgent else "warn") if n else "good"
        return Tile(str(n), labels[slug], "" if slug == "balance" else tone)


# The lists whose lengths one statement of one row counts together (`Dashboard._counted_together`): the
# `Dashboard` method that writes it, and the counts of its row in order ("largest" is the largest caseload,
# not a list). The lists of current agreements, and those of supervisors and their caseloads.
TOGETHER = {
    "contracts": ("_contract_count_sql", ("agreements-unsigned", "review-due", "review-overdue")),
    "supervisors": ("_supervisor_count_sql", ("caseloads", "unsupervised-supervisors", "largest")),
}
# Each such list's figure, and the statement that counts it.
COUNTED_TOGETHER = {slug: name for name, (_, counts) in TOGETHER.items() for slug in counts if slug in FIGURES}


def _dict_rows(sql: str, params) -> list[dict]:
    """The rows of Django's SQL for a `values()` query, run as it is: a dict a row, by column name (the
    values' names). PostgreSQL's driver gives the same values Django would (aware datetimes, dates, booleans)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class _LastRecords:
    """The record of each agreement's last held session (its code and setting), looked up for the rows a
    page shows in one query. A row's link opens it for the people in the agreement and the setting's heads
    and DSLs (who see its metadata, and give a reason to read the notes)."""

    def __init__(self, dashboard: "Dashboard"):
        self.dashboard = dashboard
        self.found: dict[tuple[int, datetime], tuple] = {}  # (contract id, last held) -> (code, setting id)

    @staticmethod
    def _key(row) -> tuple[int, datetime]:
        return row.contract.id, row.last_held

    def fill(self, rows) -> None:
        """One query for any rows not looked up yet (even when none was ever held: the same cost for a page
        of people never supervised as for any other page)."""
        wanted = [r for r in rows if self._key(r) not in self.found]
        if not wanted:
            return
        for r in wanted:
            self.found[self._key(r)] = (None, None)
        contract_ids = {r.contract.id for r in wanted}
        contract_ids |= {r.contract.previous_id for r in wanted if r.contract.previous_id}
        members = {r.contract.supervisee_id for r in wanted if r.contract.kind == SessionKind.GROUP}
        near = Q(contract_id__in=contract_ids)
        if members:
            near |= Q(kind=SessionKind.GROUP, attendees__in=members)
        times = {r.last_held for r in wanted if r.last_held is not None}
        sessions = Session.objects.filter(near, status=SessionStatus.HELD)
        if times:
            sessions = sessions.filter(starts_at__in=times)
        sessions = sessions.order_by("id").values_list(
            "contract_id", "kind", "attendees", "starts_at", "setting_id", "record__code"
        )
        by_contract, by_member = {}, {}
        for contract_id, kind, attendee, starts_at, setting_id, record_code in sessions:
            if contract_id is not None:
                by_contract.setdefault((contract_id, starts_at), (record_code, setting_id))
            if kind == SessionKind.GROUP:
                by_member.setdefault((attendee, starts_at), (record_code, setting_id))
        for r in wanted:
            c = r.contract
            if r.last_held is None:
                continue
            if c.kind == SessionKind.GROUP:
                found = by_member.get((c.supervisee_id, r.last_held))
            else:
                found = by_contract.get((c.id, r.last_held)) or by_contract.get((c.previous_id, r.last_held))
            self.found[self._key(r)] = found or (None, None)

    def url(self, row) -> str | None:
        if row.last_held is None:
            return None
        self.fill([row])
        code, setting_id = self.found[self._key(row)]
        if code is None:
            return None
        dash, contract = self.dashboard, row.contract
        mine = dash.viewer.id in (contract.supervisee_id, contract.supervisor_id)
        if mine or dash._reaches(dash._session_reach, [setting_id]):
            return object_url("records:record-detail", code)
        return None


def _names_of(staff_ids) -> dict[int, str]:
    """People's full names by their staff id, in one query of two columns."""
    ids = {i for i in staff_ids if i is not None}
    if not ids:
        return {}
    return dict(StaffMember.objects.filter(pk__in=ids).values_list("id", "user__full_name"))


def _hours_to_rebook(cancelled_at, rebooked_created_at) -> float | None:
    """From the cancellation to the booking of the session that replaced it; None if none did yet."""
    if rebooked_created_at is None:
        return None
    return max(0.0, (rebooked_created_at - cancelled_at).total_seconds() / 3600)
